"""scikit-learn's MLP training reproduced on fastnn's engine (fastnn/_sklearn_fit.py): from
the same ``random_state``, in float64, the fitted weights, biases, loss curve and number
of epochs equal scikit-learn's own ``MLPClassifier``/``MLPRegressor`` fits.

Real data shipped with scikit-learn: the digits (1,797 8x8 images, pixels / 16) for
multiclass, binary (is it a 3?) and multilabel (even? above 4?) targets, the diabetes
data (442 x 10, standardized targets) for regression. Each case trains a few epochs
(scikit-learn's ConvergenceWarning is expected and silenced) through every solver
setting: Adam, SGD with each learning-rate schedule, momentum with and without Nesterov,
and early stopping (a validation split drawn from the same generator).
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import LabelBinarizer  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

import fastnn  # noqa: E402
from fastnn._sklearn_fit import ACTIVATIONS, StochasticFit, glorot_init  # noqa: E402

RTOL = 1e-9


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _targets(kind):
    X, digit = _digits()
    if kind == "multiclass":
        return X, digit
    if kind == "binary":
        return X, (digit == 3).astype(int)
    return X, np.stack([digit % 2 == 0, digit > 4], axis=1).astype(int)   # multilabel


def _ours(kind, X, y, hidden, params):
    """fastnn's fit of what scikit-learn's estimator with ``params`` does on (X, y)."""
    p = dict(activation="relu", solver="adam", alpha=1e-4, batch_size="auto",
             learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
             shuffle=True, random_state=0, tol=1e-4, momentum=0.9, nesterovs_momentum=True,
             early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
             epsilon=1e-8, n_iter_no_change=10)
    p.update(params)
    if kind == "regression":
        Y = y.reshape(-1, 1).astype(np.float64)
        output, cost, loss = "identity", "quadratic", "squared_error"
    else:
        binarizer = LabelBinarizer().fit(y)
        Y = binarizer.transform(y).astype(np.float64)
        if kind == "multiclass":
            output, cost, loss = "softmax", "log_likelihood", "log_loss"
        else:
            output, cost, loss = "sigmoid", "cross_entropy", "binary_log_loss"
    rs = check_random_state(p["random_state"])
    net = fastnn.Network([X.shape[1], *hidden, Y.shape[1]], ACTIVATIONS[p["activation"]],
                         output, cost, dtype="float64", threads=1)
    glorot_init(net, rs, p["activation"])
    fit = StochasticFit(net, p["solver"], loss, alpha=p["alpha"], batch_size=p["batch_size"],
                        learning_rate=p["learning_rate"],
                        learning_rate_init=p["learning_rate_init"], power_t=p["power_t"],
                        momentum=p["momentum"], nesterovs_momentum=p["nesterovs_momentum"],
                        beta_1=p["beta_1"], beta_2=p["beta_2"], epsilon=p["epsilon"],
                        shuffle=p["shuffle"], tol=p["tol"],
                        n_iter_no_change=p["n_iter_no_change"],
                        early_stopping=p["early_stopping"])
    X_train, Y_train, validation = X, Y, None
    if p["early_stopping"]:
        stratify = Y if kind != "regression" and Y.shape[1] == 1 else None
        X_train, X_val, Y_train, Y_val = train_test_split(
            X, Y, random_state=rs, test_size=p["validation_fraction"], stratify=stratify)
        if kind == "regression":
            def validation():
                return r2_score(Y_val, net.feedforward(X_val))
        else:
            truth = binarizer.inverse_transform(Y_val)

            def validation():
                out = net.feedforward(X_val)
                return accuracy_score(truth, binarizer.inverse_transform(
                    out.ravel() if out.shape[1] == 1 else out))
    fit.run(np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train), p["max_iter"], rs,
            validation=validation)
    return net, fit


def _theirs(kind, X, y, hidden, params):
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    est = cls(hidden_layer_sizes=hidden, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _compare(kind, X, y, hidden, params):
    theirs = _theirs(kind, X, y, hidden, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net, fit = _ours(kind, X, y, hidden, params)
    where = f"{kind} {params}"
    assert fit.n_iter_ == theirs.n_iter_, where
    np.testing.assert_allclose(fit.loss_curve_, theirs.loss_curve_, rtol=RTOL,
                               err_msg=f"{where}: loss curve, fastnn vs scikit-learn")
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        np.testing.assert_allclose(w.T, theirs.coefs_[l], rtol=RTOL, atol=RTOL * 1e-3,
                                   err_msg=f"{where}: coefs_[{l}]")
        np.testing.assert_allclose(b, theirs.intercepts_[l], rtol=RTOL, atol=RTOL * 1e-3,
                                   err_msg=f"{where}: intercepts_[{l}]")
    if params.get("early_stopping"):
        np.testing.assert_allclose(fit.validation_scores_, theirs.validation_scores_,
                                   rtol=RTOL)
        assert fit.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    else:
        assert fit.best_loss_ == pytest.approx(theirs.best_loss_, rel=RTOL)
    return fit


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
    X, y = _targets(kind)
    _compare(kind, X, y, (20,), dict(SOLVERS[solver], max_iter=6, batch_size=64,
                                     activation="tanh" if "sgd" in solver else "relu"))


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov"])
def test_regressor_fits_equal_scikit_learns(solver):
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    params = dict(SOLVERS[solver], max_iter=8, activation="logistic")
    params["learning_rate_init"] = params["learning_rate_init"] / 10
    _compare("regression", X, y, (15, 9), params)


def test_adaptive_learning_rate_and_the_default_batch_size():
    """A tolerance no epoch meets: every third epoch η is divided by 5 (adaptive), and
    the default batch_size ("auto": min(200, n)) leaves a short last mini-batch."""
    X, y = _targets("multiclass")
    fit = _compare("multiclass", X, y, (10,),
                   dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1,
                        tol=10.0, n_iter_no_change=2, max_iter=9, activation="logistic"))
    assert fit.eta == pytest.approx(0.1 / 5 ** 2)


def test_training_stops_when_the_loss_stops_falling():
    """With a loose tolerance scikit-learn stops long before max_iter; so does fastnn, at
    the same epoch."""
    X, y = _targets("multiclass")
    fit = _compare("multiclass", X, y, (10,), dict(solver="adam", learning_rate_init=0.01,
                                                   tol=0.05, n_iter_no_change=2,
                                                   max_iter=50))
    assert fit.n_iter_ < 50


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_early_stopping_equals_scikit_learns(kind):
    if kind == "regression":
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    else:
        X, y = _targets(kind)
    _compare(kind, X, y, (12,), dict(solver="adam", learning_rate_init=0.01,
                                     early_stopping=True, max_iter=12, n_iter_no_change=3))


def test_glorot_init_draws_what_scikit_learn_draws():
    X, y = _targets("multiclass")
    theirs = _theirs("multiclass", X, y, (20, 7), dict(max_iter=1, learning_rate_init=1e-12,
                                                       solver="sgd", momentum=0.0))
    net = fastnn.Network([64, 20, 7, 10], "relu", "softmax", "log_likelihood",
                         dtype="float64")
    glorot_init(net, check_random_state(0), "relu")
    for l in range(3):   # η = 1e-12: one epoch moves nothing at this tolerance
        np.testing.assert_allclose(net.weights[l].T, theirs.coefs_[l], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["log_loss", "binary_log_loss", "squared_error"])
def test_the_engine_records_each_mini_batch_loss_on_both_paths(kind):
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
        net.engine.train_epoch_general(net.params, X, Y, order, 64, 0.01, 0.1, 0.0, opt,
                                       OptimizerState(opt, net.params.shape[0], net.dtype),
                                       np.zeros(2), 0, 0, n=64, losses=losses,
                                       loss_kind=LOSS_KINDS[kind])
        results.append((losses, net.params.copy()))
        with pytest.raises(ValueError, match=r"losses has shape \(7, 2\).*expected"):
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


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_lbfgs_equals_scikit_learns(kind):
    """solver="lbfgs": SciPy's L-BFGS-B on the engine's full-batch loss and gradient ends
    where scikit-learn's does, after the same number of iterations."""
    from fastnn._sklearn_fit import fit_lbfgs
    if kind == "regression":
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
        Y = y.reshape(-1, 1)
        output, cost, loss = "identity", "quadratic", "squared_error"
    else:
        X, y = _targets(kind)
        Y = LabelBinarizer().fit_transform(y).astype(np.float64)
        output, cost, loss = (("softmax", "log_likelihood", "log_loss") if kind == "multiclass"
                              else ("sigmoid", "cross_entropy", "binary_log_loss"))
    params = dict(solver="lbfgs", max_iter=25, activation="tanh", alpha=1e-3)
    theirs = _theirs(kind, X, y, (10,), params)
    net = fastnn.Network([X.shape[1], 10, Y.shape[1]], "tanh", output, cost, dtype="float64",
                         threads=1)
    glorot_init(net, check_random_state(0), "tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        n_iter, loss_value = fit_lbfgs(net, np.ascontiguousarray(X), Y, loss, alpha=1e-3,
                                       max_iter=25)
    assert n_iter == theirs.n_iter_
    assert loss_value == pytest.approx(theirs.loss_, rel=1e-9)
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        np.testing.assert_allclose(w.T, theirs.coefs_[l], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{kind}: coefs_[{l}]")
        np.testing.assert_allclose(b, theirs.intercepts_[l], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "sgd nesterov"])
