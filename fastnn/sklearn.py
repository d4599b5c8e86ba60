"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` on fastnn's engine.

A drop-in: change ``from sklearn.neural_network import MLPClassifier`` to
``from fastnn.sklearn import MLPClassifier`` and the script runs unchanged, with the same
parameters, defaults, fitted attributes and, in float64, the same numbers. The training
is scikit-learn's, step for step (``fastnn/_sklearn_fit.py``): its Glorot-uniform
initial parameters drawn from ``random_state``, its mini-batch order, its loss with
``alpha``'s L2 term, its optimizers (SGD with momentum or Nesterov and the three
learning-rate schedules, Adam), its stopping rules, its early-stopping split, and for
``solver="lbfgs"`` SciPy's L-BFGS-B, with fastnn's engine doing the arithmetic.
tests/test_sklearn_fit.py checks the fitted ``coefs_``, ``intercepts_``, ``loss_curve_``
and ``n_iter_`` against scikit-learn's own estimators (1e-9 relative in float64).

Like scikit-learn, the network trains in X's float type: float32 X in float32, any other
X in float64. fastnn's extras are keyword arguments, off by default: ``optimizer``
(another fastnn optimizer), ``dropout``, ``l1``, ``initializer`` (fastnn's instead of
scikit-learn's Glorot draw), ``dtype`` and ``threads``.

>>> from fastnn.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=10, random_state=0).fit(X, y)
>>> clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)
"""
try:
    import sklearn  # noqa: F401  (the dependency this module is built on)
except ImportError as exc:
    raise ImportError(
        "fastnn.sklearn needs scikit-learn, which is not installed; install it with "
        'pip install "fastnn[sklearn]" (or pip install scikit-learn)') from exc

import numbers
from types import SimpleNamespace

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import _checks
from ._engine import threads as _threads
from ._sklearn_fit import ACTIVATIONS, StochasticFit, fit_lbfgs, glorot_init
from .activations import parse_activation
from .network import Network, check_dropout
from .optim import get_optimizer

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6: the same helper was a method of BaseEstimator
    def _validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor"]

_INITIALIZERS = ("default", "large", "glorot", "he")
#: what scikit-learn's out_activation_ says -> fastnn's (output activation, cost)
_OUTPUTS = {"softmax": ("softmax", "log_likelihood"), "logistic": ("sigmoid", "cross_entropy"),
            "identity": ("identity", "quadratic"), "exp": ("exp", "poisson")}
#: the fitted attributes of the stochastic solvers, kept by StochasticFit between fits
_SOLVER_ATTRIBUTES = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_",
                      "validation_scores_", "best_validation_score_")


# -- checking the parameters ------------------------------------------------------------
def _invalid(name, value, expected):
    return ValueError(f"{name}={value!r} is invalid; expected {expected}")


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise _invalid(name, value, "True or False")
    return bool(value)


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise _invalid(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def _real(name, value, low, high=np.inf, low_open=False, high_open=True):
    """A real number in the interval from ``low`` to ``high`` (open or closed ends)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) \
        and not np.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and \
            (value < high if high_open else value <= high)
    if not ok:
        interval = ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
        raise _invalid(name, value, f"a number in {interval}")
    return float(value)


def _integer(name, value, low=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise _invalid(name, value, f"an integer >= {low}")
    return int(value)


def _hidden_sizes(value):
    """hidden_layer_sizes as a tuple of positive ints (an int means one hidden layer)."""
    expected = "a positive integer or a sequence of them, such as (100,) or (64, 32)"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, str):
        raise _invalid("hidden_layer_sizes", value, expected)
    try:
        sizes = tuple(value)
    except TypeError:
        raise _invalid("hidden_layer_sizes", value, expected) from None
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"hidden_layer_sizes={value!r} is invalid: {s!r} is not a "
                             f"positive integer; expected {expected}")
    return tuple(int(s) for s in sizes)


def _activation(value):
    """(fastnn's hidden activation, the name scikit-learn's Glorot factor looks at): one
    of scikit-learn's four names, or (an extra) any hidden activation fastnn has."""
    if isinstance(value, str) and value in ACTIVATIONS:
        return ACTIVATIONS[value], value
    try:
        parsed = parse_activation(value, "activation", hidden=True)
    except (ValueError, TypeError):
        raise _invalid("activation", value, "'identity', 'logistic', 'tanh' or 'relu' (or "
                       "another of fastnn's hidden activations, such as 'leaky_relu')") \
            from None
    return value, "logistic" if parsed[0] == "sigmoid" else parsed[0]


