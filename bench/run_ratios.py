"""Measure the epoch ratio table in one run, without pytest.

    python bench/run_ratios.py                      # configs A, B, C; 5 repeats (C: 3)
    python bench/run_ratios.py --configs A,B --quick
    python bench/run_ratios.py --impls engine,numpy,jax --threads all --json out.json
    python bench/run_ratios.py --pin none           # one thread each, but not pinned

Each repeat times one epoch of every case -- configs A [784,30,10], B [784,100,10] and
C [784,1024,1024,10]; engine, NumPy matrix, JAX jit + lax.scan and PyTorch eager in
float32/float64 (JAX and PyTorch when installed), the naive reference in float64 (timed
on 5,000 samples for A and B, 500 for C, scaled to 50,000) -- with time.perf_counter,
from the same initial parameters, in an order rotated from one repeat to the next, so
that slow spells of a noisy machine hit every implementation alike. C's cases, whose
epochs take seconds, take part in the first 3 repeats only. Before timing, every case
trains a short epoch that must match the NumPy matrix version. The tables show the
medians over repeats, time / engine time, GFLOP/s and the fraction of the NumPy GEMM
peak measured in the same run. By default every implementation is limited to one thread
(benchlib.ThreadLimit); --threads all lifts the limit.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402

C_REPEATS = 3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed epochs per case (default 5, or 2 with --quick; config C "
                        f"at most {C_REPEATS})")
    p.add_argument("--quick", action="store_true",
                   help="2 repeats and no compile-time measurement")
    p.add_argument("--configs", default="A,B,C", metavar="A,B,C",
                   help="configs, comma-separated (default A,B,C)")
    p.add_argument("--impls", default=",".join(benchlib.IMPLS), metavar="LIST",
                   help="implementations, comma-separated, from "
                        f"{', '.join(benchlib.IMPLS)} (default: all; JAX and PyTorch are "
                        f"left out with a note when not installed)")
    p.add_argument("--threads", default="1", metavar="1|all|N",
                   help="threads for every implementation: 1 (default), all, or N")
    p.add_argument("--pin", default="auto", metavar="auto|none|CPU",
                   help="pin the process (every thread) to one CPU: auto (default: with "
                        "--threads 1, the highest-numbered CPU), none, or a CPU number")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the engine's compile-time measurement (two fresh processes)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the tables as JSON to PATH")
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    if repeats < 1:
        p.error("--repeats must be >= 1")
    try:
        configs = benchlib.parse_selection(args.configs, benchlib.CONFIGS, "--configs")
        impls = benchlib.parse_selection(args.impls, benchlib.IMPLS, "--impls")
        limit = benchlib.ThreadLimit(args.threads, pin=args.pin)
    except ValueError as exc:
        p.error(str(exc))

    t_start = time.perf_counter()
    data = benchlib.BenchData()
    print(f"data: {data.description}", flush=True)
    compile_times = None
    if not (args.quick or args.no_compile) and "engine" in impls:
        print("measuring the engine's compile time (fresh processes, empty then warm Numba "
              "cache)...", flush=True)
        compile_times = benchlib.measure_compile()

    with limit:
        for impl in impls:
            missing = benchlib.missing_requirement(impl)
            if missing:
                print(f"left out: {impl} ({missing})", flush=True)
        impls = [i for i in impls if not benchlib.missing_requirement(i)]
        cases = [benchlib.Case(c, i, d, data) for c, i, d in benchlib.case_ids(configs, impls)]
        for case in cases:              # agree with NumPy; compile; touch every buffer
            benchlib.check_against_numpy(case, case.short_order())
            case.warm_up()
            if case.impl != "reference" and case.config != "C":
                case.run(case.fresh())  # one untimed full epoch (caches, page faults)
            case.cpu_per_wall.clear()
        limit.refresh()
        threads = benchlib.thread_info(args.threads)
        print(f"checked and warmed up {len(cases)} cases "
              f"({time.perf_counter() - t_start:.0f} s)", flush=True)
        times = {(c.config, c.impl, c.dtype): [] for c in cases}
        for r in range(repeats):
            active = [c for c in cases if c.config != "C" or r < C_REPEATS]
            k = r % len(active)
            for case in active[k:] + active[:k]:   # rotate the order every repeat
                state = case.fresh()
                t = time.perf_counter()
                case.run(state)
                seconds = time.perf_counter() - t
                times[(case.config, case.impl, case.dtype)].append(seconds * case.scale)
            print(f"repeat {r + 1}/{repeats} done ({time.perf_counter() - t_start:.0f} s)",
                  flush=True)
        limit.refresh()
        gemm = benchlib.measure_gemm()
        fma = benchlib.measure_fma()

    medians = {k: statistics.median(v) for k, v in times.items()}
    extra = {}
    for case in cases:
        info = case.metrics(medians[(case.config, case.impl, case.dtype)] / case.scale)
        extra[(case.config, case.impl, case.dtype)] = {
            k: info.get(k) for k in ("cpu_per_wall", "compile_s", "engine_path")}
    cmd = " ".join(["python bench/run_ratios.py"] + list(sys.argv[1:] if argv is None else argv))
    report = benchlib.build_report(
        medians, threads=threads, data_description=data.description,
        compile_times=compile_times, gemm=gemm, fma=fma, command=cmd, extra=extra,
        method=(f"time.perf_counter, median of {repeats} repeats"
                + (f" (C: {min(repeats, C_REPEATS)})" if "C" in configs else "")
                + ", implementations interleaved (order rotated each repeat), fresh "
                  "initial parameters every epoch"
                + (f", process pinned to CPU {limit.pin}" if limit.pin is not None else "")))
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