def test_partial_fit_and_warm_start_equal_scikit_learns(solver):
    """``partial_fit``: one epoch per call, the optimizer kept, a fresh generator from
    ``random_state`` each call (scikit-learn's ``check_random_state``); ``warm_start``: the
    parameters and the loss curve kept, a fresh optimizer for every ``fit``."""
    X, y = _targets("multiclass")
    Y = LabelBinarizer().fit_transform(y).astype(np.float64)
    params = dict(SOLVERS[solver], batch_size=64, activation="relu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        partial = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, **params)
        for _ in range(3):
            partial.partial_fit(X, y, classes=np.arange(10))
        warm = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, max_iter=2,
                             warm_start=True, **params)
        warm.fit(X, y).fit(X, y)
    sk_params = {k: v for k, v in params.items() if k not in ("solver", "activation",
                                                              "batch_size")}
    for theirs, incremental in ((partial, True), (warm, False)):
        net = fastnn.Network([64, 16, 10], "relu", "softmax", "log_likelihood",
                             dtype="float64", threads=1)
        # the first call draws the parameters, then its shuffles, from one generator
        rs = check_random_state(0)
        glorot_init(net, rs, "relu")
        fit = StochasticFit(net, params["solver"], "log_loss", batch_size=64, **sk_params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for call in range(3 if incremental else 2):
                if call:
                    rs = check_random_state(0)
                    if not incremental:
                        fit.restart_optimizer()
                fit.run(X, Y, 2, rs, incremental=incremental)
        what = "partial_fit" if incremental else "warm_start"
        assert fit.n_iter_ == theirs.n_iter_ and fit.t_ == theirs.t_, what
        np.testing.assert_allclose(fit.loss_curve_, theirs.loss_curve_, rtol=RTOL,
                                   err_msg=what)
        for l, w in enumerate(net.weights):
            np.testing.assert_allclose(w.T, theirs.coefs_[l], rtol=RTOL, atol=RTOL * 1e-3,
                                       err_msg=f"{what}: coefs_[{l}]")