def _random_state(value):
    if value is None or isinstance(value, np.random.RandomState):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
            and 0 <= value < 2 ** 32:
        return int(value)
    raise _invalid("random_state", value, "None, an integer in [0, 2**32 - 1] or a "
                   "numpy.random.RandomState")


def _sample_weight(sample_weight, n):
    """``sample_weight`` as a float64 array of n finite weights (None stays None; a number
    weighs every sample alike), with at least one that is not zero."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        return np.full(n, float(sample_weight))
    try:
        weights = np.array(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"sample_weight of type {type(sample_weight).__name__} is invalid; "
                         f"expected one number per sample ({n})") from None
    if weights.shape != (n,):
        raise ValueError(f"sample_weight has shape {weights.shape}; expected ({n},), one "
                         f"weight per sample")
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight holds NaN or infinite values; expected finite "
                         "weights")
    if not weights.any():
        raise ValueError("sample_weight is zero for every sample; expected at least one "
                         "non-zero weight")
    return weights


def _keep_parameters(estimator, arguments):
    """Store every ``__init__`` argument as the attribute of its name, unchanged, as
    scikit-learn's estimators do (checking happens in fit)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


# -- the estimators ----------------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: scikit-learn's ``_fit`` with fastnn's
    engine underneath."""

    def _config(self):
        """Every parameter checked (the error names the argument, the value received and
        what was expected); returns them as attributes of a namespace."""
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        activation, glorot_name = _activation(self.activation)
        solver = _choice("solver", self.solver, ("lbfgs", "sgd", "adam"))
        batch_size = self.batch_size
        if not (isinstance(batch_size, str) and batch_size == "auto"):
            batch_size = _integer("batch_size", batch_size) if not isinstance(
                batch_size, str) else _choice("batch_size", batch_size, ("auto",))
        n_iter_no_change = self.n_iter_no_change
        if not (isinstance(n_iter_no_change, numbers.Real) and n_iter_no_change == np.inf):
            n_iter_no_change = _integer("n_iter_no_change", n_iter_no_change)
        verbose = self.verbose
        if not isinstance(verbose, (numbers.Integral, np.bool_)):
            raise _invalid("verbose", verbose, "True, False or an integer")
        cfg = SimpleNamespace(
            hidden=hidden, activation=activation, glorot_name=glorot_name, solver=solver,
            alpha=_real("alpha", self.alpha, 0.0), batch_size=batch_size,
            learning_rate=_choice("learning_rate", self.learning_rate,
                                  ("constant", "invscaling", "adaptive")),
            learning_rate_init=_real("learning_rate_init", self.learning_rate_init, 0.0,
                                     low_open=True),
            power_t=_real("power_t", self.power_t, 0.0),
            max_iter=_integer("max_iter", self.max_iter),
            loss=self._check_loss(), shuffle=_flag("shuffle", self.shuffle),
            random_state=_random_state(self.random_state), tol=_real("tol", self.tol, 0.0),
            verbose=bool(verbose), warm_start=_flag("warm_start", self.warm_start),
            momentum=_real("momentum", self.momentum, 0.0, 1.0, high_open=False),
            nesterovs_momentum=_flag("nesterovs_momentum", self.nesterovs_momentum),
            early_stopping=_flag("early_stopping", self.early_stopping),
            validation_fraction=_real("validation_fraction", self.validation_fraction,
                                      0.0, 1.0),
            beta_1=_real("beta_1", self.beta_1, 0.0, 1.0),
            beta_2=_real("beta_2", self.beta_2, 0.0, 1.0),
            epsilon=_real("epsilon", self.epsilon, 0.0, low_open=True),
            n_iter_no_change=n_iter_no_change, max_fun=_integer("max_fun", self.max_fun),
            # fastnn's extras
            optimizer=None if self.optimizer is None else get_optimizer(self.optimizer),
            dropout=check_dropout(self.dropout, len(hidden)),
            l1=_real("l1", self.l1, 0.0),
            initializer=self._check_initializer(len(hidden) + 1),
            dtype=None if self.dtype is None else _checks.check_dtype(self.dtype),
            threads=self.threads)
        if cfg.threads is not None:
            _threads.resolve(cfg.threads)
        if solver == "lbfgs":
            extras = [name for name, off in (("optimizer", cfg.optimizer is None),
                                             ("dropout", not cfg.dropout.any()),
                                             ("l1", cfg.l1 == 0.0)) if not off]
            if extras:
                raise ValueError(f"{extras[0]}={getattr(self, extras[0])!r} needs a stochastic "
                                 f"solver; expected solver='sgd' or 'adam' (solver='lbfgs' "
                                 f"trains the full batch with SciPy's L-BFGS)")
        return cfg

    def _check_initializer(self, n_layers):
        value = self.initializer
        if value is None:
            return None
        names = [value] if isinstance(value, str) else value
        try:
            names = list(names)
        except TypeError:
            names = None
        if names is None or len(names) not in (1, n_layers) or \
                not all(isinstance(n, str) and n in _INITIALIZERS for n in names):
            raise _invalid("initializer", value, "None (scikit-learn's Glorot-uniform draw), "
                           "one of " + ", ".join(repr(n) for n in _INITIALIZERS)
                           + f", or one per layer ({n_layers})")
        return value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True   # trained densely (docs/sklearn.md)
        return tags

    # -- fit ------------------------------------------------------------------------
    def _fit(self, X, y, incremental, sample_weight=None):
        cfg = self._config()
        first_pass = not hasattr(self, "network_") or (not cfg.warm_start and not incremental)
        X, Y, stratify = self._validate_input(X, y, incremental, first_pass)
        sample_weight = _sample_weight(sample_weight, X.shape[0])
        dtype = (cfg.dtype or X.dtype) if first_pass else self.network_.dtype
        X = np.ascontiguousarray(X.toarray() if scipy.sparse.issparse(X) else X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        sizes = [X.shape[1], *cfg.hidden, Y.shape[1]]
        random_state = check_random_state(cfg.random_state)
        if not first_pass:   # before anything fitted changes
            self._check_continues(cfg, sizes, incremental)
        self.n_outputs_ = Y.shape[1]
        if first_pass:
            self._initialize(cfg, sizes, dtype, random_state)
        if cfg.solver == "lbfgs":
            self.n_iter_, self.loss_ = fit_lbfgs(self.network_, X, Y, self._loss_name(),
                                                 alpha=cfg.alpha, max_iter=cfg.max_iter,
                                                 max_fun=cfg.max_fun, tol=cfg.tol,
                                                 sample_weight=sample_weight)
        else:
            self._fit_stochastic(cfg, X, Y, stratify, random_state, incremental,
                                 sample_weight)
        if not np.isfinite(self.network_.params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")
        return self

    def _initialize(self, cfg, sizes, dtype, random_state):
        """A new network with scikit-learn's initial parameters (``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._out_activation(cfg)
        output, cost = _OUTPUTS[self.out_activation_]
        if cfg.initializer is None:
            net = Network(sizes, cfg.activation, output, cost, dtype=dtype, seed=0,
                          threads=cfg.threads)
            glorot_init(net, random_state, cfg.glorot_name)
        else:
            net = Network(sizes, cfg.activation, output, cost, dtype=dtype,
                          seed=int(random_state.randint(np.iinfo(np.int32).max)),
                          initializer=cfg.initializer, threads=cfg.threads)
        self.network_ = net
        self._built_as = (tuple(sizes), cfg.activation)
        self._solver = None
        for name in _SOLVER_ATTRIBUTES[2:]:
            self.__dict__.pop(name, None)
        if cfg.solver != "lbfgs":
            self._solver = StochasticFit(net, cfg.early_stopping)
            self._publish()

    def _check_continues(self, cfg, sizes, incremental):
        """The fitted network can be trained further with these parameters."""
        built_sizes, built_activation = self._built_as
        why = []
        if tuple(sizes) != built_sizes:
            why.append(f"the layer sizes were {list(built_sizes)}, now {sizes}")
        if cfg.activation != built_activation:
            why.append(f"activation was {built_activation!r}, now {cfg.activation!r}")
        output = self._out_activation(cfg)
        if output != self.out_activation_:
            why.append(f"the output activation was {self.out_activation_!r}, now {output!r}")
        if why:
            raise ValueError(f"{'partial_fit' if incremental else 'warm_start=True'} "
                             f"continues the fitted network, but {'; '.join(why)}; expected "
                             f"the same network (fit with warm_start=False to start a new one)")
        self.network_.threads = cfg.threads

    def _fit_stochastic(self, cfg, X, Y, stratify, random_state, incremental, sample_weight):
        """scikit-learn's ``_fit_stochastic``: the optimizer, the early-stopping split,
        then the epochs (StochasticFit.run)."""
        net, fit = self.network_, self._solver
        if fit is None:   # warm-started from an lbfgs fit
            fit = self._solver = StochasticFit(net, cfg.early_stopping)
        if cfg.early_stopping and fit.validation_scores_ is None:
            fit.validation_scores_, fit.best_validation_score_ = [], -np.inf
        if not incremental or fit.optimizer is None:
            fit.restart_optimizer(cfg.solver, cfg.learning_rate_init, cfg.learning_rate,
                                  cfg.power_t, cfg.momentum, cfg.nesterovs_momentum,
                                  cfg.beta_1, cfg.beta_2, cfg.epsilon, cfg.optimizer)
        if cfg.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if cfg.early_stopping:
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            parts = train_test_split(*arrays, random_state=random_state,
                                     test_size=cfg.validation_fraction,
                                     stratify=stratify if self.n_outputs_ == 1 else None)
            X, X_val, Y, Y_val = parts[:4]
            weight_val = None
            if sample_weight is not None:
                sample_weight, weight_val = np.ascontiguousarray(parts[4]), parts[5]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
            truth = self._validation_truth(Y_val)

            def validation():
                return self._score_outputs(truth, net.feedforward(X_val), weight_val)
        settings = SimpleNamespace(
            loss=self._loss_name(), alpha=cfg.alpha, l1=cfg.l1, batch_size=cfg.batch_size,
            shuffle=cfg.shuffle, tol=cfg.tol, n_iter_no_change=cfg.n_iter_no_change,
            max_iter=cfg.max_iter, verbose=cfg.verbose, dropout=cfg.dropout,
            dropout_seed=int(random_state.randint(np.iinfo(np.int32).max))
            if cfg.dropout.any() else 0, sample_weight=sample_weight)
        fit.run(X, Y, random_state, settings, incremental=incremental, validation=validation)
        self._publish()

    def _publish(self):
        """The stochastic solver's counters as the estimator's fitted attributes."""
        for name in _SOLVER_ATTRIBUTES:
            setattr(self, name, getattr(self._solver, name))

    # -- the fitted network ------------------------------------------------------------
    @property
    def coefs_(self):
        """Per-layer weights ``(n_in, n_out)`` (scikit-learn's orientation): views of the
        network's parameters, so writing into them changes the network."""
        check_is_fitted(self, "network_")
        return [w.T for w in self.network_.weights]

    @coefs_.setter
    def coefs_(self, coefs):
        self._set_parameters("coefs_", coefs, [w.T for w in self.network_.weights])

    @property
    def intercepts_(self):
        """Per-layer biases ``(n_out,)``: views of the network's parameters."""
        check_is_fitted(self, "network_")
        return list(self.network_.biases)

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._set_parameters("intercepts_", intercepts, list(self.network_.biases))

    def _set_parameters(self, name, values, into):
        values = list(values)
        shapes = [v.shape for v in into]
        if len(values) != len(into) or any(np.shape(v) != s for v, s in zip(values, shapes)):
            raise ValueError(f"{name} has shapes {[np.shape(v) for v in values]}; expected "
                             f"{shapes}, the fitted network's")
        for target, value in zip(into, values):
            target[...] = value

    def _outputs(self, X):
        """The network's outputs for X, checked as scikit-learn checks it."""
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                           dtype=(np.float64, np.float32))
        if scipy.sparse.issparse(X):
            X = X.toarray()
        return self.network_.feedforward(np.ascontiguousarray(X, dtype=self.network_.dtype))

    # -- pickling ----------------------------------------------------------------------
    def __getstate__(self):
        """The network as its description and parameter buffer (not the engine's
        workspaces): small, and rebuilt with writable buffers even when unpickled as
        read-only memory maps."""
        state = dict(super().__getstate__())
        net = state.pop("network_", None)
        if net is not None:
            state["_network_state"] = {
                "sizes": list(net.sizes), "activations": list(net.activations),
                "cost": net.cost, "dtype": np.dtype(net.dtype).name,
                "initializers": list(net.initializers), "threads": net.threads,
                "params": net.params}
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_network_state", None)
        super().__setstate__(state)
        if saved is not None:
            acts = saved["activations"]
            net = Network(saved["sizes"], hidden_activation=acts[:-1],
                          output_activation=acts[-1], cost=saved["cost"], dtype=saved["dtype"],
                          initializer=saved["initializers"], seed=0)
            try:
                net.threads = saved["threads"]
            except ValueError:  # more threads than this machine has: use its default
                pass
            net.params[...] = saved["params"]
            self.network_ = net
            if getattr(self, "_solver", None) is not None:
                self._solver.net = net
                if self._solver.state is not None:   # writable, whatever the pickle gave
                    for name in ("buffers", "step", "grad"):
                        setattr(self._solver.state, name,
                                np.array(getattr(self._solver.state, name)))
                self._solver.best_params = np.array(self._solver.best_params)


