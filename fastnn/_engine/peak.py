"""The core's multiply-add peak (kernels/peak.py), as a runner to interleave with the
other timings of a report, and as one figure.

The reports' other yardstick, NumPy's GEMM, is the limit the issue's targets are set
against; this one is the machine's: on a core whose BLAS runs narrower vectors than the
core has (OpenBLAS pinned to its Haswell kernel on an AVX-512 core), the engine's own
loops can beat the GEMM "peak", never this one.
"""
import time

import numpy as np

from .. import _checks
from ..kernels import peak as _kpeak
from . import threads as _threads

#: elements per thread: 4 KiB of float32, 8 KiB of float64 (L1-resident; rows a page apart)
ELEMENTS = 1024


#: the pause before a multi-threaded run: OpenBLAS's idle workers spin for a while after
#: a multi-threaded call and take cores from Numba's threads (two threads on a Zen 5
#: machine: 207-217 GFLOP/s right after a GEMM, 290-322 after a 0.3 s pause)
SETTLE_SECONDS = 0.1


def fma_runner(dtype, threads=1, seconds=0.02):
    """(run, FLOPs per run): ``run()`` makes every one of ``threads`` threads (Numba's,
    under the caller's limit) take chains of multiply-adds on its own row of ELEMENTS,
    about ``seconds`` long, and returns the seconds they took (on several threads, after
    a pause of SETTLE_SECONDS and a shorter untimed call that wakes them, neither
    counted); the pass count is calibrated once here (after compiling)."""
    dtype = _checks.check_dtype(dtype)
    threads = _checks.check_positive("threads", threads, integer=True)
    seconds = _checks.check_positive("seconds", seconds)
    acc = np.full((threads, ELEMENTS), 2.0, dtype=dtype)
    ab = np.array([0.5, 1.0], dtype=dtype)  # 0.5 * 2 + 1 = 2: the values never move

    def call(passes):
        if threads == 1:
            _kpeak.fma_chains(acc[0], ab, passes)
        else:
            _kpeak.fma_chains_rows(acc, ab, passes)

    call(1)  # compile, and start the thread pool

    def timed(passes):  # the better of two: a thread's late wake-up can spoil one call
        best = np.inf
        for _ in range(2):
            start = time.perf_counter()
            call(passes)
            best = min(best, time.perf_counter() - start)
        return best
    passes = 16
    took = timed(passes)
    while took < seconds / 2 and passes < 2 ** 30:
        passes *= int(min(64, max(2, seconds / max(took, 1e-9))))
        took = timed(passes)
    passes = max(passes, int(passes * seconds / took))

    def run():
        if threads > 1:
            time.sleep(SETTLE_SECONDS)
            # an untimed eighth first: after the pause the threads (on a virtual machine,
            # their virtual CPUs) are parked, and one woken late stretches the timed call
            # (two threads of a Zen 5 guest read 211 GFLOP/s against 295 woken, float32)
            call(max(1, passes // 8))
        start = time.perf_counter()
        call(passes)
        return time.perf_counter() - start
    return run, 2 * _kpeak.CHAIN * acc.size * passes


def fma_peak(dtype="float32", threads=1, repeats=5):
    """GFLOP/s of the best of ``repeats`` runs of ``fma_runner`` on ``threads`` threads."""
    repeats = _checks.check_positive("repeats", repeats, integer=True)
    threads = _threads.available() if threads == "all" else _threads.resolve(threads)
    with _threads.limit(threads):
        run, flops = fma_runner(dtype, threads)
        best = np.inf
        for _ in range(repeats):
            best = min(best, run())
    return flops / best / 1e9
