"""The core's floating-point peak, measured: independent chains of fused multiply-adds.

The benchmarks' yardstick for "the peak" is NumPy's GEMM. It stops being the machine's
limit when the BLAS runs narrower vectors than the core has: on a Zen 5 core with
``OPENBLAS_CORETYPE=Haswell`` (set on some of these machines, and not ours to change)
OpenBLAS runs its AVX2 kernel at 115 GFLOP/s in float32 while the core, and the loops
Numba compiles for it, use 512-bit vectors (about 240 GFLOP/s). So the reports also
give this probe's figure: what the core does when nothing but multiply-adds run.

``fma_chains`` runs, for every element of a small array (it stays in the L1 cache),
``CHAIN`` dependent steps v ← v·a + b per pass, on explicit vectors of the engine's
width (kernels/simd.py: 512 bits, one instruction per step on an AVX-512 core, two on
an AVX2 one) in groups of ``GROUP`` independent vectors, so the out-of-order core
overlaps enough chains to hide the FMA latency, and a load and a store per ``CHAIN``
FMAs leave the FMA units the bottleneck. 2·CHAIN FLOPs per element per pass.

Why explicit vectors (issue 18): the first form of the probe left the loop to LLVM's
vectorizer, which follows the target's tuning, and LLVM's tuning for Intel's AVX-512
cores prefers 256-bit vectors (``prefer-256-bit``). Compiled for ``skylake-avx512`` or
``sapphirerapids`` that loop used only ymm registers, so the probe read half the core's
peak, below the GEMM measured in the same run (81.7 against 112.7 GFLOP/s on an
Emerald Rapids core); for ``znver4`` it used zmm. Explicit ``<16 x float>`` operations
are compiled at their width whatever the tuning (tests/test_peak.py reads the machine
code for both targets).

The result is exact, so it can be checked: with a = 0.5, b = 1 and every element 2, each
step gives 0.5·2 + 1 = 2 exactly; from any start v0 after k steps v = 2 + (v0 − 2)/2^k.
Compiled with ``contract`` only (``_jit.jit_contract``): ``reassoc`` would let LLVM
regroup a chain of multiply-adds (and the probe would count FLOPs it did not do).
"""
from numba import prange

from ._jit import jit_contract, jit_contract_parallel
from .simd import lanes, vbroadcast, vfma, vload, vstore_scaled

#: dependent multiply-adds per element per pass (8 measured best on a Zen 5 core:
#: 2 per element stall on the store, 32 on the FMA latency)
CHAIN = 8
#: independent vectors stepped together: 4 chains of 8 FMAs in flight (an FMA unit's
#: latency of 4 cycles times 2 units needs 8 at least; the out-of-order window adds the
#: next group's)
GROUP = 4


@jit_contract
def fma_chains(acc, ab, passes):
    """``passes`` times, every element v of the 1-D ``acc`` takes CHAIN steps
    v ← v·a + b, with (a, b) = ``ab``. ``acc``'s length must be a multiple of GROUP
    vectors (fastnn/_engine/peak.py's ELEMENTS is)."""
    a = vbroadcast(ab, 0)
    b = vbroadcast(ab, 1)
    step = GROUP * lanes(acc)
    for _ in range(passes):
        for j in range(0, acc.shape[0] - step + 1, step):
            w = lanes(acc)
            v0 = vload(acc, j)
            v1 = vload(acc, j + w)
            v2 = vload(acc, j + 2 * w)
            v3 = vload(acc, j + 3 * w)
            for _k in range(CHAIN):
                v0 = vfma(v0, a, b)
                v1 = vfma(v1, a, b)
                v2 = vfma(v2, a, b)
                v3 = vfma(v3, a, b)
            vstore_scaled(acc, j, v0, 0)
            vstore_scaled(acc, j + w, v1, 0)
            vstore_scaled(acc, j + 2 * w, v2, 0)
            vstore_scaled(acc, j + 3 * w, v3, 0)


@jit_contract_parallel
def fma_chains_rows(acc, ab, passes):
    """``fma_chains`` on every row of the 2-D ``acc``, one row per thread (``prange``)."""
    for t in prange(acc.shape[0]):
        fma_chains(acc[t], ab, passes)
