"""fastnn/_engine/blas.py: the BLAS GEMM with the β term that the matrix path's update runs in.

NumPy itself is the oracle: C ← α A B + β C for every transposition of A and B (views,
not copies), both dtypes, β = 0, 1 and a decay, shapes with a dimension of 1 and strided
rows. Where the binding cannot serve an operand, ``gemm`` must refuse (return False) and
leave C untouched, so the caller falls back to matmul.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn._engine import blas as _blas

needs_binding = pytest.mark.skipif(_blas.binding() is None,
                                   reason="no BLAS GEMM bound (NumPy without scipy-openblas)")

SHAPES = [(5, 7, 3), (1, 4, 6), (4, 1, 6), (3, 5, 1), (1, 1, 1), (64, 33, 128)]


def _numpy_blas_name():
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # NumPy < 2 has no dicts mode
        return None


def test_numpy_wheels_blas_is_bound():
    """NumPy ≥ 2's wheels ship scipy-openblas: there the binding must be found (a lookup
    that silently failed would only make the matrix path 1-6% slower, so nothing else
    would notice)."""
    if _numpy_blas_name() != "scipy-openblas":
        pytest.skip(f"NumPy's BLAS is {_numpy_blas_name()!r}, not scipy-openblas")
    b = _blas.binding()
    assert b is not None
    assert b["symbols"] == ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_")
    assert os.path.exists(b["path"])


@needs_binding
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("ta", [False, True], ids=["A", "At"])
@pytest.mark.parametrize("tb", [False, True], ids=["B", "Bt"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 1.0), (-0.25, 0.999)])
def test_gemm_matches_numpy(dtype, rtol, ta, tb, alpha, beta):
    rng = np.random.default_rng(0)
    for M, N, K in SHAPES:
        A = rng.standard_normal((K, M)).astype(dtype).T if ta else \
            rng.standard_normal((M, K)).astype(dtype)
        B = rng.standard_normal((N, K)).astype(dtype).T if tb else \
            rng.standard_normal((K, N)).astype(dtype)
        C = rng.standard_normal((M, N)).astype(dtype)
        want = alpha * (A.astype(np.float64) @ B.astype(np.float64)) + beta * C
        assert _blas.gemm(A, B, C, alpha, dtype(beta))
        np.testing.assert_allclose(C, want, rtol=rtol, atol=rtol * np.abs(want).max(),
                                   err_msg=f"{M}x{N}x{K}")


@needs_binding
def test_gemm_reads_strided_rows_and_writes_a_row_slice():
    rng = np.random.default_rng(1)
    big_a = rng.standard_normal((6, 20))
    big_c = rng.standard_normal((8, 30))
    A = big_a[:, 2:9]            # rows 20 apart: lda 20
    B = rng.standard_normal((5, 7)).T
    C = big_c[1:7, 3:8]          # rows 30 apart: ldc 30
    before = big_c.copy()
    want = A @ B + 0.5 * C
    assert _blas.gemm(A, B, C, 1.0, 0.5)
    np.testing.assert_allclose(C, want, rtol=1e-13)
    outside = np.ones(big_c.shape, bool)
    outside[1:7, 3:8] = False
    np.testing.assert_array_equal(big_c[outside], before[outside])  # nothing else written


@needs_binding
def test_gemm_refuses_what_blas_cannot_take_in_place():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    cases = {
        "mixed dtypes": (A.astype(np.float32), B, np.zeros((4, 5))),
        "integer": (A.astype(np.int64), B.astype(np.int64), np.zeros((4, 5), np.int64)),
        "C column-major": (A, B, np.zeros((5, 4)).T),
        "C every other column": (A, B, np.zeros((4, 10))[:, ::2]),
        "A every other column": (rng.standard_normal((4, 6))[:, ::2], B, np.zeros((4, 5))),
        "C read-only": (A, B, np.zeros((4, 5))),
    }
    cases["C read-only"][2].flags.writeable = False
    for what, (a, b, c) in cases.items():
        before = c.copy()
        assert not _blas.gemm(a, b, c, 1.0, 1.0), what
        np.testing.assert_array_equal(c, before, err_msg=what)
    with pytest.raises(ValueError, match=r"\(4, 3\) @ \(4, 5\)"):
        _blas.gemm(A, rng.standard_normal((4, 5)), np.zeros((4, 5)))


def test_switched_off_by_environment():
    code = ("from fastnn import Network; from fastnn._engine import blas as _blas;"
            "import numpy as np;"
            "net = Network([6, 4, 2]); net._engine.matrix = True;"
            "print(_blas.binding() is None, net._engine.matrix_path().fused_update,"
            "      _blas.gemm(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2))))")
    env = dict(os.environ, FASTNN_BLAS_GEMM="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_bad_switch_value_is_named():
    code = "from fastnn._engine import blas as _blas; _blas.binding()"
    env = dict(os.environ, FASTNN_BLAS_GEMM="off")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "FASTNN_BLAS_GEMM='off' is invalid; expected '0'" in proc.stderr
