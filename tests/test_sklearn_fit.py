"""fastnn.sklearn against scikit-learn: the same script with only the import changed
gives the same numbers. From the same ``random_state``, in float64, the fitted
``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_`` (and ``t_``,
``validation_scores_``, ``best_loss_``) equal scikit-learn's own
``MLPClassifier``/``MLPRegressor`` to 1e-9 relative; in float32, to float32 rounding
amplified over training (see ``test_float32_stays_close``).

Real data shipped with scikit-learn: the digits (600 8x8 images, pixels / 16) for
multiclass, binary (is it a 3?) and multilabel (even? above 4?) targets, the diabetes
data (442 x 10, standardized targets; two columns for multi-output) for regression.
Each case trains a few epochs through every solver setting: Adam, SGD with each
learning-rate schedule, momentum with and without Nesterov, early stopping (a validation
split drawn from the same generator), L-BFGS, partial_fit and warm_start.
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastnn  # noqa: E402
from fastnn import sklearn as ours  # noqa: E402

RTOL = 1e-9


def _counts():
    """Poisson regression data: the diabetes features, counts drawn with a log-linear
    mean, two columns for two outputs."""
    X, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    mean = np.exp(0.5 + 3.0 * X[:, :2] @ np.array([[1.0, -2.0], [2.0, 1.0]]))
    return X, rng.poisson(mean).astype(float)


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _data(kind):
    if kind in ("regression", "multi-output"):
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
        return X, (y if kind == "regression" else np.stack([y, X[:, 2] * 10], axis=1))
    X, digit = _digits()
    if kind == "multiclass":
        return X, digit
    if kind == "binary":
        return X, (digit == 3).astype(int)
    return X, np.stack([digit % 2 == 0, digit > 4], axis=1).astype(int)   # multilabel


def _fit_both(kind, X, y, params, calls=(("fit", {}),)):
    """scikit-learn's estimator and fastnn.sklearn's, the same arguments and calls."""
    name = "MLPRegressor" if kind in ("regression", "multi-output") else "MLPClassifier"
    fitted = []
    for library in (sk, ours):
        est = getattr(library, name)(random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for method, kwargs in calls:
                getattr(est, method)(X, y, **kwargs)
        fitted.append(est)
    return fitted


def _assert_same(theirs, mine, where, rtol=RTOL):
    assert mine.n_iter_ == theirs.n_iter_, where
    assert mine.n_layers_ == theirs.n_layers_ and mine.n_outputs_ == theirs.n_outputs_
    assert mine.out_activation_ == theirs.out_activation_, where
    assert mine.n_features_in_ == theirs.n_features_in_
    if hasattr(theirs, "loss_curve_"):
        assert mine.t_ == theirs.t_, where
        np.testing.assert_allclose(mine.loss_curve_, theirs.loss_curve_, rtol=rtol,
                                   err_msg=f"{where}: loss curve, fastnn vs scikit-learn")
    assert mine.loss_ == pytest.approx(theirs.loss_, rel=rtol), where
    assert len(mine.coefs_) == len(theirs.coefs_)
    for l, (w, b) in enumerate(zip(mine.coefs_, mine.intercepts_)):
        assert w.dtype == theirs.coefs_[l].dtype and w.shape == theirs.coefs_[l].shape
        np.testing.assert_allclose(w, theirs.coefs_[l], rtol=rtol, atol=rtol * 1e-3,
                                   err_msg=f"{where}: coefs_[{l}]")
        np.testing.assert_allclose(b, theirs.intercepts_[l], rtol=rtol, atol=rtol * 1e-3,
                                   err_msg=f"{where}: intercepts_[{l}]")
    if getattr(theirs, "validation_scores_", None) is not None:
        np.testing.assert_allclose(mine.validation_scores_, theirs.validation_scores_,
                                   rtol=rtol, err_msg=where)
        assert mine.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    elif getattr(theirs, "best_loss_", None) is not None:
        assert mine.best_loss_ == pytest.approx(theirs.best_loss_, rel=rtol)


def _compare(kind, params, calls=(("fit", {}),), X=None, y=None):
    if X is None:
        X, y = _data(kind)
    theirs, mine = _fit_both(kind, X, y, params, calls)
    _assert_same(theirs, mine, f"{kind} {params}")
    if kind in ("regression", "multi-output"):
        np.testing.assert_allclose(mine.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-9)
    else:
        np.testing.assert_array_equal(mine.predict(X), theirs.predict(X))
        np.testing.assert_allclose(mine.predict_proba(X), theirs.predict_proba(X),
                                   rtol=1e-7, atol=1e-9)
    return theirs, mine


SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd nesterov": dict(solver="sgd", learning_rate_init=0.1),
    "sgd momentum invscaling": dict(solver="sgd", nesterovs_momentum=False, momentum=0.5,
                                    learning_rate="invscaling", learning_rate_init=0.5),
    "sgd no momentum": dict(solver="sgd", momentum=0.0, learning_rate_init=0.2),
}


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_classifier_fits_equal_scikit_learns(kind, solver):
    _compare(kind, dict(SOLVERS[solver], hidden_layer_sizes=(20,), max_iter=6, batch_size=64,
                        activation="tanh" if "sgd" in solver else "relu"))


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("kind", ["regression", "multi-output"])
def test_regressor_fits_equal_scikit_learns(kind, solver):
    params = dict(SOLVERS[solver], hidden_layer_sizes=(15, 9), max_iter=8,
                  activation="logistic")
    params["learning_rate_init"] = params["learning_rate_init"] / 10
    _compare(kind, params)


def test_the_defaults_are_scikit_learns():
    """Every parameter and default of scikit-learn's estimators, in its order, and the
    same fits with nothing but hidden_layer_sizes and max_iter given."""
    import inspect
    for name in ("MLPClassifier", "MLPRegressor"):
        theirs = inspect.signature(getattr(sk, name)).parameters
        mine = inspect.signature(getattr(ours, name)).parameters
        assert list(mine)[:len(theirs)] == list(theirs), name
        for p in theirs:
            assert mine[p].default == theirs[p].default and mine[p].kind == theirs[p].kind, p
        extras = list(mine)[len(theirs):]
        assert extras == ["optimizer", "dropout", "l1", "initializer", "dtype", "threads"]
        for method in ("fit", "partial_fit"):   # sample_weight (and classes) in their places
            assert inspect.signature(getattr(getattr(ours, name), method)) == \
                inspect.signature(getattr(getattr(sk, name), method)), (name, method)
    _compare("multiclass", dict(hidden_layer_sizes=(12,), max_iter=4))   # batch "auto"


def test_adaptive_learning_rate_and_the_default_batch_size():
    """A tolerance no epoch meets: every third epoch η is divided by 5 (adaptive), and
    the default batch_size ("auto": min(200, n)) leaves a short last mini-batch."""
    theirs, mine = _compare("multiclass", dict(
        hidden_layer_sizes=(10,), solver="sgd", learning_rate="adaptive",
        learning_rate_init=0.1, tol=10.0, n_iter_no_change=2, max_iter=9,
        activation="logistic"))
    assert mine._solver.eta == pytest.approx(0.1 / 5 ** 2)


def test_training_stops_when_the_loss_stops_falling():
    """With a loose tolerance scikit-learn stops long before max_iter, with no
    ConvergenceWarning; so does fastnn, at the same epoch."""
    X, y = _data("multiclass")
    params = dict(hidden_layer_sizes=(10,), learning_rate_init=0.01, tol=0.05,
                  n_iter_no_change=2, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        theirs = sk.MLPClassifier(**params).fit(X, y)
        mine = ours.MLPClassifier(**params).fit(X, y)
    _assert_same(theirs, mine, "plateau")
    assert mine.n_iter_ < 50
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        ours.MLPClassifier(**dict(params, max_iter=3)).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov", "lbfgs"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_poisson_regressor_equals_scikit_learns(solver, outputs):
    """``loss="poisson"``: exponential outputs and half the Poisson deviance."""
    X, Y = _counts()
    y = Y[:, 0] if outputs == 1 else Y
    params = dict(SOLVERS.get(solver, {"solver": solver}), loss="poisson",
                  hidden_layer_sizes=(10,), max_iter=6, activation="tanh")
    if solver != "lbfgs":
        params["learning_rate_init"] /= 20
    theirs, mine = _compare("regression", params, X=X, y=y)
    assert mine.out_activation_ == "exp" and mine.network_.cost == "poisson"


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_early_stopping_equals_scikit_learns(kind):
    _compare(kind, dict(hidden_layer_sizes=(12,), learning_rate_init=0.01,
                        early_stopping=True, max_iter=12, n_iter_no_change=3))


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_lbfgs_equals_scikit_learns(kind):
    """solver="lbfgs": SciPy's L-BFGS-B on the engine's full-batch loss and gradient ends
    where scikit-learn's does, after the same number of iterations."""
    _compare(kind, dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=25,
                        activation="tanh", alpha=1e-3))


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov"])
def test_partial_fit_and_warm_start_equal_scikit_learns(solver):
    """``partial_fit``: one epoch per call, the optimizer kept, a fresh generator from
    ``random_state`` each call; ``warm_start``: the parameters and the loss curve kept,
    a fresh optimizer for every ``fit``."""
    params = dict(SOLVERS[solver], hidden_layer_sizes=(16,), batch_size=64,
                  activation="relu")
    classes = {"classes": np.arange(10)}
    _compare("multiclass", params, calls=[("partial_fit", classes)] + [("partial_fit", {})] * 2)
    _compare("multiclass", dict(params, max_iter=2, warm_start=True), calls=[("fit", {})] * 2)
    _compare("regression", dict(params, learning_rate_init=0.001), calls=[("partial_fit", {})] * 3)


