"""The multiply-add peak probe (kernels/peak.py, fastnn/_peak.py): its arithmetic is exact
and checkable, so a probe that skipped work (fewer passes, a chain LLVM regrouped) shows
as a wrong value, not only as an implausible speed. Timings are not asserted."""
import time

import numpy as np
import pytest

from fastnn import _peak, _threads
from fastnn.kernels import peak as kpeak


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chains_take_exactly_chain_steps_per_pass(dtype):
    """From v0, k steps of v <- v/2 + 1 give 2 + (v0 - 2)/2^k exactly (powers of two)."""
    v0 = np.array([2 + 2.0 ** 20, 2 - 2.0 ** 19, 2.0, 2 + 3 * 2.0 ** 18] * 8, dtype=dtype)
    for passes in (1, 2, 3):
        acc = v0.copy()
        kpeak.fma_chains(acc, dtype(0.5), dtype(1.0), passes)
        k = kpeak.CHAIN * passes
        expected = 2 + (v0.astype(np.float64) - 2) / 2.0 ** k
        np.testing.assert_array_equal(acc, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_kernel_runs_every_row_on_threads(dtype):
    v0 = np.array([[2 + 2.0 ** 12] * 40, [2 - 2.0 ** 10] * 40, [2.0] * 40], dtype=dtype)
    acc = v0.copy()
    with _threads.limit(min(2, _threads.available())):
        kpeak.fma_chains_rows(acc, dtype(0.5), dtype(1.0), 1)
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
