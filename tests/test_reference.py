"""Tests of the naive oracle itself (fastnn.reference) and of the NumPy matrix baseline.

The engine is checked against the oracle elsewhere; here the oracle is checked against
finite differences, the seeds' worked example and formulas written out by hand.
"""

import importlib.util
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastnn.reference import ACTIVATIONS, COSTS, ReferenceNetwork

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
OUTPUT_COST = [(out, "quadratic") for out in ["sigmoid", "tanh", "relu", "identity", "softmax"]]
OUTPUT_COST += [("sigmoid", "cross_entropy"), ("softmax", "log_likelihood")]


def _random_params(sizes, rng):
    weights = [rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=n_out) for n_out in sizes[1:]]
    return weights, biases


def _random_targets(n, n_out, output, cost, rng):
    if cost == "quadratic" and output != "softmax":
        return rng.uniform(0.0, 1.0, size=(n, n_out))
    if cost == "cross_entropy":
        return rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
    return np.eye(n_out)[rng.integers(0, n_out, size=n)]


def _finite_difference(net, X, Y, h=1e-6):
    """Central differences of total_cost(X, Y, 0) w.r.t. every weight and bias."""
    fd_w = [np.zeros_like(w) for w in net.weights]
    fd_b = [np.zeros(b.shape[0]) for b in net.biases]
    params = [(w, g) for w, g in zip(net.weights, fd_w)]
    params += [(b[:, 0], g) for b, g in zip(net.biases, fd_b)]  # b[:, 0] is a view
    for p, g in params:
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + h
            plus = net.total_cost(X, Y, 0.0)
            p[idx] = saved - h
            minus = net.total_cost(X, Y, 0.0)
            p[idx] = saved
            g[idx] = (plus - minus) / (2 * h)
    return fd_w, fd_b


def _min_abs_weighted_input(net, X):
    zs = [z for x in X for z in net._forward(x.reshape(-1, 1))[0]]
    return min(float(np.min(np.abs(z))) for z in zs)


def test_public_names():
    assert ACTIVATIONS == {"sigmoid", "tanh", "relu", "identity", "softmax"}
    assert COSTS == {"quadratic", "cross_entropy", "log_likelihood"}


@pytest.mark.parametrize("sizes", [[4, 5, 3], [3, 6, 4, 2]], ids=str)
@pytest.mark.parametrize("output,cost", OUTPUT_COST)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_central_differences(sizes, hidden, output, cost):
    rng = np.random.default_rng(1234)
    weights, biases = _random_params(sizes, rng)
    if output == "relu":
        biases[-1] += 1.5  # keep the output units alive so their gradient is not all zero
    X = rng.normal(size=(5, sizes[0]))
    Y = _random_targets(5, sizes[-1], output, cost, rng)
    net = ReferenceNetwork(weights, biases, hidden, output, cost)
    if "relu" in (hidden, output):
        # A central difference straddling a kink would be meaningless.
        assert _min_abs_weighted_input(net, X) > 1e-4, "draw landed on a relu kink"

    grad_w, grad_b = net.gradients(X, Y)
    fd_w, fd_b = _finite_difference(net, X, Y)

    assert [g.shape for g in grad_w] == [w.shape for w in weights]
    assert [g.shape for g in grad_b] == [b.shape for b in biases]
    for layer, (g, fd) in enumerate(zip(grad_w + grad_b, fd_w + fd_b)):
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9,
                                   err_msg=f"parameter group {layer}: backprop vs finite diff")
    # The check must be able to fail: no layer's gradient is trivially zero.
    assert min(np.abs(g).max() for g in grad_w) > 1e-3


def test_gradients_is_mean_of_backprop():
    rng = np.random.default_rng(7)
    weights, biases = _random_params([3, 4, 2], rng)
    net = ReferenceNetwork(weights, biases)
    X = rng.normal(size=(3, 3))
    Y = rng.integers(0, 2, size=(3, 2)).astype(float)
    grad_w, grad_b = net.gradients(X, Y)
    per_sample = [net.backprop(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)]
    for l in range(2):
        mean_w = sum(nw[l] for _, nw in per_sample) / 3
        mean_b = sum(nb[l] for nb, _ in per_sample) / 3
        np.testing.assert_allclose(grad_w[l], mean_w, rtol=1e-14)
        np.testing.assert_allclose(grad_b[l], mean_b.ravel(), rtol=1e-14)


