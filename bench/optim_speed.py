"""Speed of the optimizer step (kernels/optim.py): one step over a whole flat parameter
buffer, and its share of a training epoch.

    python bench/optim_speed.py [--against REV] [--repeats 7] [--dtype float32]
                                [--epochs [--cases momentum,adam] [--no-steps]]

Steps: one ``apply_step`` of every optimizer (and of SGD with L1 + L2) over the buffers of
config A [784, 30, 10] (23,860 parameters, the chapter-3 network) and config C
[784, 1024, 1024, 10] (1,863,690), called from a compiled loop so that no Python call
overhead is timed. Printed: µs per step, ns per parameter, and the step's cost relative
to SGD's. ``--epochs``: seconds per 50,000-sample epoch of config A per chapter-3
technique (bench/techniques.py's cases but augmentation), relative to the book's fused
plain SGD epoch.

With ``--against REV`` every measurement is also taken with kernels/optim.py and
kernels/update.py as they are at git revision REV (the rest of kernels/ as in the working
tree), interleaved with the working tree's in one run, so the two are compared under the
same machine load. Medians of ``--repeats``; compile time excluded.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"A": 23_860, "C": 1_863_690}
STEP_CASES = [  # (name, code, amsgrad, λ/n, λ₁/n)
    ("sgd + L2", 0, 0.0, 1e-4, 0.0),
    ("sgd + L1 + L2", 0, 0.0, 1e-4, 2e-5),
    ("momentum", 1, 0.0, 0.0, 0.0),
    ("nesterov", 2, 0.0, 0.0, 0.0),
    ("adagrad", 3, 0.0, 0.0, 0.0),
    ("rmsprop", 4, 0.0, 0.0, 0.0),
    ("adam", 5, 0.0, 0.0, 0.0),
    ("adam + L1 + L2", 5, 0.0, 1e-4, 2e-5),
    ("amsgrad", 5, 1.0, 0.0, 0.0),
]


def _load_kernels(rev, folder):
    """kernels/ of the working tree with optim.py and update.py from git revision ``rev``,
    imported as a package of its own (its own compiled kernels)."""
    pkg = os.path.join(folder, "kernels_" + "".join(c if c.isalnum() else "_" for c in rev))
    shutil.copytree(os.path.join(ROOT, "kernels"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("optim.py", "update.py"):
        shown = subprocess.run(["git", "show", f"{rev}:kernels/{name}"], cwd=ROOT,
                               capture_output=True, text=True)
        if shown.returncode != 0:  # update.py is gone since 2026-12 (the epoch fuses it)
            continue
        text = shown.stdout
        with open(os.path.join(pkg, name), "w") as f:
            f.write(text)
    name = os.path.basename(pkg)
    spec = importlib.util.spec_from_file_location(name, os.path.join(pkg, "__init__.py"),
                                                  submodule_search_locations=[pkg])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(name + ".optim"), importlib.import_module(name + ".epoch")


def _order(variants, repeat):
    """The variants' labels, in reverse order on odd repeats (neither always goes first)."""
    labels = list(variants)
    return labels[::-1] if repeat % 2 else labels


def _driver(optim):
    """A compiled loop of ``reps`` calls of ``optim.apply_step``: the named ``Hyper`` and
    no coefficient buffer since 2026-12, an array and a 5-entry ``coef`` buffer before."""
    apply_step = optim.apply_step
    if hasattr(optim, "Hyper"):
        @numba.njit(nogil=True)
        def drive(reps, params, grad, n_weights, code, hyper, eta, l2, l1, state, step):
            for _ in range(reps):
                apply_step(params, grad, n_weights, code, hyper, eta, l2, l1, state, step)
    else:
        @numba.njit(nogil=True)
        def drive(reps, params, grad, n_weights, code, hyper, eta, l2, l1, state, step):
            coef = np.zeros(5, params.dtype)
            for _ in range(reps):
                apply_step(params, grad, n_weights, code, hyper, eta, l2, l1, state, step,
                           coef)
    return drive, getattr(optim, "Hyper", None)


