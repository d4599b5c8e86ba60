"""fastnn.sklearn: scikit-learn's estimator checks, parity with fastnn.Network and with
scikit-learn's own MLP (one SGD step), Pipeline/GridSearchCV, clone, pickle, warm_start,
partial_fit, early stopping, accuracy on Fashion-MNIST and errors on bad arguments."""
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason='pip install "fastnn[sklearn]"')

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn import Network, TrainingDiverged  # noqa: E402
from fastnn.data import load_dataset  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fashion():
    """The first 2,000 training and 500 test images: the same rows in the full
    Fashion-MNIST and in the shipped sample, so the thresholds hold for both."""
    data = load_dataset()
    (X, y), (Xt, yt) = data.train, data.test
    return X[:2000], y[:2000], Xt[:500], yt[:500]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # three classes
    return X, y


def _params(estimator):
    return estimator.network_.params.copy()


# ---------------------------------------------------------------- scikit-learn's checks

# Small and fast, yet well enough trained for the checks' accuracy floors (0.83 on blobs
# for the classifier, R² 0.5 for the regressor). No check is marked as an expected failure.
@parametrize_with_checks([
    MLPClassifier(hidden_layer_sizes=(10,), max_iter=10, random_state=0),
    MLPRegressor(hidden_layer_sizes=(10,), learning_rate_init=0.1, max_iter=10,
                 random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- parity

@pytest.mark.parametrize("settings", [
    dict(alpha=0.3),                                               # the fused SGD kernel
    dict(optimizer="adam", learning_rate_init=0.002, l1=0.01, dropout=0.2,
         activation="relu", initializer="he", alpha=0.1),          # the general kernel
])
def test_classifier_network_is_the_network_fit_gives(fashion, settings):
    X, y = fashion[0][:600], fashion[1][:600]
    clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=3, batch_size=20,
                        random_state=7, threads=1, **settings).fit(X, y)
    est = clf.get_params()
    net = Network([784, 30, 10], hidden_activation=est["activation"],
                  output_activation="softmax", cost="log_likelihood", dtype="float32",
                  seed=7, initializer=est["initializer"], threads=1)
    n, m = X.shape[0], est["batch_size"]
    net.fit(X, y, epochs=3, mini_batch_size=m, eta=est["learning_rate_init"],
            lmbda=est["alpha"] * n / m, l1=est["l1"] * n / m, optimizer=est["optimizer"],
            dropout=est["dropout"])
    assert np.array_equal(clf.network_.params, net.params)  # bit for bit
    assert np.array_equal(clf.predict_proba(X[:50]), net.feedforward(X[:50]).astype(np.float64)
                          / net.feedforward(X[:50]).astype(np.float64).sum(1, keepdims=True))
    assert clf.n_iter_ == 3 and clf.history_["epoch"] == [0, 1, 2]


def test_regressor_network_is_the_network_fit_gives(toy):
    X, _ = toy
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    reg = MLPRegressor(hidden_layer_sizes=(8, 6), activation="tanh", max_iter=4,
                       learning_rate_init=0.05, alpha=0.2, random_state=3).fit(X, Y)
    net = Network([5, 8, 6, 2], hidden_activation="tanh", output_activation="identity",
                  cost="quadratic", seed=3)
    net.fit(X, Y, epochs=4, mini_batch_size=10, eta=0.05, lmbda=0.2 * 120 / 10)
    assert np.array_equal(reg.network_.params, net.params)
    assert reg.predict(X).shape == (120, 2) and reg.n_outputs_ == 2


class _InOrder:
    """Stands in for partial_fit's generator so that an epoch takes the rows in order,
    as scikit-learn's MLP does with shuffle=False."""

    @staticmethod
    def permutation(n):
        return np.arange(n)


def _one_epoch_pair(ours, theirs, X, y, **fit_kwargs):
    """Put our initial parameters into scikit-learn's MLP, run one epoch of SGD over the
    rows in order with each, and return both networks' weights and biases after it."""
    ours.partial_fit(X, y, **fit_kwargs)            # the parameters to start from
    theirs.partial_fit(X, y, **fit_kwargs)          # builds scikit-learn's arrays
    for mine, its in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        its[...] = mine                             # in place: its optimizer holds these
    ours._partial_rng = _InOrder()
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    return ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_


# Three mini-batches of 40 (scikit-learn divides a shorter last one by its own size, fastnn
# does not): with λ = alpha · n / m the two take the same three steps. An oracle we did
# not write; with λ = alpha (no n / m) these tests fail.
_SGD = dict(solver="sgd", momentum=0.0, nesterovs_momentum=False, learning_rate="constant",
            shuffle=False)


def test_one_sgd_epoch_equals_sklearn_mlp_classifier(toy):
    X, y = toy
    common = dict(hidden_layer_sizes=(7,), learning_rate_init=0.3, alpha=0.7, batch_size=40,
                  random_state=0)
    ours = MLPClassifier(activation="sigmoid", dtype="float64", **common)
    theirs = SkMLPClassifier(activation="logistic", **_SGD, **common)
    start = [a.copy() for a in ours.partial_fit(X, y, classes=[0, 1, 2]).coefs_]
    ours = MLPClassifier(activation="sigmoid", dtype="float64", **common)
    mine, its = _one_epoch_pair(ours, theirs, X, y, classes=[0, 1, 2])
    for a, b in zip(mine, its):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert not np.allclose(mine[0], start[0], atol=1e-3)  # the epoch moved the weights


def test_one_sgd_epoch_equals_sklearn_mlp_regressor(toy):
    X, _ = toy
    Y = np.column_stack([X[:, 0] - X[:, 3], 0.5 * X[:, 2]])
    common = dict(hidden_layer_sizes=(6,), activation="tanh", learning_rate_init=0.05,
                  alpha=2.0, batch_size=40, random_state=0)
    ours = MLPRegressor(dtype="float64", **common)
    theirs = SkMLPRegressor(**_SGD, **common)
    mine, its = _one_epoch_pair(ours, theirs, X, Y)
    for a, b in zip(mine, its):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- scikit-learn tools

def test_pipeline_and_grid_search_on_fashion_mnist(fashion):
    X, y, Xt, yt = fashion
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(30,), max_iter=5,
                                                         random_state=0, threads=1))
    grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate_init": [0.001, 0.05]}, cv=2)
    grid.fit(X[:1000], y[:1000])
    scores = grid.cv_results_["mean_test_score"]
    # measured: 0.29 and 0.76 (η = 0.001 is far too small for 5 epochs); test 0.78
    assert grid.best_params_ == {"mlpclassifier__learning_rate_init": 0.05}
    assert scores[1] > 0.7 and scores[1] > scores[0] + 0.1, scores
    assert grid.score(Xt, yt) > 0.7


