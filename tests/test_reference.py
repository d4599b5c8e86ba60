"""Tests of the naive oracle itself (fastnn.reference) and of the NumPy matrix baseline.

The engine is checked against the oracle elsewhere; here the oracle is checked against
finite differences, the seeds' worked example and formulas written out by hand.
"""

import itertools
import warnings

import numpy as np
import pytest

from fastnn.reference import (
    ACTIVATIONS,
    COSTS,
    OPTIMIZERS,
    ReferenceNetwork,
    ReferenceOptimizer,
    dropout_masks,
    splitmix64,
)

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
# The parametrized activations, at their defaults and at other parameters.
NEW_HIDDEN = ["leaky_relu", ("leaky_relu", 0.1), ("leaky_relu", 0.3), "elu", ("elu", 0.3),
              "swish", ("swish", 1.5)]
ELEMENTWISE_OUTPUTS = ["sigmoid", "tanh", "relu", "identity", "leaky_relu", "elu", "swish",
                       "exp"]
OUTPUT_COST = [(out, "quadratic") for out in ELEMENTWISE_OUTPUTS + ["softmax"]]
OUTPUT_COST += [("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("exp", "poisson")]
# Activations with a kink at z = 0, where a central difference is meaningless.
KINKED = {"relu", "leaky_relu", "elu"}


def _name(spec):
    return spec[0] if isinstance(spec, tuple) else spec


def _ids(value):
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    if isinstance(value, list):
        return "-".join(_ids(v) for v in value)
    return str(value)


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
    if cost == "poisson":
        return rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
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
    assert ACTIVATIONS == {"sigmoid", "tanh", "relu", "identity", "softmax",
                           "leaky_relu", "elu", "swish", "exp"}
    assert COSTS == {"quadratic", "cross_entropy", "log_likelihood", "poisson"}
    assert OPTIMIZERS == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}


@pytest.mark.parametrize("sizes", [[4, 5, 3], [3, 6, 4, 2]], ids=str)
@pytest.mark.parametrize("output,cost", OUTPUT_COST)
@pytest.mark.parametrize("hidden", HIDDEN + NEW_HIDDEN, ids=_ids)
def test_gradients_match_central_differences(sizes, hidden, output, cost):
    rng = np.random.default_rng(1234)
    weights, biases = _random_params(sizes, rng)
    if output == "relu":
        biases[-1] += 1.5  # keep the output units alive so their gradient is not all zero
    X = rng.normal(size=(5, sizes[0]))
    Y = _random_targets(5, sizes[-1], output, cost, rng)
    net = ReferenceNetwork(weights, biases, hidden, output, cost)
    if KINKED & {_name(hidden), output}:
        # A central difference straddling a kink would be meaningless.
        assert _min_abs_weighted_input(net, X) > 1e-4, "draw landed on a kink"

    grad_w, grad_b = net.gradients(X, Y)
    fd_w, fd_b = _finite_difference(net, X, Y)

    assert [g.shape for g in grad_w] == [w.shape for w in weights]
    assert [g.shape for g in grad_b] == [b.shape for b in biases]
    for layer, (g, fd) in enumerate(zip(grad_w + grad_b, fd_w + fd_b)):
        # the difference's rounding grows with the cost, so atol with the group's scale
        # (an exponential output's gradients reach 60 here, the others' stay under 1)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9 * max(1.0, np.abs(fd).max()),
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
    (dict(hidden_activation="softsign"), "hidden_activation", "softsign"),
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
    from fastnn.perf import baselines as baselines
    return baselines


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


# ---------------------------------------------------------------- parametrized activations

@pytest.mark.parametrize("spec,z,a,g_prime", [
    # leaky_relu, alpha = 0.1: g = z for z > 0, else 0.1 z; g' = 1 or 0.1 (0.1 at z = 0).
    (("leaky_relu", 0.1), 2.0, 2.0, 1.0),
    (("leaky_relu", 0.1), -3.0, -0.3, 0.1),
    (("leaky_relu", 0.1), 0.0, 0.0, 0.1),
    ("leaky_relu", -5.0, -0.05, 0.01),                         # default alpha = 0.01
    # elu, alpha = 1: g(-1) = e^-1 - 1, g'(-1) = e^-1 = 0.36787944117144233.
    ("elu", 1.5, 1.5, 1.0),
    ("elu", -1.0, -0.6321205588285577, 0.36787944117144233),
    # elu, alpha = 0.5: g(-2) = 0.5 (e^-2 - 1), g'(-2) = 0.5 e^-2; g'(0) = alpha.
    (("elu", 0.5), -2.0, -0.43233235838169365, 0.06766764161830635),
    (("elu", 0.5), 0.0, 0.0, 0.5),
    # swish, beta = 1: sigma(2) = 0.8807970779778823, g(2) = 2 sigma(2) = 1.7615941559557646,
    #   g'(2) = sigma(2) + 2 sigma(2) (1 - sigma(2)) = 1.0907842487848955; g'(0) = sigma(0) = 0.5.
    ("swish", 2.0, 1.7615941559557646, 1.0907842487848955),
    ("swish", 0.0, 0.0, 0.5),
    # swish, beta = 1.5 at z = -1: sigma(-1.5) = 0.18242552380635635 = -g(-1),
    #   g' = s + 1.5 * (-1) * s (1 - s) = -0.04129415429914293.
    (("swish", 1.5), -1.0, -0.18242552380635635, -0.04129415429914293),
])
def test_new_activation_values_and_derivatives_by_hand(spec, z, a, g_prime):
    # One unit with weight z, bias 0 and input 1 has weighted input z. With the quadratic
    # cost and the target y = a - 1, the output error is delta = (a - y) g'(z) = g'(z).
    net = _one_layer([z], spec, "quadratic")
    out = net.feedforward(np.array([[1.0]]))
    assert out[0, 0] == pytest.approx(a, rel=1e-14, abs=1e-15)
    _, grad_b = net.gradients(np.array([[1.0]]), np.array([[a - 1.0]]))
    assert grad_b[0][0] == pytest.approx(g_prime, rel=1e-13, abs=1e-15)


def test_new_activations_finite_for_huge_inputs():
    x = np.array([[1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for spec in ["elu", ("swish", 2.0), ("leaky_relu", 0.2)]:
            net = _one_layer([1e4, -1e4, 800.0, -800.0], spec, "quadratic")
            a = net.feedforward(x).ravel()
            grad_w, grad_b = net.gradients(x, np.zeros((1, 4)))
            assert np.all(np.isfinite(a)) and np.all(np.isfinite(grad_b[0])), spec
    assert _one_layer([-1e4], "elu", "quadratic").feedforward(x)[0, 0] == -1.0
    assert _one_layer([-1e4], "swish", "quadratic").feedforward(x)[0, 0] == 0.0


def test_activation_specs_are_resolved_and_exposed():
    weights, biases = _random_params([2, 3, 4, 3, 2], np.random.default_rng(0))
    net = ReferenceNetwork(weights, biases, ("leaky_relu", 0.1), "sigmoid")
    assert net.activations == [("leaky_relu", 0.1)] * 3 + [("sigmoid", None)]
    assert net.hidden_activation == ["leaky_relu"] * 3
    assert net.output_activation == "sigmoid"

    net = ReferenceNetwork(weights, biases, ["elu", ("swish", 1.5), ("relu", None)],
                           ("leaky_relu", 0.2), "quadratic")
    assert net.activations == [("elu", 1.0), ("swish", 1.5), ("relu", None),
                               ("leaky_relu", 0.2)]
    assert net.hidden_activation == ["elu", "swish", "relu"]
    assert net.output_activation == "leaky_relu"
    assert all(isinstance(p, float) for _, p in net.activations[:2])

    # The defaults, a tuple of names read as one name per layer, and a round trip.
    net = ReferenceNetwork(weights, biases, ("tanh", "swish", "leaky_relu"))
    assert net.activations[:3] == [("tanh", None), ("swish", 1.0), ("leaky_relu", 0.01)]
    again = ReferenceNetwork(weights, biases, net.activations[:-1], net.activations[-1])
    assert again.activations == net.activations
    # An integer parameter is accepted and stored as a float.
    assert ReferenceNetwork(weights, biases, ("elu", 2)).activations[0] == ("elu", 2.0)


def test_leaky_relu_with_alpha_zero_is_relu():
    rng = np.random.default_rng(8)
    weights, biases = _random_params([3, 5, 2], rng)
    X = rng.normal(size=(4, 3))
    Y = rng.integers(0, 2, size=(4, 2)).astype(float)
    relu = ReferenceNetwork(weights, biases, "relu").gradients(X, Y)
    leaky = ReferenceNetwork(weights, biases, ("leaky_relu", 0.0)).gradients(X, Y)
    for a, b in zip(relu[0] + relu[1], leaky[0] + leaky[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,words", [
    (dict(hidden_activation=("leaky_relu", -0.1)), ["hidden_activation", "alpha", "leaky_relu"]),
    (dict(hidden_activation=("elu", float("nan"))), ["hidden_activation", "alpha", "elu"]),
    (dict(hidden_activation=("swish", 0.0)), ["hidden_activation", "beta", "swish"]),
    (dict(hidden_activation=("swish", -1.0)), ["hidden_activation", "beta", "swish"]),
    (dict(hidden_activation=("swish", float("inf"))), ["hidden_activation", "beta", "swish"]),
    (dict(hidden_activation=("leaky_relu", True)), ["hidden_activation", "alpha", "True"]),
    (dict(hidden_activation=["relu", ("elu", -2.0)]), ["hidden_activation", "alpha", "-2.0"]),
    (dict(hidden_activation=("sigmoid", 0.5)), ["hidden_activation", "sigmoid", "no parameter"]),
    (dict(output_activation=("swish", 0.0), cost="quadratic"), ["output_activation", "beta"]),
    (dict(output_activation="leaky_relu", cost="cross_entropy"),
     ["cost", "output_activation", "'leaky_relu'"]),
    (dict(output_activation=("elu", 1.0), cost="log_likelihood"), ["cost", "'elu'"]),
])
def test_invalid_activation_parameters_raise(kwargs, words):
    weights, biases = _random_params([2, 3, 3, 2], np.random.default_rng(0))
    with pytest.raises(ValueError) as info:
        ReferenceNetwork(weights, biases, **kwargs)
    for word in words:
        assert word in str(info.value), str(info.value)


# ---------------------------------------------------------------- L1 and the optimizer path

def _one_layer_sums(W, b, X, Y):
    """Explicit sum_x dC_x/dW and dC_x/db for one sigmoid layer with cross-entropy."""
    sum_w = np.zeros_like(W)
    sum_b = np.zeros_like(b)
    for x, y in zip(X, Y):
        a = 1.0 / (1.0 + np.exp(-(W @ x + b)))
        sum_w += np.outer(a - y, x)
        sum_b += a - y
    return sum_w, sum_b


def test_update_mini_batch_l1_and_l2_follow_the_formula():
    rng = np.random.default_rng(13)
    W = rng.normal(size=(3, 4))
    W[0, 1] = W[2, 3] = 0.0          # exactly zero: sgn(0) = 0, the L1 term is not applied
    W[1, 2] = -W[1, 2] if W[1, 2] > 0 else W[1, 2]   # at least one negative weight
    b = rng.normal(size=3)
    X = rng.normal(size=(5, 4))
    Y = rng.integers(0, 2, size=(5, 3)).astype(float)
    eta, lmbda, l1, n, m = 0.4, 3.0, 2.5, 20, 5

    sum_w, sum_b = _one_layer_sums(W, b, X, Y)
    sgn = np.where(W > 0, 1.0, np.where(W < 0, -1.0, 0.0))
    expected_W = (1 - eta * lmbda / n) * W - (eta * l1 / n) * sgn - (eta / m) * sum_w
    expected_b = b - (eta / m) * sum_b

    net = ReferenceNetwork([W], [b])
    net.update_mini_batch(X, Y, eta, lmbda, n, l1=l1)
    np.testing.assert_allclose(net.weights[0], expected_W, rtol=1e-13)
    np.testing.assert_allclose(net.biases[0].ravel(), expected_b, rtol=1e-13)

    # The zero weights move exactly as without L1; every other weight moves by
    # -(eta l1 / n) sgn(W) more.
    no_l1 = ReferenceNetwork([W], [b])
    no_l1.update_mini_batch(X, Y, eta, lmbda, n)
    zero = W == 0
    np.testing.assert_array_equal(net.weights[0][zero], no_l1.weights[0][zero])
    np.testing.assert_allclose((net.weights[0] - no_l1.weights[0])[~zero],
                               -(eta * l1 / n) * np.sign(W[~zero]), rtol=1e-9)
    # Biases are not regularized.
    np.testing.assert_array_equal(net.biases[0], no_l1.biases[0])

    # The "sgd" optimizer is the same rule through the regularized gradient.
    sgd = ReferenceNetwork([W], [b])
    sgd.update_mini_batch(X, Y, eta, lmbda, n, l1=l1, optimizer=ReferenceOptimizer("sgd"))
    np.testing.assert_allclose(sgd.weights[0], expected_W, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sgd.biases[0].ravel(), expected_b, rtol=1e-13)


def test_l1_only_and_total_cost_l1_term():
    W = np.array([[0.5, -0.25, 0.0]])
    b = np.array([0.1])
    X = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 1.0]])
    Y = np.array([[1.0], [0.0]])
    eta, l1, n = 0.3, 1.2, 10
    sum_w, sum_b = _one_layer_sums(W, b, X, Y)
    net = ReferenceNetwork([W], [b])
    net.update_mini_batch(X, Y, eta, 0.0, n, l1=l1)
    expected = W - (eta * l1 / n) * np.array([[1.0, -1.0, 0.0]]) - (eta / 2) * sum_w
    np.testing.assert_allclose(net.weights[0], expected, rtol=1e-14)

    fresh = ReferenceNetwork([W], [b])
    base = fresh.total_cost(X, Y)
    assert fresh.total_cost(X, Y, l1=l1) == pytest.approx(base + (l1 / 2) * 0.75, rel=1e-14)
    assert fresh.total_cost(X, Y, 0.4, l1) == pytest.approx(
        base + 0.5 * (0.4 / 2) * 0.3125 + (l1 / 2) * 0.75, rel=1e-14)


def test_train_epoch_passes_l1_and_optimizer_state_through():
    rng = np.random.default_rng(17)
    weights, biases = _random_params([3, 4, 2], rng)
    X = rng.normal(size=(7, 3))
    Y = rng.integers(0, 2, size=(7, 2)).astype(float)
    order = rng.permutation(7)

    by_epoch = ReferenceNetwork(weights, biases)
    opt_a = ReferenceOptimizer("adam", beta1=0.8)
    by_epoch.train_epoch(X, Y, order, 3, 0.1, lmbda=2.0, l1=0.5, optimizer=opt_a)
    by_hand = ReferenceNetwork(weights, biases)
    opt_b = ReferenceOptimizer("adam", beta1=0.8)
    for batch in (order[0:3], order[3:6], order[6:7]):
        by_hand.update_mini_batch(X[batch], Y[batch], 0.1, 2.0, 7, l1=0.5, optimizer=opt_b)
    for a, b in zip(by_epoch.weights + by_epoch.biases, by_hand.weights + by_hand.biases):
        np.testing.assert_array_equal(a, b)
    assert opt_a.t == opt_b.t == 3


@pytest.mark.parametrize("kwargs,word", [
    (dict(lmbda=-1.0), "lmbda"),
    (dict(l1=-0.5), "l1"),
    (dict(l1=float("nan")), "l1"),
    (dict(optimizer="adam"), "optimizer"),
    (dict(dropout=0.5), "masks"),
    (dict(dropout=1.0, masks=[np.ones(3)]), "dropout"),
    (dict(dropout=[0.5, 0.5], masks=[np.ones(3)]), "dropout"),
    (dict(masks=[np.ones(2)]), "masks[0]"),
    (dict(masks=[np.ones(3), np.ones(3)]), "masks"),
    (dict(masks=[-np.ones(3)]), "masks[0]"),
    (dict(dropout=0.5, masks=[np.array([0.0, 1.0, 2.0])]), "masks[0]"),
])
def test_update_mini_batch_rejects_bad_arguments(kwargs, word):
    weights, biases = _random_params([2, 3, 2], np.random.default_rng(0))
    net = ReferenceNetwork(weights, biases)
    args = dict(eta=0.1, lmbda=0.0, n=10)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        net.update_mini_batch(np.zeros((2, 2)), np.zeros((2, 2)), **args)
    assert word in str(info.value), str(info.value)


# ---------------------------------------------------------------- dropout: the hash

def _splitmix64_int(x):
    """splitmix64 on Python ints, reduced mod 2^64 after every step."""
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def _dropout_masks_int(seed, epoch, b, n_batches, sizes, ps):
    """The mask spec written with Python ints, one unit at a time."""
    key = _splitmix64_int(seed)
    H = sum(sizes)
    masks, h = [], 0
    for size, p in zip(sizes, ps):
        s = []
        for _ in range(size):
            c = ((epoch * n_batches + b) * H + h) & ((1 << 64) - 1)
            u = (_splitmix64_int(key ^ c) >> 11) * 2.0 ** -53
            s.append(1.0 / (1.0 - p) if u >= p else 0.0)
            h += 1
        masks.append(np.array(s))
    return masks


def test_splitmix64_known_values():
    assert _splitmix64_int(0) == 0xE220A8397B1DCDAF     # the first output of seed 0
    assert int(splitmix64(0)) == 0xE220A8397B1DCDAF
    xs = [1, 2, 12345, 0x9E3779B97F4A7C15, (1 << 63) + 5, (1 << 64) - 1]
    for x in xs:
        assert int(splitmix64(x)) == _splitmix64_int(x), hex(x)
    got = splitmix64(np.array(xs, dtype=np.uint64))
    assert got.dtype == np.uint64 and got.shape == (len(xs),)
    assert [int(v) for v in got] == [_splitmix64_int(x) for x in xs]


@pytest.mark.parametrize("seed,epoch,b,n_batches,sizes,p", [
    (0, 0, 0, 1, [5], 0.5),
    (42, 3, 7, 11, [6, 4, 3], [0.2, 0.5, 0.8]),
    (2 ** 63 - 1, 10 ** 6, 999, 1000, [7, 2], 0.3),      # counters far from 0
])
def test_dropout_masks_follow_the_spec(seed, epoch, b, n_batches, sizes, p):
    got = dropout_masks(seed, epoch, b, n_batches, sizes, p)
    ps = p if isinstance(p, list) else [p] * len(sizes)
    want = _dropout_masks_int(seed, epoch, b, n_batches, sizes, ps)
    assert [s.shape for s in got] == [(size,) for size in sizes]
    for s, w in zip(got, want):
        np.testing.assert_array_equal(s, w)


def test_dropout_masks_deterministic_and_vary_with_epoch_batch_seed():
    args = dict(n_batches=10, hidden_sizes=[40, 30], p=0.5)
    base = dropout_masks(1, 2, 3, **args)
    again = dropout_masks(1, 2, 3, **args)
    for a, b in zip(base, again):
        np.testing.assert_array_equal(a, b)
    for other in (dropout_masks(1, 3, 3, **args), dropout_masks(1, 2, 4, **args),
                  dropout_masks(2, 2, 3, **args)):
        assert any(not np.array_equal(a, b) for a, b in zip(base, other))
    # Values are exactly 0 or 1 / (1 - p); p = 0 keeps everything with s = 1.
    assert set(np.concatenate(base)) <= {0.0, 2.0}
    for s in dropout_masks(1, 2, 3, 10, [40, 30], 0.0):
        np.testing.assert_array_equal(s, 1.0)
    # Consecutive mini-batches use consecutive counter blocks: batch b of epoch e is
    # block e * n_batches + b, so (epoch 1, batch 0) with 10 batches is block 10.
    for a, b in zip(dropout_masks(5, 1, 0, 10, [8, 3], 0.5),
                    dropout_masks(5, 0, 10, 11, [8, 3], 0.5)):
        np.testing.assert_array_equal(a, b)


def test_dropout_masks_keep_frequency():
    p = 0.3
    (s,) = dropout_masks(7, 0, 0, 1, [100_000], p)
    kept = np.mean(s > 0)
    assert abs(kept - (1 - p)) < 0.005
    # With per-layer p, each layer keeps its own fraction.
    masks = dropout_masks(7, 1, 2, 3, [50_000, 50_000], [0.1, 0.6])
    assert abs(np.mean(masks[0] > 0) - 0.9) < 0.007
    assert abs(np.mean(masks[1] > 0) - 0.4) < 0.007


@pytest.mark.parametrize("kwargs,word", [
    (dict(seed=-1), "seed"), (dict(seed=2 ** 63), "seed"), (dict(seed=1.0), "seed"),
    (dict(epoch=-1), "epoch"), (dict(batch_index=4), "batch_index"),
    (dict(n_batches=0), "n_batches"), (dict(p=1.0), "p"), (dict(p=-0.1), "p"),
    (dict(p=[0.1]), "p"), (dict(hidden_sizes=[3, 0]), "hidden_sizes"),
])
def test_dropout_masks_rejects_bad_arguments(kwargs, word):
    args = dict(seed=0, epoch=0, batch_index=0, n_batches=4, hidden_sizes=[3, 2], p=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        dropout_masks(**args)
    assert word in str(info.value), str(info.value)


# ---------------------------------------------------------------- dropout: backprop

_TEST_G = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
    "swish": lambda z: z / (1.0 + np.exp(-1.5 * z)),
}
_TEST_SPEC = {"sigmoid": "sigmoid", "tanh": "tanh", "leaky_relu": ("leaky_relu", 0.1),
              "swish": ("swish", 1.5)}


def _masked_cost(weights, biases, hidden, output, cost, masks, X, Y):
    """Mean per-sample cost of the network whose hidden activations are a * s (row form)."""
    A = X
    for l, (W, b) in enumerate(zip(weights, biases)):
        Z = A @ W.T + b
        if l < len(weights) - 1:
            A = _TEST_G[hidden](Z) * masks[l]
    if cost == "cross_entropy":
        A = 1.0 / (1.0 + np.exp(-Z))
        return float(np.mean(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A), axis=1)))
    if cost == "log_likelihood":
        logp = Z - np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
        return float(np.mean(-np.sum(Y * logp, axis=1)))
    A = Z if output == "identity" else np.tanh(Z)
    return float(np.mean(0.5 * np.sum((A - Y) ** 2, axis=1)))


