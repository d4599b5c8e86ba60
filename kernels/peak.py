"""The core's floating-point peak, measured: independent chains of fused multiply-adds.

The benchmarks' yardstick for "the peak" is NumPy's GEMM. It stops being the machine's
limit when the BLAS runs narrower vectors than the core has: on a Zen 5 core with
``OPENBLAS_CORETYPE=Haswell`` (set on some of these machines, and not ours to change)
OpenBLAS runs its AVX2 kernel at 115 GFLOP/s in float32 while the core, and the loops
Numba compiles for it, use 512-bit vectors (about 240 GFLOP/s). So the reports also
give this probe's figure: what the core does when nothing but multiply-adds run.

``fma_chains`` runs, for every element of a small array (it stays in the L1 cache),
``CHAIN`` dependent steps v ← v·a + b per pass. LLVM vectorizes the loop over the
elements with the widest vectors it uses for this CPU and contracts each step into one
fused multiply-add; consecutive elements are independent, so the out-of-order core
overlaps enough chains to hide the FMA latency, and a load and a store per ``CHAIN``
FMAs leave the FMA units the bottleneck. 2·CHAIN FLOPs per element per pass.

The result is exact, so it can be checked: with a = 0.5, b = 1 and every element 2, each
step gives 0.5·2 + 1 = 2 exactly; from any start v0 after k steps v = 2 + (v0 − 2)/2^k.
Compiled with ``contract`` only (``_jit.jit_contract``): ``reassoc`` would let LLVM
regroup a chain of multiply-adds (and the probe would count FLOPs it did not do).
"""
from numba import prange

from ._jit import jit_contract, jit_contract_parallel

#: dependent multiply-adds per element per pass (8 measured best on a Zen 5 core:
#: 2 per element stall on the store, 32 on the FMA latency)
CHAIN = 8


@jit_contract
def fma_chains(acc, a, b, passes):
    """``passes`` times, every element v of the 1-D ``acc`` takes CHAIN steps v ← v·a + b."""
    for _ in range(passes):
        for j in range(acc.shape[0]):
            v = acc[j]
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            v = v * a + b
            acc[j] = v


@jit_contract_parallel
def fma_chains_rows(acc, a, b, passes):
    """``fma_chains`` on every row of the 2-D ``acc``, one row per thread (``prange``)."""
    for t in prange(acc.shape[0]):
        fma_chains(acc[t], a, b, passes)
