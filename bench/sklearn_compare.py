"""fastnn.sklearn.MLPClassifier against scikit-learn's MLPClassifier, matched settings, on
Fashion-MNIST: test accuracy and seconds per fit.

    python bench/sklearn_compare.py                            # one thread, m = 10 and 100
    python bench/sklearn_compare.py --batch-sizes 10 --repeats 5 --json out.json
    python bench/sklearn_compare.py --threads all              # every core for both

Both estimators train the same network the same way: hidden layers ``--hidden`` with
the logistic (sigmoid) activation and a softmax output with the log-loss, plain
mini-batch SGD (scikit-learn: solver="sgd", momentum 0, constant learning rate) with the
same η, mini-batch size and number of epochs, shuffled every epoch, no early stopping
(scikit-learn's stop on a training-loss plateau is switched off with n_iter_no_change >
epochs), the same L2 ``alpha`` (fastnn.sklearn gives alpha scikit-learn's meaning; see
docs/sklearn.md), float32 data for both. What differs: the initial weights (each library's
own scheme) and the random streams, so accuracies agree only to within seed noise.

The data are ``fastnn.data.load_dataset()``: the full Fashion-MNIST (50,000 training and
10,000 test images) when /usr/share/datasets/fashion-mnist is installed, else the
2,500-image sample shipped with fastnn (the script says which). Each estimator is fitted
once on 1,000 images first (untimed: fastnn's compiled kernels load, caches warm), then
``--repeats`` times, the two libraries alternating, with seeds 0, 1, ...; the table
gives medians. One thread by default: BLAS is limited with threadpoolctl and fastnn gets
``threads=1``; ``--threads all`` lifts both limits.
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn
from fastnn._engine import threads as _threads
from fastnn.data import load_dataset
from fastnn.sklearn import MLPClassifier

FULL_DATA = "/usr/share/datasets/fashion-mnist"


def estimators(hidden, eta, batch_size, epochs, alpha, seed, threads):
    """The two estimators, matched (see the module docstring)."""
    ours = MLPClassifier(hidden_layer_sizes=hidden, activation="sigmoid", optimizer="sgd",
                         learning_rate_init=eta, batch_size=batch_size, max_iter=epochs,
                         alpha=alpha, dtype="float32", random_state=seed, threads=threads)
    theirs = SkMLPClassifier(hidden_layer_sizes=hidden, activation="logistic", solver="sgd",
                             learning_rate="constant", learning_rate_init=eta, momentum=0.0,
                             nesterovs_momentum=False, batch_size=batch_size, max_iter=epochs,
                             alpha=alpha, shuffle=True, early_stopping=False,
                             n_iter_no_change=epochs + 1, random_state=seed)
    return {"fastnn": ours, "scikit-learn": theirs}


def blas_info():
    """The BLAS libraries loaded and their thread limits, as threadpoolctl sees them."""
    return [{k: lib.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def timed_fit(estimator, X, y, Xt, yt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: intended
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, float(estimator.score(Xt, yt))


def run(args, X, y, Xt, yt, threads):
    results = []
    for m in args.batch_sizes:
        settings = dict(hidden=args.hidden, eta=args.eta, batch_size=m, epochs=args.epochs,
                        alpha=args.alpha)
        for est in estimators(seed=0, threads=threads, **settings).values():  # warm up
            timed_fit(est.set_params(max_iter=1), X[:1000], y[:1000], Xt[:100], yt[:100])
        runs = {"fastnn": [], "scikit-learn": []}
        for seed in range(args.repeats):
            pair = list(estimators(seed=seed, threads=threads, **settings).items())
            for name, est in (pair if seed % 2 == 0 else pair[::-1]):
                seconds, accuracy = timed_fit(est, X, y, Xt, yt)
                runs[name].append({"seed": seed, "seconds": seconds, "accuracy": accuracy})
                print(f"  m={m} seed {seed} {name:12s} {seconds:8.2f} s  "
                      f"accuracy {accuracy:.4f}", flush=True)
        row = {"settings": settings, "runs": runs}
        for name, r in runs.items():
            row[name] = {"median_seconds": float(np.median([x["seconds"] for x in r])),
                         "median_accuracy": float(np.median([x["accuracy"] for x in r]))}
        row["speedup"] = row["scikit-learn"]["median_seconds"] / row["fastnn"]["median_seconds"]
        results.append(row)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", default="100",
                        help="hidden layer sizes, comma-separated (default 100)")
    parser.add_argument("--eta", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--batch-sizes", default="10,100",
                        help="mini-batch sizes to compare, comma-separated (default 10,100)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per fit (default 10)")
    parser.add_argument("--alpha", type=float, default=1e-4,
                        help="L2 alpha, scikit-learn's meaning for both (default 1e-4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per library")
    parser.add_argument("--threads", default="1", choices=["1", "all"],
                        help="1 (default): one thread for BLAS and fastnn; all: no limit")
    parser.add_argument("--train", type=int, default=None,
                        help="use only the first N training images (default: all)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    args.batch_sizes = [int(m) for m in args.batch_sizes.split(",")]

    data = load_dataset(dtype=np.float32)
    (X, y), (Xt, yt) = data.train, data.test
    if args.train:
        X, y = X[:args.train], y[:args.train]
    full = os.path.isdir(FULL_DATA) and os.path.abspath(data.source) == FULL_DATA
    which = "full Fashion-MNIST" if full else "the Fashion-MNIST sample shipped with fastnn"
    print(f"data: {which} ({data.description}); training on {len(y):,} images, testing on "
          f"{len(yt):,}")
    load_before = os.getloadavg()
    if args.threads == "1":
        with threadpool_limits(limits=1, user_api="blas"):
            blas = blas_info()
            results = run(args, X, y, Xt, yt, threads=1)
    else:
        blas = blas_info()
        results = run(args, X, y, Xt, yt, threads=None)
    load_after = os.getloadavg()

    print(f"\nhidden {args.hidden}, logistic, softmax + log-loss, SGD η={args.eta}, "
          f"{args.epochs} epochs, alpha={args.alpha}, threads={args.threads}; "
          f"median of {args.repeats}")
    print(f"{'m':>5} | {'fastnn s/fit':>12} | {'sklearn s/fit':>13} | {'speedup':>7} | "
          f"{'fastnn acc':>10} | {'sklearn acc':>11}")
    for row in results:
        f, s = row["fastnn"], row["scikit-learn"]
        print(f"{row['settings']['batch_size']:>5} | {f['median_seconds']:>12.2f} | "
              f"{s['median_seconds']:>13.2f} | {row['speedup']:>6.1f}x | "
              f"{f['median_accuracy']:>10.4f} | {s['median_accuracy']:>11.4f}")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{os.cpu_count()} cores")

    if args.json:
        report = {
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "data": {"full": full, "description": data.description,
                     "n_train": int(len(y)), "n_test": int(len(yt))},
            "threads": args.threads, "repeats": args.repeats, "results": results,
            "versions": {"fastnn": fastnn.__version__, "scikit-learn": sklearn.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "machine": {"cores": os.cpu_count(), "processor": platform.processor(),
                        "load_average_before": load_before, "load_average_after": load_after,
                        "blas_during_fits": blas,
                        "fastnn_threads_available": _threads.available()}}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
