"""Parity of the dense layer's separate kernels (kernels/dense.py) with NumPy in float64.

The fused kernels (``forward``, ``hidden_delta``, ``weight_gradient``) are covered through
the whole network in test_parity.py; ``fastnn profile`` times their parts one by one, so
each part is checked here on its own, at every block shape: sample counts 1 to 13 hit
the forward product's 5-sample blocks, its padded last block of 3 or 4 and its single
rows, and the gradient's 5/2/1-sample blocks; output widths 1 to 9 hit the 4-neuron
groups with a clamped last index and the gradient's odd last row.
"""
import numpy as np
import pytest

from fastnn.kernels import dense

M_VALUES = list(range(1, 14))
WIDTHS = [1, 2, 3, 4, 5, 9]


def _case(m, n_out, n_in=11, N=40, seed=0):
    rng = np.random.default_rng(seed + 100 * m + n_out)
    W = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out)
    X = rng.standard_normal((N, n_in))
    rows = rng.permutation(N)[:m].astype(np.int64)
    D = rng.standard_normal((m, n_out))
    return W, b, X, rows, D


@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("m", M_VALUES)
def test_forward_product(m, n_out):
    W, b, X, rows, _ = _case(m, n_out)
    Z = np.full((m, n_out), np.nan)
    dense.forward_product(W, b, X, rows, Z)
    np.testing.assert_allclose(Z, X[rows] @ W.T + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("m", [1, 4, 13])
def test_delta_product(m, n_out):
    W_next, _, _, _, D_next = _case(m, n_out)  # W_next (n_next=n_out, n=11)
    D = np.full((m, W_next.shape[1]), np.nan)
    dense.delta_product(W_next, D_next, D)
    np.testing.assert_allclose(D, D_next @ W_next, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.75])
@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 10, 13])
def test_weight_product(m, n_out, beta):
    W, _, X, rows, D = _case(m, n_out)
    alpha = -0.3
    out = np.full_like(W, np.nan) if beta == 0 else W.copy()
    dense.weight_product(D, X, rows, alpha, beta, out)
    expected = alpha * D.T @ X[rows] + (0 if beta == 0 else beta * W)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("m", [1, 5, 13])
def test_bias_gradient(m, beta):
    _, b, _, _, D = _case(m, 5)
    out = np.full_like(b, np.nan) if beta == 0 else b.copy()
    dense.bias_gradient(D, 0.25, beta, out)
    expected = 0.25 * D.sum(axis=0) + (0 if beta == 0 else beta * b)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.999])
def test_scale_weights(beta):
    W, *_ = _case(3, 5)
    out = W.copy()
    if beta == 0:
        out[0, 0] = np.nan  # a zero β overwrites, whatever was there
    dense.scale_weights(out, beta)
    np.testing.assert_array_equal(out, beta * W)


def test_parts_compose_to_the_fused_kernels():
    m, n_out = 7, 5
    W, b, X, rows, D = _case(m, n_out)
    from fastnn.kernels.activations import SIGMOID

    Z1, A1 = np.empty((m, n_out)), np.empty((m, n_out))
    dense.forward(W, b, X, rows, Z1, A1, SIGMOID, 0.0)
    Z2 = np.empty((m, n_out))
    dense.forward_product(W, b, X, rows, Z2)
    np.testing.assert_array_equal(Z1, Z2)
    np.testing.assert_allclose(A1, 1 / (1 + np.exp(-Z2)), rtol=1e-14)
    Wf, bf = W.copy(), b.copy()
    dense.weight_gradient(D, X, rows, -0.1, 0.9, 1.0, Wf, bf)
    Wp, bp = W.copy(), b.copy()
    dense.weight_product(D, X, rows, -0.1, 0.9, Wp)
    dense.bias_gradient(D, -0.1, 1.0, bp)
    np.testing.assert_array_equal(Wf, Wp)
    np.testing.assert_array_equal(bf, bp)
