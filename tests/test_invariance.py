"""A row's prediction never depends on how many rows are predicted with it.

On the loop path (networks below ``_matrix.MIN_WEIGHTS_EVAL`` weights) this holds bit for
bit, on every CPU, by construction: inference runs every row through one compiled block
(``kernels.dense.forward_product_uniform``). Before, a last one or two rows of a block ran
through another kernel, whose vectorized sums round otherwise: one row alone and the same
row among twenty differed by 1-2 float32 ulps (and scikit-learn's
``check_methods_subset_invariance`` failed for ``MLPRegressor()`` on an Intel core).
tools/cross_target.py runs this file under other CPUs' code generation too.
"""
import numpy as np
import pytest

import fastnn
from fastnn._engine import matrix as _matrix
from fastnn.kernels import dense

DTYPES = (np.float32, np.float64)
NETWORKS = [
    ([5, 100, 1], "sigmoid", "identity", "quadratic"),
    ([13, 30, 7, 3], "relu", "softmax", "log_likelihood"),
    ([20, 9, 4], ("elu", 0.5), "sigmoid", "cross_entropy"),
    ([784, 30, 10], "sigmoid", "sigmoid", "cross_entropy"),
]


def _in_groups(f, X, size):
    return np.concatenate([f(X[i:i + size]) for i in range(0, X.shape[0], size)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("sizes, hidden, output, cost", NETWORKS, ids=lambda v: str(v))
def test_a_row_is_predicted_alike_alone_and_among_others(sizes, hidden, output, cost, dtype):
    net = fastnn.Network(sizes, hidden_activation=hidden, output_activation=output, cost=cost,
                         dtype=dtype, seed=3)
    assert not net._engine.uses_matrix(1024, training=False)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((23, sizes[0])).astype(dtype)
    together = net.feedforward(X)
    for size in (1, 2, 3, 4, 6, 7):
        np.testing.assert_array_equal(
            _in_groups(net.feedforward, X, size), together,
            err_msg=f"{sizes} {dtype.__name__}: rows in groups of {size} (ACTUAL) vs all "
                    f"{X.shape[0]} at once (DESIRED)")
    np.testing.assert_array_equal(net.predict(X[17:18]), net.predict(X)[17:18])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_uniform_forward_product_is_the_forward_product(dtype):
    """The inference kernel computes W a + b like the training kernel (to rounding: the
    two round alike only where both run the five-row block)."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((11, 37)).astype(dtype)
    b = rng.standard_normal(11).astype(dtype)
    A_in = rng.standard_normal((30, 37)).astype(dtype)
    rows = rng.permutation(30)[:13].astype(np.int64)
    Z = np.full((13, 11), np.nan, dtype)
    dense.forward_product_uniform(W, b, A_in, rows, Z)
    want = A_in[rows].astype(np.float64) @ W.T.astype(np.float64) + b
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(Z, want, rtol=tol, atol=tol * np.abs(want).max())
    Z_train = np.empty_like(Z)
    dense.forward_product(W, b, A_in, rows, Z_train)
    np.testing.assert_array_equal(Z[:10], Z_train[:10])  # the full blocks: the same code


def test_scikit_learn_subset_invariance_at_the_defaults():
    """scikit-learn's own check, on the estimators as a user makes them (the defaults:
    100 hidden units), not only the small ones of test_sklearn.py."""
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_methods_subset_invariance

    from fastnn.sklearn import MLPClassifier, MLPRegressor
    for estimator in (MLPRegressor(random_state=0), MLPClassifier(random_state=0)):
        check_methods_subset_invariance(type(estimator).__name__, estimator)


def test_the_matrix_path_is_not_what_this_file_covers():
    """The row invariance is the loop path's; networks from MIN_WEIGHTS_EVAL weights
    evaluate through BLAS (fastnn/_engine/engine.py's ``forward`` says why)."""
    small = fastnn.Network([784, 30, 10])
    big = fastnn.Network([784, 100, 10])
    assert small._engine.n_weights < _matrix.MIN_WEIGHTS_EVAL <= big._engine.n_weights
    assert not small._engine.uses_matrix(1024, training=False)
    assert big._engine.uses_matrix(1024, training=False)