def _masks_with_both_kinds(sizes, p, seed=3):
    """Masks from dropout_masks with at least one dropped and one kept unit per layer."""
    for b in range(100):
        masks = dropout_masks(seed, 0, b, 100, sizes, p)
        if all(0 < np.count_nonzero(s) < len(s) for s in masks):
            return masks
    raise AssertionError("no mask with both kinds of unit")


@pytest.mark.parametrize("output,cost", [("sigmoid", "cross_entropy"),
                                         ("softmax", "log_likelihood"),
                                         ("identity", "quadratic"), ("tanh", "quadratic")])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "leaky_relu", "swish"])
@pytest.mark.parametrize("p", [0.5, [0.3, 0.6]], ids=_ids)
def test_dropout_gradient_matches_finite_differences_of_masked_cost(hidden, output, cost, p):
    sizes = [4, 6, 5, 3]
    rng = np.random.default_rng(99)
    weights, biases = _random_params(sizes, rng)
    X = rng.normal(size=(4, sizes[0]))
    Y = _random_targets(4, sizes[-1], output, cost, rng)
    masks = _masks_with_both_kinds(sizes[1:-1], p)
    net = ReferenceNetwork(weights, biases, _TEST_SPEC[hidden], output, cost)
    if hidden == "leaky_relu":
        assert _min_abs_weighted_input(net, X) > 1e-4, "draw landed on a kink"
    grad_w, grad_b = net.gradients(X, Y, masks=masks)

    h = 1e-6
    params = [w.copy() for w in weights] + [b.copy() for b in biases]
    L = len(weights)
    for i, (P, G) in enumerate(zip(params, grad_w + grad_b)):
        fd = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            saved = P[idx]
            P[idx] = saved + h
            plus = _masked_cost(params[:L], params[L:], hidden, output, cost, masks, X, Y)
            P[idx] = saved - h
            minus = _masked_cost(params[:L], params[L:], hidden, output, cost, masks, X, Y)
            P[idx] = saved
            fd[idx] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-9,
                                   err_msg=f"parameter group {i}: backprop vs masked finite diff")

    # Dropped unit j of hidden layer l: row j of dW^l and entry j of db^l are zero (no error
    # reaches it), and column j of dW^{l+1} is zero (the next layer sees 0 from it).
    for l, s in enumerate(masks):
        dropped = s == 0
        assert np.all(grad_w[l][dropped] == 0) and np.all(grad_b[l][dropped] == 0)
        assert np.all(grad_w[l + 1][:, dropped] == 0)
        assert np.all(np.abs(grad_w[l][~dropped]).max(axis=1) > 0)
    # The mask changes the gradient (the test would notice a mask being ignored).
    plain_w, _ = net.gradients(X, Y)
    assert max(np.abs(a - b).max() for a, b in zip(plain_w, grad_w)) > 1e-3