# ---------------------------------------------------------------- the seeds' neuron

def _single_neuron(cost):
    return ReferenceNetwork([[[0.6]]], [[0.9]], output_activation="sigmoid", cost=cost)


def test_worked_example_quadratic_cost():
    # Input x = 1, target y = 0, w = 0.6, b = 0.9, eta = 0.15.
    #   z        = 0.6 * 1 + 0.9                      = 1.5
    #   a        = sigma(1.5) = 1 / (1 + e^-1.5)      = 0.8175744761936437
    #   sigma'   = a (1 - a) = 0.81757... * 0.18242... = 0.14914645207033286
    #   dC/dw    = (a - y) sigma'(z) x = 0.8175744761936437 * 0.14914645207033286
    #            = 0.12193833242754278   (= dC/db, since x = 1)
    #   new w    = 0.6 - 0.15 * 0.12193833242754278 = 0.6 - 0.018290749864131417
    #            = 0.5817092501358686
    #   new b    = 0.9 - 0.018290749864131417       = 0.8817092501358686
    net = _single_neuron("quadratic")
    a = net.feedforward(np.array([[1.0]]))
    assert a.shape == (1, 1)
    assert a[0, 0] == pytest.approx(0.8175744761936437, rel=0, abs=1e-15)
    assert round(a[0, 0], 4) == 0.8176
    nabla_b, nabla_w = net.backprop(np.array([[1.0]]), np.array([[0.0]]))
    sigma_prime = nabla_w[0][0, 0] / a[0, 0]
    assert sigma_prime == pytest.approx(0.14914645207033286, abs=1e-15)
    assert round(sigma_prime, 4) == 0.1491

    net.update_mini_batch(np.array([[1.0]]), np.array([[0.0]]), eta=0.15, lmbda=0.0, n=1)
    assert abs(net.weights[0][0, 0] - 0.5817092501358686) < 1e-12
    assert abs(net.biases[0][0, 0] - 0.8817092501358686) < 1e-12


def test_worked_example_cross_entropy_cost():
    # With cross-entropy the sigma' factor cancels: dC/dw = (a - y) x = a.
    #   new w = 0.6 - 0.15 * 0.8175744761936437 = 0.47736382857095344
    #   new b = 0.9 - 0.15 * 0.8175744761936437 = 0.7773638285709534
    net = _single_neuron("cross_entropy")
    net.update_mini_batch(np.array([[1.0]]), np.array([[0.0]]), eta=0.15, lmbda=0.0, n=1)
    assert abs(net.weights[0][0, 0] - 0.47736382857095344) < 1e-12
    assert abs(net.biases[0][0, 0] - 0.7773638285709534) < 1e-12


# ---------------------------------------------------------------- the update rule

def test_update_mini_batch_follows_the_book_rule_with_l2():
    # One sigmoid layer with cross-entropy: the per-sample gradients are explicit,
    # dC_x/dW = (sigma(Wx + b) - y) x^T and dC_x/db = sigma(Wx + b) - y.
    rng = np.random.default_rng(3)
    W = rng.normal(size=(2, 3))
    b = rng.normal(size=2)
    X = rng.normal(size=(4, 3))
    Y = rng.integers(0, 2, size=(4, 2)).astype(float)
    eta, lmbda, n, m = 0.5, 5.0, 50, 4

    sum_w = np.zeros((2, 3))
    sum_b = np.zeros(2)
    for x, y in zip(X, Y):
        a = 1.0 / (1.0 + np.exp(-(W @ x + b)))
        sum_w += np.outer(a - y, x)
        sum_b += a - y
    expected_W = (1 - eta * lmbda / n) * W - (eta / m) * sum_w
    expected_b = b - (eta / m) * sum_b          # biases are not decayed

    net = ReferenceNetwork([W], [b], output_activation="sigmoid", cost="cross_entropy")
    net.update_mini_batch(X, Y, eta, lmbda, n)
    np.testing.assert_allclose(net.weights[0], expected_W, rtol=1e-13)
    np.testing.assert_allclose(net.biases[0].ravel(), expected_b, rtol=1e-13)
    assert net.biases[0].shape == (2, 1)
    # The caller's arrays were copied, not updated in place.
    assert not np.allclose(W, expected_W)


