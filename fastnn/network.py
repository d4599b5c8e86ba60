"""The modern array API: ``fastnn.Network``.

Samples are rows. Targets are int class labels ``(n,)`` or target rows ``(n, n_out)``.
All parameters live in one flat buffer (``net.params``); ``net.weights[l]`` ``(n_out, n_in)``
and ``net.biases[l]`` ``(n_out,)`` are views of it.
"""
import time

import numpy as np

from . import _checks
from ._engine import Engine
from ._io import load_model, save_model, ModelFileError
from .activations import activation_code
from .costs import cost_code

INITIALIZERS = ("default", "large")


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite parameter or cost; the last good parameters are kept."""


class Network:
    """A fully connected network trained by mini-batch SGD on fastnn's Numba engine.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    hidden_activation : str or sequence of str
        ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"identity"``, or one name per hidden layer.
    output_activation : str
        One of the hidden activations or ``"softmax"``.
    cost : str
        ``"cross_entropy"`` (sigmoid output), ``"log_likelihood"`` (softmax output) or
        ``"quadratic"`` (any output).
    dtype : {"float32", "float64"}
        float32 for speed, float64 for exact parity with the reference.
    seed : int or None
        Seeds the initial parameters and the shuffling of every ``fit``.
    initializer : {"default", "large"}
        ``"default"``: weights N(0, 1/n_in), biases N(0, 1) (the book's default);
        ``"large"``: weights and biases N(0, 1).
    """

    def __init__(self, sizes, hidden_activation="sigmoid", output_activation="sigmoid",
                 cost="cross_entropy", dtype="float32", seed=None, initializer="default"):
        self.sizes = _checks.check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        if isinstance(hidden_activation, str):
            hidden = (hidden_activation,) * n_hidden
        else:
            hidden = tuple(hidden_activation)
            if len(hidden) != n_hidden:
                raise ValueError(f"hidden_activation={hidden_activation!r} has {len(hidden)} "
                                 f"names; expected one per hidden layer ({n_hidden})")
        codes = [activation_code(h, "hidden_activation", hidden=True) for h in hidden]
        codes.append(activation_code(output_activation, "output_activation"))
        self.activations = hidden + (output_activation,)
        self.cost = cost
        self.dtype = _checks.check_dtype(dtype)
        self._engine = Engine(self.sizes, codes, cost_code(cost, output_activation), self.dtype)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.params = np.empty(self._engine.n_params, dtype=self.dtype)
        self.initialize(initializer)

    def __repr__(self):
        return (f"Network(sizes={list(self.sizes)}, activations={list(self.activations)}, "
                f"cost={self.cost!r}, dtype={np.dtype(self.dtype).name!r})")

    # -- parameters -------------------------------------------------------------
    @property
    def weights(self):
        """Per-layer weight views ``(n_out, n_in)`` of ``params``."""
        return self._engine.weights(self.params)

    @property
    def biases(self):
        """Per-layer bias views ``(n_out,)`` of ``params``."""
        return self._engine.biases(self.params)

    def initialize(self, initializer="default"):
        """Draw new parameters from this network's generator (see the class docstring)."""
        if initializer not in INITIALIZERS:
            raise ValueError(f"initializer={initializer!r} is not known; expected one of "
                             f"{', '.join(INITIALIZERS)}")
        self.initializer = initializer
        for w in self.weights:
            scale = 1.0 / np.sqrt(w.shape[1]) if initializer == "default" else 1.0
            w[...] = self._rng.standard_normal(w.shape) * scale
        for b in self.biases:
            b[...] = self._rng.standard_normal(b.shape)

    def set_parameters(self, weights, biases):
        """Copy per-layer ``weights`` (n_out, n_in) and ``biases`` ((n_out,) or (n_out, 1)) in."""
        if len(weights) != len(self.sizes) - 1 or len(biases) != len(self.sizes) - 1:
            raise ValueError(f"expected {len(self.sizes) - 1} weight and bias arrays, got "
                             f"{len(weights)} and {len(biases)}")
        for l, (w, b, n_out, n_in) in enumerate(zip(weights, biases, self.sizes[1:],
                                                    self.sizes[:-1])):
            if np.shape(w) != (n_out, n_in):
                raise ValueError(f"weights[{l}] has shape {np.shape(w)}; expected {(n_out, n_in)}")
            if np.size(b) != n_out:
                raise ValueError(f"biases[{l}] has shape {np.shape(b)}; expected ({n_out},)")
        self.params[...] = self._engine.pack(weights, biases)

    # -- training ---------------------------------------------------------------
    def _prepare(self, name, X, y):
        X = _checks.check_inputs(name + "[0]" if name != "X" else "X", X, self.sizes[0], self.dtype)
        Y, labels = _checks.check_targets(name + "[1]" if name != "X" else "y", y, X.shape[0],
                                          self.sizes[-1], self.dtype)
        return X, Y, labels

    def train_epoch(self, X, y, order, mini_batch_size, eta, lmbda=0.0):
        """One epoch of SGD over the rows ``X[order]`` in that order (the low-level step of fit).

        Mini-batches are ``order[k:k + mini_batch_size]``; the last may be shorter. Each
        updates ``w ← (1 − ηλ/n) w − (η/m) Σ ∇w`` and ``b ← b − (η/m) Σ ∇b`` with n = len(order).
        """
        X, Y, _ = self._prepare("X", X, y)
        order = np.asarray(order)
        if order.ndim != 1 or order.size == 0 or not np.issubdtype(order.dtype, np.integer) \
                or order.min() < 0 or order.max() >= X.shape[0]:
            raise ValueError(f"order must be a non-empty 1-D array of row indices in "
                             f"0..{X.shape[0] - 1}; got {order!r}")
        m = _checks.check_positive("mini_batch_size", mini_batch_size, integer=True)
        eta = _checks.check_positive("eta", eta)
        lmbda = _checks.check_non_negative("lmbda", lmbda)
        self._epoch(X, Y, np.ascontiguousarray(order, dtype=np.int64), m, eta, lmbda, epoch=0)

    def _epoch(self, X, Y, order, m, eta, lmbda, epoch, n=None):
        """One epoch; returns a copy of the parameters from before it (the last good ones)."""
        last_good = self.params.copy()
        self._engine.train_epoch(self.params, X, Y, order, m, eta, lmbda, n)
        if not np.isfinite(self.params).all():
            self._diverged(last_good, epoch, eta, "a parameter became NaN or infinite")
        return last_good

    def _diverged(self, last_good, epoch, eta, what):
        self.params[...] = last_good
        raise TrainingDiverged(
            f"training diverged in epoch {epoch}: {what} with eta={eta}; the parameters of "
            f"the last good epoch were kept. Try a smaller eta.")

    def fit(self, X, y, epochs=1, mini_batch_size=10, eta=0.5, lmbda=0.0, evaluation_data=None,
            monitor_training=False, verbose=False, callback=None):
        """Train by mini-batch SGD with the book's L2 weight decay.

        Parameters
        ----------
        X : array (n, n_in)
            Training inputs, one sample per row.
        y : array (n,) of int, or (n, n_out)
            Class labels or target rows.
        epochs, mini_batch_size : int
            Passes over the data, and samples per update (the last batch may be smaller).
        eta : float
            Learning rate η > 0.
        lmbda : float
            L2 strength λ ≥ 0: weights decay by (1 − ηλ/n) per update; biases never.
        evaluation_data : (X_eval, y_eval) or None
            Evaluated after every epoch (cost and accuracy).
        monitor_training : bool
            Also record the cost and accuracy on the training data after every epoch.
        verbose : bool
            Print one line per epoch.
        callback : callable(epoch, history) or None
            Called after every epoch; returning True stops training.

        Returns
        -------
        dict of lists, one entry per epoch: ``epoch``, ``seconds``, and when monitored
        ``training_cost``, ``training_accuracy``, ``evaluation_cost``, ``evaluation_accuracy``
        (accuracies as fractions).
        """
        X, Y, labels = self._prepare("X", X, y)
        epochs = _checks.check_positive("epochs", epochs, integer=True)
        m = _checks.check_positive("mini_batch_size", mini_batch_size, integer=True)
        eta = _checks.check_positive("eta", eta)
        lmbda = _checks.check_non_negative("lmbda", lmbda)
        if evaluation_data is not None:
            try:
                X_eval, y_eval = evaluation_data
            except (TypeError, ValueError):
                given = (f"a {type(evaluation_data).__name__} of {len(evaluation_data)} items"
                         if hasattr(evaluation_data, "__len__") else f"{evaluation_data!r:.60}")
                raise ValueError(f"evaluation_data={given} is invalid; expected a pair "
                                 f"(X_eval, y_eval)") from None
            X_eval, Y_eval, labels_eval = self._prepare("evaluation_data", X_eval, y_eval)
        if callback is not None and not callable(callback):
            raise ValueError(f"callback={callback!r} is not callable")
        monitored = {}
        if monitor_training:
            monitored["training"] = (X, Y, labels)
        if evaluation_data is not None:
            monitored["evaluation"] = (X_eval, Y_eval, labels_eval)
        history = {"epoch": [], "seconds": []}
        for name in monitored:
            history.update({f"{name}_cost": [], f"{name}_accuracy": []})
        n = X.shape[0]
        for epoch in range(epochs):
            order = self._rng.permutation(n).astype(np.int64)
            start = time.perf_counter()
            last_good = self._epoch(X, Y, order, m, eta, lmbda, epoch)
            history["epoch"].append(epoch)
            history["seconds"].append(time.perf_counter() - start)
            line = f"epoch {epoch}: {history['seconds'][-1]:.3f} s"
            for name, (Xm, Ym, labels_m) in monitored.items():
                cost, acc = self._cost_accuracy(Xm, Ym, labels_m, lmbda)
                if not np.isfinite(cost):
                    self._diverged(last_good, epoch, eta, f"the {name} cost became {cost}")
                history[f"{name}_cost"].append(cost)
                history[f"{name}_accuracy"].append(acc)
                line += f", {name} cost {cost:.4f}, accuracy {acc:.4f}"
            if verbose:
                print(line, flush=True)
            if callback is not None and callback(epoch, history):
                break
        return history

    # -- inference --------------------------------------------------------------
    def _cost_accuracy(self, X, Y, labels, lmbda):
        Z, A = self._engine.forward(self.params, X)
        cost = self._engine.total_cost(self.params, Y, Z, A, lmbda)
        truth = labels if labels is not None else np.argmax(Y, axis=1)
        return cost, float(np.mean(np.argmax(A, axis=1) == truth))

    def feedforward(self, X):
        """Output activations ``(n, n_out)`` for inputs ``X`` ``(n, n_in)``."""
        X = _checks.check_inputs("X", X, self.sizes[0], self.dtype)
        return self._engine.forward(self.params, X)[1]

    def predict(self, X):
        """Predicted class (index of the largest output) for every row of X, int64 ``(n,)``."""
        return np.argmax(self.feedforward(X), axis=1)

    def evaluate(self, X, y, lmbda=0.0):
        """``{"cost", "accuracy", "correct", "n"}`` on (X, y); cost includes ½(λ/n)Σ‖W‖²."""
        X, Y, labels = self._prepare("X", X, y)
        cost, acc = self._cost_accuracy(X, Y, labels, _checks.check_non_negative("lmbda", lmbda))
        return {"cost": cost, "accuracy": acc, "correct": int(round(acc * X.shape[0])),
                "n": int(X.shape[0])}

    def gradients(self, X, y):
        """Mean per-layer gradients of the (unregularized) cost over the batch (X, y).

        Returns ``(grad_w, grad_b)``: lists of ``(n_out, n_in)`` and ``(n_out,)`` arrays.
        """
        X, Y, _ = self._prepare("X", X, y)
        grad = self._engine.mean_gradient(self.params, X, Y)
        return ([w.copy() for w in self._engine.weights(grad)],
                [b.copy() for b in self._engine.biases(grad)])

    # -- files ------------------------------------------------------------------
    def save(self, path):
        """Write the network to ``path`` atomically (fastnn's checksummed .npz format)."""
        save_model(path, self.params, {"sizes": list(self.sizes),
                                       "activations": list(self.activations),
                                       "cost": self.cost, "initializer": self.initializer})

    @classmethod
    def load(cls, path):
        """A network read from a file written by ``save``; ModelFileError if it is bad."""
        params, meta = load_model(path)
        try:
            net = cls(meta["sizes"], hidden_activation=list(meta["activations"][:-1]),
                      output_activation=meta["activations"][-1], cost=meta["cost"],
                      dtype=meta["dtype"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} describes an invalid network: {exc}") from None
        if params.shape[0] != net.params.shape[0]:
            raise ModelFileError(f"{str(path)!r} holds {params.shape[0]} parameters; sizes "
                                 f"{meta['sizes']} need {net.params.shape[0]}")
        net.params[...] = params
        net.initializer = meta.get("initializer", "default")
        return net


def load(path):
    """``Network.load(path)``."""
    return Network.load(path)
