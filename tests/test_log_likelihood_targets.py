"""The log-likelihood's gradient for target rows that do not sum to 1.

The cost −Σ_j y_j ln a_j (a = softmax(z)) accepts any target rows; its δ is a Σ_j y_j − y,
which is the book's a − y only when the row sums to 1. The engine and the reference both
used a − y, so their parity could not see it. The oracles here are neither: central
differences of the cost written out below, and PyTorch's ``cross_entropy`` with
probability targets (the same cost) where PyTorch is installed.
"""
import numpy as np
import pytest

import fastnn
from fastnn.reference import ReferenceNetwork

SIZES = [6, 5, 4]


def _cost(weights, biases, X, Y):
    """Mean over the rows of −Σ_j y_j ln softmax(z)_j, in plain float64 NumPy."""
    a = X
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = a @ W.T + b
        a = np.tanh(z) if l < len(weights) - 1 else z
    log_softmax = z - z.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    return -np.mean(np.sum(Y * log_softmax, axis=1))


def _central_differences(net, X, Y, h=1e-6):
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    grads = []
    for group in (weights, biases):
        out = []
        for p in group:
            g = np.empty_like(p)
            for i in np.ndindex(p.shape):
                saved = p[i]
                p[i] = saved + h
                plus = _cost(weights, biases, X, Y)
                p[i] = saved - h
                minus = _cost(weights, biases, X, Y)
                p[i] = saved
                g[i] = (plus - minus) / (2 * h)
            out.append(g)
        grads.append(out)
    return grads


def _targets(rng, kind, n, n_out):
    if kind == "several classes":       # multi-hot rows: sums 1 to n_out
        Y = (rng.random((n, n_out)) < 0.5).astype(float)
        Y[:, 0] = 1.0
        return Y
    if kind == "unnormalized weights":  # any non-negative rows
        return rng.random((n, n_out)) * 3.0
    if kind == "soft labels":           # label smoothing: rows that sum to 1
        return np.eye(n_out)[rng.integers(0, n_out, n)] * 0.9 + 0.1 / n_out
    raise AssertionError(kind)


def test_the_issue_example_by_hand():
    """Zero parameters: a = (1/3, 1/3, 1/3); y = (1, 1, 0) sums to 2, so δ = 2a − y."""
    net = fastnn.Network([2, 3], output_activation="softmax", cost="log_likelihood",
                         dtype="float64")
    net.params[:] = 0.0
    _, gb = net.gradients(np.zeros((1, 2)), np.array([[1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(gb[0], [-1 / 3, -1 / 3, 2 / 3], rtol=1e-15)


@pytest.mark.parametrize("kind", ["several classes", "unnormalized weights", "soft labels"])
def test_gradients_match_central_differences(kind):
    net = fastnn.Network(SIZES, hidden_activation="tanh", output_activation="softmax",
                         cost="log_likelihood", dtype="float64", seed=4)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, SIZES[0]))
    Y = _targets(rng, kind, 7, SIZES[-1])
    gw, gb = net.gradients(X, Y)
    nw, nb = _central_differences(net, X, Y)
    for got, want in zip(gw + gb, nw + nb):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9,
                                   err_msg=f"{kind}: engine (ACTUAL) vs central "
                                           f"differences of the cost (DESIRED)")
    ref = ReferenceNetwork([w.copy() for w in net.weights], [b.copy() for b in net.biases],
                           ["tanh"], "softmax", "log_likelihood")
    rw, rb = ref.gradients(X, Y)
    for got, want in zip(rw + rb, nw + nb):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9,
                                   err_msg=f"{kind}: reference (ACTUAL) vs central "
                                           f"differences (DESIRED)")
    # the engine's own reported cost has this gradient too
    assert net.evaluate(X, Y)["cost"] == pytest.approx(_cost(net.weights, net.biases, X, Y),
                                                       rel=1e-12)


@pytest.mark.parametrize("kind", ["several classes", "unnormalized weights", "soft labels"])
def test_gradients_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    net = fastnn.Network(SIZES, hidden_activation="tanh", output_activation="softmax",
                         cost="log_likelihood", dtype="float64", seed=6)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9, SIZES[0]))
    Y = _targets(rng, kind, 9, SIZES[-1])
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True)
              for p in net.weights + net.biases]
    n_layers = len(net.weights)
    a = torch.tensor(X)
    for l in range(n_layers):
        z = a @ params[l].T + params[n_layers + l]
        a = torch.tanh(z) if l < n_layers - 1 else z
    torch.nn.functional.cross_entropy(z, torch.tensor(Y), reduction="mean").backward()
    gw, gb = net.gradients(X, Y)
    for got, p in zip(gw + gb, params):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=f"{kind}: fastnn (ACTUAL) vs PyTorch (DESIRED)")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_hot_rows_train_as_before(dtype):
    """A one-hot row sums to exactly 1, so δ = a·1 − y rounds exactly as a − y: one epoch
    with labels equals one epoch with the reference's book form a − y."""
    net = fastnn.Network([8, 7, 5], hidden_activation="relu", output_activation="softmax",
                         cost="log_likelihood", dtype=dtype, seed=8)
    ref = ReferenceNetwork([w.astype(np.float64) for w in net.weights],
                           [b.astype(np.float64) for b in net.biases], ["relu"], "softmax",
                           "log_likelihood")
    rng = np.random.default_rng(9)
    X = rng.normal(size=(21, 8)).astype(dtype)
    Y = np.eye(5)[rng.integers(0, 5, 21)].astype(dtype)
    order = rng.permutation(21)
    net.train_epoch(X, Y, order, 4, 0.3, 0.0)
    ref.train_epoch(X.astype(np.float64), Y.astype(np.float64), order, 4, 0.3, 0.0)
    want = np.concatenate([w.ravel() for w in ref.weights] + [b.ravel() for b in ref.biases])
    np.testing.assert_allclose(net.params, want, rtol=1e-9 if dtype == "float64" else 2e-5,
                               atol=1e-9 if dtype == "float64" else 2e-6)


@pytest.mark.parametrize("path", ["loops", "matrix"])
def test_one_epoch_with_several_classes_matches_the_reference(path):
    """Both training paths share the output δ kernel; each is checked against the
    reference, which the central-difference test above checks."""
    net = fastnn.Network([8, 7, 5], hidden_activation="sigmoid", output_activation="softmax",
                         cost="log_likelihood", dtype="float64", seed=10)
    net._engine.matrix = path == "matrix"
    ref = ReferenceNetwork([w.copy() for w in net.weights], [b.copy() for b in net.biases],
                           ["sigmoid"], "softmax", "log_likelihood")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(19, 8))
    Y = _targets(rng, "several classes", 19, 5)
    order = rng.permutation(19)
    before = net.params.copy()
    net.train_epoch(X, Y, order, 5, 0.5, 1.0)
    ref.train_epoch(X, Y, order, 5, 0.5, 1.0)
    want = np.concatenate([w.ravel() for w in ref.weights] + [b.ravel() for b in ref.biases])
    np.testing.assert_allclose(net.params - before, want - before, rtol=1e-9,
                               atol=1e-9 * np.abs(want - before).max())
