"""Training techniques in the engine: optimizers (against torch.optim), L1, dropout,
initializers, schedules, early stopping, augmentation, and the drop-in's extras."""
import os
import random

import numpy as np
import pytest

import fastnn
from fastnn import network2, optim, schedules
from fastnn._fit import check_dropout
from fastnn.augment import Augmenter
from fastnn.optim import OptimizerState

SAMPLE = os.path.join(os.path.dirname(fastnn.__file__), "sample_data")


@pytest.fixture(scope="module")
def sample():
    from fastnn.data import load_dataset
    d = load_dataset(SAMPLE)
    return d.train, d.validation


# -- optimizers against torch.optim ----------------------------------------------------------
OPTIMIZERS = [
    (optim.SGD(), lambda t, groups: t.optim.SGD(groups, lr=0.05)),
    (optim.Momentum(mu=0.8), lambda t, groups: t.optim.SGD(groups, lr=0.05, momentum=0.8)),
    (optim.Nesterov(mu=0.7),
     lambda t, groups: t.optim.SGD(groups, lr=0.05, momentum=0.7, nesterov=True)),
    (optim.AdaGrad(), lambda t, groups: t.optim.Adagrad(groups, lr=0.05, eps=1e-10)),
    (optim.RMSProp(alpha=0.9, eps=1e-8),
     lambda t, groups: t.optim.RMSprop(groups, lr=0.05, alpha=0.9, eps=1e-8)),
    (optim.Adam(beta1=0.8, beta2=0.99),
     lambda t, groups: t.optim.Adam(groups, lr=0.05, betas=(0.8, 0.99), eps=1e-8)),
    (optim.Adam(amsgrad=True),
     lambda t, groups: t.optim.Adam(groups, lr=0.05, eps=1e-8, amsgrad=True)),
]


@pytest.mark.parametrize("ours, theirs", OPTIMIZERS, ids=lambda o: getattr(o, "__name__", repr(o)))
def test_optimizer_trajectories_match_torch(ours, theirs):
    """Same gradients, same steps: the engine's fused kernel against torch.optim in float64,
    with the book's L2 as PyTorch weight decay λ/n on the weights only."""
    torch = pytest.importorskip("torch")
    net = fastnn.Network([5, 4, 3], dtype="float64", seed=1)
    engine = net._engine
    params = net.params.copy()
    weight_decay = 0.3
    tensors = [torch.tensor(w.copy(), requires_grad=True) for w in engine.weights(params)] + \
        [torch.tensor(b.copy(), requires_grad=True) for b in engine.biases(params)]
    n_layers = len(net.sizes) - 1
    opt = theirs(torch, [{"params": tensors[:n_layers], "weight_decay": weight_decay},
                         {"params": tensors[n_layers:], "weight_decay": 0.0}])
    state = OptimizerState(ours, engine.n_params, np.float64)
    rng = np.random.default_rng(5)
    for step in range(8):
        grad = rng.standard_normal(engine.n_params)
        for t, g in zip(tensors, engine.weights(grad) + engine.biases(grad)):
            t.grad = torch.tensor(g.copy())
        opt.step()
        engine.optimizer_step(params, grad, state, eta=0.05, lmbda_over_n=weight_decay)
        want = np.concatenate([t.detach().numpy().ravel() for t in tensors])
        np.testing.assert_allclose(params, want, rtol=1e-10, atol=1e-13,
                                   err_msg=f"{ours!r} vs torch at step {step + 1}")
    assert int(state.step[0]) == 8


def test_l1_step_follows_the_formula_and_leaves_zero_weights_alone():
    net = fastnn.Network([3, 2], dtype="float64", seed=0)
    engine = net._engine
    params = net.params.copy()
    params[1] = 0.0  # a weight exactly at zero: sgn(0) = 0, no L1 pull
    grad = np.linspace(-1, 1, engine.n_params)
    before = params.copy()
    eta, l1n, l2n = 0.1, 0.4, 0.2
    engine.optimizer_step(params, grad.copy(), OptimizerState(optim.SGD(), engine.n_params,
                                                              np.float64), eta, l2n, l1n)
    w = before[:engine.n_weights]
    expected_w = w - eta * (grad[:engine.n_weights] + l2n * w + l1n * np.sign(w))
    expected_b = before[engine.n_weights:] - eta * grad[engine.n_weights:]
    np.testing.assert_allclose(params, np.concatenate([expected_w, expected_b]), rtol=1e-14)
    assert params[1] == -eta * grad[1]


