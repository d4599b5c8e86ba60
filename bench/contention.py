"""More threads never slower (issue 18, item 3): the default thread count against one
thread, on an idle machine and with a CPU-bound competitor on one core.

    python bench/contention.py                         # C and D, float32, 3 repeats
    python bench/contention.py --configs D --samples 5000 --repeats 2

Configs (through the public ``Network.train_epoch``, class labels, Fashion-MNIST or the
shipped sample):

* C [784,1024,1024,10]: ReLU, softmax, log-likelihood, plain SGD, mini-batch 128;
* D [784,512,256,10]: ReLU, softmax, log-likelihood, Adam η 0.001, dropout 0.2,
  mini-batch 128 (issue 18's example of a user's run).

For each config and case -- ``threads=1`` (fixed) and the default (every core at most,
the matrix path's measured plan, fastnn/_engine/matrix.py) -- one epoch of ``--samples`` rows is
timed, idle and with a competitor (a process spinning on CPU 0), the cases alternated
within each repeat (each case its own network, so that the default's thread watch
adapts to its own condition, as in a run that meets one); medians, scaled to 50,000
samples. The competitor is started before
and stopped after each timed epoch that needs it. Which plan ran is printed (``fastnn
calibrate`` shows the records); the calibration is done before timing.
"""
import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

import fastnn
from fastnn._engine import threads as _threads
from fastnn.data import load_dataset

CONFIGS = {
    "C": dict(sizes=[784, 1024, 1024, 10], kw=dict(eta=0.1)),
    "D": dict(sizes=[784, 512, 256, 10], kw=dict(eta=0.001, optimizer="adam", dropout=0.2)),
}
M = 128
SPIN = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"


def competitor():
    """A process spinning on CPU 0 (started; the caller stops it)."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    time.sleep(0.3)  # let it start spinning
    return proc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="C,D")
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = p.parse_args(argv)
    if _threads.available() < 2:
        p.error("needs at least two cores")
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            p.error(f"--configs: unknown config {c!r}; expected some of {', '.join(CONFIGS)}")
    ds = load_dataset(dtype=np.dtype(args.dtype).type)
    X, y = ds.train
    rows = np.arange(args.samples) % X.shape[0]
    X, y = np.ascontiguousarray(X[rows]), y[rows]
    order = np.random.default_rng(0).permutation(args.samples)
    scale = 50_000 / args.samples
    print(f"data: {ds.description}; {args.samples:,} samples per timed epoch, scaled to 50,000")
    cases = [(c, t, busy) for c in configs for t in ("1", "default") for busy in (False, True)]
    nets = {}
    for k in cases:  # a network per case: the busy case's thread watch is its own
        c, t, busy = k
        net = fastnn.Network(CONFIGS[c]["sizes"], "relu", "softmax", "log_likelihood",
                             dtype=args.dtype, seed=0, threads=1 if t == "1" else None)
        net.train_epoch(X, y, order[:2 * M], M, **CONFIGS[c]["kw"])  # compile, calibrate
        kind = "general" if "optimizer" in CONFIGS[c]["kw"] else "sgd"
        if not busy:
            plan = net._engine.plan(M, _threads.resolve(net.threads), kind)
            print(f"{c} threads={t}: {plan.describe()}", flush=True)
        nets[k] = (net, net.params.copy())
    times = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for r in range(args.repeats):
        for k in cases[r % len(cases):] + cases[:r % len(cases)]:
            c, t, busy = k
            net, p0 = nets[k]
            net.params[...] = p0
            proc = competitor() if busy else None
            try:
                c0, w0 = time.process_time(), time.perf_counter()
                net.train_epoch(X, y, order, M, **CONFIGS[c]["kw"])
                wall = time.perf_counter() - w0
                cpu[k].append((time.process_time() - c0) / wall)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
            times[k].append(wall * scale)
        print(f"repeat {r + 1}/{args.repeats} done", flush=True)
    for k in cases:
        c, t, busy = k
        net = nets[k][0]
        kind = "general" if "optimizer" in CONFIGS[c]["kw"] else "sgd"
        watch = net._engine.plan(M, _threads.resolve(net.threads), kind).watch
        if watch is not None:
            print(f"{c} default{', busy' if busy else ''}: the thread watch changed count "
                  f"{watch.switches} time(s), ended on {watch.current} thread(s)")
    cpu_name = fastnn._engine.gemm.cpu_name()
    print(f"\nseconds per 50,000-sample epoch ({args.dtype}, median of {args.repeats}; "
          f"{_threads.available()} cores, Numba CPU {cpu_name}); in brackets CPU/wall")
    print(f"{'config':8}{'1 thread':>16}{'default':>16}{'1, busy':>16}{'default, busy':>16}"
          f"{'default/1':>11}{'busy: def/1':>13}")
    for c in configs:
        med = {(t, b): statistics.median(times[(c, t, b)]) for t in ("1", "default")
               for b in (False, True)}
        cw = {(t, b): statistics.median(cpu[(c, t, b)]) for t in ("1", "default")
              for b in (False, True)}
        cells = "".join(f"{med[k]:10.2f} [{cw[k]:.2f}]" for k in
                        (("1", False), ("default", False), ("1", True), ("default", True)))
        print(f"{c:8}{cells}{med[('default', False)] / med[('1', False)]:10.2f}x"
              f"{med[('default', True)] / med[('1', True)]:12.2f}x")


if __name__ == "__main__":
    main()