def test_clone_is_unfitted_and_refits_identically(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=4).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "network_")
    assert np.array_equal(_params(twin.fit(X, y)), _params(clf))


def test_pickle_round_trip(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=4,
                        warm_start=True).fit(X, y)
    data = pickle.dumps(clf)
    back = pickle.loads(data)
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert back.network_.params.flags.writeable and back.network_.seed == 4
    # the network's random generator travels too: training on gives the same parameters
    assert np.array_equal(_params(back.fit(X, y)), _params(clf.fit(X, y)))
    assert len(data) < 20_000  # the description and parameters, not the engine's buffers


def test_pickle_keeps_partial_fit_optimizer_state(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), optimizer="adam", learning_rate_init=0.01,
                        random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    back = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(_params(back.partial_fit(X, y)), _params(clf.partial_fit(X, y)))


# ---------------------------------------------------------------- warm_start, partial_fit

def test_warm_start_is_a_second_network_fit(toy):
    """fastnn does not promise fit(k) + fit(k) == fit(2k): every Network.fit draws a new
    dropout seed from the network's generator and starts a fresh optimizer state. What
    warm_start promises is that the second fit goes on from the first's parameters,
    exactly as a second Network.fit does."""
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=5, warm_start=True)
    clf.fit(X, y)
    after_one = _params(clf)
    clf.fit(X, y)
    net = Network([5, 6, 3], output_activation="softmax", cost="log_likelihood", seed=5)
    net.fit(X, y, epochs=2, eta=0.1)
    assert np.array_equal(after_one, net.params)
    net.fit(X, y, epochs=2, eta=0.1)
    assert np.array_equal(_params(clf), net.params)
    assert clf.n_iter_ == 4
    # without warm_start a fit starts again from the same initial parameters
    cold = clf.set_params(warm_start=False).fit(X, y)
    assert np.array_equal(_params(cold), after_one) and cold.n_iter_ == 2


