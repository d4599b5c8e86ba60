"""Seconds per 50,000-sample epoch of config A ([784, 30, 10], mini-batch 10, float32) with
each chapter-3 technique, against the book's plain SGD (the fused kernel), in one run.

    python bench/techniques.py [--repeats 3]

Median of the repeats; compile time excluded (each case warms up on 100 samples first).
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn.augment import Augmenter

CASES = [
    ("plain SGD + L2 (fused)", {"lmbda": 5.0}),
    ("SGD + L1 + L2", {"lmbda": 5.0, "l1": 1.0}),
    ("momentum", {"optimizer": "momentum", "eta": 0.05}),
    ("nesterov", {"optimizer": "nesterov", "eta": 0.05}),
    ("adagrad", {"optimizer": "adagrad", "eta": 0.05}),
    ("rmsprop", {"optimizer": "rmsprop", "eta": 0.001}),
    ("adam", {"optimizer": "adam", "eta": 0.001}),
    ("dropout 0.5", {"dropout": 0.5}),
    ("augment (rotate, shift, skew)", {"augment": Augmenter(10, 2, 0.1, seed=0)}),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from fastnn.data import load_dataset
    data = load_dataset()
    X, y = data.train
    print(f"data: {data.description}; {X.shape[0]} samples")
    results = {}
    for name, kwargs in CASES:
        net = fastnn.Network([784, 30, 10], seed=0)
        kwargs = dict({"eta": 0.5}, **kwargs)
        net.fit(X[:100], y[:100], **kwargs)
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            net.fit(X, y, epochs=1, **kwargs)
            seconds.append(time.perf_counter() - start)
        results[name] = float(np.median(seconds)) * 50000 / X.shape[0]
        print(f"{name:32s} {results[name]:.3f} s/epoch  "
              f"({results[name] / results[CASES[0][0]]:.2f}x plain)", flush=True)
    return results


if __name__ == "__main__":
    main()