def test_general_path_with_sgd_equals_the_fused_book_update():
    """The fused kernel (w ← decay·w − (η/m)Σ∇) and the gradient + optimizer-step path agree."""
    rng = np.random.default_rng(3)
    X = rng.random((53, 6))
    y = rng.integers(0, 4, 53)
    fused = fastnn.Network([6, 5, 4], dtype="float64", seed=2)
    general = fastnn.Network([6, 5, 4], dtype="float64", seed=2)
    order = rng.permutation(53)
    fused.train_epoch(X, y, order, 7, 0.4, lmbda=3.0)
    general.train_epoch(X, y, order, 7, 0.4, lmbda=3.0, l1=1e-300)  # forces the general path
    np.testing.assert_allclose(general.params, fused.params, rtol=1e-12, atol=1e-15)


def test_optimizers_learn(sample):
    (X, y), (Xv, yv) = sample
    for name, eta in (("momentum", 0.1), ("nesterov", 0.1), ("adagrad", 0.05),
                      ("rmsprop", 0.002), ("adam", 0.002), ("amsgrad", 0.002)):
        net = fastnn.Network([784, 30, 10], seed=0)
        h = net.fit(X, y, epochs=3, eta=eta, optimizer=name, evaluation_data=(Xv, yv))
        assert h["evaluation_accuracy"][-1] > 0.65, (name, h["evaluation_accuracy"])


def test_bad_optimizer_arguments():
    net = fastnn.Network([4, 2])
    X, y = np.zeros((3, 4)), np.array([0, 1, 0])
    with pytest.raises(ValueError, match="optimizer='adamw' is not known"):
        net.fit(X, y, optimizer="adamw")
    with pytest.raises(ValueError, match="mu=1.5 is invalid"):
        optim.Momentum(mu=1.5)
    with pytest.raises(ValueError, match="eps=0 is invalid"):
        optim.Adam(eps=0)
    with pytest.raises(ValueError, match="l1=-1 is invalid"):
        net.fit(X, y, l1=-1)


# -- dropout ------------------------------------------------------------------------------------
def test_dropout_masks_are_deterministic_and_keep_one_minus_p():
    net = fastnn.Network([20, 400, 300, 5], dtype="float64")
    engine = net._engine
    drop = check_dropout([0.3, 0.6], 2)
    a = engine.dropout_mask(7, 2, 5, 100, drop)
    np.testing.assert_array_equal(a, engine.dropout_mask(7, 2, 5, 100, drop))
    assert not np.array_equal(a, engine.dropout_mask(7, 2, 6, 100, drop))
    assert not np.array_equal(a, engine.dropout_mask(8, 2, 5, 100, drop))
    first, second = a[:400], a[400:]
    assert set(np.unique(first)) <= {0.0, 1 / 0.7} and set(np.unique(second)) <= {0.0, 1 / 0.4}
    many = np.concatenate([engine.dropout_mask(1, 0, b, 200, drop)[:400] for b in range(200)])
    assert abs(np.mean(many > 0) - 0.7) < 0.005


def test_dropout_evaluation_has_the_training_expectation():
    """Inverted dropout: averaged over masks, the next layer's weighted input equals the
    full network's, so evaluation needs no compensation."""
    rng = np.random.default_rng(0)
    net = fastnn.Network([6, 50, 3], "sigmoid", "identity", "quadratic", dtype="float64", seed=4)
    x = rng.random(6)
    W1, W2 = net.weights
    b1, b2 = net.biases
    a1 = 1 / (1 + np.exp(-(W1 @ x + b1)))
    full = W2 @ a1 + b2
    drop = check_dropout(0.4, 1)
    masked = np.mean([W2 @ (a1 * net._engine.dropout_mask(9, 0, b, 4000, drop)) + b2
                      for b in range(4000)], axis=0)
    np.testing.assert_allclose(masked, full, atol=0.08 * np.abs(full).max())
    np.testing.assert_allclose(net.feedforward(x[None])[0], full, rtol=1e-12)