def test_warm_start_refuses_a_changed_network(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=1, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"sizes was \[5, 6, 3\], now \[5, 8, 3\]"):
        clf.set_params(hidden_layer_sizes=(8,)).fit(X, y)
    clf.set_params(hidden_layer_sizes=(6,))
    with pytest.raises(ValueError, match=r"classes \[7\].*not among classes_=\[0, 1, 2\]"):
        clf.fit(X, np.where(y == 2, 7, y))


def test_partial_fit_over_chunks_learns(fashion):
    X, y, Xt, yt = fashion
    clf = MLPClassifier(hidden_layer_sizes=(30,), random_state=0, threads=1)
    with pytest.raises(ValueError, match=r"classes=None on the first call to partial_fit"):
        clf.partial_fit(X[:100], y[:100])
    for epoch in range(5):
        for chunk in np.array_split(np.arange(2000), 4):
            clf.partial_fit(X[chunk], y[chunk], classes=np.arange(10) if epoch == 0 else None)
    assert clf.n_iter_ == 20
    assert clf.score(Xt, yt) > 0.75  # measured 0.78
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] differs from classes_"):
        clf.partial_fit(X[:10], y[:10], classes=[0, 1])


def test_partial_fit_carries_the_optimizer_state(toy):
    """Two full-batch partial_fit calls with Adam are two Network.train_epoch calls that
    share one optimizer state (not two fresh starts)."""
    X, y = toy
    n = X.shape[0]
    clf = MLPClassifier(hidden_layer_sizes=(6,), optimizer="adam", learning_rate_init=0.01,
                        batch_size=n, random_state=2)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y)
    net = Network([5, 6, 3], output_activation="softmax", cost="log_likelihood", seed=2)
    order = np.arange(n)  # one mini-batch of every row: the order does not matter
    state = net.train_epoch(X, y, order, n, 0.01, optimizer="adam")
    fresh = Network([5, 6, 3], output_activation="softmax", cost="log_likelihood", seed=2)
    fresh.params[...] = net.params
    net.train_epoch(X, y, order, n, 0.01, optimizer="adam", state=state)
    fresh.train_epoch(X, y, order, n, 0.01, optimizer="adam")
    # float32 sums over the rows in another order: equal to rounding
    np.testing.assert_allclose(_params(clf), net.params, rtol=1e-5, atol=1e-6)
    assert np.abs(net.params - fresh.params).max() > 1e-3  # the state made a difference


def test_partial_fit_regressor_after_fit_goes_on(toy):
    X, _ = toy
    y = X[:, 0] - 2 * X[:, 1]
    reg = MLPRegressor(hidden_layer_sizes=(10,), learning_rate_init=0.05, max_iter=5,
                       random_state=0).fit(X, y)
    before, r2_before = _params(reg), reg.score(X, y)
    for _ in range(20):
        reg.partial_fit(X, y)
    assert not np.array_equal(_params(reg), before) and reg.n_iter_ == 25
    assert reg.score(X, y) > max(r2_before, 0.9)  # measured 0.64 after fit, 0.98 after


# ---------------------------------------------------------------- early stopping

def test_classifier_early_stopping_is_fastnn_early_stopping(fashion):
    X, y = fashion[0][:800], fashion[1][:800]
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=60, learning_rate_init=0.5,
                        early_stopping=True, n_iter_no_change=3, random_state=1,
                        threads=1).fit(X, y)
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.1, random_state=1,
                                                  stratify=y)
    net = Network([784, 20, 10], output_activation="softmax", cost="log_likelihood", seed=1)
    history = net.fit(X_fit, y_fit, epochs=60, eta=0.5, evaluation_data=(X_val, y_val),
                      early_stopping=3, restore_best=True)
    assert np.array_equal(_params(clf), net.params)
    assert clf.n_iter_ == len(history["epoch"]) < 60
    assert clf.validation_scores_ == history["evaluation_accuracy"]
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.history_["stopped"].startswith("early stopping")


