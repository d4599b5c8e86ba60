"""scikit-learn estimators on fastnn's engine: ``MLPClassifier`` and ``MLPRegressor``.

Each estimator builds a ``fastnn.Network`` in ``fit`` and trains it with
``Network.fit``, so a fitted estimator's ``network_`` is bit for bit the network that
``Network(...).fit(...)`` gives with the same arguments (tests/test_sklearn.py). They
follow scikit-learn's conventions: ``__init__`` only stores its arguments, which are
checked in ``fit``; fitted attributes end with an underscore; inputs go through
scikit-learn's own validation, so they work in ``Pipeline``, ``GridSearchCV``, ``clone``
and pickle, and pass ``sklearn.utils.estimator_checks``.

How the arguments map to fastnn (docs/sklearn.md has the table):

* ``learning_rate_init`` is η, ``batch_size`` the mini-batch size m, ``max_iter`` the
  number of epochs, ``activation`` the hidden activation, ``optimizer`` fastnn's optimizer.
* ``alpha`` has scikit-learn's meaning: the mean cost of a mini-batch of m samples gains
  ``(alpha / (2 m)) ‖W‖²``, i.e. the gradient gains ``(alpha / m) w``. fastnn's L2 term is
  ``(λ / n) w`` with n the number of training samples, so ``λ = alpha · n / m`` (with
  m = min(batch_size, n)). ``l1`` is scaled the same way: ``λ₁ = l1 · n / m``. The only
  difference from scikit-learn's MLP is a shorter last mini-batch: scikit-learn divides by
  its actual size, fastnn keeps (λ/n) for every mini-batch.

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

import math
import numbers
from types import SimpleNamespace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from . import _checks
from ._engine import threads as _threads
from .activations import parse_activation
from .costs import cost_code
from .network import Network, TrainingDiverged, check_dropout
from .optim import OptimizerState, get_optimizer

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6: the same helper was a method of BaseEstimator
    def _validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor"]

#: the cost paired with a classifier's output activation when ``cost=None``
_NATURAL_COST = {"softmax": "log_likelihood", "sigmoid": "cross_entropy"}


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is invalid; expected True or False")
    return bool(value)


def _check_hidden_sizes(value):
    """hidden_layer_sizes as a tuple of positive ints (an int means one hidden layer)."""
    expected = "expected a positive integer or a sequence of them, such as (100,) or (64, 32)"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    try:
        sizes = tuple(value)
    except TypeError:
        raise ValueError(f"hidden_layer_sizes={value!r} is invalid; {expected}") from None
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"hidden_layer_sizes={value!r} is invalid: {s!r} is not a "
                             f"positive integer; {expected}")
    return tuple(int(s) for s in sizes)


def _check_hidden_activation(value, n_hidden):
    """The per-layer list of hidden activations from one spec or a list of them."""
    per_layer = [value] * n_hidden if isinstance(value, (str, tuple)) else value
    try:
        per_layer = list(per_layer)
    except TypeError:
        per_layer = None
    if per_layer is None or len(per_layer) != n_hidden:
        raise ValueError(f"activation={value!r} is invalid; expected a name such as "
                         f"'sigmoid', a (name, parameter) pair, or a list of one per hidden "
                         f"layer ({n_hidden})")
    for spec in per_layer:
        parse_activation(spec, "activation", hidden=True)
    return per_layer


def _check_random_state(random_state):
    """random_state as scikit-learn accepts it: None, an int in [0, 2**32 - 1] or a
    numpy.random.RandomState."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) \
            and 0 <= random_state < 2 ** 32:
        return int(random_state)
    raise ValueError(f"random_state={random_state!r} is invalid; expected None, an integer "
                     f"in [0, 2**32 - 1] or a numpy.random.RandomState")