def _weights(n):
    """Sample weights as a user might give them: positive reals, some zeros."""
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 3.0, n)
    w[rng.random(n) < 0.1] = 0.0
    return w


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov", "sgd no momentum"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_sample_weight_fits_equal_scikit_learns(kind, solver):
    """``sample_weight``: each mini-batch's loss and gradient are weighted means (over
    Σ w, not m), with ``alpha``'s term over Σ w too; a short last mini-batch included."""
    X, y = _data(kind)
    params = dict(SOLVERS[solver], hidden_layer_sizes=(12,), max_iter=5, batch_size=64)
    if kind == "regression":
        params["learning_rate_init"] /= 10
    _compare(kind, params, calls=[("fit", {"sample_weight": _weights(len(y))})])


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_sample_weight_with_early_stopping_lbfgs_and_partial_fit(kind):
    """The weights travel with the early-stopping split and weigh the validation score;
    L-BFGS minimises the weighted loss; partial_fit weighs each call's chunk."""
    X, y = _data(kind)
    w = {"sample_weight": _weights(len(y))}
    _compare(kind, dict(hidden_layer_sizes=(12,), learning_rate_init=0.01, max_iter=10,
                        early_stopping=True, n_iter_no_change=3), calls=[("fit", w)])
    _compare(kind, dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=20),
             calls=[("fit", w)])
    first = dict(w, classes=np.arange(10)) if kind == "multiclass" else w
    _compare(kind, dict(hidden_layer_sizes=(10,), learning_rate_init=0.01),
             calls=[("partial_fit", first), ("partial_fit", w)])


