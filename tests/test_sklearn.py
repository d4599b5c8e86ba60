"""fastnn.sklearn as a scikit-learn estimator: scikit-learn's own estimator checks (none
marked as an expected failure), Pipeline/GridSearchCV, clone, pickle, partial_fit and
warm_start bookkeeping, fastnn's extras, accuracy on Fashion-MNIST, and errors on bad
arguments. The numbers against scikit-learn's own MLP are tests/test_sklearn_fit.py's."""
import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason='pip install "fastnn[sklearn]"')

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.data import load_dataset  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


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

# scikit-learn's defaults but max_iter (its own test suite shortens MLP fits the same way).
# No check is marked as an expected failure.
@parametrize_with_checks([MLPClassifier(max_iter=50), MLPRegressor(max_iter=50)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- scikit-learn's tools

def test_pipeline_and_grid_search_on_fashion_mnist(fashion):
    X, y, Xt, yt = fashion
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(30,), max_iter=10,
                                                         random_state=0, threads=1))
    grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate_init": [1e-5, 0.01]}, cv=2)
    grid.fit(X[:1000], y[:1000])
    scores = grid.cv_results_["mean_test_score"]
    # measured: 0.10 and 0.78 (η = 1e-5 is far too small for 10 epochs); test 0.80
    assert grid.best_params_ == {"mlpclassifier__learning_rate_init": 0.01}
    assert scores[1] > 0.7 and scores[1] > scores[0] + 0.1, scores
    assert grid.score(Xt, yt) > 0.7


def test_default_classifier_learns_fashion_mnist(fashion):
    """scikit-learn's defaults (relu, Adam, batch 200, up to 200 epochs) on 2,000
    images: measured test accuracy 0.84."""
    X, y, Xt, yt = fashion
    clf = MLPClassifier(random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.8
    assert clf.loss_ == clf.loss_curve_[-1] and clf.t_ == 2000 * clf.n_iter_


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
    assert back.network_.params.flags.writeable and back.loss_curve_ == clf.loss_curve_
    # warm_start goes on identically from the unpickled estimator
    assert np.array_equal(_params(back.fit(X, y)), _params(clf.fit(X, y)))
    assert back.loss_curve_ == clf.loss_curve_ and back.t_ == clf.t_
    assert len(data) < 20_000  # the description and parameters, not the engine's buffers


def test_pickle_keeps_partial_fit_optimizer_state(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), learning_rate_init=0.01, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    back = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(_params(back.partial_fit(X, y)), _params(clf.partial_fit(X, y)))
    assert back._solver.state.step[0] == clf._solver.state.step[0] > 0


# ---------------------------------------------------------------- partial_fit, warm_start

def test_partial_fit_classes_are_required_then_fixed(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a class may be absent
    assert clf.classes_.tolist() == [0, 1, 2] and clf.n_iter_ == 1
    with pytest.raises(ValueError, match=r"is not the same as on last call to partial_fit"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, y + 5)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_refuses_a_changed_network(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, warm_start=True,
                        random_state=0).fit(X, y)
    clf.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match=r"warm_start=True continues the fitted network, but "
                                         r"the layer sizes were \[5, 6, 3\], now \[5, 7, 3\]"):
        clf.fit(X, y)
    clf.set_params(hidden_layer_sizes=(6,), activation="tanh")
    with pytest.raises(ValueError, match=r"activation was 'relu', now 'tanh'"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the "
                                         r"same classes"):
        clf.set_params(activation="relu").fit(X, y % 2)
    reg = MLPRegressor(max_iter=1).fit(X, np.column_stack([X[:, 0], X[:, 1]]))
    with pytest.raises(ValueError, match=r"partial_fit continues the fitted network, but the "
                                         r"layer sizes were \[5, 100, 2\], now \[5, 100, 1\]"):
        reg.partial_fit(X, X[:, 0])
    assert reg.n_outputs_ == 2   # the refused call changed nothing


def test_lbfgs_regressor_partial_fit_is_an_lbfgs_fit_as_in_scikit_learn(toy):
    """scikit-learn's MLPRegressor keeps partial_fit with solver="lbfgs" (an L-BFGS run
    from the current parameters); so does fastnn's."""
    from sklearn.neural_network import MLPRegressor as Theirs
    X, y = toy
    t = X[:, 0] - X[:, 1]
    fitted = [cls(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0)
              for cls in (Theirs, MLPRegressor)]
    for est in fitted:
        est.partial_fit(X, t).partial_fit(X, t)
    np.testing.assert_allclose(fitted[1].coefs_[0], fitted[0].coefs_[0], rtol=1e-9)


# ---------------------------------------------------------------- targets, attributes

def test_string_labels_binary_and_multilabel(toy):
    X, y = toy
    names = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, names)
    assert clf.classes_.tolist() == ["cat", "dog", "emu"] and clf.out_activation_ == "softmax"
    assert set(clf.predict(X)) <= {"cat", "dog", "emu"}
    two = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(
        X, names[:] == "dog")
    assert two.n_outputs_ == 1 and two.out_activation_ == "logistic"
    P = two.predict_proba(X)
    assert P.shape == (120, 2) and np.allclose(P.sum(axis=1), 1)
    assert np.array_equal(two.predict(X), P[:, 1] > 0.5)
    Y = np.column_stack([y == 0, y == 2, X[:, 2] > 0]).astype(int)
    multi = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, Y)
    assert multi.predict(X).shape == (120, 3) and multi.predict_proba(X).shape == (120, 3)
    assert multi.out_activation_ == "logistic" and multi.classes_.tolist() == [0, 1, 2]