def test_dropout_training_is_deterministic_given_the_seed(sample):
    (X, y), _ = sample
    runs = []
    for _ in range(2):
        net = fastnn.Network([784, 20, 10], seed=11)
        net.fit(X[:500], y[:500], epochs=2, dropout=0.5)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = fastnn.Network([784, 20, 10], seed=11)
    other.fit(X[:500], y[:500], epochs=2)
    assert not np.array_equal(other.params, runs[0])


def test_dropout_gradient_zeroes_dropped_units():
    rng = np.random.default_rng(1)
    net = fastnn.Network([5, 6, 3], dtype="float64", seed=0)
    mask = np.array([0, 2, 2, 0, 2, 2], dtype=float)
    gw, gb = net.gradients(rng.random((4, 5)), rng.integers(0, 3, 4), dropout_mask=[mask])
    assert np.all(gw[0][mask == 0] == 0) and np.all(gb[0][mask == 0] == 0)
    assert np.all(gw[1][:, mask == 0] == 0)
    assert np.all(gw[0][mask > 0] != 0)


# -- initializers -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, std", [("default", lambda i, o: 1 / np.sqrt(i)),
                                       ("large", lambda i, o: 1.0),
                                       ("glorot", lambda i, o: np.sqrt(2 / (i + o))),
                                       ("he", lambda i, o: np.sqrt(2 / i))])
def test_initializers_draw_the_stated_spread(name, std):
    net = fastnn.Network([400, 300, 10], dtype="float64", seed=0, initializer=name)
    w = net.weights[0]
    assert abs(w.std() / std(400, 300) - 1) < 0.02 and abs(w.mean()) < 0.01 * std(400, 300)
    if name in ("glorot", "he"):
        assert np.all(net.biases[0] == 0)
    else:
        assert abs(net.biases[0].std() - 1) < 0.15
    assert net.initializers == (name, name)


def test_per_layer_initializers_are_visible():
    net = fastnn.Network([10, 8, 4], seed=0, initializer=["he", "glorot"])
    assert net.initializers == ("he", "glorot")
    with pytest.raises(ValueError, match="initializer=\\['he'\\] is invalid"):
        fastnn.Network([10, 8, 4], initializer=["he"])


# -- schedules and early stopping --------------------------------------------------------------
def test_halve_on_plateau_follows_the_seeds_recipe():
    s = schedules.HalveOnPlateau(patience=2)
    s.start(1.0)
    accuracies = [0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7]
    etas = [s.after_epoch(i, {"evaluation_accuracy": accuracies[:i + 1]})
            for i in range(len(accuracies))]
    assert etas == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    s = schedules.HalveOnPlateau(patience=1)
    s.start(0.8)
    history = {"evaluation_accuracy": [0.5]}
    etas = [s.after_epoch(0, history)]
    for i in range(1, 20):
        history["evaluation_accuracy"].append(0.5)
        etas.append(s.after_epoch(i, history))
        if etas[-1] is None:
            break
    assert etas[-2] == pytest.approx(0.8 / 512) and etas[-1] is None and len(etas) == 11


def test_step_and_exponential_decay():
    s = schedules.StepDecay(step_size=2, gamma=0.1)
    s.start(1.0)
    assert [s.after_epoch(e, {}) for e in range(5)] == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])
    s = schedules.ExponentialDecay(0.5)
    s.start(2.0)
    assert [s.after_epoch(e, {}) for e in range(3)] == pytest.approx([1.0, 0.5, 0.25])
    with pytest.raises(ValueError, match="gamma=0 is invalid"):
        schedules.ExponentialDecay(0)
    with pytest.raises(ValueError, match="factor=1 is invalid"):
        schedules.HalveOnPlateau(factor=1)


