"""``fastnn bench``: the benchmark ratios and the regression gate (fastnn.perf.bench)."""
import argparse
import json
import os

from .. import _io
from ._common import _threads_option


def add_parser(commands):
    bench = commands.add_parser(
        "bench", help="time the engine against the NumPy matrix version; optionally gate",
        description="Time one epoch of the engine and of the NumPy matrix version on configs "
                    "A [784,30,10], B [784,100,10] (mini-batch 10) and C [784,1024,1024,10] "
                    "(mini-batch 128), interleaved, and print the medians and their ratio. "
                    "With --gate BASELINE, exit 1 when a ratio fell by more than the "
                    "tolerance below the baseline's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("--configs", default="A,B", help="comma-separated configs (A, B, C)")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument("--threads", default="1",
                       help="engine and BLAS threads: a count, or 'all' (every core)")
    bench.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation")
    bench.add_argument("--samples", type=int, default=10000, help="samples per timed epoch")
    bench.add_argument("--json", default=None, help="write the result as JSON to this path")
    bench.add_argument("--gate", default=None, metavar="BASELINE",
                       help="compare the ratios with this baseline file; exit 1 on a drop")
    bench.add_argument("--tolerance", type=float, default=0.25,
                       help="allowed relative drop of a ratio below the baseline's")
    bench.add_argument("--write-baseline", default=None, metavar="PATH",
                       help="write the measured ratios as a new baseline file")
    bench.add_argument("--record-machine", default=None, metavar="PATH",
                       help="set this kind of machine's entry of the baseline file PATH to "
                            "the measured ratios, keeping the rest of the file (the gate "
                            "uses that entry on the same CPU, BLAS kernel, dtype and threads)")


def run(args):
    from ..perf import bench as bench

    if not 0 < args.tolerance < 1:
        raise ValueError(f"--tolerance={args.tolerance} is invalid; expected a number in (0, 1)")
    baseline = bench.load_baseline(args.gate) if args.gate else None
    if args.record_machine and os.path.exists(args.record_machine):
        bench.load_baseline(args.record_machine)  # refuse a bad file before measuring
    args.threads = _threads_option(args.threads)
    result = bench.measure(configs=[c.strip() for c in args.configs.split(",") if c.strip()],
                           dtype=args.dtype, repeats=args.repeats, n_samples=args.samples,
                           threads=args.threads)
    print(bench.format_table(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.write_baseline:
        text = json.dumps(bench.baseline_record(result), indent=1) + "\n"
        _io.atomic_write(args.write_baseline, lambda f: f.write(text.encode()))
        print(f"baseline written to {args.write_baseline}")
    if args.record_machine:
        key = bench.record_machine(args.record_machine, result)
        print(f"ratios recorded in {args.record_machine} for machine {key!r}")
    if baseline is not None:
        _, source = bench.floors(result, baseline)
        failures = bench.gate(result, baseline, args.tolerance)
        for line in failures:
            print(f"FAIL {line}")
        if failures:
            print(f"(baseline: {source} of {args.gate})")
            return 1
        print(f"gate passed: every ratio within {args.tolerance:.0%} of {args.gate}, "
              f"{source}")
    return 0