def test_coefs_are_views_and_can_be_set(toy):
    X, y = toy
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(5, 6), (6, 3)]
    assert [b.shape for b in clf.intercepts_] == [(6,), (3,)]
    clf.coefs_[1][...] = 0.0
    clf.intercepts_[1][...] = [0.0, 5.0, 0.0]
    assert (clf.predict(X) == 1).all()
    clf.coefs_ = [np.ones((5, 6)), np.zeros((6, 3))]
    assert clf.coefs_[0].sum() == 30.0
    with pytest.raises(ValueError, match=r"coefs_ has shapes \[\(5, 6\)\]; expected "
                                         r"\[\(5, 6\), \(6, 3\)\]"):
        clf.coefs_ = [np.ones((5, 6))]


def test_dtype_follows_x_as_in_scikit_learn(toy):
    X, y = toy
    for given, trained in ((X.astype(np.float32), np.float32), (X, np.float64),
                           ((X * 10).astype(np.int64), np.float64)):
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(given, y)
        assert clf.network_.dtype == trained and clf.coefs_[0].dtype == trained
        assert clf.predict_proba(given).dtype == trained
    forced = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, dtype="float32").fit(X, y)
    assert forced.network_.dtype == np.float32


# ---------------------------------------------------------------- fastnn's extras

def test_extras_train_and_change_the_fit(fashion):
    """dropout, l1, another optimizer and fastnn's initializers are extras: each trains
    (better than chance by far) and changes the result; lbfgs refuses them."""
    X, y, Xt, yt = fashion
    base = dict(hidden_layer_sizes=(30,), max_iter=5, random_state=0, threads=1)
    plain = MLPClassifier(**base).fit(X, y)
    for extra in (dict(dropout=0.2), dict(l1=1e-3), dict(optimizer="rmsprop"),
                  dict(initializer="he"), dict(optimizer=fastnn.optim.Momentum(mu=0.5),
                                               learning_rate_init=0.05)):
        clf = MLPClassifier(**base, **extra).fit(X, y)
        assert not np.array_equal(_params(clf), _params(plain)), extra
        assert clf.score(Xt, yt) > 0.6, extra
    again = MLPClassifier(**base, dropout=0.2).fit(X, y)
    assert np.array_equal(_params(again), _params(MLPClassifier(**base, dropout=0.2).fit(X, y)))
    for extra in (dict(dropout=0.2), dict(l1=1e-3), dict(optimizer="adam")):
        name = next(iter(extra))
        with pytest.raises(ValueError, match=rf"^{name}=.* needs a stochastic solver"):
            MLPClassifier(solver="lbfgs", **extra).fit(X[:50], y[:50])


def test_threads_give_the_same_float64_fit(toy):
    X, y = toy
    fits = [MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0,
                          threads=t).fit(X, y) for t in (1, 2)]
    np.testing.assert_allclose(_params(fits[0]), _params(fits[1]), rtol=1e-12, atol=1e-15)


