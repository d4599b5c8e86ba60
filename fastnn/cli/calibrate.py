"""``fastnn calibrate``: show or redo the choices measured on this machine."""
import argparse
import os
import sys
import time

from .. import _checks
from .._engine import threads as _threads
from .._engine import width as _width
from ..network import Network
from ._common import _sizes

# ---------------------------------------------------------------- fastnn calibrate

#: what ``fastnn calibrate --redo`` measures without --sizes: config C and the network of
#: issue 18's example (both on the matrix path at their mini-batch of 128)
CALIBRATE_NETWORKS = (([784, 1024, 1024, 10], 128), ([784, 512, 256, 10], 128))


def add_parser(commands):
    cal = commands.add_parser(
        "calibrate", help="show, redo or clear the choices measured on this machine",
        description="fastnn measures which GEMM (BLAS or its own) and how many threads train "
                    "a network's mini-batches fastest on this machine, and on a CPU with "
                    "AVX-512 the vector width its loops run fastest at, once, and keeps the "
                    "result in a file in the user's cache folder ($FASTNN_CACHE_DIR, else "
                    "$XDG_CACHE_HOME/fastnn, else ~/.cache/fastnn). Without options, show "
                    "this machine's records. FASTNN_CALIBRATE=off turns the measuring off "
                    "(the built-in rules run), =redo measures again once per process. See "
                    "docs/performance.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    what = cal.add_mutually_exclusive_group()
    what.add_argument("--redo", action="store_true",
                      help="measure again (the networks of --sizes/--mini-batch-size, else "
                           "config C and [784,512,256,10] at mini-batch 128) and show them")
    what.add_argument("--clear", action="store_true",
                      help="forget this machine's records (the next training measures again)")
    cal.add_argument("--sizes", type=_sizes, default=None,
                     help="with --redo: the network to measure (comma-separated sizes)")
    cal.add_argument("--mini-batch-size", type=int, default=128,
                     help="with --redo and --sizes: the mini-batch size")
    cal.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                     help="with --redo: the dtype measured")
    cal.add_argument("--threads", type=int, default=None,
                     help="with --redo: the threads (default: every core, of which the "
                          "measurement may choose fewer)")


def run(args):
    from .._engine import calibrate as cal
    mode = cal.mode()
    if args.clear:
        cal.clear()
        if cal.save_error():
            raise OSError(f"cannot write {cal.cache_path()}: {cal.save_error()}")
        print(f"cleared this machine's records in {cal.cache_path()}")
        return 0
    if args.redo:
        if mode == "off":
            raise ValueError(f"{cal.ENV}=off turns measuring off; unset it to use --redo")
        networks = CALIBRATE_NETWORKS if args.sizes is None else \
            ((args.sizes, _checks.check_positive("--mini-batch-size", args.mini_batch_size,
                                                 integer=True)),)
        if args.threads is not None:
            _threads.resolve(args.threads)
        saved = os.environ.get(cal.ENV)
        os.environ[cal.ENV] = "redo"
        try:
            for sizes, m in networks:
                net = Network(sizes, "relu", "softmax", "log_likelihood", dtype=args.dtype,
                              threads=args.threads)
                net.engine.matrix = True
                for kind, what in (("sgd", "SGD"), ("general", "an optimizer's step")):
                    start = time.perf_counter()
                    plan = net.engine.plan(m, _threads.resolve(args.threads), kind)
                    print(f"{'x'.join(map(str, sizes))}, mini-batch {m}, {args.dtype}, "
                          f"{what}: {plan.describe()} [{time.perf_counter() - start:.1f} s]")
            start = time.perf_counter()
            line = _width.redo()
            print(f"loop vector width: {line} [{time.perf_counter() - start:.1f} s]")
        finally:
            if saved is None:
                os.environ.pop(cal.ENV, None)
            else:
                os.environ[cal.ENV] = saved
        if cal.save_error():
            print(f"note: not saved ({cal.save_error()}); the choices hold for this process "
                  f"only", file=sys.stderr)
        return 0
    print(f"calibration file: {cal.cache_path()} ({cal.ENV}={mode})")
    if cal.problem():
        print(f"note: the file {cal.problem()}")
    m = cal.machine()
    print(f"this machine: {m['cpu']['vendor']} family {m['cpu']['family']} model "
          f"{m['cpu']['model']} ({m['cpu']['name']}), Numba CPU {m['numba_cpu']}, "
          f"{m['blas']['internal_api']} {m['blas']['version']} ({m['blas']['architecture']} "
          f"kernel), {m['cores']} cores")
    print(f"loop vector width in this process: {_width.describe()}")
    records = cal.records()
    if not records:
        print("no records for this machine yet (training on the matrix path measures, or "
              "run fastnn calibrate --redo)")
    for key, rec in sorted(records.items()):
        ranked = sorted(rec["seconds"], key=rec["seconds"].get)
        print(f"{key}: {rec['choice']} (measured {rec.get('date', '?')}: " + ", ".join(
            f"{c} {rec['seconds'][c] * 1e3:.3g} ms" for c in ranked) + ")")
    return 0
