"""Epoch time of this checkout against another one, alternated in fresh processes.

    python bench/compare_trees.py --against ../old-checkout                 # config C, 1 thread
    python bench/compare_trees.py --against ../old-checkout --threads 2 --rounds 6
    python bench/compare_trees.py --against ../old --config A --samples 50000
    python bench/compare_trees.py --against ../old --config A --optimizer adam

On a shared machine the speed drifts by more than most changes to a kernel are worth
(10-30% over minutes), so two trees are compared in alternation: each round runs one
fresh process per tree, in turn, and each process trains ``--repeats`` epochs of
``--samples`` rows of Fashion-MNIST (uniform random pixels when it is not installed)
after an untimed warm-up (the compile), and reports its best epoch, scaled to 50,000
samples. The median over the rounds is printed per tree, with every round's figure.
Each tree keeps its own Numba cache (its package folder), so only the first round
compiles, and that outside the timing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from compile_profile import _importable_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, sys, time
import numpy as np
spec = json.loads(sys.argv[1])
import fastnn
try:
    from fastnn.perf.bench import CONFIGS
except ImportError:  # a tree from before the subpackages (2026-12)
    from fastnn.bench import CONFIGS
c = CONFIGS[spec["config"]]
n, dtype = spec["samples"], spec["dtype"]
try:
    from fastnn.data import load_dataset
    X, labels = load_dataset(dtype=np.float64).train
    if X.shape[0] < n:
        raise ValueError("too few rows")
    X, labels = X[:n], labels[:n]
except Exception:
    rng = np.random.default_rng(0)
    X, labels = rng.random((n, 784)), rng.integers(0, 10, n)
X = np.ascontiguousarray(X, dtype=dtype)
Y = np.ascontiguousarray(np.eye(10)[labels], dtype=dtype)
net = fastnn.Network(c["sizes"], c["hidden"], c["output"], c["cost"], dtype=dtype, seed=1,
                     threads=spec["threads"])
m = c["mini_batch_size"]
order = np.random.default_rng(0).permutation(n).astype(np.int64)
params = net.params.copy()
opt = spec.get("optimizer")
if opt:  # the general epoch, through the public API (the same call in every tree)
    state = net.train_epoch(X, Y, order[:4 * m], m, 0.001, 0.0, optimizer=opt)
else:
    net._engine.train_epoch(params, X, Y, order[:4 * m], m, 0.01, 0.0)
times = []
for _ in range(spec["repeats"]):
    start = time.perf_counter()
    if opt:
        state = net.train_epoch(X, Y, order, m, 0.001, 5.0, optimizer=opt, state=state)
    else:
        net._engine.train_epoch(params, X, Y, order, m, 0.01, 5.0 / 50000)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times, "fastnn": fastnn.__file__,
                  "path": net._engine.path_name(m)}))
"""


def one_run(tree, spec):
    """Best epoch (seconds per 50,000 samples) of one fresh process on ``tree``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = tree
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], env=env,
                          cwd=tree, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"epoch subprocess failed on {tree}:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return min(out["seconds"]) * 50000 / spec["samples"], out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--against", required=True, metavar="CHECKOUT",
                   help="the other fastnn checkout")
    p.add_argument("--config", default="C", choices=["A", "B", "C"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--optimizer", default=None,
                   help="time the general epoch with this optimizer (e.g. adam) through "
                        "Network.train_epoch, instead of the book's SGD epoch")
    p.add_argument("--samples", type=int, default=10240, help="rows per timed epoch")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per process")
    p.add_argument("--rounds", type=int, default=4, help="processes per tree, alternated")
    args = p.parse_args(argv)
    for name in ("threads", "samples", "repeats", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)} is invalid; expected a positive integer")
    spec = {k: getattr(args, k) for k in ("config", "dtype", "threads", "samples", "repeats",
                                          "optimizer")}
    trees = {"this tree": _importable_tree(ROOT), args.against: _importable_tree(args.against)}
    results = {label: [] for label in trees}
    for r in range(args.rounds):
        labels = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for label in labels:
            seconds, out = one_run(trees[label], spec)
            results[label].append(seconds)
    print(f"config {args.config}, {args.dtype}, {args.threads} thread(s), {args.samples:,} "
          f"samples per epoch, best of {args.repeats} per process, {args.rounds} alternated "
          f"rounds; seconds per 50,000-sample epoch (engine path: {out['path']})")
    for label, runs in results.items():
        print(f"  {label:<20} median {statistics.median(runs):7.3f}   "
              + " ".join(f"{s:.3f}" for s in runs))
    base = statistics.median(results[args.against])
    print(f"  this tree / {args.against}: "
          f"{statistics.median(results['this tree']) / base:.3f} (< 1: this tree is faster)")
    return results


if __name__ == "__main__":
    main()