def test_train_epoch_slices_order_and_uses_n_of_the_epoch():
    rng = np.random.default_rng(5)
    weights, biases = _random_params([3, 4, 2], rng)
    X = rng.normal(size=(7, 3))
    Y = rng.integers(0, 2, size=(7, 2)).astype(float)
    order = rng.permutation(7)

    by_epoch = ReferenceNetwork(weights, biases)
    by_epoch.train_epoch(X, Y, order, mini_batch_size=3, eta=0.3, lmbda=2.0)

    by_hand = ReferenceNetwork(weights, biases)
    for batch in (order[0:3], order[3:6], order[6:7]):   # last batch has m = 1
        by_hand.update_mini_batch(X[batch], Y[batch], 0.3, 2.0, 7)

    for a, b in zip(by_epoch.weights + by_epoch.biases, by_hand.weights + by_hand.biases):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(by_epoch.weights[0], weights[0])


def test_total_cost_and_accuracy_by_hand():
    # Single sigmoid layer, cross-entropy, so the cost can be written out directly.
    W = np.array([[1.0, -2.0], [0.5, 0.25]])
    b = np.array([0.1, -0.3])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    net = ReferenceNetwork([W], [b])
    A = 1.0 / (1.0 + np.exp(-(X @ W.T + b)))
    per_sample = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A), axis=1)
    lmbda = 0.7
    expected = per_sample.mean() + 0.5 * (lmbda / 3) * np.sum(W ** 2)
    assert net.total_cost(X, Y, lmbda) == pytest.approx(expected, rel=1e-13)
    assert net.accuracy(X, np.argmax(A, axis=1)) == 3
    assert net.accuracy(X, [0, 0, 0]) == int(np.sum(np.argmax(A, axis=1) == 0))


# ---------------------------------------------------------------- softmax + quadratic

def test_quadratic_softmax_delta_uses_full_jacobian():
    rng = np.random.default_rng(11)
    W = rng.normal(size=(4, 3))
    b = rng.normal(size=4)
    x = rng.normal(size=(1, 3))
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    net = ReferenceNetwork([W], [b], output_activation="softmax", cost="quadratic")

    nabla_b, _ = net.backprop(x.T, y.T)      # nabla_b = delta = dC/dz for one layer
    _, fd_b = _finite_difference(net, x, y)
    np.testing.assert_allclose(nabla_b[0].ravel(), fd_b[0], rtol=1e-6, atol=1e-10)

    # The diagonal-only shortcut (a - y) * a (1 - a) is measurably different.
    a = net.feedforward(x.T).ravel()
    diagonal_only = (a - y.ravel()) * a * (1 - a)
    assert np.max(np.abs(diagonal_only - fd_b[0])) > 1e-3


# ---------------------------------------------------------------- huge weighted inputs

def _one_layer(z_values, output, cost):
    """A network whose output weighted input is exactly z_values for the input x = 1."""
    z = np.asarray(z_values, dtype=float)
    return ReferenceNetwork([z.reshape(-1, 1)], [np.zeros(len(z))],
                            output_activation=output, cost=cost)


