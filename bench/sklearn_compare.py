"""fastnn.sklearn.MLPClassifier against scikit-learn's MLPClassifier, the same arguments
for both, on Fashion-MNIST: seconds per fit, test accuracy and the loss curves.

    python bench/sklearn_compare.py                         # both settings, 1 and 2 threads
    python bench/sklearn_compare.py --settings defaults --threads 1 --repeats 5
    python bench/sklearn_compare.py --json out.json

fastnn.sklearn is a drop-in, so both libraries get the very same keyword arguments:

* ``defaults``: scikit-learn's defaults (``hidden_layer_sizes=(100,)``, relu, Adam with
  η 0.001, ``batch_size="auto"`` = 200, ``alpha`` 1e-4), ``max_iter=--epochs`` (3);
* ``book``: the book's setting, logistic hidden units, plain SGD (``momentum=0``),
  η 0.1, ``batch_size=10``, ``max_iter=--epochs``.

Both start from ``random_state`` 0, 1, ... (the same Glorot-uniform draw, the same
mini-batches) and train on the images as float32, which both then train in (scikit-learn's
dtype rule, which fastnn.sklearn follows). Each fit is timed in this one process, the two
libraries alternating, after one untimed fit of each on 1,000 images (fastnn's kernels
compile or load). For ``--threads`` N, BLAS is limited to N threads with threadpoolctl and
fastnn gets ``threads=N`` (its extra keyword: a plain drop-in script would use every
core); the report names the BLAS that ran. ConvergenceWarning (max_iter reached) is
intended and silenced. In float32 the two runs round differently, so their loss curves
agree to a few digits, not exactly (the float64 equality is tests/test_sklearn_fit.py's).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fastnn  # noqa: E402
from fastnn._engine import gemm  # noqa: E402
from fastnn.data import load_dataset  # noqa: E402
from fastnn.sklearn import MLPClassifier  # noqa: E402

FULL_DATA = "/usr/share/datasets/fashion-mnist"
SETTINGS = {
    "defaults": {},
    "book": dict(activation="logistic", solver="sgd", learning_rate_init=0.1, momentum=0.0,
                 batch_size=10),
}


def blas_info():
    """The BLAS libraries loaded and their thread limits, as threadpoolctl sees them."""
    return [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def timed_fit(estimator, X, y, Xt, yt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: intended
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, float(estimator.score(Xt, yt)), list(estimator.loss_curve_)


def compare(name, threads, args, X, y, Xt, yt):
    kwargs = dict(SETTINGS[name], hidden_layer_sizes=(100,), max_iter=args.epochs)

    def pair(seed, max_iter=args.epochs):
        both = dict(kwargs, random_state=seed, max_iter=max_iter)
        return [("scikit-learn", SkMLPClassifier(**both)),
                ("fastnn", MLPClassifier(**both, threads=threads))]

    with threadpool_limits(limits=threads, user_api="blas"):
        blas = blas_info()
        for _, est in pair(0, 1):  # warm-up: compile or load fastnn's kernels
            timed_fit(est, X[:1000], y[:1000], Xt[:100], yt[:100])
        runs = {"scikit-learn": [], "fastnn": []}
        for seed in range(args.repeats):
            order = pair(seed)
            for lib, est in (order if seed % 2 == 0 else order[::-1]):
                seconds, accuracy, curve = timed_fit(est, X, y, Xt, yt)
                runs[lib].append({"seed": seed, "seconds": seconds, "accuracy": accuracy,
                                  "loss_curve": curve})
                print(f"  {name} threads={threads} seed {seed} {lib:12s} {seconds:7.2f} s  "
                      f"accuracy {accuracy:.4f}  loss curve "
                      f"{' '.join(f'{c:.5f}' for c in curve)}", flush=True)
    row = {"settings": name, "arguments": kwargs, "threads": threads, "blas": blas,
           "runs": runs}
    for lib, r in runs.items():
        row[lib] = {"median_seconds": float(np.median([x["seconds"] for x in r])),
                    "median_accuracy": float(np.median([x["accuracy"] for x in r]))}
    row["speedup"] = row["scikit-learn"]["median_seconds"] / row["fastnn"]["median_seconds"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default="defaults,book",
                        help="comma-separated: defaults, book (default both)")
    parser.add_argument("--threads", default="1,2",
                        help="thread counts to compare, comma-separated (default 1,2)")
    parser.add_argument("--epochs", type=int, default=3, help="max_iter (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per library")
    parser.add_argument("--train", type=int, default=None,
                        help="use only the first N training images (default: all)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    for name in names:
        if name not in SETTINGS:
            parser.error(f"--settings {name!r}: expected one of {', '.join(SETTINGS)}")
    thread_counts = [int(t) for t in args.threads.split(",")]

    data = load_dataset(dtype=np.float32)
    (X, y), (Xt, yt) = data.train, data.test
    if args.train:
        X, y = X[:args.train], y[:args.train]
    full = os.path.isdir(FULL_DATA) and os.path.abspath(data.source) == FULL_DATA
    which = "full Fashion-MNIST" if full else "the Fashion-MNIST sample shipped with fastnn"
    cpu = f"{gemm.cpu_name()} ({platform.processor() or '?'})"
    print(f"data: {which} ({data.description}); training on {len(y):,} images, testing on "
          f"{len(yt):,}; CPU {cpu}, {os.cpu_count()} cores")
    load_before = os.getloadavg()
    results = [compare(name, threads, args, X, y, Xt, yt)
               for name in names for threads in thread_counts]
    load_after = os.getloadavg()

    print(f"\n{args.epochs} epochs, float32, median of {args.repeats}")
    print(f"{'settings':>9} | {'threads':>7} | {'sklearn s':>9} | {'fastnn s':>8} | "
          f"{'speedup':>7} | {'sklearn acc':>11} | {'fastnn acc':>10} | BLAS")
    for row in results:
        f, s = row["fastnn"], row["scikit-learn"]
        blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']}"
                         for b in row["blas"])
        print(f"{row['settings']:>9} | {row['threads']:>7} | {s['median_seconds']:>9.2f} | "
              f"{f['median_seconds']:>8.2f} | {row['speedup']:>6.2f}x | "
              f"{s['median_accuracy']:>11.4f} | {f['median_accuracy']:>10.4f} | {blas}")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")

    if args.json:
        report = {
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "data": {"full": full, "description": data.description,
                     "n_train": int(len(y)), "n_test": int(len(yt))},
            "epochs": args.epochs, "repeats": args.repeats, "results": results,
            "versions": {"fastnn": fastnn.__version__, "scikit-learn": sklearn.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "machine": {"cores": os.cpu_count(), "cpu": cpu,
                        "load_average_before": load_before, "load_average_after": load_after}}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
