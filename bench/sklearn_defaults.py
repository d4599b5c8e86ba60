"""scikit-learn's MLPClassifier at its own defaults against the same training on fastnn's
engine (fastnn/_sklearn_fit.py), on Fashion-MNIST: seconds per fit, alternated.

    python bench/sklearn_defaults.py                 # 3 epochs, 1 thread, 3 repeats
    python bench/sklearn_defaults.py --threads 2 --epochs 5 --repeats 5

Both train ``hidden_layer_sizes=(100,)``, relu, Adam with η 0.001, ``batch_size="auto"``
(200), ``alpha`` 1e-4, from ``random_state`` 0, for ``--epochs`` epochs (``max_iter``;
the ConvergenceWarning is silenced), on the training images as float32 (scikit-learn
then trains in float32 too). fastnn's side is what issue 20's estimator runs: the same
Glorot-uniform start drawn from the same generator, the same mini-batches, the same Adam
(``eps_hat``), the loss curve recorded by the engine. The two are timed in turn, in one
process, after one untimed fit each on 1,000 images (fastnn's kernels compile or load),
with BLAS limited to ``--threads`` by threadpoolctl and fastnn's threads set the same;
the table gives medians and the BLAS that ran. In float32 the two runs' floating-point
roundings differ, so the loss curves agree to a few digits, not exactly (the float64
equality is tests/test_sklearn_fit.py's).
"""
import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from threadpoolctl import threadpool_info, threadpool_limits

    import fastnn
    from fastnn._engine import gemm
    from fastnn._sklearn_fit import StochasticFit, glorot_init
    from fastnn.data import load_dataset

    data = load_dataset()
    X, y = data.train
    X = np.ascontiguousarray(X, dtype=np.float32)
    Y = LabelBinarizer().fit_transform(y).astype(np.float32)
    warnings.simplefilter("ignore", ConvergenceWarning)

    def ours(n=None, epochs=args.epochs):
        rs = check_random_state(0)
        net = fastnn.Network([784, 100, 10], "relu", "softmax", "log_likelihood",
                             dtype="float32", threads=args.threads)
        glorot_init(net, rs, "relu")
        fit = StochasticFit(net, "adam", "log_loss")
        fit.run(X[:n], Y[:n], epochs, rs)
        return fit.loss_curve_

    def theirs(n=None, epochs=args.epochs):
        est = MLPClassifier(hidden_layer_sizes=(100,), max_iter=epochs, random_state=0)
        return est.fit(X[:n], y[:n]).loss_curve_

    seconds = {"scikit-learn": [], "fastnn": []}
    curves = {}
    with threadpool_limits(args.threads):
        ours(1000, 1)
        theirs(1000, 1)
        for r in range(args.repeats):
            runs = [("scikit-learn", theirs), ("fastnn", ours)]
            for name, run in runs if r % 2 == 0 else runs[::-1]:
                start = time.perf_counter()
                curves[name] = run()
                seconds[name].append(time.perf_counter() - start)
        blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"{data.description}: {X.shape[0]:,} images, {args.epochs} epochs, "
          f"{args.threads} thread(s), CPU {gemm.cpu_name()} ({platform.processor() or '?'}), "
          f"BLAS {', '.join(blas)}")
    for name, times in seconds.items():
        print(f"  {name:13s} median {np.median(times):6.2f} s   "
              f"{' '.join(f'{t:.2f}' for t in times)}   "
              f"loss curve {' '.join(f'{c:.4f}' for c in curves[name])}")
    ratio = np.median(seconds["scikit-learn"]) / np.median(seconds["fastnn"])
    print(f"  scikit-learn / fastnn: {ratio:.2f}x")


if __name__ == "__main__":
    main()
