"""Where the engine's cold compile goes: per kernel, and Numba's front end against LLVM.

    python bench/compile_profile.py                  # [784,30,10] float32, 3 runs
    python bench/compile_profile.py --runs 5 --dtype float64 --top 15
    python bench/compile_profile.py --against ../old-checkout   # interleaved with another tree
    python bench/compile_profile.py --cpus 2          # as a 2-core user runs it
    python bench/compile_profile.py --optimizer adam  # the general epoch's kernels

Each run is a fresh Python process with an empty ``NUMBA_CACHE_DIR`` (pinned to one CPU
when the machine has more than one, or to ``--cpus`` CPUs: with two, the cold epoch
compiles its backward pass in a helper process, fastnn/_engine/coldstart.py, whose functions
the per-function list below does not see) that imports fastnn and makes the first call a user
makes: ``Network.fit`` for one epoch of 100 samples (or two mini-batches) with as many
evaluation samples, which compiles the epoch's kernels and what evaluation needs. It reports:

* the seconds of the imports (Numba's, NumPy's, fastnn's), of the first ``fit`` and of
  the whole process;
* the LLVM share, from timers around four of Numba's code-generation steps: optimizing
  each function as it is lowered, optimizing each compiled function's final module (its
  own code plus every kernel it links in, optimized again), turning that module into
  machine code, and the Python and C wrappers; the rest of the compile is Numba's front
  end (bytecode analysis, type inference, lowering to LLVM IR, caching);
* per compiled function, its own seconds (those of the functions it calls taken out),
  from Numba's ``numba:compile`` events.

The timers wrap methods of ``numba.core.codegen`` and ``numba.core.lowering`` (Numba
0.68's names); where a name is missing the LLVM split is left out. Machine speed
drifts on shared machines: compare trees with ``--against``, which alternates the runs.
"""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import time
t0 = time.perf_counter()
import collections, functools, json, sys
spec = json.loads(sys.argv[1])
parts = collections.defaultdict(float)
try:
    from numba.core import codegen, lowering

    def timed(cls, name, label):
        f = getattr(cls, name)

        @functools.wraps(f)
        def g(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                parts[label] += time.perf_counter() - t
        setattr(cls, name, g)

    timed(codegen.CPUCodeLibrary, "_optimize_functions", "optimize each function")
    timed(codegen.CPUCodeLibrary, "_optimize_final_module", "optimize final modules")
    timed(codegen.JITCodeLibrary, "_finalize_specific", "machine code")
    timed(lowering.Lower, "create_cpython_wrapper", "wrappers")
    timed(lowering.Lower, "create_cfunc_wrapper", "wrappers")
except (ImportError, AttributeError):
    parts = None
from numba.core import event
recorder = event.RecordingListener()
event.register("numba:compile", recorder)
import numpy as np
import fastnn
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
sizes = spec["sizes"]
n = max(100, 2 * spec["mini_batch_size"])
X = rng.random((2 * n, sizes[0])).astype(spec["dtype"])
y = rng.integers(0, sizes[-1], 2 * n)
net = fastnn.Network(sizes, dtype=spec["dtype"], seed=0)
t = time.perf_counter()
m = spec["mini_batch_size"]
net.fit(X[:n], y[:n], epochs=1, mini_batch_size=m, eta=0.1, evaluation_data=(X[n:], y[n:]),
        optimizer=spec["optimizer"])
t_fit = time.perf_counter() - t
own = collections.defaultdict(float)
stack = []
for ts, ev in recorder.buffer:
    name = ev.data["dispatcher"].py_func.__qualname__
    if ev.is_start:
        stack.append([name, ts, 0.0])
    else:
        name, start, inner = stack.pop()
        own[name] += ts - start - inner
        if stack:
            stack[-1][2] += ts - start
path = "matrix" if net._engine.uses_matrix(m) else "loops"
print(json.dumps({"fastnn": fastnn.__file__, "path": path, "import_s": t_import, "fit_s": t_fit,
                  "total_s": time.perf_counter() - t0, "llvm": parts, "own": own}))
"""


def run_once(tree, spec, cpu):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = tree
    with tempfile.TemporaryDirectory(prefix="fastnn-compile-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        cmd = [sys.executable, "-c", _CHILD, json.dumps(spec)]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        # run outside the repository so that ``tree`` (or the installed fastnn) is imported
        proc = subprocess.run(cmd, env=env, cwd=cache, capture_output=True, text=True,
                              check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"compile-time subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _importable_tree(path):
    """A folder to put on PYTHONPATH so that ``import fastnn`` loads the checkout at
    ``path`` (its ``kernels/`` installed as ``fastnn.kernels``, as pyproject maps it)."""
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "fastnn", "__init__.py")):
        raise SystemExit(f"--against {path!r}: no fastnn/__init__.py there")
    folder = tempfile.mkdtemp(prefix="fastnn-tree-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    pkg = os.path.join(folder, "fastnn")
    shutil.copytree(os.path.join(path, "fastnn"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    shutil.copytree(os.path.join(path, "kernels"), os.path.join(pkg, "kernels"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def summary(label, runs, top):
    lines = [f"{label}: {len(runs)} cold runs (fastnn from {os.path.dirname(runs[0]['fastnn'])})"]
    for key in ("import_s", "fit_s", "total_s"):
        vals = sorted(r[key] for r in runs)
        lines.append(f"  {key[:-2]:<7} median {statistics.median(vals):6.2f} s   "
                     f"range {vals[0]:.2f}-{vals[-1]:.2f}")
    if all(r["llvm"] for r in runs):
        llvm = {k: statistics.median(r["llvm"][k] for r in runs) for k in runs[0]["llvm"]}
        fit = statistics.median(r["fit_s"] for r in runs)
        total = sum(llvm.values())
        lines.append(f"  LLVM {total:.2f} s of the first fit's {fit:.2f} s (medians): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in llvm.items()))
    own = {}
    for r in runs:
        for k, v in r["own"].items():
            own.setdefault(k, []).append(v)
    ranked = sorted(own.items(), key=lambda kv: -statistics.median(kv[1]))[:top]
    lines.append(f"  own compile seconds per function (median, top {top}):")
    for k, v in ranked:
        lines.append(f"    {statistics.median(v):6.2f}  {k}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="cold processes per tree (default 3)")
    p.add_argument("--sizes", default="784,30,10", help="layer sizes (default 784,30,10)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--mini-batch-size", type=int, default=10,
                   help="mini-batch size of the first fit (default 10; large layers with "
                        "large mini-batches take the matrix path, e.g. --sizes 784,1024,10 "
                        "--mini-batch-size 128)")
    p.add_argument("--optimizer", default=None,
                   help="the first fit's optimizer (default the book's SGD; e.g. adam "
                        "compiles the general epoch kernel)")
    p.add_argument("--top", type=int, default=10, help="functions listed (default 10)")
    p.add_argument("--against", metavar="CHECKOUT",
                   help="another fastnn checkout to time in alternation with this one")
    p.add_argument("--cpus", type=int, default=1,
                   help="CPUs each run is pinned to (default 1; with 2 or more, a cold "
                        "first epoch compiles its backward pass in a helper process: "
                        "fastnn/_engine/coldstart.py)")
    p.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error(f"--runs={args.runs} is invalid: expected at least 1")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes={args.sizes!r} is invalid: expected integers such as 784,30,10")
    if args.mini_batch_size < 1:
        p.error(f"--mini-batch-size={args.mini_batch_size} is invalid: expected at least 1")
    if len(sizes) < 2 or min(sizes) < 1:
        p.error(f"--sizes={args.sizes!r} is invalid: expected two or more positive sizes")
    spec = {"sizes": sizes, "dtype": args.dtype, "mini_batch_size": args.mini_batch_size,
            "optimizer": args.optimizer}
    if args.cpus < 1:
        p.error(f"--cpus={args.cpus} is invalid: expected at least 1")
    n_cpus = os.cpu_count() or 1
    if args.cpus > n_cpus:
        p.error(f"--cpus={args.cpus} is invalid: this machine has {n_cpus}")
    # one CPU: CPU 1 (away from CPU 0's interrupts); more: CPUs 0 to k-1
    cpu = None
    if sys.platform.startswith("linux") and n_cpus > 1:
        cpu = "1" if args.cpus == 1 else f"0-{args.cpus - 1}"
    trees = {"this tree": _importable_tree(ROOT)}
    if args.against:
        trees[args.against] = _importable_tree(args.against)
    runs = {label: [] for label in trees}
    for _ in range(args.runs):
        for label, tree in trees.items():
            runs[label].append(run_once(tree, spec, cpu))
    paths = sorted({r["path"] for rs in runs.values() for r in rs})
    print(f"cold compile of import + first fit, {sizes} {args.dtype}, mini-batch "
          f"{args.mini_batch_size} ({'/'.join(paths)} path)"
          + (f", pinned to CPU(s) {cpu}" if cpu is not None else ""))
    for label in trees:
        print(summary(label, runs[label], args.top))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": sizes, "dtype": args.dtype, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
