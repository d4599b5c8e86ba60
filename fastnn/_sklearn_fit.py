"""scikit-learn's MLP training, step for step, on fastnn's engine (``fastnn.sklearn``'s).

scikit-learn's ``MLPClassifier``/``MLPRegressor`` train with ``_fit_stochastic``: per
epoch the sample indices are shuffled by the estimator's ``RandomState``, cut into
mini-batches by ``gen_batches``, and each mini-batch takes one optimizer step on the
gradient (Aᵀδ + α W) / m of its loss, m being *that* mini-batch's size (the last one's
too). The epoch's loss is the mean of the mini-batch losses, each measured before its
step, with ½ α Σ‖W‖² / m added. Then the stopping rules: the training loss (or, with
early stopping, the validation score) must improve by ``tol`` within
``n_iter_no_change`` epochs, and ``learning_rate="adaptive"`` divides η by 5 instead of
stopping while η > 1e-6.

Here the same happens with the engine doing the arithmetic:

* ``glorot_init`` draws the initial parameters as scikit-learn's ``_init_coef`` does,
  from the same ``RandomState`` in the same order (uniform in ±√(6 / (n_in + n_out)),
  ±√(2 / ...) for the logistic activation), weights then biases per layer;
* ``StochasticFit`` runs the epochs: each epoch is one call of the engine's general epoch
  (two when the last mini-batch is short) with λ/n = α/m for each mini-batch, the optimizer
  being ``Momentum``/``Nesterov`` (scikit-learn's ``SGDOptimizer``, whose velocity is the
  seeds' v ← μ v − η g) or ``Adam(eps_hat=True)`` (its ``AdamOptimizer``); SGD without
  momentum takes the engine's fused SGD epoch instead. The engine records each
  mini-batch's loss, by scikit-learn's formulas, before its step;
* ``fit_lbfgs`` is ``_fit_lbfgs``: SciPy's L-BFGS-B on the engine's full-batch loss and
  gradient.

tests/test_sklearn_fit.py checks the estimators built on this against scikit-learn's
own fits.
"""
import warnings

import numpy as np

from .kernels.costs import LOSS_BINARY, LOSS_LOG, LOSS_POISSON, LOSS_SQUARED
from .optim import Adam, Momentum, Nesterov, OptimizerState

#: scikit-learn's loss names -> the engine's (kernels/costs.py's clipped_loss_sum)
LOSS_KINDS = {"log_loss": LOSS_LOG, "binary_log_loss": LOSS_BINARY,
              "squared_error": LOSS_SQUARED, "poisson": LOSS_POISSON}
#: scikit-learn's activation names -> fastnn's
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def glorot_init(net, random_state, activation):
    """Set ``net``'s parameters as scikit-learn's ``_init_coef`` draws them, layer by layer
    (its ``coefs_[l]`` is ``(n_in, n_out)``: fastnn's weights transposed)."""
    factor = 2.0 if activation == "logistic" else 6.0
    for w, b in zip(net.weights, net.biases):
        n_out, n_in = w.shape
        bound = np.sqrt(factor / (n_in + n_out))
        coef = random_state.uniform(-bound, bound, (n_in, n_out))
        intercept = random_state.uniform(-bound, bound, n_out)
        w[...] = coef.T
        b[...] = intercept


