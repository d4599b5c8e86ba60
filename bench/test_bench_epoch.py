"""One training epoch of configs A [784,30,10] and B [784,100,10]: engine vs NumPy vs reference.

Run (setup.cfg's addopts disable benchmarks by default; --benchmark-enable turns them on):

    python -m pytest bench -p no:cacheprovider --benchmark-enable -q
    python -m pytest bench -p no:cacheprovider --benchmark-enable -q --bench-threads=all

Every case times whole epochs (mini-batch 10, sigmoid, cross-entropy, eta 0.5, lambda 0)
from the same initial parameters, after an untimed tiny epoch that compiles or loads the
engine's kernels; compile time is measured separately in fresh processes
(test_compile_time). By default BLAS and Numba are limited to one thread
(threadpoolctl.threadpool_limits(1)), so the NumPy version and the reference run on one
core like the engine. The pytest-benchmark table shows raw seconds per timed epoch: 50,000
samples, except the reference's 5,000 (its extra_info and the ratio table are scaled to
50,000). The ratio table printed at the end is written to .benchmarks/ratios.json.
"""
import numpy as np
import pytest

import benchlib

CASES = benchlib.case_ids()


def _skip_unless_enabled(config):
    """Skip the non-epoch measurements when benchmarks are off (setup.cfg's default)."""
    if config.getoption("benchmark_disable") and not config.getoption("benchmark_enable"):
        pytest.skip("benchmarks disabled (--benchmark-enable to run)")


@pytest.mark.parametrize("config,impl,dtype", CASES,
                         ids=[f"{c}-{i}-{d}" for c, i, d in CASES])
def test_epoch(benchmark, request, bench_data, bench_threads, bench_results,
               config, impl, dtype):
    case = benchlib.Case(config, impl, dtype, bench_data)
    case.warm_up()  # compile (or load from the cache) before anything is timed
    rounds = request.config.getoption("--bench-rounds")
    if impl == "reference":
        rounds = min(rounds, 3)
    benchmark.group = f"config {config} {case.sizes}"
    benchmark.pedantic(case.run, setup=lambda: ((case.fresh(),), {}), rounds=rounds,
                       warmup_rounds=0 if impl == "reference" else 1, iterations=1)

    # Sanity: the case trains (a short epoch from fresh parameters stays finite).
    state = case.fresh()
    case.run(state, case.order[:200])
    if impl == "engine":
        after = state
    else:
        after = np.concatenate([a.ravel() for a in state.weights + state.biases])
    assert np.isfinite(after).all()

    if benchmark.enabled and benchmark.stats is not None:
        median = benchmark.stats.stats.median
        info = case.metrics(median)
        info["threads"] = bench_threads
        benchmark.extra_info.update(info)
        bench_results["epoch"][(config, impl, dtype)] = info["s_per_epoch"]


def test_gemm_peak(request, bench_threads, bench_results):
    """NumPy matmul GFLOP/s under the same thread limit: the yardstick for the limit column."""
    _skip_unless_enabled(request.config)
    bench_results["gemm"] = {dt: benchlib.gemm_peak(dt) for dt in ("float32", "float64")}


def test_compile_time(request, bench_results):
    """Import + first tiny epoch in fresh processes: with an empty Numba cache, then warm."""
    _skip_unless_enabled(request.config)
    times = benchlib.measure_compile()
    bench_results["compile"] = times
    cold = times["cold"]
    assert cold["total_s"] > times["warm"]["total_s"]
    print(f"cold compile: {cold['total_s']:.1f} s, warm cache: {times['warm']['total_s']:.2f} s")
