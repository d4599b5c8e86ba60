"""The oracle's optimizers (fastnn.reference.ReferenceOptimizer) against torch.optim.

The torch checks feed one sequence of gradients to the reference and to the matching
torch.optim optimizer (float64) and compare the parameters after every step; then a
whole network is trained by the reference's train_epoch and by a small torch model built
from the same weights. The book's L2 term is PyTorch's weight_decay = lmbda / n on the
weight tensors and 0 on the biases; the reference adds it itself (regularized_gradients),
so a slip in its lambda handling shows up as a difference. Checks that need no torch
(hand-computed steps, bad arguments) come first and always run.
"""

import numpy as np
import pytest

from fastnn.reference import (
    ReferenceNetwork,
    ReferenceOptimizer,
    dropout_masks,
    regularized_gradients,
)

RTOL = 1e-10

# (reference name, reference hyperparameters, torch class name, torch keyword arguments)
CONFIGS = {
    "sgd": ("sgd", {}, "SGD", {}),
    "momentum": ("momentum", {"mu": 0.8}, "SGD", {"momentum": 0.8}),
    "nesterov": ("nesterov", {"mu": 0.7}, "SGD", {"momentum": 0.7, "nesterov": True}),
    "adagrad": ("adagrad", {}, "Adagrad", {"eps": 1e-10}),
    "rmsprop": ("rmsprop", {"alpha": 0.9, "eps": 1e-6}, "RMSprop", {"alpha": 0.9, "eps": 1e-6}),
    "adam": ("adam", {"beta1": 0.8, "beta2": 0.95}, "Adam", {"betas": (0.8, 0.95), "eps": 1e-8}),
    # beta2 = 0.9 lets v fall well below its running max within a few steps.
    "adam_amsgrad": ("adam", {"beta2": 0.9, "amsgrad": True}, "Adam",
                     {"betas": (0.9, 0.9), "eps": 1e-8, "amsgrad": True}),
    "adam_amsgrad_default": ("adam", {"amsgrad": True}, "Adam", {"amsgrad": True}),
    # The defaults on both sides (PyTorch's momentum has no default; 0.9 is the seeds').
    "momentum_default": ("momentum", {}, "SGD", {"momentum": 0.9}),
    "rmsprop_default": ("rmsprop", {}, "RMSprop", {}),
    "adam_default": ("adam", {}, "Adam", {}),
}
# The learning rate each rule is run with (large enough that the steps matter).
ETA = {"sgd": 0.3, "momentum": 0.2, "nesterov": 0.2, "adagrad": 0.1, "rmsprop": 0.01,
       "adam": 0.05}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")     # float64 throughout: dtypes are explicit


# ---------------------------------------------------------------- without torch

def test_momentum_and_nesterov_two_steps_by_hand():
    g1, g2, eta, mu = np.array([2.0]), np.array([-1.0]), 0.5, 0.9
    theta = [np.array([1.0])]
    opt = ReferenceOptimizer("momentum", mu=mu)
    opt.step(theta, [g1], eta)              # v = -1.0, theta = 0.0
    assert theta[0][0] == pytest.approx(0.0, abs=1e-15)
    opt.step(theta, [g2], eta)              # v = 0.9 * -1 + 0.5 = -0.4, theta = -0.4
    assert theta[0][0] == pytest.approx(-0.4, abs=1e-15)
    np.testing.assert_allclose(opt.state["v"][0], [-0.4], atol=1e-15)

    theta = [np.array([1.0])]
    opt = ReferenceOptimizer("nesterov", mu=mu)
    opt.step(theta, [g1], eta)              # v = -1, theta = 1 + 0.9 * -1 - 1 = -0.9
    assert theta[0][0] == pytest.approx(-0.9, abs=1e-15)
    opt.step(theta, [g2], eta)              # v = -0.4, theta = -0.9 - 0.36 + 0.5 = -0.76
    assert theta[0][0] == pytest.approx(-0.76, abs=1e-15)


