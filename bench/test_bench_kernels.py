"""Per-kernel benchmarks: every engine kernel against NumPy doing the same operation.

    python -m pytest bench/test_bench_kernels.py -p no:cacheprovider --benchmark-enable -q
    ... --bench-configs A,B   --bench-threads all

Kernels (kernellib's table): dense.forward, dense.hidden_delta, dense.weight_gradient
(mean gradient, and the fused in-place update the epoch uses), the standalone sgd_update
(kernellib.py), activations.softmax_rows, the engine's own GEMM (kernels/gemm.py) and a
whole engine epoch on a subset, at the layer shapes of configs A, B and C, float32 and
float64, under the same thread limit as the epoch benchmarks (--bench-threads). Each case
first checks the kernel against NumPy on fresh copies of the same arrays (float64 to
1e-9, float32 to 1e-4), so a benchmark cannot time a broken kernel; with benchmarks
disabled that check is all that runs (after one call through the benchmark fixture).

pytest-benchmark times the kernel case and then the NumPy case of the same shape, one
after the other (adjacent, not interleaved; medians of at least 5 rounds, about 0.5 s
each). The table at the end pairs them: microseconds per call, NumPy/kernel and GFLOP/s
(GB/s for the update, which is bound by memory).
"""
import benchlib
import kernellib
import pytest

SPECS = kernellib.specs()


@pytest.mark.benchmark(max_time=0.5, min_rounds=5, warmup=True, warmup_iterations=3)
@pytest.mark.parametrize("runner", ["kernel", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kcase", SPECS, ids=[repr(s) for s in SPECS])
def test_kernel(benchmark, bench_threads, bench_results, kcase, dtype, runner):
    case = kernellib.KernelCase(kcase, dtype)
    case.check()                       # also compiles (or loads) the kernel, untimed
    bench_threads.refresh()
    benchmark.group = f"{kcase!r} {dtype}"
    benchmark(case.kernel if runner == "kernel" else case.numpy)
    if benchmark.enabled and benchmark.stats is not None:
        info = case.metrics(benchmark.stats.stats.median)
        info["runner"] = runner
        bench_results["threads"] = benchlib.thread_info(bench_threads.mode)
        benchmark.extra_info.update(info)
        bench_results["kernels"][(kcase.kernel, kcase.layer, dtype, runner)] = info