def _seed(random_state):
    """fastnn's seed from a checked random_state: an int as it is (so that the network is
    Network(seed=random_state)'s), None as None, a RandomState drawn from."""
    random_state = _check_random_state(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state


def _keep_parameters(estimator, arguments):
    """Store every ``__init__`` argument as the attribute of its name, unchanged, as
    scikit-learn's estimators do (checking happens in fit)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: checking the parameters, building the
    network, and the training of fit and partial_fit."""

    # -- parameters ----------------------------------------------------------------
    def _config(self):
        """Every parameter checked, with an error naming the argument, the value received
        and what was expected; returns them as attributes of a namespace."""
        hidden = _check_hidden_sizes(self.hidden_layer_sizes)
        hidden_activation = _check_hidden_activation(self.activation, len(hidden))
        output, _ = parse_activation(self.output_activation, "output_activation")
        cost = self.cost if self.cost is not None else self._default_cost(output)
        cost_code(cost, output)  # a known cost, valid with this output activation
        dropout = self.dropout
        check_dropout(dropout, len(hidden))
        if not (isinstance(self.validation_fraction, numbers.Real)
                and not isinstance(self.validation_fraction, bool)
                and 0.0 < self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction={self.validation_fraction!r} is invalid; "
                             f"expected a number in (0, 1)")
        if self.threads is not None:
            _threads.resolve(self.threads)
        _check_random_state(self.random_state)
        return SimpleNamespace(
            hidden=hidden, hidden_activation=hidden_activation,
            output_activation=self.output_activation, cost=cost,
            optimizer=get_optimizer(self.optimizer),
            eta=_checks.check_positive("learning_rate_init", self.learning_rate_init),
            batch_size=_checks.check_positive("batch_size", self.batch_size, integer=True),
            epochs=_checks.check_positive("max_iter", self.max_iter, integer=True),
            alpha=_checks.check_non_negative("alpha", self.alpha),
            l1=_checks.check_non_negative("l1", self.l1), dropout=dropout,
            clip_norm=None if self.clip_norm is None
            else _checks.check_positive("clip_norm", self.clip_norm),
            early_stopping=_check_flag("early_stopping", self.early_stopping),
            validation_fraction=float(self.validation_fraction),
            n_iter_no_change=_checks.check_positive("n_iter_no_change", self.n_iter_no_change,
                                                    integer=True),
            monitor_training=_check_flag("monitor_training", self.monitor_training),
            initializer=self.initializer, dtype=_checks.check_dtype(self.dtype),
            threads=self.threads, warm_start=_check_flag("warm_start", self.warm_start),
            verbose=bool(self.verbose))

    def _architecture(self, cfg, n_in, n_out):
        """What a network must match to be trained further (warm_start, partial_fit)."""
        return {"sizes": [n_in, *cfg.hidden, n_out],
                "activation": [parse_activation(a, "activation", hidden=True)
                               for a in cfg.hidden_activation],
                "output_activation": parse_activation(cfg.output_activation),
                "cost": cfg.cost, "dtype": np.dtype(cfg.dtype).name}

    # -- the network ---------------------------------------------------------------
    def _start(self, cfg, n_in, n_out):
        """A new network, as Network(...) builds it from these parameters."""
        seed = _seed(self.random_state)
        hidden = self.activation if isinstance(self.activation, (str, tuple)) \
            else cfg.hidden_activation
        self.network_ = Network([n_in, *cfg.hidden, n_out], hidden_activation=hidden,
                                output_activation=cfg.output_activation, cost=cfg.cost,
                                dtype=cfg.dtype, seed=seed, initializer=cfg.initializer,
                                threads=cfg.threads)
        self._built_as = self._architecture(cfg, n_in, n_out)
        # partial_fit's own stream of epoch orders and dropout masks (fit uses the network's)
        self._partial_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self._partial_dropout_seed = int(self._partial_rng.integers(2 ** 63))
        self._partial_state = None
        self.n_iter_ = 0
        self.loss_curve_ = [] if cfg.monitor_training else None
        self.history_ = None
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _go_on(self, cfg, n_in, n_out, why):
        """Check that the fitted network can be trained further with these parameters."""
        now = self._architecture(cfg, n_in, n_out)
        differ = [k for k in now if now[k] != self._built_as[k]]
        if differ:
            detail = "; ".join(f"{k} was {self._built_as[k]!r}, now {now[k]!r}" for k in differ)
            raise ValueError(f"{why} continues the fitted network, but the parameters no "
                             f"longer describe it ({detail}); fit with warm_start=False to "
                             f"start a new one")
        self.network_.threads = cfg.threads
        if cfg.monitor_training and self.loss_curve_ is None:
            self.loss_curve_ = []

    def _lmbda(self, cfg, n):
        """fastnn's (λ, λ₁) for n training samples: alpha and l1 per mini-batch of m."""
        m = min(cfg.batch_size, n)
        return cfg.alpha * n / m, cfg.l1 * n / m

    # -- training ------------------------------------------------------------------
    def _fit_network(self, cfg, X, T, go_on, incremental):
        """Build the network (or, with ``go_on``, check that the fitted one still matches
        the parameters) and train it on (X, T): T is what Network.fit takes (int class
        codes, or target rows)."""
        n_out = self._n_network_outputs()
        if go_on:
            self._go_on(cfg, X.shape[1], n_out, "partial_fit" if incremental
                        else "warm_start=True")
        else:
            self._start(cfg, X.shape[1], n_out)
        try:
            if incremental:
                self._partial_epoch(cfg, X, T)
            elif cfg.early_stopping:
                self._fit_early_stopping(cfg, X, T)
            else:
                lmbda, l1 = self._lmbda(cfg, X.shape[0])
                self._record(cfg, self.network_.fit(X, T,
                                                    **self._fit_arguments(cfg, lmbda, l1)))
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"{exc} (eta is learning_rate_init={cfg.eta!r} here"
                                   f"{self._divergence_hint})") from None
        return self

    def _fit_arguments(self, cfg, lmbda, l1):
        return dict(epochs=cfg.epochs, mini_batch_size=cfg.batch_size, eta=cfg.eta,
                    lmbda=lmbda, l1=l1, optimizer=cfg.optimizer, dropout=cfg.dropout,
                    clip_norm=cfg.clip_norm, monitor_training=cfg.monitor_training,
                    verbose=cfg.verbose)

    def _record(self, cfg, history):
        self.history_ = history
        self.n_iter_ += len(history["epoch"])
        if cfg.monitor_training:
            self.loss_curve_.extend(history["training_cost"])

    def _split(self, cfg, X, T, stratify):
        """The (training, validation) parts for early stopping."""
        seed = _seed(self.random_state)
        try:
            X_fit, X_val, T_fit, T_val = train_test_split(
                X, T, test_size=cfg.validation_fraction, random_state=seed,
                stratify=T if stratify else None)
        except ValueError as exc:
            raise ValueError(f"early_stopping=True cannot hold out validation_fraction="
                             f"{cfg.validation_fraction} of {X.shape[0]} samples: {exc}") \
                from None
        if X_fit.shape[0] == 0:
            raise ValueError(f"early_stopping=True with validation_fraction="
                             f"{cfg.validation_fraction} leaves no training samples of "
                             f"{X.shape[0]}; expected more samples or a smaller fraction")
        return (np.ascontiguousarray(X_fit), np.ascontiguousarray(T_fit),
                np.ascontiguousarray(X_val), np.ascontiguousarray(T_val))

    def _partial_epoch(self, cfg, X, T):
        """One epoch over (X, T) in a random order, going on from the optimizer state of
        the previous partial_fit (Network.train_epoch)."""
        net = self.network_
        state = self._partial_state
        if state is None or state.optimizer != cfg.optimizer:
            state = OptimizerState(cfg.optimizer, net.params.shape[0], net.dtype)
        order = self._partial_rng.permutation(X.shape[0]).astype(np.int64)
        lmbda, l1 = self._lmbda(cfg, X.shape[0])
        self._partial_state = net.train_epoch(
            X, T, order, cfg.batch_size, cfg.eta, lmbda=lmbda, l1=l1, optimizer=cfg.optimizer,
            dropout=cfg.dropout, dropout_seed=self._partial_dropout_seed, epoch=self.n_iter_,
            state=state, clip_norm=cfg.clip_norm)
        self.n_iter_ += 1
        if cfg.monitor_training:
            self.loss_curve_.append(net.evaluate(X, T, lmbda=lmbda)["cost"])

    # -- pickling ------------------------------------------------------------------
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
                "seed": net.seed, "rng": net.rng.bit_generator.state, "params": net.params}
        opt = state.pop("_partial_state", None)
        if opt is not None:
            state["_partial_state_arrays"] = (opt.optimizer, opt.buffers, opt.step)
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_network_state", None)
        opt = state.pop("_partial_state_arrays", None)
        super().__setstate__(state)
        if saved is not None:
            acts = saved["activations"]
            net = Network(saved["sizes"], hidden_activation=acts[:-1],
                          output_activation=acts[-1], cost=saved["cost"], dtype=saved["dtype"],
                          initializer=saved["initializers"])
            try:
                net.threads = saved["threads"]
            except ValueError:  # more threads than this machine has: use its default
                pass
            net.params[...] = saved["params"]
            net.seed = saved["seed"]
            net.rng.bit_generator.state = saved["rng"]
            self.network_ = net
        if opt is not None:
            optimizer, buffers, step = opt
            restored = OptimizerState(optimizer, buffers.shape[1], buffers.dtype)
            restored.buffers[...] = buffers
            restored.step[...] = step
            self._partial_state = restored
        elif saved is not None:
            self._partial_state = None

    # -- fitted parameters -----------------------------------------------------------
    @property
    def coefs_(self):
        """Per-layer weights ``(n_in, n_out)`` (scikit-learn's orientation): views of the
        network's parameters, so writing into them changes the network."""
        check_is_fitted(self, "network_")
        return [w.T for w in self.network_.weights]

    @property
    def intercepts_(self):
        """Per-layer biases ``(n_out,)``: views of the network's parameters."""
        check_is_fitted(self, "network_")
        return list(self.network_.biases)

    @property
    def n_layers_(self):
        """Number of layers, input and output included."""
        check_is_fitted(self, "network_")
        return len(self.network_.sizes)

    def _inputs(self, X):
        """X checked against the fitted network, in its dtype."""
        check_is_fitted(self, "network_")
        return _validate_data(self, X, reset=False, dtype=self.network_.dtype, order="C")