def test_fit_with_halving_schedule_records_eta_and_stops(sample):
    (X, y), (Xv, yv) = sample
    net = fastnn.Network([784, 10, 10], seed=0)
    h = net.fit(X[:200], y[:200], epochs=100, eta=1e-9, evaluation_data=(Xv[:50], yv[:50]),
                schedule=schedules.HalveOnPlateau(patience=1))
    etas = h["eta"]
    assert etas[0] == 1e-9 and all(b in (a, a / 2) for a, b in zip(etas, etas[1:]))
    assert h["stopped"].startswith("schedule") and len(etas) < 100
    assert etas[-1] == pytest.approx(1e-9 / 512)


def test_early_stopping_and_restore_best(sample):
    (X, y), (Xv, yv) = sample
    snapshots = []
    net = fastnn.Network([784, 10, 10], seed=0)
    h = net.fit(X[:300], y[:300], epochs=40, eta=3.0, evaluation_data=(Xv[:100], yv[:100]),
                early_stopping=3, restore_best=True,
                callback=lambda e, hist: snapshots.append(net.params.copy()))
    acc = h["evaluation_accuracy"]
    best = int(np.argmax(acc))
    assert h["best_epoch"] == best
    assert h["stopped"].startswith("early stopping") and len(acc) == best + 4
    assert max(acc[best + 1:]) <= acc[best]
    np.testing.assert_array_equal(net.params, snapshots[best])
    with pytest.raises(ValueError, match="early_stopping needs evaluation_data"):
        net.fit(X[:10], y[:10], early_stopping=2)


# -- augmentation in fit -------------------------------------------------------------------------
def test_fit_trains_on_each_epochs_augmented_inputs(sample):
    (X, y), (Xv, yv) = sample
    seen = []
    augmenter = Augmenter(rotation=10, translation=2, seed=3)

    def augment(X_in, epoch):
        seen.append((epoch, X_in.shape))
        return augmenter(X_in, epoch)

    net = fastnn.Network([784, 20, 10], seed=0)
    h = net.fit(X[:400], y[:400], epochs=3, augment=augment, evaluation_data=(Xv, yv))
    assert seen == [(0, (400, 784)), (1, (400, 784)), (2, (400, 784))]
    plain = fastnn.Network([784, 20, 10], seed=0)
    plain.fit(X[:400], y[:400], epochs=3)
    assert not np.allclose(plain.params, net.params)
    assert h["evaluation_accuracy"][-1] > 0.4
    with pytest.raises(ValueError, match="augment returned shape"):
        net.fit(X[:10], y[:10], augment=lambda X_in, e: X_in[:5])


# -- the drop-in's extra keyword arguments -----------------------------------------------------
@pytest.fixture(scope="module")
def book_data():
    from fastnn import mnist_loader
    training, validation, _ = mnist_loader.load_data_wrapper(SAMPLE)
    return training[:300], validation[:100]


def test_network2_early_stopping_and_restore_best(book_data, capsys):
    training, validation = book_data
    np.random.seed(0)
    random.seed(0)
    net = network2.Network([784, 10, 10])
    _, acc, _, _ = net.SGD(training, 60, 10, 4.0, evaluation_data=validation,
                           monitor_evaluation_accuracy=True, early_stopping_n=3,
                           restore_best=True)
    out = capsys.readouterr().out
    assert "Early stopping: no better accuracy in the last 3 epochs" in out
    best = int(np.argmax(acc))
    assert len(acc) == best + 4
    assert net.accuracy(validation) == acc[best]


def test_network2_schedule_and_optimizer(book_data, capsys):
    training, validation = book_data
    np.random.seed(1)
    random.seed(1)
    net = network2.Network([784, 10, 10])
    net.SGD(training, 100, 10, 1e-9, evaluation_data=validation,
            monitor_evaluation_accuracy=True, schedule=schedules.HalveOnPlateau(patience=1))
    assert "Schedule: the learning rate fell to its minimum" in capsys.readouterr().out
    np.random.seed(2)
    random.seed(2)
    plain = network2.Network([784, 10, 10])
    plain.SGD(training, 2, 10, 0.5)
    np.random.seed(2)
    random.seed(2)
    momentum = network2.Network([784, 10, 10])
    momentum.SGD(training, 2, 10, 0.5, optimizer="momentum", dropout=0.2, l1=0.1)
    capsys.readouterr()
    assert not np.allclose(plain.weights[0], momentum.weights[0])
    with pytest.raises(ValueError, match="early_stopping_n watches the evaluation accuracy"):
        plain.SGD(training, 2, 10, 0.5, early_stopping_n=2)