def test_regressor_early_stopping_keeps_the_best_r2(toy):
    X, _ = toy
    y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * np.random.default_rng(1).normal(size=X.shape[0])
    reg = MLPRegressor(hidden_layer_sizes=(20,), activation="tanh", learning_rate_init=0.1,
                       max_iter=500, early_stopping=True, validation_fraction=0.25,
                       n_iter_no_change=5, random_state=0).fit(X, y)
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
    # measured: stops after 29 epochs, the best (R² 0.88) in epoch 23
    assert reg.n_iter_ < 500 and "validation R²" in reg.history_["stopped"]
    assert reg.best_validation_score_ > 0.8
    assert reg.history_["best_epoch"] < reg.n_iter_ - 1  # not simply the last epoch
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.history_["best_epoch"] == int(np.argmax(reg.validation_scores_))
    # the kept parameters are the best epoch's: their validation R² is the best score
    assert reg.score(X_val, y_val) == pytest.approx(reg.best_validation_score_, abs=1e-6)


# ---------------------------------------------------------------- labels, outputs

def test_string_labels_and_two_classes(toy):
    X, y = toy
    names = np.where(y > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, names)
    assert list(clf.classes_) == ["no", "yes"] and clf.n_outputs_ == 2
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert clf.score(X, names) > 0.9  # measured 0.975


@pytest.mark.parametrize("output, cost", [("sigmoid", None), ("identity", None),
                                          ("tanh", "quadratic")])
def test_predict_proba_of_other_outputs_is_normalised(toy, output, cost):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), output_activation=output, cost=cost,
                        max_iter=5, random_state=0).fit(X, y)
    assert clf.network_.cost == ("cross_entropy" if output == "sigmoid" else "quadratic")
    raw = clf.network_.feedforward(X).astype(np.float64)
    proba = clf.predict_proba(X)
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(proba.argmax(axis=1), raw.argmax(axis=1))
    positive = np.maximum(raw, 0)
    rows = positive.sum(axis=1) > 0
    np.testing.assert_allclose(proba[rows], positive[rows] / positive[rows].sum(1, keepdims=True))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)


def test_coefs_are_sklearn_oriented_views(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6, 4), max_iter=2, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(5, 6), (6, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(6,), (4,), (3,)]
    assert clf.n_layers_ == 4
    for c, w in zip(clf.coefs_, clf.network_.weights):
        assert np.array_equal(c, w.T)
    before = clf.predict_proba(X)
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = 0  # a view: the network now outputs a uniform distribution
    assert not np.allclose(before, clf.predict_proba(X))
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3)


def test_multi_output_regression(toy):
    X, _ = toy
    Y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2], 0.5 * X[:, 3]])
    reg = MLPRegressor(hidden_layer_sizes=(20,), learning_rate_init=0.05, max_iter=60,
                       random_state=0).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (120, 3) and pred.dtype == np.float64 and reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.95  # measured 0.98
    assert reg.fit(X, Y[:, 0]).predict(X).shape == (120,)


def test_dtype_float64_and_loss_curve(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=4, dtype="float64",
                        monitor_training=True, alpha=0.5, random_state=0).fit(X, y)
    assert clf.network_.dtype == np.float64 and clf.coefs_[0].dtype == np.float64
    lmbda = 0.5 * 120 / 10
    assert clf.loss_curve_ == clf.history_["training_cost"] and len(clf.loss_curve_) == 4
    assert clf.loss_curve_[-1] == pytest.approx(clf.network_.evaluate(X, y, lmbda)["cost"])
    assert MLPClassifier(max_iter=1).fit(X, y).loss_curve_ is None