class StochasticFit:
    """The state of scikit-learn's stochastic solvers ("sgd", "adam") for one network,
    kept between ``fit`` calls for ``warm_start`` and ``partial_fit``, under
    scikit-learn's attribute names: the step count ``t_``, ``n_iter_``, ``loss_``, the loss
    curve, the stopping counters and the best parameters seen; and the optimizer (its
    buffers and η), which ``restart_optimizer`` makes anew.

    The other hyperparameters are read on every ``run`` (``settings``), as scikit-learn
    reads its attributes on every ``fit``."""

    def __init__(self, net, early_stopping):
        self.net = net
        self.t_ = 0
        self.n_iter_ = 0
        self.loss_ = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.best_params = net.params.copy()
        self.optimizer = self.state = None
        self.epochs_run = 0   # every epoch ever trained: picks the dropout masks

    def restart_optimizer(self, solver, learning_rate_init, learning_rate="constant",
                          power_t=0.5, momentum=0.9, nesterovs_momentum=True, beta_1=0.9,
                          beta_2=0.999, epsilon=1e-8, optimizer=None):
        """A fresh optimizer (its buffers zero, η at ``learning_rate_init``), as
        scikit-learn makes one for every ``fit``, ``warm_start`` included; ``partial_fit``
        keeps the one it has. ``optimizer`` (a fastnn optimizer) replaces the solver's."""
        own_optimizer = optimizer is not None
        if optimizer is None:
            if solver == "sgd":
                optimizer = (Nesterov if nesterovs_momentum else Momentum)(mu=momentum)
            elif solver == "adam":
                optimizer = Adam(beta1=beta_1, beta2=beta_2, eps=epsilon, eps_hat=True)
            else:
                raise ValueError(f"solver={solver!r} is not a stochastic solver; expected "
                                 f"'sgd' or 'adam'")
        # SGD without momentum is the book's update, w ← (1 − ηα/m) w − (η/m) Σ δ aᵀ: the
        # engine's fused SGD epoch takes it in one pass over the weights
        self.plain_sgd = solver == "sgd" and momentum == 0 and not own_optimizer
        self.optimizer = optimizer
        self.state = OptimizerState(optimizer, self.net.params.shape[0], self.net.dtype)
        self.eta = float(learning_rate_init)
        self.eta_init, self.power_t = float(learning_rate_init), power_t
        self.schedule = learning_rate if solver == "sgd" else "constant"

    def epoch(self, X, Y, order, random_state, settings):
        """One pass over (X, Y) in scikit-learn's mini-batches; returns its loss and the
        sample order, which the next epoch shuffles again (scikit-learn shuffles the
        previous epoch's order, not ``arange``).

        Two engine calls: the whole mini-batches, then the short last one, each with
        λ/n = α/m for its own m; the engine records every mini-batch's loss and Σ w²
        before its step (``losses``), from which the epoch's loss is scikit-learn's."""
        net = self.net
        n = X.shape[0]
        m = batch_rows(settings.batch_size, n)
        if settings.shuffle:   # sklearn.utils.shuffle(order, random_state), its draws
            picks = np.arange(n)
            random_state.shuffle(picks)
            order = order[picks]
        rows_of = order.astype(np.int64)
        total = 0.0
        whole = n - n % m
        weights = settings.sample_weight
        plain = self.plain_sgd and settings.l1 == 0 and not settings.dropout.any() and \
            weights is None
        for rows, batch0 in ((rows_of[:whole], 0), (rows_of[whole:], whole // m)):
            if rows.shape[0] == 0:
                continue
            size = min(m, rows.shape[0])
            losses = np.empty((rows.shape[0] // size, 2))
            if plain:
                net.engine.train_epoch(net.params, X, Y, rows, size, self.eta, settings.alpha,
                                       n=size, losses=losses,
                                       loss_kind=LOSS_KINDS[settings.loss])
            else:
                net.engine.train_epoch_general(net.params, X, Y, rows, size, self.eta,
                                               settings.alpha, settings.l1, self.optimizer,
                                               self.state, settings.dropout,
                                               settings.dropout_seed, self.epochs_run, n=size,
                                               batch0=batch0, losses=losses,
                                               loss_kind=LOSS_KINDS[settings.loss],
                                               row_weight=weights)
            batch_terms = losses[:, 0] + 0.5 * settings.alpha * losses[:, 1]
            if weights is None:
                total += batch_terms.sum()
            else:   # scikit-learn: each mini-batch's weighted mean loss, times its rows
                sums = weights[rows].reshape(-1, size).sum(axis=1)
                total += float((batch_terms / sums).sum()) * size
        self.epochs_run += 1
        return total / n, order

    def run(self, X, Y, random_state, settings, incremental=False, validation=None):
        """``_fit_stochastic``'s epochs: at most ``settings.max_iter`` (one when
        ``incremental``), with its stopping rules; ``validation`` is None or a callable
        returning the validation score of the current parameters (early stopping). Ctrl-C
        ends training with a warning, the best parameters restored, as in scikit-learn."""
        n = X.shape[0]
        if settings.batch_size != "auto" and settings.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        self.n_iter_ = 0
        try:
            self._epochs(X, Y, random_state, settings, incremental, validation)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if validation is not None:
            self.net.params[...] = self.best_params

    def _epochs(self, X, Y, random_state, settings, incremental, validation):
        from sklearn.exceptions import ConvergenceWarning
        n = X.shape[0]
        order = np.arange(n, dtype=int)
        max_iter = settings.max_iter
        for _ in range(max_iter):
            self.loss_, order = self.epoch(X, Y, order, random_state, settings)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if settings.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement_count(validation, settings)
            if self.schedule == "invscaling":
                self.eta = self.eta_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > settings.n_iter_no_change:
                what = "Validation score" if validation is not None else "Training loss"
                msg = (f"{what} did not improve more than tol={settings.tol:f} for "
                       f"{settings.n_iter_no_change} consecutive epochs.")
                if self._trigger_stopping(msg, settings.verbose):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({max_iter}) reached "
                              f"and the optimization hasn't converged yet.",
                              ConvergenceWarning)

    def _update_no_improvement_count(self, validation, settings):
        tol = settings.tol
        if validation is not None:
            score = validation()
            self.validation_scores_.append(score)
            if settings.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self.best_params = self.net.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _trigger_stopping(self, msg, verbose):
        """scikit-learn's ``trigger_stopping``: stop, or (adaptive SGD) divide η by 5."""
        if self.schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.eta <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.eta /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.eta)
        return False

    def __getstate__(self):
        """Everything but the network, which its estimator pickles (and reattaches)."""
        state = dict(self.__dict__)
        state["net"] = None
        return state


def batch_rows(batch_size, n):
    """scikit-learn's mini-batch size for n samples: "auto" is min(200, n), an int is
    clipped to [1, n]."""
    return min(200, n) if batch_size == "auto" else int(np.clip(batch_size, 1, n))


def fit_lbfgs(net, X, Y, loss, alpha=1e-4, max_iter=200, max_fun=15000, tol=1e-4,
              sample_weight=None):
    """scikit-learn's ``_fit_lbfgs``: SciPy's L-BFGS-B on the full-batch loss
    (``loss`` as in ``LOSS_KINDS``, plus ½ α Σ‖W‖² / n) and its gradient
    ((Aᵀδ + α W) / n), both computed by the engine (with ``sample_weight``, the weighted
    loss and gradient, n being Σ w); the parameters travel in
    scikit-learn's packed order (every layer's (n_in, n_out) coefficients, then every
    layer's intercepts), so the optimizer sees the very vector scikit-learn's does.
    Sets ``net``'s parameters to the result; returns ``(n_iter_, loss_)``."""
    import scipy.optimize
    from sklearn.exceptions import ConvergenceWarning

    engine = net.engine
    n = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    kind = LOSS_KINDS[loss]
    shapes = [w.shape for w in net.weights]

    def unpack(packed):
        params = np.empty_like(net.params)
        start = 0
        for w, (n_out, n_in) in zip(engine.weights(params), shapes):
            w[...] = packed[start:start + n_in * n_out].reshape(n_in, n_out).T
            start += n_in * n_out
        for b in engine.biases(params):
            b[...] = packed[start:start + b.shape[0]]
            start += b.shape[0]
        return params

    def pack(params):
        return np.hstack([w.T.ravel() for w in engine.weights(params)]
                         + [b for b in engine.biases(params)])

    def loss_and_gradient(packed):
        params = unpack(packed)
        loss, grad = engine.loss_and_gradient(params, X, Y, kind, sample_weight)
        squares = sum(float(np.dot(w.ravel(), w.ravel())) for w in engine.weights(params))
        value = loss / n + 0.5 * alpha * squares / n
        for g, w in zip(engine.weights(grad), engine.weights(params)):
            g += (alpha / n) * w
        return value, pack(grad).astype(np.float64)

    result = scipy.optimize.minimize(loss_and_gradient, pack(net.params).astype(np.float64),
                                     method="L-BFGS-B", jac=True,
                                     options={"maxfun": max_fun, "maxiter": max_iter,
                                              "gtol": tol})
    if result.status != 0:
        warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) "
                      f"(status={result.status}): {result.message}", ConvergenceWarning)
    net.params[...] = unpack(result.x)
    return min(result.nit, max_iter), float(result.fun)
