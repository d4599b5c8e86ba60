"""One training epoch of configs A, B and C: engine vs NumPy vs JAX vs PyTorch vs reference.

Run (setup.cfg's addopts disable benchmarks by default; --benchmark-enable turns them on):

    python -m pytest bench/test_bench_epoch.py -p no:cacheprovider --benchmark-enable -q
    ... --bench-configs A,B  --bench-impls engine,numpy,jax  --bench-threads all

Configs (see benchlib): A [784,30,10] and B [784,100,10] sigmoid/cross-entropy, mini-batch
10; C [784,1024,1024,10] ReLU/softmax/log-likelihood, mini-batch 128. Every case times
whole 50,000-sample epochs from the same initial parameters, after an untimed warm-up
that compiles (the engine's kernels; JAX's full epoch, ahead of time, its seconds kept as
``compile_s``). A and B then get one untimed full epoch and 5 timed ones; C, whose epochs
take seconds, gets 3 timed ones and no full warm-up epoch; the reference is timed on
5,000 samples (A, B) or 500 (C), at most 3 rounds, scaled to 50,000. By default every
implementation is limited to one thread (benchlib.ThreadLimit); each case records its
CPU time over wall time, which shows whether that held.

Before timing, every case trains a short epoch (two and a half mini-batches) and must
match the NumPy matrix version (float64 to 1e-8, float32 to 1e-3). With benchmarks
disabled (the default) that short epoch is all that runs, so ``python -m pytest bench``
is a quick smoke test. The ratio tables printed at the end are written to
.benchmarks/ratios.json.
"""
import benchlib
import pytest

CASES = benchlib.case_ids()


def _skip_unless_enabled(config):
    """Skip the non-epoch measurements when benchmarks are off (setup.cfg's default)."""
    if config.getoption("benchmark_disable") and not config.getoption("benchmark_enable"):
        pytest.skip("benchmarks disabled (--benchmark-enable to run)")


def test_gemm_peak(request, bench_threads, bench_results):
    """NumPy matmul GFLOP/s under the same thread limit, at a square shape and at one of
    config C's layers: the yardstick for the peak-fraction and limit columns; and the
    core's multiply-add peak (fastnn/_engine/peak.py), for the FMA-fraction column."""
    _skip_unless_enabled(request.config)
    bench_threads.refresh()
    gemm = benchlib.measure_gemm()
    bench_results["gemm"] = gemm
    for name, per_dtype in gemm.items():
        assert all(g > 0 for g in per_dtype.values()), name
    bench_results["fma"] = fma = benchlib.measure_fma()
    assert all(g > 0 for g in fma.values())


@pytest.mark.parametrize("config,impl,dtype", CASES,
                         ids=[f"{c}-{i}-{d}" for c, i, d in CASES])
def test_epoch(benchmark, request, bench_data, bench_threads, bench_results,
               config, impl, dtype):
    missing = benchlib.missing_requirement(impl)
    if missing:
        pytest.skip(f"{impl}: {missing}")
    case = benchlib.Case(config, impl, dtype, bench_data)
    benchmark.group = f"config {config} {case.sizes}"
    if not benchmark.enabled:  # smoke test only: one short epoch through the fixture
        state = case.fresh()
        benchmark.pedantic(case.run, args=(state, case.short_order()))
        benchlib.check_against_numpy(case, case.short_order(), state)
        return

    benchlib.check_against_numpy(case, case.short_order())
    case.warm_up()
    bench_threads.refresh()
    rounds = request.config.getoption("--bench-rounds") or benchlib.CONFIGS[config]["rounds"]
    warmup_rounds = 1 if config != "C" else 0
    if impl == "reference":
        rounds, warmup_rounds = min(rounds, 3), 0
    benchmark.pedantic(case.run, setup=lambda: ((case.fresh(),), {}), rounds=rounds,
                       warmup_rounds=warmup_rounds, iterations=1)
    timed_cpu = case.cpu_per_wall[warmup_rounds:]
    case.cpu_per_wall[:] = timed_cpu

    info = case.metrics(benchmark.stats.stats.median,
                        (bench_results.get("gemm") or {}).get(benchlib.PEAK_SHAPE))
    info["threads"] = bench_results["threads"] = benchlib.thread_info(bench_threads.mode)
    benchmark.extra_info.update(info)
    bench_results["epoch"][(config, impl, dtype)] = info["s_per_epoch"]
    bench_results["extra"][(config, impl, dtype)] = {
        k: info.get(k) for k in ("cpu_per_wall", "compile_s", "samples_per_s", "engine_path")}


def test_compile_time(request, bench_results):
    """Import + first tiny epoch in fresh processes: with an empty Numba cache, then warm."""
    _skip_unless_enabled(request.config)
    if "engine" not in request.config.getoption("--bench-impls"):
        pytest.skip("engine not selected (--bench-impls)")
    times = benchlib.measure_compile()
    bench_results["compile"] = times
    cold = times["cold"]
    assert cold["total_s"] > times["warm"]["total_s"]
    print(f"cold compile: {cold['total_s']:.1f} s, warm cache: {times['warm']['total_s']:.2f} s")
