"""GEMM with an accumulating output, C ← α A B + β C, from the BLAS NumPy already loaded.

NumPy's ``matmul`` always overwrites its output, so the matrix path's SGD update took
two passes: one GEMM into a scratch matrix G = δᵀA, then one pass W ← βW + G (β the weight
decay), which reads and writes every weight once more per mini-batch (about 5% of config
C's epoch on one core). BLAS's own GEMM has the β term: called with C = W, it does the
product and the update in one pass. NumPy exposes no such call, so this module binds it
with ctypes from the OpenBLAS that NumPy's wheels ship (``scipy_openblas64_``: the CBLAS
entry points ``scipy_cblas_sgemm64_`` / ``scipy_cblas_dgemm64_``, 64-bit integers), found
through threadpoolctl's list of the loaded libraries. It is the same library, with the
same thread limit (fastnn/_engine/threads.py), that ``matmul`` calls.

When that library is not there (NumPy built against MKL, Accelerate or a system BLAS,
whose integer width cannot be told from outside), :func:`binding` is ``None``,
:func:`gemm` returns False and the matrix path keeps its two passes.
``FASTNN_BLAS_GEMM=0`` turns the binding off too (the tests compare the two forms);
``1`` or unset leaves it on.
"""
import ctypes
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: the entry points tried, with the C type of their integer arguments: NumPy ≥ 2's wheels
#: ship scipy-openblas with a symbol prefix and the ILP64 suffix
_SYMBOLS = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", ctypes.c_int64),)

_state = {}


def numpy_blas_infos():
    """threadpoolctl's records of the BLAS libraries loaded in this process, NumPy's own
    first (empty when threadpoolctl cannot inspect this platform)."""
    try:
        from threadpoolctl import threadpool_info
        infos = threadpool_info()
    except Exception:  # threadpoolctl cannot inspect this platform: no binding
        return []
    infos = [i for i in infos if i.get("user_api") == "blas" and i.get("filepath")]
    root = os.path.dirname(os.path.dirname(np.__file__))
    numpy_dirs = tuple(os.path.join(root, d)
                       for d in ("numpy.libs", os.path.join("numpy", ".dylibs")))
    return sorted(infos, key=lambda i: not i["filepath"].startswith(numpy_dirs))


def _numpy_blas_paths():
    """The files of the BLAS libraries loaded in this process, NumPy's own first."""
    return [i["filepath"] for i in numpy_blas_infos()]


ENV = "FASTNN_BLAS_GEMM"


def _bind():
    switch = os.environ.get(ENV, "").strip()
    if switch not in ("", "0", "1"):
        raise ValueError(f"environment variable {ENV}={switch!r} is invalid; expected '0' "
                         f"(the matrix path's update as a pass of its own) or '1' (inside "
                         f"BLAS's GEMM, the default)")
    if switch == "0":
        return None
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s_name, d_name, int_t in _SYMBOLS:
            try:
                fs, fd = getattr(lib, s_name), getattr(lib, d_name)
            except AttributeError:
                continue
            for f, real in ((fs, ctypes.c_float), (fd, ctypes.c_double)):
                f.restype = None
                f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, int_t, int_t, int_t,
                              real, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t, real,
                              ctypes.c_void_p, int_t]
            return {"path": path, "symbols": (s_name, d_name),
                    "funcs": {np.dtype(np.float32): fs, np.dtype(np.float64): fd}}
    return None


def binding():
    """``{"path", "symbols", "funcs"}`` of the bound GEMM, or None (looked up once).
    Raises ValueError when $FASTNN_BLAS_GEMM is set to anything but 0 or 1."""
    if "b" not in _state:
        _state["b"] = _bind()
    return _state["b"]


def _operand(X):
    """(trans, ld) for a 2-D array BLAS can read in place (row-major), or None."""
    itemsize = X.itemsize
    s0, s1 = X.strides
    rows, cols = X.shape
    if s0 % itemsize or s1 % itemsize:
        return None
    s0, s1 = s0 // itemsize, s1 // itemsize
    if s1 == 1 or cols == 1:
        ld = s0 if rows > 1 else cols
        if ld >= max(1, cols):
            return _NO_TRANS, ld
    if s0 == 1 or rows == 1:
        ld = s1 if cols > 1 else rows
        if ld >= max(1, rows):
            return _TRANS, ld
    return None


def gemm(A, B, C, alpha=1.0, beta=0.0):
    """C ← α A B + β C in place, by BLAS, and return True; False (nothing done) when no
    BLAS is bound or the operands are not all one dtype (float32/float64), C contiguous
    in rows, and A, B readable in place. A and B may be transposed views."""
    b = binding()
    if b is None:
        return False
    dt = C.dtype
    f = b["funcs"].get(dt)
    if f is None or A.dtype != dt or B.dtype != dt or A.ndim != 2 or B.ndim != 2 or C.ndim != 2:
        return False
    M, K = A.shape
    K2, N = B.shape
    if K2 != K or C.shape != (M, N):
        raise ValueError(f"gemm shapes {A.shape} @ {B.shape} -> {C.shape} do not match")
    if not C.flags.writeable or C.strides[1] != C.itemsize or C.strides[0] < N * C.itemsize \
            or C.strides[0] % C.itemsize:
        return False
    oa, ob = _operand(A), _operand(B)
    if oa is None or ob is None or M == 0 or N == 0:
        return False
    f(_ROW_MAJOR, oa[0], ob[0], M, N, K, alpha, A.ctypes.data, oa[1], B.ctypes.data, ob[1],
      beta, C.ctypes.data, C.strides[0] // C.itemsize)
    return True