def test_a_random_state_object_is_drawn_from_as_scikit_learn_draws():
    """A RandomState (not an int) is one generator across fits: the second fit's start
    and shuffles come from where the first left it."""
    X, y = _data("multiclass")
    fitted = []
    for library in (sk, ours):
        rs = np.random.RandomState(7)
        est = library.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=rs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.fit(X, y)
        fitted.append(est)
    _assert_same(*fitted, "RandomState")


def test_sparse_input_trains_as_dense():
    """Sparse X (scikit-learn accepts CSR and CSC) gives scikit-learn's fit too."""
    import scipy.sparse
    X, y = _data("multiclass")
    _compare("multiclass", dict(hidden_layer_sizes=(10,), max_iter=3),
             X=scipy.sparse.csr_matrix(X), y=y)


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov"])
def test_float32_stays_close(solver):
    """In float32 (float32 X, as scikit-learn then trains in float32) the two round
    differently: the engine's own GEMM and its float32 exp against NumPy's, and
    scikit-learn's output error is float64 when y is. The first epoch's loss agrees to
    float32 rounding; later the differences grow, most where Adam's normalised steps
    amplify them, so the check is on what a user sees: the loss curve to 1e-3, the
    predictions of 99% of the samples."""
    X, y = _data("multiclass")
    X = X.astype(np.float32)
    theirs, mine = _fit_both("multiclass", X, y, dict(SOLVERS[solver], max_iter=8,
                                                      hidden_layer_sizes=(32,)))
    assert mine.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float32
    assert mine.loss_curve_[0] == pytest.approx(theirs.loss_curve_[0], rel=1e-5)
    np.testing.assert_allclose(mine.loss_curve_, theirs.loss_curve_, rtol=1e-3)
    assert np.mean(mine.predict(X) == theirs.predict(X)) >= 0.99


def test_glorot_init_draws_what_scikit_learn_draws():
    """The initial parameters alone: η so small that one epoch moves nothing at this
    tolerance."""
    _compare("multiclass", dict(hidden_layer_sizes=(20, 7), max_iter=1, solver="sgd",
                                learning_rate_init=1e-12, momentum=0.0))


