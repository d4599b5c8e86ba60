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