@pytest.mark.parametrize("z,y,expected", [
    (1e4, 0.0, 1e4),     # confident and wrong: -ln(1 - sigma(1e4)) = 1e4
    (-1e4, 1.0, 1e4),    # -ln sigma(-1e4) = 1e4
    (1e4, 1.0, 0.0),     # confident and right
    (-1e4, 0.0, 0.0),
])
def test_cross_entropy_value_finite_when_saturated(z, y, expected):
    net = _one_layer([z], "sigmoid", "cross_entropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost = net.total_cost(np.array([[1.0]]), np.array([[y]]))
        grad_w, grad_b = net.gradients(np.array([[1.0]]), np.array([[y]]))
    assert np.isfinite(cost)
    assert cost == pytest.approx(expected, rel=1e-12, abs=1e-300)
    # delta = a - y is +-1 or 0 here.
    assert grad_b[0][0] == pytest.approx((z > 0) - y, abs=1e-12)


@pytest.mark.parametrize("label,expected", [(0, 0.0), (1, 2e4), (2, 1e4)])
def test_log_likelihood_value_finite_when_saturated(label, expected):
    net = _one_layer([1e4, -1e4, 0.0], "softmax", "log_likelihood")
    y = np.eye(3)[[label]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost = net.total_cost(np.array([[1.0]]), y)
        grad_w, _ = net.gradients(np.array([[1.0]]), y)
    # -ln softmax(z)_label = max(z) - z_label + ln(1 + e^-1e4 + e^-2e4)
    assert np.isfinite(cost)
    assert cost == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert np.all(np.isfinite(grad_w[0]))


def test_quadratic_values_finite_when_saturated():
    x = np.array([[1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = _one_layer([1e4, -1e4], "sigmoid", "quadratic").total_cost(x, [[0.0, 0.0]])
        soft = _one_layer([1e4, -1e4], "softmax", "quadratic").total_cost(x, [[0.0, 1.0]])
        ident = _one_layer([1e4], "identity", "quadratic").total_cost(x, [[0.0]])
    assert sig == pytest.approx(0.5, rel=1e-12)       # a = (1, 0)
    assert soft == pytest.approx(1.0, rel=1e-12)      # a = (1, 0), y = (0, 1)
    assert ident == pytest.approx(0.5e8, rel=1e-12)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,argument,value", [
    (dict(hidden_activation="softmax"), "hidden_activation", "softmax"),
    (dict(hidden_activation="swish"), "hidden_activation", "swish"),
    (dict(hidden_activation=["relu", "gelu"]), "hidden_activation", "gelu"),
    (dict(output_activation="softplus"), "output_activation", "softplus"),
    (dict(cost="hinge"), "cost", "hinge"),
    (dict(output_activation="softmax", cost="cross_entropy"), "cost", "cross_entropy"),
    (dict(output_activation="sigmoid", cost="log_likelihood"), "cost", "log_likelihood"),
    (dict(output_activation="relu", cost="cross_entropy"), "output_activation", "relu"),
])
def test_invalid_names_and_pairs_raise(kwargs, argument, value):
    rng = np.random.default_rng(0)
    weights, biases = _random_params([2, 3, 3, 2], rng)
    with pytest.raises(ValueError) as info:
        ReferenceNetwork(weights, biases, **kwargs)
    message = str(info.value)
    assert argument in message and repr(value) in message, message


def test_wrong_number_of_hidden_activations_raises():
    weights, biases = _random_params([2, 3, 3, 2], np.random.default_rng(0))
    with pytest.raises(ValueError, match="hidden_activation"):
        ReferenceNetwork(weights, biases, hidden_activation=["relu"])


def test_every_valid_pair_is_accepted():
    weights, biases = _random_params([2, 3, 2], np.random.default_rng(0))
    accepted = set()
    for out, cost in itertools.product(sorted(ACTIVATIONS), sorted(COSTS)):
        try:
            ReferenceNetwork(weights, biases, output_activation=out, cost=cost)
            accepted.add((out, cost))
        except ValueError:
            pass
    assert accepted == set(OUTPUT_COST)


# ---------------------------------------------------------------- the NumPy matrix baseline

def _load_numpy_matrix():
    path = Path(__file__).resolve().parents[1] / "bench" / "numpy_matrix.py"
    spec = importlib.util.spec_from_file_location("_bench_numpy_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sizes,hidden,output,cost", [
    ([6, 8, 4], "sigmoid", "sigmoid", "cross_entropy"),
    ([6, 8, 5, 4], "relu", "softmax", "log_likelihood"),
])
def test_numpy_matrix_epoch_matches_reference(sizes, hidden, output, cost):
    NumpyMatrixNetwork = _load_numpy_matrix().NumpyMatrixNetwork
    rng = np.random.default_rng(21)
    weights, biases = _random_params(sizes, rng)
    n = 23
    X = rng.normal(size=(n, sizes[0]))
    Y = _random_targets(n, sizes[-1], output, cost, rng)
    order = rng.permutation(n)

    ref = ReferenceNetwork(weights, biases, hidden, output, cost)
    ref.train_epoch(X, Y, order, mini_batch_size=5, eta=0.4, lmbda=3.0)
    fast = NumpyMatrixNetwork(weights, biases, hidden, output, cost, dtype=np.float64)
    fast.train_epoch(X, Y, order, mini_batch_size=5, eta=0.4, lmbda=3.0)

    for l in range(len(weights)):
        assert fast.weights[l].dtype == np.float64 and fast.biases[l].shape == (sizes[l + 1],)
        np.testing.assert_allclose(fast.weights[l], ref.weights[l], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fast.biases[l], ref.biases[l].ravel(), rtol=1e-9, atol=1e-12)
        assert not np.allclose(fast.weights[l], weights[l])   # training moved them
    np.testing.assert_allclose(fast.feedforward(X)[:, :, None],
                               np.stack([ref.feedforward(x) for x in X]), rtol=1e-9)
