"""Measure the epoch ratio table in one run, without pytest.

    python bench/run_ratios.py            # median of 5 repeats (about a minute)
    python bench/run_ratios.py --quick    # median of 2 repeats, no compile-time processes
    python bench/run_ratios.py --threads all --json out.json

Each repeat times one epoch of every case -- configs A [784,30,10] and B [784,100,10];
engine float32/float64, NumPy matrix float32/float64, naive reference float64 (timed on
5,000 samples, scaled x10) -- with time.perf_counter, from the same initial parameters,
in an order rotated from one repeat to the next, so that slow spells of a noisy machine
hit every implementation alike. The table shows the medians over repeats, and the ratios
reference/engine and numpy/engine. By default BLAS and Numba are limited to one thread
(threadpoolctl), one thread against one thread; --threads all lifts the limit.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=None,
                   help="timed epochs per case (default 5, or 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="2 repeats and no compile-time measurement")
    p.add_argument("--threads", default="1", metavar="1|all|N",
                   help="BLAS and Numba threads: 1 (default), all, or N")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the compile-time measurement (two fresh processes, ~20 s)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the table as JSON to PATH")
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    if repeats < 1:
        p.error("--repeats must be >= 1")

    t_start = time.perf_counter()
    data = benchlib.BenchData()
    print(f"data: {data.description}", flush=True)
    compile_times = None
    if not (args.quick or args.no_compile):
        print("measuring compile time (fresh processes, empty then warm Numba cache)...",
              flush=True)
        compile_times = benchlib.measure_compile()

    with benchlib.ThreadLimit(args.threads):
        threads = benchlib.thread_info(args.threads)
        cases = [benchlib.Case(c, i, d, data) for c, i, d in benchlib.case_ids()]
        for case in cases:              # compile / load kernels, and touch every buffer
            case.warm_up()
        for case in cases:              # one untimed full epoch each (caches, page faults)
            if case.impl != "reference":
                case.run(case.fresh())
        times = {(c.config, c.impl, c.dtype): [] for c in cases}
        for r in range(repeats):
            k = r % len(cases)
            for case in cases[k:] + cases[:k]:   # rotate the order every repeat
                state = case.fresh()
                t = time.perf_counter()
                case.run(state)
                seconds = time.perf_counter() - t
                times[(case.config, case.impl, case.dtype)].append(seconds * case.scale)
            print(f"repeat {r + 1}/{repeats} done ({time.perf_counter() - t_start:.0f} s)",
                  flush=True)
        gemm = {dt: benchlib.gemm_peak(dt) for dt in ("float32", "float64")}

    medians = {k: statistics.median(v) for k, v in times.items()}
    cmd = " ".join(["python bench/run_ratios.py"] + list(sys.argv[1:] if argv is None else argv))
    report = benchlib.build_report(
        medians, threads=threads, data_description=data.description,
        compile_times=compile_times, gemm=gemm, command=cmd,
        method=(f"time.perf_counter, median of {repeats} repeats, implementations "
                f"interleaved (order rotated each repeat), fresh initial parameters "
                f"every epoch"))
    report["spread"] = {f"{c}/{benchlib.key(i, d)}": {"min": min(v), "max": max(v)}
                        for (c, i, d), v in times.items()}
    print()
    print(benchlib.format_report(report))
    print("\nmin..max over repeats (s/epoch): " + "; ".join(
        f"{k} {v['min']:.3f}..{v['max']:.3f}" for k, v in report["spread"].items()))
    if args.json:
        benchlib.write_json(report, args.json)
        print(f"written to {args.json}")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
