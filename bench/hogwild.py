"""Hogwild scaling and accuracy: seconds per epoch against threads, and test accuracy
after 5 epochs against the sequential run, for configs A and B on Fashion-MNIST.

    python bench/hogwild.py                      # threads 1, 2, 4, ... up to every core
    python bench/hogwild.py --threads 1,2 --seeds 6 --configs A --json out.json

Speed: one epoch of mini-batch 10 SGD (η 0.1, λ 5) over the 50,000 training images with
``Network.fit(..., hogwild=True)`` on 1, 2, 4, ... threads, interleaved, median of the
repeats; "speedup" is the one-thread Hogwild time over each (one thread is exactly the
sequential epoch). Accuracy: for every seed, 5 epochs sequential and 5 epochs Hogwild on
every thread; the table gives the mean test accuracy of each and their difference, with
the per-seed spread (one run's accuracy moves by about half a point from seed to seed, so
the difference is only meaningful averaged over seeds).
"""
import argparse
import json
import time

import numpy as np

import fastnn
from fastnn._engine import threads as _threads
from fastnn.data import load_dataset

CONFIGS = {"A": [784, 30, 10], "B": [784, 100, 10]}


def thread_counts(text):
    if text:
        return [int(t) for t in text.split(",")]
    counts, t = [], 1
    while t < _threads.available():
        counts.append(t)
        t *= 2
    return counts + [_threads.available()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="A,B")
    parser.add_argument("--threads", default=None, help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per thread count")
    parser.add_argument("--seeds", type=int, default=6, help="seeds for the accuracy check")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for the accuracy check")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    ds = load_dataset(dtype=np.float32)
    (X, y), (Xt, yt) = ds.train, ds.test
    counts = thread_counts(args.threads)
    report = {"data": ds.description, "threads": counts, "configs": {}}
    print(f"data: {ds.description}; threads {counts}; {_threads.info()['blas']}")
    for name in args.configs.split(","):
        sizes = CONFIGS[name]
        times = {t: [] for t in counts}
        nets = {t: fastnn.Network(sizes, seed=0, threads=t) for t in counts}
        for t, net in nets.items():  # compile, warm up
            net.fit(X[:2000], y[:2000], epochs=1, eta=0.1, lmbda=5.0, hogwild=True)
        for r in range(args.repeats):
            for t in counts[r % len(counts):] + counts[:r % len(counts)]:
                start = time.perf_counter()
                nets[t].fit(X, y, epochs=1, mini_batch_size=10, eta=0.1, lmbda=5.0,
                            hogwild=True)
                times[t].append(time.perf_counter() - start)
        med = {t: float(np.median(v)) for t, v in times.items()}
        speed = {t: {"s_per_epoch": med[t], "speedup": med[counts[0]] / med[t],
                     "spread": [min(times[t]), max(times[t])]} for t in counts}
        accs = {"sequential": [], "hogwild": []}
        for seed in range(args.seeds):
            for mode in accs:
                net = fastnn.Network(sizes, seed=seed, threads=counts[-1])
                net.fit(X, y, epochs=args.epochs, mini_batch_size=10, eta=0.1, lmbda=5.0,
                        hogwild=mode == "hogwild")
                accs[mode].append(net.evaluate(Xt, yt)["accuracy"])
        diff = np.mean(accs["hogwild"]) - np.mean(accs["sequential"])
        report["configs"][name] = {"sizes": sizes, "speed": speed, "accuracy": accs,
                                   "mean_difference": float(diff)}
        print(f"\nconfig {name} {sizes}: Hogwild s/epoch (median of {args.repeats})")
        for t in counts:
            s = speed[t]
            print(f"  {t:3d} threads: {s['s_per_epoch']:.3f} s  speedup {s['speedup']:.2f}x  "
                  f"(range {s['spread'][0]:.3f}-{s['spread'][1]:.3f})")
        print(f"  accuracy after {args.epochs} epochs, {args.seeds} seeds: sequential "
              f"{np.mean(accs['sequential']):.4f} (±{np.std(accs['sequential']):.4f}), "
              f"hogwild on {counts[-1]} threads {np.mean(accs['hogwild']):.4f} "
              f"(±{np.std(accs['hogwild']):.4f}); difference {100 * diff:+.2f} points")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
