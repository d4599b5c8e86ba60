"""The multiply-add peak probe (kernels/peak.py, fastnn/_engine/peak.py): its arithmetic is exact
and checkable, so a probe that skipped work (fewer passes, a chain LLVM regrouped) shows
as a wrong value, not only as an implausible speed. Timings are not asserted."""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from fastnn._engine import peak as _peak
from fastnn._engine import threads as _threads
from fastnn.kernels import peak as kpeak


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chains_take_exactly_chain_steps_per_pass(dtype):
    """From v0, k steps of v <- v/2 + 1 give 2 + (v0 - 2)/2^k exactly (powers of two)."""
    v0 = np.array([2 + 2.0 ** 20, 2 - 2.0 ** 19, 2.0, 2 + 3 * 2.0 ** 18] * 32, dtype=dtype)
    for passes in (1, 2, 3):
        acc = v0.copy()
        kpeak.fma_chains(acc, np.array([0.5, 1.0], dtype), passes)
        k = kpeak.CHAIN * passes
        expected = 2 + (v0.astype(np.float64) - 2) / 2.0 ** k
        np.testing.assert_array_equal(acc, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_kernel_runs_every_row_on_threads(dtype):
    v0 = np.array([[2 + 2.0 ** 12] * 128, [2 - 2.0 ** 10] * 128, [2.0] * 128], dtype=dtype)
    acc = v0.copy()
    with _threads.limit(min(2, _threads.available())):
        kpeak.fma_chains_rows(acc, np.array([0.5, 1.0], dtype), 1)
    np.testing.assert_array_equal(acc, (2 + (v0.astype(np.float64) - 2) / 2.0 ** kpeak.CHAIN)
                                  .astype(dtype))


def test_runner_counts_the_flops_it_runs_and_leaves_the_fixed_point():
    run, flops = _peak.fma_runner("float32", threads=1, seconds=0.001)
    passes = flops // (2 * kpeak.CHAIN * _peak.ELEMENTS)
    assert flops == 2 * kpeak.CHAIN * _peak.ELEMENTS * passes and passes >= 1
    took = run()  # its own seconds: positive, and within the wall time around it
    start = time.perf_counter()
    took2 = run()
    assert 0 < took2 <= time.perf_counter() - start and took > 0
    gflops = _peak.fma_peak("float64", threads=1, repeats=2)
    assert np.isfinite(gflops) and gflops > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype="int32"), "dtype='int32'"),
    (dict(dtype="float32", threads=0), "threads=0"),
    (dict(dtype="float32", seconds=-1.0), "seconds=-1.0"),
])
def test_runner_names_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _peak.fma_runner(**kwargs)


def test_peak_names_bad_repeats():
    with pytest.raises(ValueError, match="repeats=0"):
        _peak.fma_peak("float32", repeats=0)


# Compiles for an AVX-512 target and reads the machine code; runs none of it, so any
# x86-64 host can check it.
ASM = r"""
import re
import numpy as np
from numba import types
from fastnn.kernels import peak
sig = (types.Array(types.float32, 1, "C"), types.Array(types.float32, 1, "C"), types.int64)
peak.fma_chains.compile(sig)
fmas = [l for l in peak.fma_chains.inspect_asm(sig).splitlines() if "vfmadd" in l]
print(sum("zmm" in l for l in fmas), sum("ymm" in l for l in fmas))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="reads x86-64 machine code")
@pytest.mark.parametrize("target", ["skylake-avx512", "sapphirerapids", "znver4"])
def test_probe_runs_full_width_vectors_under_every_tuning(target):
    """LLVM's Intel tuning prefers 256-bit vectors in loops it vectorizes itself; the
    probe's explicit vectors must still be 512-bit FMAs (zmm), or it reads half the
    peak on those cores (issue 18: below the GEMM of the same run)."""
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    for f in ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd", "avx2", "fma"):
        features[f] = True
    env = dict(os.environ, NUMBA_CPU_NAME=target, NUMBA_CPU_FEATURES=features.flatten())
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", ASM], env=env, capture_output=True,
                             text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    zmm, ymm = map(int, out.stdout.split())
    assert zmm >= 4 * kpeak.CHAIN and ymm == 0, f"{target}: {zmm} zmm and {ymm} ymm FMAs"