def _step_seconds(drive, n, dtype, case, reps):
    _, code, amsgrad, l2, l1 = case
    rng = np.random.default_rng(0)
    params = (0.1 * rng.standard_normal(n)).astype(dtype)
    grad = (0.01 * rng.standard_normal(n)).astype(dtype)
    drive, named = drive
    values = [dtype(v) for v in (0.9, 0.9, 0.999, 1e-8, 0.99, amsgrad)]
    hyper = named(*values, *[dtype(0)] * (len(named._fields) - len(values))) \
        if named is not None else np.array(values, dtype)
    args = (params, grad, n - n // 800, code, hyper, dtype(1e-3), dtype(l2), dtype(l1),
            np.zeros((3, n), dtype), np.zeros(1, np.int64))
    drive(1, *args)
    start = time.perf_counter()
    drive(reps, *args)
    return (time.perf_counter() - start) / reps


def bench_steps(variants, dtype, repeats):
    drivers = {label: _driver(optim) for label, (optim, _) in variants.items()}
    for config, n in SIZES.items():
        reps = max(10, int(2e7 // n))
        print(f"\none step, config {config}: {n:,} parameters, {np.dtype(dtype).name}, "
              f"median of {repeats} x {reps} steps")
        header = "".join(f"{label:>22s}" for label in drivers)
        print(f"{'':16s}{header}   (µs/step, ns/param, x SGD)")
        times = {label: {} for label in drivers}
        for case in STEP_CASES:
            samples = {label: [] for label in drivers}
            for r in range(repeats):
                for label in _order(drivers, r):
                    samples[label].append(_step_seconds(drivers[label], n, dtype, case, reps))
            for label in drivers:
                times[label][case[0]] = float(np.median(samples[label]))
            cells = ""
            for label in drivers:
                t = times[label][case[0]]
                cells += f"{t * 1e6:9.1f} {t * 1e9 / n:5.2f} {t / times[label]['sgd + L2']:5.2f}x"
            print(f"{case[0]:16s}{cells}", flush=True)
    return times


def bench_epochs(variants, repeats, only=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from techniques import CASES
    # Augmentation never reaches the optimizer step, and its epochs (warping every image)
    # vary too much from run to run to compare.
    CASES = [c for c in CASES if not c[0].startswith("augment")]
    if only:
        CASES = [CASES[0]] + [c for c in CASES[1:] if any(w in c[0] for w in only)]

    import fastnn
    from fastnn._engine import engine as _engine
    from fastnn.data import load_dataset

    data = load_dataset()
    X, y = data.train
    print(f"\nepochs of config A per technique, {data.description}, "
          f"{X.shape[0]} samples; median of {repeats}")
    original = _engine._epoch
    seconds = {(name, label): [] for name, _ in CASES for label in variants}
    nets = {}
    for name, kwargs in CASES:
        for label, (_, epoch) in variants.items():
            kwargs = dict({"eta": 0.5}, **kwargs)
            net = fastnn.Network([784, 30, 10], seed=0)
            _engine._epoch = epoch
            try:
                net.fit(X[:100], y[:100], **kwargs)  # compile
            finally:
                _engine._epoch = original
            nets[name, label] = (net, kwargs)
    for r in range(repeats):
        for name, _ in CASES:
            for label in _order(variants, r):
                net, kwargs = nets[name, label]
                _engine._epoch = variants[label][1]
                try:
                    start = time.perf_counter()
                    net.fit(X, y, epochs=1, **kwargs)
                    seconds[name, label].append(time.perf_counter() - start)
                finally:
                    _engine._epoch = original
    per_epoch = {key: float(np.median(t)) * 50000 / X.shape[0] for key, t in seconds.items()}
    plain = CASES[0][0]
    print(f"{'':32s}" + "".join(f"{label:>22s}" for label in variants) + "   (x plain SGD)")
    for name, _ in CASES:
        cells = ""
        for label in variants:
            t = per_epoch[name, label]
            cells += f"{t:10.3f} s ({t / per_epoch[plain, label]:5.2f}x)"
        print(f"{name:32s}{cells}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also time optim.py/update.py at REV")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", action="store_true", help="also time training epochs")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--cases", help="with --epochs: comma-separated words; only the "
                        "techniques whose names contain one (plain SGD always runs)")
    parser.add_argument("--no-steps", action="store_true", help="skip the step timings")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from fastnn.kernels import epoch, optim

    variants = {"working tree": (optim, epoch)}
    with tempfile.TemporaryDirectory() as folder:
        if args.against:
            variants[args.against] = _load_kernels(args.against, folder)
        if not args.no_steps:
            bench_steps(variants, np.dtype(args.dtype).type, args.repeats)
        if args.epochs:
            bench_epochs(variants, max(3, args.repeats // 2),
                         args.cases.split(",") if args.cases else None)


if __name__ == "__main__":
    main()