def test_all_ones_mask_is_no_dropout_and_evaluation_ignores_training_masks():
    rng = np.random.default_rng(4)
    weights, biases = _random_params([3, 5, 4, 2], rng)
    X = rng.normal(size=(6, 3))
    Y = rng.integers(0, 2, size=(6, 2)).astype(float)
    net = ReferenceNetwork(weights, biases, "tanh")
    ones = dropout_masks(0, 0, 0, 1, [5, 4], 0.0)
    for a, b in zip(sum(net.gradients(X, Y), []), sum(net.gradients(X, Y, masks=ones), [])):
        np.testing.assert_array_equal(a, b)
    # Training with p = 0 is training without dropout.
    with_p0 = ReferenceNetwork(weights, biases, "tanh")
    with_p0.train_epoch(X, Y, np.arange(6), 2, 0.5, dropout=0.0, seed=3)
    without = ReferenceNetwork(weights, biases, "tanh")
    without.train_epoch(X, Y, np.arange(6), 2, 0.5)
    for a, b in zip(with_p0.weights + with_p0.biases, without.weights + without.biases):
        np.testing.assert_array_equal(a, b)


def test_update_mini_batch_with_masks_is_sgd_on_the_masked_gradient():
    rng = np.random.default_rng(6)
    weights, biases = _random_params([3, 6, 2], rng)
    X = rng.normal(size=(4, 3))
    Y = rng.integers(0, 2, size=(4, 2)).astype(float)
    masks = _masks_with_both_kinds([6], 0.5)
    net = ReferenceNetwork(weights, biases)
    grad_w, grad_b = net.gradients(X, Y, masks=masks)
    net.update_mini_batch(X, Y, 0.7, 1.0, 10, dropout=0.5, masks=masks)
    for l in range(2):
        np.testing.assert_allclose(net.weights[l],
                                   (1 - 0.7 * 1.0 / 10) * weights[l] - 0.7 * grad_w[l],
                                   rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(net.biases[l].ravel(), biases[l] - 0.7 * grad_b[l],
                                   rtol=1e-13, atol=1e-15)


def test_train_epoch_dropout_uses_one_mask_per_mini_batch():
    rng = np.random.default_rng(9)
    sizes = [3, 5, 4, 2]
    weights, biases = _random_params(sizes, rng)
    X = rng.normal(size=(11, 3))
    Y = rng.integers(0, 2, size=(11, 2)).astype(float)
    order = rng.permutation(11)
    opt_a, opt_b = ReferenceOptimizer("momentum"), ReferenceOptimizer("momentum")

    by_epoch = ReferenceNetwork(weights, biases, "relu")
    by_epoch.train_epoch(X, Y, order, 4, 0.3, lmbda=1.0, optimizer=opt_a,
                         dropout=[0.5, 0.25], seed=77, epoch=2)
    by_hand = ReferenceNetwork(weights, biases, "relu")
    for b, k in enumerate(range(0, 11, 4)):          # n_batches = ceil(11 / 4) = 3
        batch = order[k:k + 4]
        masks = dropout_masks(77, 2, b, 3, [5, 4], [0.5, 0.25])
        by_hand.update_mini_batch(X[batch], Y[batch], 0.3, 1.0, 11, optimizer=opt_b,
                                  masks=masks)
    for a, b in zip(by_epoch.weights + by_epoch.biases, by_hand.weights + by_hand.biases):
        np.testing.assert_array_equal(a, b)

    # Another epoch number gives other masks, hence other parameters.
    other = ReferenceNetwork(weights, biases, "relu")
    other.train_epoch(X, Y, order, 4, 0.3, lmbda=1.0, optimizer=ReferenceOptimizer("momentum"),
                      dropout=[0.5, 0.25], seed=77, epoch=3)
    assert not np.allclose(other.weights[0], by_epoch.weights[0])


def test_dropout_expectation_of_next_weighted_input_is_unmasked():
    # E[W (a * s)] + b = W a + b because E[s_j] = (1 - p) / (1 - p) = 1, so the full
    # network at evaluation time needs no rescaling. Average over many mini-batch masks.
    rng = np.random.default_rng(2)
    weights, biases = _random_params([3, 8, 4], rng)
    x = rng.normal(size=(3, 1))
    net = ReferenceNetwork(weights, biases, "sigmoid")
    zs, activations = net._forward(x)
    a = activations[1]
    p, n_masks = 0.4, 20000
    S = np.stack([dropout_masks(11, 0, b, n_masks, [8], p)[0] for b in range(n_masks)])
    z_masked = (a.ravel() * S) @ net.weights[1].T + net.biases[1].ravel()  # (n_masks, 4)
    mean = z_masked.mean(axis=0)
    stderr = z_masked.std(axis=0) / np.sqrt(n_masks)
    assert np.all(np.abs(mean - zs[1].ravel()) < 4 * stderr + 1e-12), (mean, zs[1].ravel())
    # Evaluation paths use no mask.
    np.testing.assert_array_equal(net.feedforward(x), activations[-1])