def test_verbose_prints_scikit_learns_lines(toy, capsys):
    X, y = toy
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True,
                  early_stopping=True).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Iteration 1, loss = \d+\.\d{8}", out[0]), out
    assert re.fullmatch(r"Validation score: \d\.\d{6}", out[1]), out


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("estimator, argument, value, expected", [
    (MLPClassifier, "hidden_layer_sizes", (10, 0), r"0 is not a positive integer"),
    (MLPClassifier, "hidden_layer_sizes", "wide", r"expected a positive integer or a sequence"),
    (MLPClassifier, "activation", "softmax", r"expected 'identity', 'logistic', 'tanh' or"),
    (MLPClassifier, "solver", "rmsprop", r"expected one of 'lbfgs', 'sgd', 'adam'"),
    (MLPClassifier, "alpha", -1.0, r"expected a number in \[0.0, inf\)"),
    (MLPClassifier, "batch_size", 2.5, r"expected an integer >= 1"),
    (MLPClassifier, "batch_size", "all", r"expected one of 'auto'"),
    (MLPClassifier, "learning_rate", "cosine", r"expected one of 'constant', 'invscaling'"),
    (MLPClassifier, "learning_rate_init", 0.0, r"expected a number in \(0.0, inf\)"),
    (MLPClassifier, "power_t", -0.5, r"expected a number in \[0.0, inf\)"),
    (MLPClassifier, "max_iter", 0, r"expected an integer >= 1"),
    (MLPClassifier, "shuffle", "yes", r"expected True or False"),
    (MLPClassifier, "random_state", "seven", r"expected None, an integer"),
    (MLPClassifier, "random_state", -1, r"an integer in \[0, 2\*\*32 - 1\]"),
    (MLPClassifier, "tol", float("nan"), r"expected a number in \[0.0, inf\)"),
    (MLPClassifier, "verbose", "loud", r"expected True, False or an integer"),
    (MLPClassifier, "warm_start", None, r"expected True or False"),
    (MLPClassifier, "momentum", 1.5, r"expected a number in \[0.0, 1.0\]"),
    (MLPClassifier, "nesterovs_momentum", 1, r"expected True or False"),
    (MLPClassifier, "early_stopping", "yes", r"expected True or False"),
    (MLPClassifier, "validation_fraction", 1.0, r"expected a number in \[0.0, 1.0\)"),
    (MLPClassifier, "beta_1", 1.0, r"expected a number in \[0.0, 1.0\)"),
    (MLPClassifier, "beta_2", -0.1, r"expected a number in \[0.0, 1.0\)"),
    (MLPClassifier, "epsilon", 0.0, r"expected a number in \(0.0, inf\)"),
    (MLPClassifier, "n_iter_no_change", 0, r"expected an integer >= 1"),
    (MLPClassifier, "max_fun", 0, r"expected an integer >= 1"),
    (MLPClassifier, "optimizer", "lbfgs", r"is not known; expected one of sgd"),
    (MLPClassifier, "dropout", 1.0, r"a probability in \[0, 1\)"),
    (MLPClassifier, "l1", -1.0, r"expected a number in \[0.0, inf\)"),
    (MLPClassifier, "initializer", "xavier", r"expected None \(scikit-learn's Glorot"),
    (MLPClassifier, "dtype", "float16", r"expected 'float32' or 'float64'"),
    (MLPClassifier, "threads", 0, r"expected a positive integer number of threads"),
    (MLPRegressor, "loss", "huber", r"expected one of 'squared_error', 'poisson'"),
    (MLPRegressor, "learning_rate_init", -0.1, r"expected a number in \(0.0, inf\)"),
])
def test_bad_arguments_are_named(toy, estimator, argument, value, expected):
    X, y = toy
    est = estimator(**{"hidden_layer_sizes": (4,), "max_iter": 1, argument: value})  # no check yet
    with pytest.raises(ValueError, match="^" + re.escape(f"{argument}={value!r}") + ".*"
                       + expected):
        est.fit(X, y)


def test_bad_data_is_refused(toy):
    X, y = toy
    with pytest.raises(ValueError, match=r"Unknown label type"):
        MLPClassifier().fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(119,\); expected "
                                         r"\(120,\), one weight per sample"):
        MLPClassifier().fit(X, y, sample_weight=np.ones(119))
    with pytest.raises(ValueError, match=r"sample_weight is zero for every sample"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(120))
    with pytest.raises(ValueError, match=r"sample_weight holds NaN or infinite values"):
        MLPClassifier().fit(X, y, sample_weight=np.full(120, np.nan))
    reg = MLPRegressor(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"row_weight has shape \(3,\) and dtype float64; "
                                         r"expected float64 \(120,\)"):
        reg.network_.engine.loss_and_gradient(reg.network_.params, X, y.reshape(-1, 1)
                                              .astype(float), 3, np.ones(3))
    with pytest.raises(ValueError, match=r"X has 4 features, but MLPRegressor is expecting 5"):
        reg.predict(X[:, :4])
    with pytest.raises(ValueError, match=r"y holds negative values \(the smallest is "
                                         r"-2.0\); loss='poisson' expects counts"):
        MLPRegressor(loss="poisson").fit(X, y - 2.0)
    with pytest.raises(ValueError, match=r"the output activation was 'identity', now 'exp'"):
        MLPRegressor(max_iter=1, warm_start=True).fit(X, y).set_params(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match=r"Solver produced non-finite parameter weights"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            MLPRegressor(max_iter=2, learning_rate_init=0.5, solver="sgd").fit(X, y * 1e200)


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
    assert ConvergenceWarning  # imported for the module's filter


def test_ctrl_c_ends_training_with_a_warning_and_the_best_parameters(toy, monkeypatch):
    """As in scikit-learn: a KeyboardInterrupt during the epochs stops training with a
    warning, and with early stopping the best epoch's parameters are restored."""
    from fastnn._sklearn_fit import StochasticFit
    X, y = toy
    real_epoch = StochasticFit.epoch
    calls = []

    def epoch(self, *args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_epoch(self, *args)

    monkeypatch.setattr(StochasticFit, "epoch", epoch)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf = MLPClassifier(hidden_layer_sizes=(6,), early_stopping=True, random_state=0,
                            learning_rate_init=0.05).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.validation_scores_) == 3
    assert np.array_equal(_params(clf), clf._solver.best_params)
