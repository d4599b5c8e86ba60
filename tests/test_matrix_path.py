"""The matrix (BLAS) path against the naive reference and against the loop path.

The matrix path (fastnn/_engine/matrix.py) must be a faster way to compute the same thing: every
epoch it runs -- plain SGD with L2, and the general epoch with every optimizer, L1 and
dropout -- is compared with the reference to 1e-9 in float64, for every activation and
cost/output pair, several depths, and a short last mini-batch.
"""
import itertools

import numpy as np
import pytest
from _oracle import reference_of, rel_err, targets

import fastnn
from fastnn._engine import blas as _blas
from fastnn._engine import matrix as _matrix
from fastnn.reference import ReferenceOptimizer

HIDDEN = ["sigmoid", "tanh", "relu", "identity", ("leaky_relu", 0.1), ("elu", 0.7),
          ("swish", 1.3)]
PAIRS = [("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("sigmoid", "quadratic"),
         ("softmax", "quadratic"), ("identity", "quadratic"), ("exp", "poisson")]
SIZES = [[7, 5], [7, 9, 4], [8, 11, 6, 3]]


def assert_matches(net, ref, what):
    for l, (a, b) in enumerate(zip(net.weights + net.biases,
                                   ref.weights + [b.ravel() for b in ref.biases])):
        assert rel_err(a, b) < 1e-9, f"{what}: block {l} relative error {rel_err(a, b):.3g}"


def matrix_net(*args, **kwargs):
    net = fastnn.Network(*args, **kwargs)
    net._engine.matrix = True
    return net


@pytest.mark.parametrize("hidden, pair", list(itertools.product(HIDDEN, PAIRS)), ids=str)
@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("fused", [True, False], ids=["blas-update", "two-pass-update"])
def test_sgd_epoch_matches_reference(sizes, hidden, pair, fused):
    out, cost = pair
    if fused and _blas.binding() is None:
        pytest.skip("no BLAS GEMM bound (fastnn/_engine/blas.py): the update runs as two passes")
    rng = np.random.default_rng(len(sizes) * 31 + len(str(hidden)))
    net = matrix_net(sizes, hidden, out, cost, dtype="float64", seed=4)
    net._engine.matrix_path().fused_update = fused
    ref = reference_of(net)
    X = rng.standard_normal((29, sizes[0]))
    Y = targets(rng, 29, sizes[-1], cost)
    eta = 5e-4 if out == "exp" else 0.05  # e^z grows fast: a smaller step stays finite
    for epoch in range(2):
        order = rng.permutation(29)  # mini-batch 6: the last one has 5 rows
        net.train_epoch(X, Y, order, 6, eta, lmbda=0.9)
        ref.train_epoch(X, Y, order, 6, eta, lmbda=0.9)
        assert_matches(net, ref, f"epoch {epoch}")
    assert net._engine.uses_matrix(6)


@pytest.mark.parametrize("name, ours, hyper", [
    ("sgd", fastnn.optim.SGD(), {}),
    ("momentum", fastnn.optim.Momentum(mu=0.8), {"mu": 0.8}),
    ("nesterov", fastnn.optim.Nesterov(mu=0.6), {"mu": 0.6}),
    ("adagrad", fastnn.optim.AdaGrad(), {}),
    ("rmsprop", fastnn.optim.RMSProp(alpha=0.95), {"alpha": 0.95}),
    ("adam", fastnn.optim.Adam(amsgrad=True), {"amsgrad": True}),
], ids=lambda c: str(c))
@pytest.mark.parametrize("l1, dropout", [(0.0, None), (1.5, [0.3, 0.5])],
                         ids=["plain", "l1+dropout"])
def test_general_epoch_matches_reference(name, ours, hyper, l1, dropout):
    rng = np.random.default_rng(11)
    net = matrix_net([9, 8, 6, 4], "tanh", "softmax", "log_likelihood", dtype="float64",
                     seed=2)
    ref = reference_of(net)
    ref_opt = ReferenceOptimizer(name, **hyper)
    X = rng.standard_normal((31, 9))
    Y = targets(rng, 31, 4, "log_likelihood")
    state = None
    eta = 0.01 if name in ("adam", "rmsprop", "adagrad") else 0.2
    for epoch in range(3):
        order = rng.permutation(31)
        state = net.train_epoch(X, Y, order, 6, eta, lmbda=0.7, l1=l1, optimizer=ours,
                                dropout=dropout, dropout_seed=5, epoch=epoch, state=state)
        ref.train_epoch(X, Y, order, 6, eta, lmbda=0.7, l1=l1, optimizer=ref_opt,
                        dropout=dropout, seed=5, epoch=epoch)
        assert_matches(net, ref, f"{name} epoch {epoch}")


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_matrix_and_loop_paths_agree(dtype, tol):
    """Same network, same data: both paths train and evaluate alike (rounding only)."""
    rng = np.random.default_rng(3)
    X = rng.random((300, 20))
    y = rng.integers(0, 4, 300)
    results = []
    for matrix in (False, True):
        net = fastnn.Network([20, 16, 12, 4], "relu", "softmax", "log_likelihood",
                             dtype=dtype, seed=1)
        net._engine.matrix = matrix
        net.fit(X, y, epochs=2, mini_batch_size=32, eta=0.1, lmbda=1.0)
        results.append((net.params.copy(), net.feedforward(X)))
    (p0, a0), (p1, a1) = results
    assert rel_err(p1, p0) < tol
    assert rel_err(a1, a0) < tol


def test_forward_in_blocks_matches_reference():
    """Evaluation through the matrix path, in blocks (EVAL_CHUNK) with a short last one."""
    rng = np.random.default_rng(5)
    net = matrix_net([12, 10, 7, 5], ("elu", 0.5), "softmax", "log_likelihood",
                     dtype="float64", seed=3)
    ref = reference_of(net)
    X = rng.standard_normal((2500, 12))
    expected = np.array([ref.feedforward(x.reshape(-1, 1)).ravel() for x in X])
    np.testing.assert_allclose(net.feedforward(X), expected, rtol=1e-12, atol=0)


def test_auto_rule_picks_by_work_per_mini_batch(monkeypatch):
    monkeypatch.setenv("FASTNN_CALIBRATE", "off")  # the rule alone, nothing measured
    small = fastnn.Network([784, 30, 10])
    big = fastnn.Network([784, 1024, 1024, 10], "relu", "softmax", "log_likelihood")
    assert not small._engine.uses_matrix(10)            # config A
    assert not small._engine.uses_matrix(128)           # 18 MFLOP per mini-batch
    assert not big._engine.uses_matrix(10)              # too few rows for BLAS
    assert big._engine.uses_matrix(128)                 # config C
    assert big._engine.uses_matrix(_matrix.MIN_ROWS)
    assert not small._engine.uses_matrix(1024, training=False)
    assert big._engine.uses_matrix(1024, training=False)
    small._engine.matrix = True
    assert small._engine.uses_matrix(10)
    big._engine.matrix = False
    assert not big._engine.uses_matrix(128)


def test_big_network_trains_through_the_matrix_path():
    """A config-C-shaped network takes the matrix path and learns a separable task."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 784)) * 2
    y = rng.integers(0, 10, 640)
    X = centers[y] + rng.standard_normal((640, 784))
    net = fastnn.Network([784, 1024, 1024, 10], "relu", "softmax", "log_likelihood",
                         initializer="he", seed=0)
    assert net._engine.uses_matrix(128)
    before = net.evaluate(X, y)["accuracy"]
    net.fit(X, y, epochs=3, mini_batch_size=128, eta=0.05)
    after = net.evaluate(X, y)["accuracy"]
    assert after > 0.95 > before + 0.3


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_rows_matches_take(parallel, dtype):
    from fastnn._engine import threads as _threads
    from fastnn.kernels import matrix as K
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 37)).astype(dtype)
    rows = rng.integers(0, 500, 64)
    out = np.full((64, 37), np.nan, dtype)
    kernel = K.gather_rows_parallel if parallel else K.gather_rows
    with _threads.limit(2 if parallel else 1):
        kernel(X, rows, out)
    np.testing.assert_array_equal(out, X[rows])
    for bad in (500, -1):
        rows[7] = bad
        with pytest.raises(IndexError, match="out of range"):
            kernel(X, rows, out)


def test_gather_takes_any_layout():
    """The path's gather: the compiled copy for C-ordered X of the block's dtype, NumPy's
    take for the rest (a Fortran-ordered X, 32-bit row indices); the same rows either way."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 20)).astype(np.float32)
    rows = rng.permutation(300)[:50]
    expected = X[rows]
    net = fastnn.Network([20, 8, 3], dtype="float32")
    path = _matrix.MatrixPath(net._engine)
    for engine_gemm in (False, True):  # serial copy, threaded copy (on several threads)
        path.engine_gemm = engine_gemm
        for data, idx in ((X, rows), (np.asfortranarray(X), rows), (X, rows.astype(np.int32))):
            out = np.empty((50, 20), np.float32)
            path.gather(data, idx, out)
            np.testing.assert_array_equal(out, expected)


def test_add_bias_from_t():
    from fastnn.kernels import matrix as K
    rng = np.random.default_rng(1)
    ZT = rng.standard_normal((10, 33))
    b = rng.standard_normal(10)
    Z = np.full((33, 10), np.nan)
    K.add_bias_from_t(ZT, b, Z)
    np.testing.assert_array_equal(Z, ZT.T + b)