@pytest.mark.parametrize("epoch", ["general", "sgd"])
@pytest.mark.parametrize("kind", ["log_loss", "binary_log_loss", "squared_error"])
def test_the_engine_records_each_mini_batch_loss_on_both_paths(kind, epoch):
    """``losses`` from the loop path and the matrix path agree, and the first mini-batch's
    equals scikit-learn's formula on the starting parameters; a wrong shape is refused."""
    from fastnn._sklearn_fit import LOSS_KINDS
    from fastnn.optim import OptimizerState
    X, digit = _digits()
    output, cost, Y = {
        "log_loss": ("softmax", "log_likelihood", np.eye(10)[digit]),
        "binary_log_loss": ("sigmoid", "cross_entropy",
                            np.stack([digit % 2 == 0, digit > 4], axis=1).astype(float)),
        "squared_error": ("identity", "quadratic", np.stack([X[:, 10], X[:, 20]], axis=1)),
    }[kind]
    order = np.random.default_rng(1).permutation(X.shape[0])[:500].astype(np.int64)
    results = []
    for matrix in (False, True):
        net = fastnn.Network([64, 30, Y.shape[1]], "tanh", output, cost, dtype="float64",
                             seed=3, threads=1)
        start = net.params.copy()
        net.engine.matrix = matrix
        opt = fastnn.optim.Adam(eps_hat=True)
        losses = np.empty((8, 2))   # 500 rows in mini-batches of 64: 7 whole and 1 short
        if epoch == "sgd":   # the book's fused SGD epoch (scikit-learn's momentum=0)
            net.engine.train_epoch(net.params, X, Y, order, 64, 0.01, 0.1, n=64,
                                   losses=losses, loss_kind=LOSS_KINDS[kind])
        else:
            net.engine.train_epoch_general(net.params, X, Y, order, 64, 0.01, 0.1, 0.0, opt,
                                           OptimizerState(opt, net.params.shape[0],
                                                          net.dtype),
                                           np.zeros(2), 0, 0, n=64, losses=losses,
                                           loss_kind=LOSS_KINDS[kind])
        results.append((losses, net.params.copy()))
        with pytest.raises(ValueError, match=r"losses has shape \(7, 2\).*expected"):
            if epoch == "sgd":
                net.engine.train_epoch(net.params, X, Y, order, 64, 0.01, 0.1, n=64,
                                       losses=np.empty((7, 2)), loss_kind=LOSS_KINDS[kind])
            net.engine.train_epoch_general(net.params, X, Y, order, 64, 0.01, 0.1, 0.0, opt,
                                           OptimizerState(opt, net.params.shape[0],
                                                          net.dtype),
                                           np.zeros(2), 0, 0, n=64, losses=np.empty((7, 2)),
                                           loss_kind=LOSS_KINDS[kind])
    (loops, p_loops), (matrix, p_matrix) = results
    np.testing.assert_allclose(matrix, loops, rtol=1e-12, err_msg="matrix vs loop path")
    np.testing.assert_allclose(p_matrix, p_loops, rtol=1e-10, atol=1e-12)
    net = fastnn.Network([64, 30, Y.shape[1]], "tanh", output, cost, dtype="float64", seed=3)
    np.testing.assert_array_equal(net.params, start)
    P = net.feedforward(X[order[:64]])
    T = Y[order[:64]]
    eps = np.finfo(np.float64).eps
    Pc = np.clip(P, eps, 1 - eps)
    want = {"log_loss": -np.sum(T * np.log(Pc)),
            "binary_log_loss": -np.sum(T * np.log(Pc) + (1 - T) * np.log(1 - Pc)),
            "squared_error": 0.5 * np.sum((T - P) ** 2) / T.shape[1]}[kind]
    assert loops[0, 0] == pytest.approx(want, rel=1e-12)
    assert loops[0, 1] == pytest.approx(sum(float(np.sum(w * w)) for w in net.weights),
                                        rel=1e-12)


@pytest.mark.parametrize("n", [20, 1797])
def test_full_batch_loss_and_gradient_equal_the_loops(n):
    """L-BFGS's full-batch loss and mean gradient: from 32 rows through the matrix path
    in chunks of 1,024 rows (1,797 rows: two chunks, the second accumulated through
    BLAS's β term), below that through the loops; both equal the loop path's mean
    gradient and scikit-learn's log-loss formula in float64."""
    from fastnn.kernels.costs import LOSS_LOG
    X, y = load_digits(return_X_y=True)
    X, Y = X[:n] / 16.0, np.eye(10)[y[:n]]
    net = fastnn.Network([64, 30, 10], "tanh", "softmax", "log_likelihood", dtype="float64",
                         seed=5)
    loss, grad = net.engine.loss_and_gradient(net.params, X, Y, LOSS_LOG)
    np.testing.assert_allclose(grad, net.engine.mean_gradient(net.params, X, Y), rtol=1e-10,
                               atol=1e-14)
    P = np.clip(net.feedforward(X), np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    assert loss == pytest.approx(-np.sum(Y * np.log(P)), rel=1e-12)