_PARAMETERS_DOC = """

    Parameters
    ----------
{loss}    hidden_layer_sizes : array-like of int, default=(100,)
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
    alpha : float, default=0.0001
    batch_size : int or "auto", default="auto"
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
    shuffle : bool, default=True
    random_state : int, RandomState or None, default=None
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
"""

_EXTRAS_DOC = """
    optimizer : str, fastnn.optim object or None, default=None
        fastnn's extra: an optimizer that replaces the solver's (``"rmsprop"``,
        ``"adagrad"``, ``"amsgrad"``, ``fastnn.optim.Adam(beta1=0.8)``, ...), with
        ``learning_rate_init`` and ``learning_rate`` as η and its schedule; a stochastic
        solver only.
    dropout : float, sequence of float or None, default=None
        fastnn's extra: the probability of dropping each hidden unit while training, for
        every hidden layer or one per hidden layer (inverted dropout); a stochastic solver
        only.
    l1 : float, default=0.0
        fastnn's extra: L1 strength on ``alpha``'s scale, the gradient of a mini-batch of m
        samples gaining ``(l1 / m) sgn(w)`` on the weights (``loss_curve_`` holds the loss
        without it); a stochastic solver only.
    initializer : str, sequence of str or None, default=None
        fastnn's extra: None draws scikit-learn's Glorot-uniform parameters from
        ``random_state``; ``"default"`` (the book's), ``"large"``, ``"glorot"`` or ``"he"``
        (or one per layer) uses fastnn's, seeded from ``random_state``.
    dtype : {"float32", "float64"} or None, default=None
        fastnn's extra: the network's float type. None is scikit-learn's rule: float32 X
        trains in float32, any other X in float64.
    threads : int or None, default=None
        fastnn's extra: threads for the engine and BLAS (None: ``FASTNN_NUM_THREADS``,
        else every core). The result does not depend on it.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
{extra}    loss_ : float
        The loss at the end of training (the last epoch's mean mini-batch loss, or
        L-BFGS's final loss), with ``alpha``'s L2 term.
    best_loss_ : float or None
        The smallest ``loss_curve_`` entry (None with early stopping); stochastic solvers.
    loss_curve_ : list of float
        The loss of every epoch; stochastic solvers.
    validation_scores_ : list of float or None
        With early stopping, the validation score ({score}) after every epoch.
    best_validation_score_ : float or None
        With early stopping, the best of ``validation_scores_``.
    t_ : int
        Training samples seen by the stochastic solver.
    coefs_ : list of ndarray
        Weights of each layer, ``(n_in, n_out)``: views of ``network_``'s parameters.
    intercepts_ : list of ndarray
        Biases of each layer, ``(n_out,)``: views of ``network_``'s parameters.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Names of the features, when fit was given a DataFrame with string column names.
    n_iter_ : int
        Epochs (or L-BFGS iterations) of the last fit; 1 after ``partial_fit``.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        The output activation ({outputs}).
    network_ : fastnn.Network
        fastnn's extra: the trained network (``fastnn.save`` writes it).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` trained by
    fastnn's engine.

    Multiclass targets get a softmax output with the log-loss; binary targets one
    logistic output, multilabel targets (an indicator matrix) one logistic output per
    label, with the binary log-loss. Parameters, defaults and fitted attributes are
    scikit-learn's (its documentation explains each); fastnn's extras follow."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 optimizer=None, dropout=None, l1=0.0, initializer=None, dtype=None,
                 threads=None):
        _keep_parameters(self, locals())

    def _check_loss(self):
        return "log_loss"

    def _loss_name(self):
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _out_activation(self, cfg):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, or a label indicator matrix (multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (each mini-batch's loss and gradient are weighted means).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def _has_partial_fit(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit (``np.unique(y_all)``); required on
            the first call.

        Returns
        -------
        self
        """
        if getattr(self, "classes_", None) is None:   # the first call
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = unique_labels(classes)
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _validate_input(self, X, y, incremental, reset):
        """X and the binarized targets as scikit-learn's ``_validate_input`` makes them;
        also returns the boolean targets that its early stopping stratifies on."""
        X, y = _validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                              dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y).astype(bool)
        return X, Y, Y

    def _validation_truth(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _score_outputs(self, truth, outputs, sample_weight=None):
        return accuracy_score(truth, self._labels(outputs), sample_weight=sample_weight)

    def _labels(self, outputs):
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        return self._label_binarizer.inverse_transform(outputs)

    def predict(self, X):
        """The predicted classes, ``(n_samples,)`` (or ``(n_samples, n_classes)`` for
        multilabel targets)."""
        return self._labels(self._outputs(X))

    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)``, in ``classes_`` order."""
        outputs = self._outputs(X)
        if self.n_outputs_ == 1:
            p = outputs.ravel()
            return np.vstack([1 - p, p]).T
        return outputs

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba(X)``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` trained by
    fastnn's engine.

    Identity outputs with the squared error (or exponential outputs with the Poisson
    deviance); y may have several columns. Parameters, defaults and fitted attributes are
    scikit-learn's; fastnn's extras follow."""

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 optimizer=None, dropout=None, l1=0.0, initializer=None, dtype=None,
                 threads=None):
        _keep_parameters(self, locals())

    def _check_loss(self):
        return _choice("loss", self.loss, ("squared_error", "poisson"))

    def _loss_name(self):
        return "poisson" if self.out_activation_ == "exp" else "squared_error"

    def _out_activation(self, cfg):
        return "exp" if cfg.loss == "poisson" else "identity"

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (each mini-batch's loss and gradient are weighted means).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data (with
        ``solver="lbfgs"``, as in scikit-learn, an L-BFGS fit from the current
        parameters)."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                              y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(f"y holds negative values (the smallest is {float(y.min())!r}); "
                             f"loss='poisson' expects counts or other non-negative targets")
        return X, y.reshape(y.shape[0], -1), None

    def _validation_truth(self, Y_val):
        return Y_val

    def _score_outputs(self, truth, outputs, sample_weight=None):
        if not np.isfinite(outputs).all():
            return np.nan
        return r2_score(truth, outputs.ravel() if outputs.shape[1] == 1 else outputs,
                        sample_weight=sample_weight)

    def predict(self, X):
        """Predictions: ``(n_samples,)`` for one output, else ``(n_samples, n_outputs)``."""
        outputs = self._outputs(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}


_LOSS_DOC = '''    loss : {"squared_error", "poisson"}, default="squared_error"
        Half the squared error with identity outputs, or half the Poisson deviance with
        exponential outputs (non-negative targets such as counts).
'''

for _estimator, _score, _outputs_doc, _extra, _loss in (
        (MLPClassifier, "accuracy", '"softmax" or "logistic"',
         "    classes_ : ndarray or list of ndarray\n        Class labels.\n", ""),
        (MLPRegressor, "R²", '"identity" or "exp"', "", _LOSS_DOC)):
    _estimator.__doc__ += _PARAMETERS_DOC.replace("{loss}", _loss) + _EXTRAS_DOC + \
        _ATTRIBUTES_DOC.format(extra=_extra, score=_score, outputs=_outputs_doc)
