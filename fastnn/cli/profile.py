"""``fastnn profile``: where an epoch's time goes (fastnn.perf.profile)."""
import argparse
import json

from .. import _checks
from .. import plot as _plots
from ._common import _network_arguments, _threads_option


def add_parser(commands):
    prof = commands.add_parser(
        "profile", help="time every phase of every layer of an epoch against a cost model",
        description="Time each phase of each layer (forward product, activation, output "
                    "delta, hidden delta product, activation derivative, weight-gradient "
                    "product, bias gradient, fused update, loop overhead) with the engine's "
                    "own kernels, give its FLOPs and bytes from the cost model, its GFLOP/s "
                    "and GB/s against the GEMM peak and the copy bandwidth measured in the "
                    "same run, and compare the sum of the phases with a measured epoch. "
                    "With --sweep, vary one thing at a time. See docs/profiling-study.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _network_arguments(prof, [784, 100, 10])
    prof.add_argument("--mini-batch-size", type=int, default=10, help="samples per update")
    prof.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    prof.add_argument("--threads", default="1",
                      help="engine and BLAS threads: a count, or 'all' (every core)")
    prof.add_argument("--samples", type=int, default=None,
                      help="samples per profiled epoch (default 10000; 4096 per sweep point)")
    prof.add_argument("--repeats", type=int, default=None,
                      help="timed repeats of every phase, medians reported (default 5; 3 "
                           "per sweep point)")
    prof.add_argument("--path", default="auto", choices=["auto", "loops", "matrix"],
                      help="the engine's path: its own choice, its loops, or BLAS")
    prof.add_argument("--eta", type=float, default=0.1, help="learning rate")
    prof.add_argument("--lmbda", type=float, default=0.0,
                      help="L2 strength (> 0 adds the weight-decay pass)")
    prof.add_argument("--data", default=None,
                      help="dataset for [784, ..., 10] networks (default: as fastnn train)")
    prof.add_argument("--sweep", default=None, metavar="KIND[,KIND]",
                      help="vary one thing at a time: batch, width, depth, threads, dtype or all")
    prof.add_argument("--quick", action="store_true",
                      help="with --sweep: fewer values, samples and repeats (seconds, for CI)")
    prof.add_argument("--json", default=None, help="write the result as JSON to this path")
    prof.add_argument("--plot", default=None, metavar="FOLDER",
                      help="write PNG figures into this folder (needs fastnn[plot])")


def run(args):
    from ..perf import profile as prof

    threads = _threads_option(args.threads)
    for name in ("samples", "repeats", "mini_batch_size"):
        if getattr(args, name) is not None:
            _checks.check_positive("--" + name.replace("_", "-"), getattr(args, name),
                                   integer=True)
    if args.plot:
        _plots.require_matplotlib()  # fail now, not after minutes of timing
    options = dict(hidden_activation=args.hidden_activation,
                   output_activation=args.output_activation, cost=args.cost, path=args.path,
                   eta=args.eta, lmbda=args.lmbda, data=args.data)
    if args.sweep:
        kinds = list(prof.SWEEPS) if args.sweep == "all" else \
            [k.strip() for k in args.sweep.split(",") if k.strip()]
        bad = [k for k in kinds if k not in prof.SWEEPS]
        if bad or not kinds:
            raise ValueError(f"--sweep={args.sweep!r} is invalid; expected names from "
                             f"{', '.join(prof.SWEEPS)}, or all")
        results = []
        for kind in kinds:
            r = prof.sweep(kind, sizes=args.sizes, mini_batch_size=args.mini_batch_size,
                           dtype=args.dtype, threads=threads, samples=args.samples or 4096,
                           repeats=args.repeats or 3, quick=args.quick, **options)
            print(prof.format_sweep(r) + "\n", flush=True)
            if args.plot:
                for path in prof.plot_sweep(r, args.plot):
                    print(f"figure written to {path}")
            results.append(r)
        out = results[0] if len(results) == 1 else {"schema": prof.SCHEMA, "sweeps": results}
    else:
        out = prof.profile(args.sizes, mini_batch_size=args.mini_batch_size, dtype=args.dtype,
                           threads=threads, samples=args.samples or 10000,
                           repeats=args.repeats or 5, **options)
        print(prof.format_report(out), flush=True)
        if args.plot:
            for path in prof.plot_profile(out, args.plot):
                print(f"figure written to {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"JSON written to {args.json}")
    return 0
