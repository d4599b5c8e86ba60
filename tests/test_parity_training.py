"""Engine against the naive reference for the chapter-3 techniques: the new activations,
L1, dropout (same masks from the same hash), and every optimizer over whole epochs."""
import itertools

import numpy as np
import pytest
from _oracle import reference_of, rel_err, targets

import fastnn
from fastnn._fit import check_dropout
from fastnn.reference import ReferenceOptimizer, dropout_masks

NEW_HIDDEN = ["leaky_relu", ("leaky_relu", 0.2), "elu", ("elu", 0.5), "swish", ("swish", 1.7)]
PAIRS = [("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("identity", "quadratic"),
         ("softmax", "quadratic"), (("elu", 0.7), "quadratic"), (("swish", 1.2), "quadratic"),
         (("leaky_relu", 0.05), "quadratic"), ("exp", "poisson"), ("exp", "quadratic")]


@pytest.mark.parametrize("hidden, pair", list(itertools.product(NEW_HIDDEN, PAIRS)),
                         ids=str)
@pytest.mark.parametrize("sizes", [[6, 9, 5], [7, 8, 6, 3]], ids=str)
def test_new_activation_gradients_match_reference(hidden, pair, sizes):
    out, cost = pair
    rng = np.random.default_rng(len(str(hidden)) + len(sizes))
    net = fastnn.Network(sizes, hidden, out, cost, dtype="float64", seed=3)
    ref = reference_of(net)
    X = rng.standard_normal((7, sizes[0]))
    Y = targets(rng, 7, sizes[-1], cost)
    gw, gb = net.gradients(X, Y)
    rw, rb = ref.gradients(X, Y)
    for l, (a, b) in enumerate(zip(gw + gb, rw + rb)):
        assert rel_err(a, b) < 1e-9, f"layer {l % len(gw)}: engine vs reference {rel_err(a, b)}"


@pytest.mark.parametrize("hidden", NEW_HIDDEN, ids=str)
def test_new_activation_epoch_matches_reference(hidden):
    rng = np.random.default_rng(0)
    net = fastnn.Network([8, 7, 6, 4], hidden, "softmax", "log_likelihood", dtype="float64",
                         seed=5)
    ref = reference_of(net)
    X = rng.standard_normal((23, 8))
    Y = targets(rng, 23, 4, "log_likelihood")
    order = rng.permutation(23)
    net.train_epoch(X, Y, order, 5, 0.3, lmbda=1.5)
    ref.train_epoch(X, Y, order, 5, 0.3, lmbda=1.5)
    for a, b in zip(net.weights + net.biases, ref.weights + [b.ravel() for b in ref.biases]):
        assert rel_err(a, b) < 1e-9


def test_dropout_masks_match_the_reference_hash():
    net = fastnn.Network([5, 13, 7, 3], dtype="float64")
    drop = check_dropout([0.25, 0.5], 2)
    for seed, epoch, batch in [(0, 0, 0), (123456789, 3, 17), (2 ** 62 + 5, 40, 999)]:
        mine = net._engine.dropout_mask(seed, epoch, batch, 1000, drop)
        theirs = dropout_masks(seed, epoch, batch, 1000, [13, 7], [0.25, 0.5])
        np.testing.assert_array_equal(mine, np.concatenate(theirs),
                                      err_msg=f"masks for seed {seed} epoch {epoch} batch {batch}")


OPTIMIZER_CASES = [
    ("sgd", fastnn.optim.SGD(), {}),
    ("momentum", fastnn.optim.Momentum(mu=0.85), {"mu": 0.85}),
    ("nesterov", fastnn.optim.Nesterov(mu=0.6), {"mu": 0.6}),
    ("adagrad", fastnn.optim.AdaGrad(eps=1e-10), {"eps": 1e-10}),
    ("rmsprop", fastnn.optim.RMSProp(alpha=0.95, eps=1e-8), {"alpha": 0.95, "eps": 1e-8}),
    ("adam", fastnn.optim.Adam(beta1=0.85, beta2=0.995), {"beta1": 0.85, "beta2": 0.995}),
    ("adam", fastnn.optim.Adam(amsgrad=True), {"amsgrad": True}),
]


@pytest.mark.parametrize("name, ours, hyper", OPTIMIZER_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("l1, dropout", [(0.0, None), (2.0, None), (0.5, [0.3, 0.5])],
                         ids=["plain", "l1", "l1+dropout"])
def test_epochs_with_optimizers_l1_and_dropout_match_reference(name, ours, hyper, l1, dropout):
    """Three epochs with one optimizer state carried across them, λ > 0, and optionally L1
    and dropout: the engine's parameters equal the reference's to 1e-9 (float64)."""
    rng = np.random.default_rng(7)
    net = fastnn.Network([9, 8, 6, 4], "tanh", "sigmoid", "cross_entropy", dtype="float64",
                         seed=2)
    ref = reference_of(net)
    ref_opt = ReferenceOptimizer(name, **hyper)
    X = rng.standard_normal((31, 9))
    Y = targets(rng, 31, 4, "cross_entropy")
    state = None
    eta = 0.01 if name in ("adam", "rmsprop", "adagrad") else 0.2
    for epoch in range(3):
        order = rng.permutation(31)
        state = net.train_epoch(X, Y, order, 6, eta, lmbda=0.7, l1=l1, optimizer=ours,
                                dropout=dropout, dropout_seed=99, epoch=epoch, state=state)
        ref.train_epoch(X, Y, order, 6, eta, lmbda=0.7, l1=l1, optimizer=ref_opt,
                        dropout=dropout, seed=99, epoch=epoch)
        for l, (a, b) in enumerate(zip(net.weights + net.biases,
                                       ref.weights + [b.ravel() for b in ref.biases])):
            assert rel_err(a, b) < 1e-9, (f"{name} epoch {epoch} parameter block {l}: "
                                          f"relative error {rel_err(a, b):.3g}")


def test_float32_epoch_with_adam_and_dropout_tracks_reference():
    rng = np.random.default_rng(8)
    net32 = fastnn.Network([9, 8, 4], "relu", "softmax", "log_likelihood", dtype="float32",
                           seed=1)
    ref = reference_of(net32)
    X = rng.standard_normal((40, 9))
    Y = targets(rng, 40, 4, "log_likelihood")
    order = rng.permutation(40)
    net32.train_epoch(X, Y, order, 8, 0.01, lmbda=0.5, optimizer=fastnn.optim.Adam(),
                      dropout=0.25, dropout_seed=4)
    ref.train_epoch(X, Y, order, 8, 0.01, lmbda=0.5, optimizer=ReferenceOptimizer("adam"),
                    dropout=0.25, seed=4)
    for a, b in zip(net32.weights + net32.biases, ref.weights + [b.ravel() for b in ref.biases]):
        np.testing.assert_allclose(a, b, atol=2e-5 * np.abs(b).max(), rtol=0)


@pytest.mark.parametrize("hidden", [("leaky_relu", 0.2), ("elu", 0.5), ("swish", 1.7)], ids=str)
def test_new_activation_gradients_agree_with_central_differences(hidden):
    """The engine's own cost, differentiated numerically, against its gradients."""
    rng = np.random.default_rng(3)
    net = fastnn.Network([4, 5, 3], hidden, "softmax", "log_likelihood", dtype="float64",
                         seed=6)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    gw, gb = net.gradients(X, y)
    analytic = np.concatenate([g.ravel() for g in gw] + [g.ravel() for g in gb])
    numeric = np.empty_like(analytic)
    h = 1e-6
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        up = net.evaluate(X, y)["cost"]
        net.params[i] = saved - h
        down = net.evaluate(X, y)["cost"]
        net.params[i] = saved
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8,
                               err_msg=f"{hidden}: gradients vs central differences")
