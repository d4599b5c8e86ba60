"""The one place that decides how kernels are compiled.

Every kernel is compiled with an on-disk cache (Numba's, as ``cache=True`` sets up, keyed
also on the digest of every kernel source: ``_KernelCache``; Numba falls back to a
user-wide cache directory when the package folder is read-only, or to
``NUMBA_CACHE_DIR``), ``nogil=True`` (two networks may train from two Python threads)
and a fast-math subset that allows reassociation and contraction (so reductions
vectorize and FMAs are used) but keeps NaN and infinity semantics: divergence must
stay visible, and ``exp`` overflow to ``inf`` must keep its meaning.

No kernel gets Numba's C-callable wrapper (``no_cfunc_wrapper``): it serves only calls
through a first-class function object, which fastnn never makes, and generating and
compiling it for every kernel cost about 0.5 s of the cold compile of a first ``fit``
(``python bench/compile_profile.py --against`` the tree before: wrappers 0.93 s against
1.38 s, first fit 15.0 s against 15.8 s, three runs each, Zen 4). The Python wrapper
stays: the tests and the engine call kernels from Python.
"""
import functools
import hashlib
import os

import numba
import numpy as np
from numba.core.caching import FunctionCache

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Constants exactly representable in float32. Numba keeps a global's type, so
# float32 kernels stay in float32 and float64 kernels promote them exactly.
ZERO = np.float32(0.0)
ONE = np.float32(1.0)

_OPTIONS = {"nogil": True, "no_cfunc_wrapper": True}


@functools.lru_cache(maxsize=None)
def sources_digest():
    """SHA-256 of every kernel source file (their names and bytes), computed once."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(here, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


class _KernelCache(FunctionCache):
    """Numba's on-disk cache of a kernel, keyed also on every kernel's source.

    Numba keys a cached function on its own file only, not on the kernels it calls from
    other modules: after an edit of ``optim.py`` a cached ``epoch.train_epoch_general``
    would keep running the old optimizer. With the digest of all kernel sources in the
    key, code cached under other sources is never loaded (it is compiled again and
    cached beside it), and nothing is deleted or written when the kernels are imported.
    """

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (sources_digest(),)


def _njit(func, **options):
    dispatcher = numba.njit(**_OPTIONS, **options)(func)
    dispatcher._cache = _KernelCache(dispatcher.py_func)  # what cache=True would set up
    return dispatcher


def jit(func):
    """Compile ``func`` the way every fastnn kernel is compiled."""
    return _njit(func, fastmath=set(FASTMATH))


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
    inlines its own copy (docs/history.md)."""
    return _njit(func, fastmath=set(FASTMATH), inline="always")


def jit_ordered(func):
    """Compile ``func`` like ``jit`` but without ``reassoc``, for the few small
    evaluation-only helpers whose accuracy depends on the order of their operations
    (activations.py's ``log_softmax_at``, costs.py's ``cross_entropy_term``). Fast-math
    flags are per instruction, so the order holds when they are inlined into a ``jit``
    caller."""
    return _njit(func, fastmath=set(FASTMATH) - {"reassoc"})


def jit_parallel(func):
    """Compile ``func`` like ``jit``, with Numba's ``prange`` parallel loops enabled (its
    thread count is ``numba.set_num_threads``'s; fastnn/_engine/threads.py sets it)."""
    return _njit(func, parallel=True, fastmath=set(FASTMATH))


def jit_contract(func):
    """Compile ``func`` like ``jit`` with contraction into FMAs as the only fast-math
    flag: for the peak probe (kernels/peak.py), whose chains of multiply-adds must not
    be regrouped, or it would count FLOPs it did not do."""
    return _njit(func, fastmath={"contract"})


def jit_contract_parallel(func):
    """``jit_contract`` with ``prange`` parallel loops enabled (as ``jit_parallel``)."""
    return _njit(func, parallel=True, fastmath={"contract"})
