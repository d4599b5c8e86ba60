"""The one place that decides how kernels are compiled.

Every kernel is compiled with ``cache=True`` (an on-disk cache; Numba falls back to a
user-wide cache directory when the package folder is read-only, or to
``NUMBA_CACHE_DIR``), ``nogil=True`` (two networks may train from two Python threads)
and a fast-math subset that allows reassociation and contraction (so reductions
vectorize and FMAs are used) but keeps NaN and infinity semantics: divergence must
stay visible, and ``exp`` overflow to ``inf`` must keep its meaning.
"""
import numba
import numpy as np

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Constants exactly representable in float32. Numba keeps a global's type, so
# float32 kernels stay in float32 and float64 kernels promote them exactly.
ZERO = np.float32(0.0)
ONE = np.float32(1.0)


def jit(func):
    """Compile ``func`` the way every fastnn kernel is compiled."""
    return numba.njit(cache=True, nogil=True, fastmath=set(FASTMATH))(func)


def jit_inline(func):
    """Compile ``func`` like ``jit`` when it is called from Python; a compiled caller gets
    its body inlined at Numba's IR level (``inline="always"``), before typing.

    For the thin wrappers between the passes and the kernels that do the work (a layer's
    forward, hidden δ, weight gradient, the output δ). Numba optimizes each compiled
    function together with every kernel it links in and turns all of that into machine
    code again, so each level of calls compiles the whole tree below it once more; one
    level less saved about half a second of the float32 epoch's cold compile. Inlining
    the small helpers called many times per pass (views of a layer's weights and
    workspace blocks) or the passes themselves cost more than it saved: each call site
    inlines its own copy (docs/performance.md)."""
    return numba.njit(cache=True, nogil=True, fastmath=set(FASTMATH), inline="always")(func)


def jit_ordered(func):
    """Compile ``func`` like ``jit`` but without ``reassoc``, for the few small
    evaluation-only helpers whose accuracy depends on the order of their operations
    (activations.py's ``log_softmax_at``, costs.py's ``cross_entropy_term``). Fast-math
    flags are per instruction, so the order holds when they are inlined into a ``jit``
    caller."""
    return numba.njit(cache=True, nogil=True, fastmath=set(FASTMATH) - {"reassoc"})(func)


def jit_parallel(func):
    """Compile ``func`` like ``jit``, with Numba's ``prange`` parallel loops enabled (its
    thread count is ``numba.set_num_threads``'s; fastnn/_threads.py sets it)."""
    return numba.njit(cache=True, nogil=True, parallel=True, fastmath=set(FASTMATH))(func)


def jit_contract(func):
    """Compile ``func`` like ``jit`` with contraction into FMAs as the only fast-math
    flag: for the peak probe (kernels/peak.py), whose chains of multiply-adds must not
    be regrouped, or it would count FLOPs it did not do."""
    return numba.njit(cache=True, nogil=True, fastmath={"contract"})(func)


def jit_contract_parallel(func):
    """``jit_contract`` with ``prange`` parallel loops enabled (as ``jit_parallel``)."""
    return numba.njit(cache=True, nogil=True, parallel=True, fastmath={"contract"})(func)