def test_adaptive_rules_first_steps_by_hand():
    g = np.array([0.5, -2.0, 0.0])
    # adagrad: G = g^2, step = eta g / (|g| + eps) = eta sgn(g) (0 where g = 0).
    theta = [np.zeros(3)]
    ReferenceOptimizer("adagrad").step(theta, [g], 0.1)
    np.testing.assert_allclose(theta[0], [-0.1, 0.1, 0.0], rtol=1e-9)
    # rmsprop: v = (1 - alpha) g^2, step = eta g / (sqrt(1 - alpha) |g| + eps).
    theta = [np.zeros(3)]
    ReferenceOptimizer("rmsprop", alpha=0.75, eps=1e-8).step(theta, [g], 0.1)
    np.testing.assert_allclose(theta[0], [-0.1 * 0.5 / (0.5 * 0.5 + 1e-8),
                                          0.1 * 2.0 / (0.5 * 2.0 + 1e-8), 0.0], rtol=1e-14)
    # adam, t = 1: m_hat = g, v / (1 - beta2) = g^2, step = eta g / (|g| + eps).
    theta = [np.zeros(3)]
    opt = ReferenceOptimizer("adam")
    opt.step(theta, [g], 0.1)
    np.testing.assert_allclose(theta[0], [-0.1 * 0.5 / (0.5 + 1e-8),
                                          0.1 * 2.0 / (2.0 + 1e-8), 0.0], rtol=1e-12)
    assert opt.t == 1


def test_amsgrad_keeps_the_running_max_of_raw_v():
    # Gradient 1 then 0: v = 0.001 then 0.000999; v_max stays 0.001.
    opt = ReferenceOptimizer("adam", amsgrad=True)
    theta = [np.zeros(1)]
    opt.step(theta, [np.ones(1)], 0.1)
    opt.step(theta, [np.zeros(1)], 0.1)
    assert opt.state["v"][0][0] == pytest.approx(0.001 * 0.999, rel=1e-14)
    assert opt.state["v_max"][0][0] == pytest.approx(0.001, rel=1e-14)
    # Step 2: m = 0.09, m_hat = 0.09 / 0.19; denominator sqrt(0.001 / (1 - 0.999^2)) + eps.
    step1 = 0.1 * 1.0 / (np.sqrt(0.001 / 0.001) + 1e-8)
    step2 = 0.1 * (0.09 / 0.19) / (np.sqrt(0.001 / (1 - 0.999 ** 2)) + 1e-8)
    assert theta[0][0] == pytest.approx(-step1 - step2, rel=1e-12)


def test_regularized_gradients_formula():
    W = np.array([[1.0, -2.0, 0.0]])
    b = np.array([[3.0]])
    gw, gb = np.array([[0.1, 0.2, 0.3]]), np.array([0.5])
    got = regularized_gradients([W], [b], [gw], [gb], n=4, lmbda=2.0, l1=0.8)
    np.testing.assert_allclose(got[0], [[0.1 + 0.5 + 0.2, 0.2 - 1.0 - 0.2, 0.3]], rtol=1e-15)
    np.testing.assert_array_equal(got[1], [[0.5]])          # biases not regularized
    assert got[1].shape == (1, 1)


@pytest.mark.parametrize("args,kwargs,words", [
    (("lbfgs",), {}, ["optimizer", "lbfgs"]),
    ((None,), {}, ["optimizer"]),
    (("sgd",), {"mu": 0.9}, ["sgd", "mu"]),
    (("adam",), {"betas": (0.9, 0.99)}, ["adam", "betas"]),
    (("momentum",), {"mu": 1.0}, ["mu"]),
    (("nesterov",), {"mu": -0.1}, ["mu"]),
    (("adagrad",), {"eps": 0.0}, ["eps"]),
    (("rmsprop",), {"alpha": 1.5}, ["alpha"]),
    (("rmsprop",), {"eps": float("nan")}, ["eps"]),
    (("adam",), {"beta1": 1.0}, ["beta1"]),
    (("adam",), {"beta2": -0.5}, ["beta2"]),
    (("adam",), {"amsgrad": "yes"}, ["amsgrad"]),
    (("adam",), {"eps": "1e-8"}, ["eps"]),
])
def test_bad_optimizer_arguments_raise(args, kwargs, words):
    with pytest.raises(ValueError) as info:
        ReferenceOptimizer(*args, **kwargs)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_step_checks_its_inputs():
    opt = ReferenceOptimizer("adam")
    opt.step([np.zeros((2, 3))], [np.ones((2, 3))], 0.1)
    with pytest.raises(ValueError, match="grads"):
        opt.step([np.zeros((2, 3))], [np.ones((3, 2))], 0.1)
    with pytest.raises(ValueError, match="state"):
        opt.step([np.zeros((2, 2))], [np.ones((2, 2))], 0.1)
    with pytest.raises(ValueError, match="eta"):
        opt.step([np.zeros((2, 3))], [np.ones((2, 3))], float("inf"))
    with pytest.raises(ValueError, match="float64"):
        ReferenceOptimizer("sgd").step([np.zeros(2, dtype=np.float32)], [np.ones(2)], 0.1)