def test_divergence_names_learning_rate_init(toy):
    X, _ = toy
    y = 1e4 * X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(10,), learning_rate_init=10.0, max_iter=5,
                       random_state=0)
    with pytest.raises(TrainingDiverged, match=r"learning_rate_init=10\.0.*"
                                               r"TransformedTargetRegressor"):
        reg.fit(X, y)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("estimator, argument, value, expected", [
    (MLPClassifier, "hidden_layer_sizes", (10, 0), r"0 is not a positive integer"),
    (MLPClassifier, "hidden_layer_sizes", "wide", r"is not a positive integer"),
    (MLPClassifier, "activation", "softmax", r"not a known hidden activation"),
    (MLPClassifier, "activation", ["relu", "tanh"], r"one per hidden layer \(1\)"),
    (MLPClassifier, "output_activation", "gelu", r"not a known activation"),
    (MLPClassifier, "cost", "hinge", r"not a known cost"),
    (MLPClassifier, "optimizer", "lbfgs", r"is not known; expected one of sgd"),
    (MLPClassifier, "learning_rate_init", 0.0, r"expected a positive finite number"),
    (MLPClassifier, "batch_size", 2.5, r"expected a positive integer"),
    (MLPClassifier, "max_iter", 0, r"expected a positive integer"),
    (MLPClassifier, "alpha", -1.0, r"expected a finite number >= 0"),
    (MLPClassifier, "l1", float("nan"), r"expected a finite number >= 0"),
    (MLPClassifier, "dropout", 1.0, r"a probability in \[0, 1\)"),
    (MLPClassifier, "clip_norm", -2.0, r"expected a positive finite number"),
    (MLPClassifier, "early_stopping", "yes", r"expected True or False"),
    (MLPClassifier, "validation_fraction", 1.0, r"expected a number in \(0, 1\)"),
    (MLPClassifier, "n_iter_no_change", 0, r"expected a positive integer"),
    (MLPClassifier, "initializer", "xavier", r"expected one of default, large, glorot, he"),
    (MLPClassifier, "dtype", "float16", r"expected 'float32' or 'float64'"),
    (MLPClassifier, "threads", 0, r"expected a positive integer number of threads"),
    (MLPClassifier, "random_state", "seven", r"expected None, an integer"),
    (MLPClassifier, "random_state", -1, r"an integer in \[0, 2\*\*32 - 1\]"),
    (MLPClassifier, "warm_start", None, r"expected True or False"),
    (MLPRegressor, "output_activation", "softmax", None),  # valid: softmax with quadratic
    (MLPRegressor, "cost", "log_likelihood", r"cannot be paired with "
                                             r"output_activation='identity'"),
    (MLPRegressor, "learning_rate_init", -0.1, r"expected a positive finite number"),
])
def test_bad_arguments_are_named(toy, estimator, argument, value, expected):
    X, y = toy
    est = estimator(**{"hidden_layer_sizes": (4,), "max_iter": 1, argument: value})  # no check yet
    if expected is None:
        est.fit(X, y)
        return
    with pytest.raises(ValueError, match="^" + re.escape(f"{argument}={value!r}") + ".*"
                       + expected):
        est.fit(X, y)


def test_bad_data_is_refused(toy):
    X, y = toy
    with pytest.raises(ValueError, match=r"one class only \(3\); a classifier needs at least "
                                         r"two classes"):
        MLPClassifier().fit(X, np.full(len(y), 3))
    with pytest.raises(ValueError, match=r"Unknown label type"):
        MLPClassifier().fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"early_stopping=True cannot hold out "
                                         r"validation_fraction=0\.1 of 12 samples"):
        MLPClassifier(early_stopping=True).fit(X[:12], np.arange(12) % 6)
    reg = MLPRegressor(max_iter=1).fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match=r"y has 1 outputs; the fitted network has "
                                         r"n_outputs_=2"):
        reg.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"X has 4 features, but MLPRegressor is expecting 5"):
        reg.predict(X[:, :4])


def test_import_error_names_the_extra(tmp_path):
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None  # as if scikit-learn were not installed
        try:
            import fastnn.sklearn
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'pip install "fastnn[sklearn]"' in out.stdout
    assert fastnn.sklearn.MLPClassifier is MLPClassifier  # the real one is unaffected