_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Neurons per hidden layer; ``()`` gives no hidden layer.
    activation : str, (str, float), or a list of those, default="sigmoid"
        Hidden activation (fastnn's ``hidden_activation``): ``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"identity"``, ``("leaky_relu", α)``, ``("elu", α)``,
        ``("swish", β)``; or one per hidden layer.
    output_activation : str or (str, float), default="{output_default}"
        {output_doc}
    cost : str or None, default=None
        {cost_doc}
    optimizer : str or fastnn.optim object, default="sgd"
        ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
        ``"adam"``, ``"amsgrad"``, or e.g. ``fastnn.optim.Momentum(mu=0.5)``.
    learning_rate_init : float, default={eta_default}
        The learning rate η (constant).
    batch_size : int, default=10
        Samples per mini-batch m (fastnn's ``mini_batch_size``); at most n is used.
    max_iter : int, default=30
        Epochs (fastnn's ``epochs``). Training runs them all unless ``early_stopping``
        stops it; there is no tolerance-based stop.
    alpha : float, default=0.0
        L2 strength with scikit-learn's meaning: the gradient of a mini-batch's mean cost
        gains ``(alpha / m) w`` on the weights (never the biases). Passed to fastnn as
        ``lmbda = alpha * n / m`` for n training samples.
    l1 : float, default=0.0
        L1 strength on the same scale: the gradient gains ``(l1 / m) sgn(w)``; fastnn's
        ``l1`` is ``l1 * n / m``.
    dropout : float, sequence of float, or None, default=None
        Probability of dropping each hidden unit during training, for every hidden layer
        or one per hidden layer (inverted dropout; prediction uses the whole network).
    clip_norm : float or None, default=None
        Clip each mini-batch's mean gradient to this Euclidean norm.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data{stratified}, stop when the
        validation score ({score}) has not improved for ``n_iter_no_change`` epochs, and
        keep the parameters of the best epoch. Ignored by ``partial_fit``.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).
    n_iter_no_change : int, default=10
        Epochs without a better validation score before early stopping ends training.
    monitor_training : bool, default=False
        Record the cost on the training data after every epoch in ``loss_curve_`` (one
        extra forward pass over the training data per epoch).
    initializer : str or sequence of str, default="default"
        ``"default"`` (the book's), ``"large"``, ``"glorot"`` or ``"he"``, or one per
        layer.
    dtype : {{"float32", "float64"}}, default="float32"
        The network's float type; inputs are converted to it.
    threads : int or None, default=None
        Threads for the engine and BLAS (None: ``FASTNN_NUM_THREADS``, else every core).
        The result does not depend on it.
    random_state : int, RandomState or None, default=None
        Seeds the initial parameters, the shuffling, the dropout masks and the early
        stopping split. An int is fastnn's ``seed`` as it is.
    warm_start : bool, default=False
        Let ``fit`` go on training the fitted network instead of starting a new one. Each
        fit draws its epoch orders from the network's generator and starts a fresh
        optimizer state, as a second ``Network.fit`` does.
    verbose : bool, default=False
        Print one line per epoch (fastnn's format).
"""

_FITTED_DOC = """
    Attributes
    ----------
{extra}    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Names of the features, when fit was given a DataFrame with string column names.
    n_outputs_ : int
        Number of output neurons.
    network_ : fastnn.Network
        The trained network.
    coefs_ : list of ndarray
        Weights of each layer, ``(n_in, n_out)``: views of ``network_``'s parameters.
    intercepts_ : list of ndarray
        Biases of each layer, ``(n_out,)``: views of ``network_``'s parameters.
    n_layers_ : int
        Layers, input and output included.
    n_iter_ : int
        Epochs trained so far (summed over warm-started fits and partial_fit calls).
    history_ : dict or None
        The last ``fit``'s history from ``Network.fit`` (``epoch``, ``seconds``, ``eta``,
        ``stopped``, ...); None after partial_fit alone.
    loss_curve_ : list of float or None
        With ``monitor_training``, the training cost (with the L2 term) after every epoch.
    validation_scores_ : list of float or None
        With ``early_stopping``, the validation score after every epoch of the last fit.
    best_validation_score_ : float or None
        With ``early_stopping``, the best of ``validation_scores_``.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by fastnn's engine.

    The output layer has one neuron per class, softmax with the log-likelihood cost by
    default (two classes give two outputs). Labels may be any values scikit-learn
    accepts (ints, strings); ``classes_`` holds them sorted.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="sigmoid",
                 output_activation="softmax", cost=None, optimizer="sgd",
                 learning_rate_init=0.1, batch_size=10, max_iter=30, alpha=0.0, l1=0.0,
                 dropout=None, clip_norm=None, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, monitor_training=False, initializer="default",
                 dtype="float32", threads=None, random_state=None, warm_start=False,
                 verbose=False):
        _keep_parameters(self, locals())

    _divergence_hint = ""

    @staticmethod
    def _default_cost(output):
        return _NATURAL_COST.get(output, "quadratic")

    def _n_network_outputs(self):
        return len(self.classes_)

    def fit(self, X, y):
        """Train a new network on (X, y) (or go on training it, with ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; at least two classes.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), going on from the current network (and optimizer state).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen; required on the first call (unless fit
            ran before), and then fixed.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        cfg = self._config()
        fitted = hasattr(self, "network_")
        go_on = fitted and (incremental or cfg.warm_start)
        X, y = _validate_data(self, X, y, reset=not go_on, dtype=cfg.dtype, order="C")
        check_classification_targets(y)
        if incremental and classes is not None:
            classes = unique_labels(classes)
            if go_on and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes={classes.tolist()!r} differs from classes_="
                                 f"{self.classes_.tolist()!r} of the fitted network; expected "
                                 f"the same classes on every call to partial_fit")
            self.classes_ = classes
        elif incremental and not go_on:
            raise ValueError("classes=None on the first call to partial_fit; expected every "
                             "class that y will ever hold, e.g. classes=np.unique(y_all)")
        elif not go_on:
            self.classes_ = LabelEncoder().fit(y).classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y holds one class only ({self.classes_.tolist()[0]!r}); a "
                             f"classifier needs at least two classes")
        codes = self._encode(y)
        self.n_outputs_ = len(self.classes_)
        return self._fit_network(cfg, X, codes, go_on, incremental)

    def _encode(self, y):
        """Class codes 0..k-1 of the labels y (ValueError for a label not in classes_)."""
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds the classes {unknown.tolist()!r}, which are not among "
                             f"classes_={self.classes_.tolist()!r} of the fitted network; "
                             f"expected only those (a new fit with warm_start=False may "
                             f"have other classes)")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _fit_early_stopping(self, cfg, X, codes):
        X_fit, codes_fit, X_val, codes_val = self._split(cfg, X, codes, stratify=True)
        lmbda, l1 = self._lmbda(cfg, X_fit.shape[0])
        history = self.network_.fit(X_fit, codes_fit, evaluation_data=(X_val, codes_val),
                                    early_stopping=cfg.n_iter_no_change, restore_best=True,
                                    **self._fit_arguments(cfg, lmbda, l1))
        self._record(cfg, history)
        self.validation_scores_ = list(history["evaluation_accuracy"])
        self.best_validation_score_ = max(self.validation_scores_)

    def predict(self, X):
        """The class of every row of X (the one with the largest output)."""
        X = self._inputs(X)
        return self.classes_[self.network_.predict(X)]

    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)``, float64, rows summing to 1.

        With a softmax output these are the outputs. With any other output activation
        the outputs are scores, not a distribution: negative ones are set to 0 and each
        row is divided by its sum (one-vs-rest normalisation); a row with no positive
        output gets the softmax of its outputs. Either way the largest probability is at
        the class ``predict`` returns.
        """
        X = self._inputs(X)
        A = self.network_.feedforward(X).astype(np.float64)
        output = self.network_.activations[-1]
        if output != "softmax":
            P = np.maximum(A, 0.0)
            none = ~(P.sum(axis=1) > 0)
            if none.any():
                Z = A[none] - A[none].max(axis=1, keepdims=True)
                P[none] = np.exp(Z)
            A = P
        return A / A.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba(X)``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by fastnn's engine.

    Identity output with the quadratic cost by default; y may have several columns
    (one output neuron each). Targets are used as they are, not scaled: a network
    learns best when they are of order one, so scale large targets first, e.g. with
    ``sklearn.compose.TransformedTargetRegressor(regressor, transformer=StandardScaler())``.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="sigmoid",
                 output_activation="identity", cost=None, optimizer="sgd",
                 learning_rate_init=0.01, batch_size=10, max_iter=30, alpha=0.0, l1=0.0,
                 dropout=None, clip_norm=None, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, monitor_training=False, initializer="default",
                 dtype="float32", threads=None, random_state=None, warm_start=False,
                 verbose=False):
        _keep_parameters(self, locals())

    _divergence_hint = ("; targets far from order one make it diverge sooner: scale them, "
                        "e.g. with sklearn.compose.TransformedTargetRegressor")

    @staticmethod
    def _default_cost(output):
        return "quadratic"

    def _n_network_outputs(self):
        return self.n_outputs_

    def fit(self, X, y):
        """Train a new network on (X, y) (or go on training it, with ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over (X, y), going on from the current network (and optimizer state).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, incremental):
        cfg = self._config()
        go_on = hasattr(self, "network_") and (incremental or cfg.warm_start)
        X, y = _validate_data(self, X, y, reset=not go_on, dtype=cfg.dtype, order="C",
                              multi_output=True, y_numeric=True)
        Y = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=cfg.dtype)
        if go_on and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs; the fitted network has "
                             f"n_outputs_={self.n_outputs_} (fit with warm_start=False to "
                             f"start a new one)")
        self.n_outputs_ = Y.shape[1]
        return self._fit_network(cfg, X, Y, go_on, incremental)

    def _fit_early_stopping(self, cfg, X, Y):
        """Early stopping on the validation R², scikit-learn's score for regressors,
        through Network.fit's callback (fit's own would watch the validation cost)."""
        X_fit, Y_fit, X_val, Y_val = self._split(cfg, X, Y, stratify=False)
        lmbda, l1 = self._lmbda(cfg, X_fit.shape[0])
        net, scores = self.network_, []
        best = [-math.inf, None, None]  # score, epoch, parameters

        def watch(epoch, history):
            score = _r2(Y_val, net.feedforward(X_val))
            scores.append(score)
            if score > best[0]:
                best[:] = [score, epoch, net.params.copy()]
            return epoch - best[1] >= cfg.n_iter_no_change

        history = net.fit(X_fit, Y_fit, callback=watch, **self._fit_arguments(cfg, lmbda, l1))
        if best[2] is not None:
            net.params[...] = best[2]
        if history["stopped"] == "callback":
            history["stopped"] = (f"early stopping: no better validation R² for "
                                  f"{cfg.n_iter_no_change} epochs")
        history["validation_r2"] = list(scores)
        history["best_epoch"] = best[1]
        self._record(cfg, history)
        self.validation_scores_ = scores
        self.best_validation_score_ = best[0]

    def predict(self, X):
        """Predictions, float64: ``(n_samples,)`` for one output, else
        ``(n_samples, n_outputs)``."""
        X = self._inputs(X)
        out = self.network_.feedforward(X).astype(np.float64)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}


def _r2(Y, P):
    """R² averaged over outputs (uniform weights, as RegressorMixin.score), in float64; a
    constant output column counts 1 when predicted exactly, else 0."""
    Y = np.asarray(Y, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    residual = ((Y - P) ** 2).sum(axis=0)
    total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0),
                      np.where(residual == 0, 1.0, 0.0))
    return float(r2.mean())


MLPClassifier.__doc__ += _PARAMETERS_DOC.format(
    output_default="softmax", eta_default=0.1,
    output_doc="The output layer's activation: ``\"softmax\"`` (a distribution over the "
               "classes),\n        ``\"sigmoid\"`` (one-vs-rest), or any hidden activation.",
    cost_doc="``\"log_likelihood\"``, ``\"cross_entropy\"`` or ``\"quadratic\"``; None "
             "pairs it with the\n        output: softmax → log_likelihood, sigmoid → "
             "cross_entropy, anything else → quadratic.",
    stratified=", stratified by class", score="accuracy") + _FITTED_DOC.format(
    extra="    classes_ : ndarray of shape (n_classes,)\n        The class labels.\n")
MLPRegressor.__doc__ += _PARAMETERS_DOC.format(
    output_default="identity", eta_default=0.01,
    output_doc="The output layer's activation (``\"identity\"`` for unbounded targets).",
    cost_doc="``\"quadratic\"`` (None means quadratic), or ``\"cross_entropy\"`` with\n"
             "        ``output_activation=\"sigmoid\"`` for targets in [0, 1].",
    stratified="", score="R²") + _FITTED_DOC.format(extra="")