# ---------------------------------------------------------------- against torch.optim

def _torch_optimizer(torch, cls_name, kwargs, weights, biases, eta, wd):
    cls = getattr(torch.optim, cls_name)
    groups = [{"params": weights, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}]
    return cls(groups, lr=eta, **kwargs)


@pytest.mark.parametrize("lmbda,l1", [(0.0, 0.0), (3.0, 0.0), (3.0, 1.5)], ids=str)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_step_matches_torch_optim(torch, config, lmbda, l1):
    name, hyper, cls_name, torch_kwargs = CONFIGS[config]
    eta, n, steps = ETA[name], 10, 6
    rng = np.random.default_rng(list(CONFIGS).index(config))
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    weights[0][1, 2] = 0.0                      # an exact zero: sgn(0) = 0 on both sides
    biases = [rng.normal(size=(3, 1)), rng.normal(size=(2, 1))]
    # Shrinking gradients make v fall below its running max, so amsgrad matters.
    raw = [[rng.normal(size=p.shape) * 3.0 ** -k for p in weights + biases]
           for k in range(steps)]

    ref_params = [p.copy() for p in weights + biases]
    opt = ReferenceOptimizer(name, **hyper)
    t_weights = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
    t_biases = [torch.nn.Parameter(torch.tensor(b)) for b in biases]
    t_opt = _torch_optimizer(torch, cls_name, torch_kwargs, t_weights, t_biases, eta, lmbda / n)

    for k in range(steps):
        grads = regularized_gradients(ref_params[:2], ref_params[2:], raw[k][:2], raw[k][2:],
                                      n, lmbda, l1)
        opt.step(ref_params, grads, eta)
        with torch.no_grad():
            for i, p in enumerate(t_weights + t_biases):
                g = torch.tensor(raw[k][i])
                if l1 and i < 2:                 # L1 is not in torch: add (l1/n) sgn(W) here
                    g = g + (l1 / n) * torch.sign(p)
                p.grad = g
        t_opt.step()
        for i, (mine, theirs) in enumerate(zip(ref_params, t_weights + t_biases)):
            np.testing.assert_allclose(
                mine, theirs.detach().numpy(), rtol=RTOL, atol=1e-14,
                err_msg=f"{config}: reference (ACTUAL) vs torch (DESIRED), step {k + 1}, "
                        f"param {i}")
    assert opt.t == steps
    # The parameters moved well beyond the tolerance.
    assert max(np.abs(a - b).max() for a, b in zip(ref_params, weights + biases)) > 1e-2


def test_amsgrad_trajectory_differs_from_adam():
    # Sanity check of the comparison above: with shrinking gradients amsgrad is not adam.
    outs = []
    for amsgrad in (False, True):
        theta = [np.zeros(5)]
        opt = ReferenceOptimizer("adam", beta2=0.9, amsgrad=amsgrad)
        for k in range(6):
            opt.step(theta, [np.random.default_rng(k).normal(size=5) * 3.0 ** -k], 0.05)
        outs.append(theta[0])
    assert np.abs(outs[0] - outs[1]).max() > 1e-3


# ---------------------------------------------------------------- whole network

