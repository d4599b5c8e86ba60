"""Which GEMM the matrix path runs: the BLAS NumPy loaded, or the engine's own.

The engine's GEMM (kernels/gemm.py) uses 512-bit vectors. It is worth running where
the core has them and NumPy's BLAS does not use them: OpenBLAS built or told to run
an AVX2 (or older) kernel on an AVX-512 core, as with ``OPENBLAS_CORETYPE=Haswell`` on
a Zen 5 core. Measured there on config C's products (float32, one core): 180-205
GFLOP/s against NumPy's 105-115; with a 512-bit BLAS kernel the two are even, and on
a core without AVX-512 the engine's vectors would be split in two. So the choice:

``FASTNN_GEMM``
    ``auto`` (or unset): for training, measured on the machine (fastnn/_engine/calibrate.py:
    the matrix path times both GEMMs on the network's own mini-batches, once, and keeps
    the faster); for evaluation, and for training with ``FASTNN_CALIBRATE=off``, the
    rule above: the engine's GEMM when the CPU Numba compiles for has AVX-512F and
    NumPy's BLAS is OpenBLAS running a kernel without it; else BLAS. That rule was
    right where it was made and wrong on an Intel core (issue 18): a rule is the
    fallback, the measurement decides.
    ``engine``: always the engine's (where a product is wide enough, below).
    ``blas``: always BLAS.

Products narrower than one micro-kernel panel (N < NR: 64 float32 or 32 float64
columns, such as Z = A Wᵀ of a 10-unit output layer, which the matrix path therefore
runs as Zᵀ = W Aᵀ) or with fewer than MR rows go to BLAS whatever the setting: most of
the engine's panel would be padding.
"""
import contextlib

import numba
import numpy as np
from numba import types

from .. import _checks
from ..kernels import gemm as _k
from ..kernels.simd import VECTOR_BYTES
from . import blas as _blas
from . import threads as _threads
from .width import cpu_features, cpu_name  # noqa: F401 (fastnn's names for them)

ENV = "FASTNN_GEMM"
_CHOICES = ("auto", "engine", "blas")
#: OpenBLAS kernels that use 512-bit vectors (threadpoolctl's "architecture")
_OPENBLAS_AVX512 = ("skylakex", "cooperlake", "sapphirerapids")

_state = {}


def setting():
    """``auto``, ``engine`` or ``blas`` from $FASTNN_GEMM (ValueError naming it when it
    is none of them)."""
    return _checks.env_choice(ENV, _CHOICES)


def _decide():
    setting_ = setting()
    if setting_ != "auto":
        return setting_ == "engine", f"{ENV}={setting_}"
    avx512 = "+avx512f" in cpu_features().split(",")
    blas = (_blas.numpy_blas_infos() or [None])[0]
    api = (blas or {}).get("internal_api")
    arch = str((blas or {}).get("architecture") or "")
    if not avx512:
        return False, "the CPU has no AVX-512"
    if api != "openblas":
        return False, f"NumPy's BLAS is {api or 'unknown'}"
    if arch.lower() in _OPENBLAS_AVX512:
        return False, f"OpenBLAS runs its 512-bit {arch} kernel"
    return True, f"AVX-512 core, OpenBLAS runs its {arch or 'unknown'} kernel"


def use_engine():
    """(True when the engine's GEMM runs, the reason): decided once per process.
    Raises ValueError when $FASTNN_GEMM is not auto, engine or blas."""
    if "choice" not in _state:
        _state["choice"] = _decide()
    return _state["choice"]


def describe():
    """One line for the reports: which GEMM the matrix path runs, and why."""
    engine, why = use_engine()
    what = (f"engine ({_k.MR}x{_k.NV} vectors of {VECTOR_BYTES * 8} bits)" if engine
            else "BLAS (NumPy's)")
    return f"{what}: {why}"


def _entry(kernel, dtype):
    """The compiled ``kernel`` for any layouts of A, B and C (one compile per dtype,
    instead of one per combination of layouts)."""
    key = (kernel, dtype)
    fn = _state.get(key)
    if fn is None:
        nb = numba.from_dtype(dtype)
        any_2d = types.Array(nb, 2, "A")
        fn = _state[key] = kernel.compile((any_2d, any_2d, any_2d, nb))
    return fn


def _unfit(A, B, C):
    """Why the engine's GEMM cannot take these operands (None when it can): one float
    dtype, element-aligned strides, C writable and contiguous along its rows, shapes
    that agree. Width is not checked here (see ``fits``)."""
    dt = C.dtype
    if dt not in (np.float32, np.float64) or A.dtype != dt or B.dtype != dt:
        return (f"dtypes {A.dtype} @ {B.dtype} -> {dt}: expected one of float32 or float64 "
                f"for all three")
    if A.ndim != 2 or B.ndim != 2 or C.ndim != 2 or A.shape[1] != B.shape[0] \
            or C.shape != (A.shape[0], B.shape[1]):
        return f"gemm shapes {A.shape} @ {B.shape} -> {C.shape} do not match"
    if C.strides[1] != C.itemsize or not C.flags.writeable:
        return f"output strides {C.strides}: expected a writable C contiguous along its rows"
    if any(s % dt.itemsize for X in (A, B, C) for s in X.strides):
        return "strides that are not whole elements"
    return None


def fits(A, B, C):
    """Whether the engine's GEMM takes this product (dtype, layout and width)."""
    return _unfit(A, B, C) is None and _wide_enough(C)


def _wide_enough(C):
    return C.shape[1] >= _k.NV * VECTOR_BYTES // C.itemsize and C.shape[0] >= _k.MR


def gemm_if_fits(A, B, C, beta=0.0):
    """C ← A B + β C by the engine's GEMM when it takes the product (``fits``), checked
    once; returns whether it ran (as ``_blas.gemm`` does), so the caller falls back."""
    if _unfit(A, B, C) is not None or not _wide_enough(C):
        return False
    _run(A, B, C, beta)
    return True


def engine_gemm(A, B, C, beta=0.0):
    """C ← A B + β C by the engine's GEMM, threaded when Numba runs more than one thread
    (fastnn/_engine/threads.py sets that). The operands are checked here (ValueError saying
    what is wrong), as the kernel reads and writes without bounds checks."""
    why = _unfit(A, B, C)
    if why is not None:
        raise ValueError(why)
    _run(A, B, C, beta)


def _run(A, B, C, beta):
    serial = numba.get_num_threads() == 1
    run = _entry(_k.gemm if serial else _k.gemm_parallel, C.dtype)
    with contextlib.nullcontext() if serial else _threads.parallel_launch():
        run(A, B, C, C.dtype.type(beta))