# -- what "best" means: accuracy for classes, cost for regression targets ----------------

def _regression_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8)).astype(np.float64)
    w = rng.standard_normal((8, 1))
    Y = np.tanh(X @ w) * 0.8
    return X, Y


def test_regression_early_stopping_watches_the_cost():
    X, Y = _regression_data()
    net = fastnn.Network([8, 16, 1], "tanh", "identity", "quadratic", dtype="float64", seed=0)
    history = net.fit(X[:300], Y[:300], epochs=30, mini_batch_size=10, eta=0.05,
                      evaluation_data=(X[300:], Y[300:]), early_stopping=5, restore_best=True)
    assert history["monitor"] == "cost"
    costs = history["evaluation_cost"]
    # with one output, "accuracy" is 1.0 every epoch: watching it would stop after 5
    # epochs and restore epoch 0; the cost keeps falling
    assert history["evaluation_accuracy"] == [1.0] * len(costs)
    assert history["best_epoch"] == int(np.argmin(costs)) > 5
    assert net.evaluate(X[300:], Y[300:])["cost"] == pytest.approx(min(costs), rel=1e-12)
    old = fastnn.Network([8, 16, 1], "tanh", "identity", "quadratic", dtype="float64", seed=0)
    h_old = old.fit(X[:300], Y[:300], epochs=30, mini_batch_size=10, eta=0.05,
                    evaluation_data=(X[300:], Y[300:]), early_stopping=5, restore_best=True,
                    monitor="accuracy")
    assert h_old["best_epoch"] == 0 and len(h_old["epoch"]) == 6
    assert "no better evaluation accuracy" in h_old["stopped"]


def test_monitor_auto_picks_accuracy_for_labels_and_one_hot_rows():
    rng = np.random.default_rng(1)
    X = rng.random((60, 6))
    labels = rng.integers(0, 3, 60)
    net = fastnn.Network([6, 5, 3], dtype="float64", seed=0)
    assert net.fit(X, labels, evaluation_data=(X, labels))["monitor"] == "accuracy"
    assert net.fit(X, labels, evaluation_data=(X, np.eye(3)[labels]))["monitor"] == "accuracy"
    soft = np.eye(3)[labels] * 0.9 + 0.05
    assert net.fit(X, labels, evaluation_data=(X, soft))["monitor"] == "cost"
    assert net.fit(X, labels, evaluation_data=(X, soft), monitor="accuracy")["monitor"] == \
        "accuracy"
    with pytest.raises(ValueError, match="monitor='loss' is invalid; expected 'auto', "
                                         "'accuracy' or 'cost'"):
        net.fit(X, labels, evaluation_data=(X, labels), monitor="loss")


def test_halve_on_plateau_watches_the_cost_for_regression():
    from fastnn.schedules import HalveOnPlateau
    X, Y = _regression_data(seed=2)
    net = fastnn.Network([8, 16, 1], "tanh", "identity", "quadratic", dtype="float64", seed=0)
    history = net.fit(X[:300], Y[:300], epochs=12, mini_batch_size=10, eta=0.05,
                      evaluation_data=(X[300:], Y[300:]), schedule=HalveOnPlateau(patience=2))
    costs, etas = history["evaluation_cost"], history["eta"]
    # η is halved only after two epochs without a new lowest cost
    best, waited, eta = np.inf, 0, 0.05
    for cost, used in zip(costs, etas):
        assert used == eta
        if cost < best:
            best, waited = cost, 0
        else:
            waited += 1
            if waited == 2:
                eta, waited = eta / 2, 0