def _torch_epoch(torch, layers, t_opt, X, Y, order, mbs, n, l1, dropout, seed, epoch):
    """One epoch of the torch twin: sigmoid layers, per-sample summed BCE averaged over the
    mini-batch, + (l1/n) sum |W|, the reference's dropout masks on the hidden layers."""
    n_batches = -(-len(order) // mbs)
    hidden_sizes = [layer.out_features for layer in layers[:-1]]
    for b, k in enumerate(range(0, len(order), mbs)):
        batch = order[k:k + mbs]
        xb, yb = torch.tensor(X[batch]), torch.tensor(Y[batch])
        masks = (dropout_masks(seed, epoch, b, n_batches, hidden_sizes, dropout)
                 if dropout is not None else None)
        a = xb
        for l, layer in enumerate(layers):
            z = layer(a)
            if l < len(layers) - 1:
                a = torch.sigmoid(z)
                if masks is not None:
                    a = a * torch.tensor(masks[l])
        bce = torch.nn.functional.binary_cross_entropy_with_logits(z, yb, reduction="sum")
        loss = bce / len(batch)
        if l1:
            loss = loss + (l1 / n) * sum(layer.weight.abs().sum() for layer in layers)
        t_opt.zero_grad()
        loss.backward()
        t_opt.step()


WHOLE = [
    # (id, reference optimizer or None for the book's rule, eta, lmbda, l1, dropout)
    ("book", None, 0.5, 2.0, 0.0, None),
    ("sgd", "sgd", 0.5, 2.0, 0.0, None),
    ("momentum", "momentum", 0.3, 2.0, 0.0, None),
    ("nesterov", "nesterov", 0.3, 2.0, 0.0, None),
    ("adagrad", "adagrad", 0.1, 2.0, 0.0, None),
    ("rmsprop", "rmsprop", 0.01, 2.0, 0.0, None),
    ("adam", "adam", 0.05, 2.0, 0.0, None),
    ("adam_amsgrad", "adam_amsgrad", 0.05, 2.0, 0.0, None),
    ("adam_l1_dropout", "adam", 0.05, 2.0, 0.7, [0.3, 0.5]),
    ("momentum_dropout", "momentum", 0.3, 1.0, 0.0, 0.5),
    ("book_l1_dropout", None, 0.5, 1.0, 0.4, 0.25),
]


@pytest.mark.parametrize("case", WHOLE, ids=[c[0] for c in WHOLE])
def test_train_epoch_matches_torch_model(torch, case):
    _, config, eta, lmbda, l1, dropout = case
    sizes, n, mbs, epochs, seed = [4, 6, 5, 3], 13, 4, 3, 123
    rng = np.random.default_rng(31)
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    X = rng.normal(size=(n, sizes[0]))
    Y = rng.integers(0, 2, size=(n, sizes[-1])).astype(np.float64)

    ref = ReferenceNetwork(weights, biases, "sigmoid", "sigmoid", "cross_entropy")
    layers = []
    for w, b in zip(weights, biases):
        layer = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
        layers.append(layer)
    t_weights = [layer.weight for layer in layers]
    t_biases = [layer.bias for layer in layers]
    if config is None:      # the book's rule is SGD with weight decay
        opt, cls_name, torch_kwargs = None, "SGD", {}
    else:
        name, hyper, cls_name, torch_kwargs = CONFIGS[config]
        opt = ReferenceOptimizer(name, **hyper)
    t_opt = _torch_optimizer(torch, cls_name, torch_kwargs, t_weights, t_biases, eta, lmbda / n)

    for epoch in range(epochs):
        order = rng.permutation(n)
        ref.train_epoch(X, Y, order, mbs, eta, lmbda=lmbda, l1=l1, optimizer=opt,
                        dropout=dropout, seed=seed, epoch=epoch)
        _torch_epoch(torch, layers, t_opt, X, Y, order, mbs, n, l1, dropout, seed, epoch)
        for l, layer in enumerate(layers):
            np.testing.assert_allclose(
                ref.weights[l], layer.weight.detach().numpy(), rtol=1e-9, atol=1e-12,
                err_msg=f"{case[0]}: weights[{l}] reference vs torch after epoch {epoch}")
            np.testing.assert_allclose(
                ref.biases[l].ravel(), layer.bias.detach().numpy(), rtol=1e-9, atol=1e-12,
                err_msg=f"{case[0]}: biases[{l}] reference vs torch after epoch {epoch}")
    assert max(np.abs(ref.weights[l] - weights[l]).max() for l in range(3)) > 1e-2
