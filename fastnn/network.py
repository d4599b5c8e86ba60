"""The modern array API: ``fastnn.Network``.

Samples are rows. Targets are int class labels ``(n,)`` or target rows ``(n, n_out)``.
All parameters live in one flat buffer (``net.params``); ``net.weights[l]`` ``(n_out, n_in)``
and ``net.biases[l]`` ``(n_out,)`` are views of it.
"""
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _checks, _fit
from ._engine import Engine
from ._engine import threads as _threads
from ._fit import TrainingDiverged, check_dropout, evaluation_score  # noqa: F401 (public here)
from ._io import ModelFileError, load_model, save_model
from .activations import activation_code, parse_activation
from .costs import cost_code
from .data import stream as _stream
from .optim import OptimizerState

#: an activation: its name, or (name, parameter) for a parametrized one such as leaky_relu
Activation = Union[str, Tuple[str, float]]
#: targets: int class labels (n,) or target rows (n, n_out)
Targets = npt.ArrayLike
#: a file path
PathLike = Union[str, "os.PathLike[str]"]
#: dropout: one probability for every hidden layer, one per hidden layer, or None
Dropout = Union[None, float, Sequence[float]]

#: initializer name -> (weight standard deviation from (n_in, n_out), bias standard deviation)
INITIALIZERS = {
    "default": (lambda n_in, n_out: 1.0 / np.sqrt(n_in), 1.0),         # the book's default
    "large": (lambda n_in, n_out: 1.0, 1.0),                            # the book's chapter 1
    "glorot": (lambda n_in, n_out: np.sqrt(2.0 / (n_in + n_out)), 0.0),  # Glorot & Bengio 2010
    "he": (lambda n_in, n_out: np.sqrt(2.0 / n_in), 0.0),               # He et al. 2015
}


class Network:
    """A fully connected network trained by mini-batch SGD on fastnn's Numba engine.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    hidden_activation : str, (str, float), or a sequence of those
        ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"``, ``"leaky_relu"`` (α),
        ``"elu"`` (α) or ``"swish"`` (β); a parametrized one as e.g. ``("leaky_relu", 0.1)``;
        or one per hidden layer.
    output_activation : str or (str, float)
        One of the hidden activations, ``"softmax"`` or ``"exp"``.
    cost : str
        ``"cross_entropy"`` (sigmoid output), ``"log_likelihood"`` (softmax output),
        ``"poisson"`` (exp output: half the Poisson deviance, for counts) or
        ``"quadratic"`` (any output).
    dtype : {"float32", "float64"}
        float32 for speed, float64 for exact parity with the reference.
    seed : int or None
        Seeds the initial parameters, the shuffling and the dropout masks of every ``fit``.
    initializer : str or sequence of str
        Per layer or for all: ``"default"`` (weights N(0, 1/n_in), biases N(0, 1), the
        book's), ``"large"`` (both N(0, 1)), ``"glorot"`` (weights N(0, 2/(n_in + n_out)),
        biases 0) or ``"he"`` (weights N(0, 2/n_in), biases 0).
    threads : int or None
        Threads for the engine and for BLAS together (None: the ``FASTNN_NUM_THREADS``
        environment variable, else every core). Sequential training gives the same
        results with any count; ``fit(..., hogwild=True)`` runs this many workers.
    """

    def __init__(self, sizes: Sequence[int],
                 hidden_activation: Union[Activation, Sequence[Activation]] = "sigmoid",
                 output_activation: Activation = "sigmoid", cost: str = "cross_entropy",
                 dtype: npt.DTypeLike = "float32", seed: Optional[int] = None,
                 initializer: Union[str, Sequence[str]] = "default",
                 threads: Optional[int] = None) -> None:
        self.sizes = _checks.check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        if isinstance(hidden_activation, (str, tuple)):
            hidden = [hidden_activation] * n_hidden
        else:
            hidden = list(hidden_activation)
            if len(hidden) != n_hidden:
                raise ValueError(f"hidden_activation={hidden_activation!r} has {len(hidden)} "
                                 f"entries; expected one per hidden layer ({n_hidden})")
        layers = [parse_activation(h, "hidden_activation", hidden=True) for h in hidden]
        layers.append(parse_activation(output_activation, "output_activation"))
        #: per layer, the activation's name, or (name, parameter) for a parametrized one
        self.activations = tuple(a if p is None else (a, p) for a, p in layers)
        self.cost = cost
        self.dtype = _checks.check_dtype(dtype)
        self._engine = Engine(self.sizes, [activation_code(a) for a, _ in layers],
                              cost_code(cost, layers[-1][0]), self.dtype,
                              act_params=[p for _, p in layers])
        self.threads = threads
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.params = np.empty(self._engine.n_params, dtype=self.dtype)
        self.initialize(initializer)

    def __repr__(self):
        return (f"Network(sizes={list(self.sizes)}, activations={list(self.activations)}, "
                f"cost={self.cost!r}, dtype={np.dtype(self.dtype).name!r})")

    # -- parameters -------------------------------------------------------------
    @property
    def weights(self) -> List[np.ndarray]:
        """Per-layer weight views ``(n_out, n_in)`` of ``params``."""
        return self._engine.weights(self.params)

    @property
    def biases(self) -> List[np.ndarray]:
        """Per-layer bias views ``(n_out,)`` of ``params``."""
        return self._engine.biases(self.params)

    def initialize(self, initializer: Union[str, Sequence[str]] = "default") -> None:
        """Draw new parameters from this network's generator: one initializer name for
        every layer, or one per layer (see the class docstring)."""
        n_layers = len(self.sizes) - 1
        names = [initializer] * n_layers if isinstance(initializer, str) else list(initializer)
        if len(names) != n_layers or any(not isinstance(n, str) or n not in INITIALIZERS
                                         for n in names):
            raise ValueError(f"initializer={initializer!r} is invalid; expected one of "
                             f"{', '.join(INITIALIZERS)}, or a list of {n_layers} of them")
        #: per layer, the initializer that drew its parameters
        self.initializers = tuple(names)
        for w, b, name in zip(self.weights, self.biases, names):
            w_std, b_std = INITIALIZERS[name]
            w[...] = self._rng.standard_normal(w.shape) * w_std(w.shape[1], w.shape[0])
            b[...] = self._rng.standard_normal(b.shape) * b_std if b_std else 0.0

    def set_parameters(self, weights: Sequence[npt.ArrayLike],
                       biases: Sequence[npt.ArrayLike]) -> None:
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

    @property
    def threads(self) -> Optional[int]:
        """Threads for the engine and BLAS (None: $FASTNN_NUM_THREADS, else every core)."""
        return self._engine.threads

    @threads.setter
    def threads(self, threads: Optional[int]) -> None:
        if threads is not None:
            _threads.resolve(threads)  # validate now, with the argument's name
        self._engine.threads = threads

    # -- training ---------------------------------------------------------------
    def _prepare(self, name, X, y, stream=False, finite=True):
        """Checked (X, Y, labels). With ``stream`` a memmap or StreamedInputs stays on disk:
        X becomes a StreamedInputs and Y a StreamedTargets (fastnn/data/stream.py). With
        ``finite`` False an in-memory X is not checked for NaN and infinities (the caller
        does it where training meets them: see ``EpochRunner.run``'s ``x_name``)."""
        x_name, y_name = (name + "[0]", name + "[1]") if name != "X" else ("X", "y")
        if stream and _stream.is_streamed(X):
            X = _stream.checked(X, x_name, self.sizes[0], self.dtype)
            Y, labels = _checks.check_targets(y_name, y, X.shape[0], self.sizes[-1],
                                              self.dtype, one_hot=False)
            Y = _stream.StreamedTargets(labels=labels, n_out=self.sizes[-1]) if Y is None \
                else _stream.StreamedTargets(rows=Y, n_out=self.sizes[-1])
            return X, Y, labels
        if isinstance(X, _stream.StreamedInputs):
            X = X.rows(slice(None), self.dtype)
        X = _checks.check_inputs(x_name, X, self.sizes[0], self.dtype, finite=finite)
        Y, labels = _checks.check_targets(y_name, y, X.shape[0], self.sizes[-1], self.dtype)
        return X, Y, labels

    def train_epoch(self, X: npt.ArrayLike, y: Targets, order: npt.ArrayLike,
                    mini_batch_size: int, eta: float, lmbda: float = 0.0, l1: float = 0.0,
                    optimizer: Any = None, dropout: Dropout = None, dropout_seed: int = 0,
                    epoch: int = 0, state: Optional[OptimizerState] = None,
                    hogwild: bool = False,
                    clip_norm: Optional[float] = None) -> OptimizerState:
        """One epoch over the rows ``X[order]`` in that order (the low-level step of fit).

        Mini-batches are ``order[k:k + mini_batch_size]``; the last may be shorter. With the
        defaults each updates ``w ← (1 − ηλ/n) w − (η/m) Σ ∇w`` and ``b ← b − (η/m) Σ ∇b``
        with n = len(order). ``optimizer``, ``l1`` and ``dropout`` are as in ``fit``; the
        dropout masks are those of ``dropout_seed`` and ``epoch``; pass an optimizer
        ``state`` (returned: a ``fastnn.optim.OptimizerState``) to continue a trajectory
        across calls; ``hogwild`` and
        ``clip_norm`` as in fit.

        X is not scanned for NaN and infinities before the epoch (a pass over all of X
        would cost 10-20% of a small network's epoch): such a value in a row the epoch
        trains on reaches the first layer's weight gradient (δ·x is NaN or infinite for
        any δ), so it makes a parameter non-finite; then X is scanned, and the ValueError
        naming the value's row and column leaves the parameters and ``state`` as they
        were before the call. Rows outside ``order`` are never read.
        """
        X, Y, _ = self._prepare("X", X, y, stream=True, finite=False)
        order = np.asarray(order)
        if order.ndim != 1 or order.size == 0 or not np.issubdtype(order.dtype, np.integer) \
                or order.min() < 0 or order.max() >= X.shape[0]:
            raise ValueError(f"order must be a non-empty 1-D array of row indices in "
                             f"0..{X.shape[0] - 1}; got {order!r}")
        runner = self.runner(mini_batch_size, eta, lmbda, l1, optimizer, dropout, clip_norm,
                             hogwild, state=state, dropout_seed=dropout_seed)
        runner.run(X, Y, np.ascontiguousarray(order, dtype=np.int64), epoch,
                   x_name=None if isinstance(X, _stream.StreamedInputs) else "X")
        return runner.state

    def runner(self, mini_batch_size: int, eta: float, lmbda: float = 0.0, l1: float = 0.0,
               optimizer: Any = None, dropout: Dropout = None,
               clip_norm: Optional[float] = None, hogwild: bool = False,
               state: Optional[OptimizerState] = None,
               dropout_seed: int = 0) -> _fit.EpochRunner:
        """An epoch runner for this network (``fastnn._fit.EpochRunner``): the arguments
        checked as ``fit`` checks them, then ``runner.run(X, Y, order, epoch, n=None)``
        trains one epoch over in-memory or streamed rows (``runner.steps`` the mini-batches
        alone, with no check of the result), keeping ``runner.state`` between calls.

        The interface fastnn's own front ends (``network2``, ``sklearn``) train through;
        ``fit`` and ``train_epoch`` are built on it. ``X``, ``Y`` and ``order`` are passed
        as the engine takes them: arrays of the network's dtype, ``order`` int64.
        """
        args = _fit.TrainingArguments.check(len(self.sizes) - 2, mini_batch_size, eta, lmbda,
                                            l1, optimizer, dropout, clip_norm, hogwild)
        return _fit.EpochRunner(self, args, state=state, dropout_seed=dropout_seed)

    @property
    def engine(self) -> Engine:
        """The engine that runs this network (``fastnn._engine.Engine``), read-only.

        For fastnn's measuring tools (``fastnn.perf``): its forward pass, epoch kernels and
        path choice on this network's layout. Not a user API: its methods take the flat
        parameter buffer and checked arrays, and change between versions."""
        return self._engine

    @property
    def rng(self) -> np.random.Generator:
        """The network's random generator (``numpy.random.Generator``): ``initialize``, the
        shuffling and the dropout seed of every ``fit`` draw from it. Its
        ``bit_generator.state`` saves and restores a run's randomness (checkpoints,
        pickling)."""
        return self._rng

    def fit(self, X: npt.ArrayLike, y: Targets, epochs: int = 1, mini_batch_size: int = 10,
            eta: float = 0.5, lmbda: float = 0.0,
            evaluation_data: Optional[Tuple[npt.ArrayLike, Targets]] = None,
            monitor_training: bool = False, verbose: bool = False,
            callback: Optional[Callable[[int, Dict[str, Any]], Any]] = None, l1: float = 0.0,
            optimizer: Any = None, dropout: Dropout = None,
            early_stopping: Optional[int] = None, restore_best: bool = False,
            schedule: Any = None,
            augment: Optional[Callable[[np.ndarray, int], npt.ArrayLike]] = None,
            hogwild: bool = False, checkpoint: Optional[PathLike] = None,
            checkpoint_every: int = 1, resume: bool = False, clip_norm: Optional[float] = None,
            checkpoint_batches: Optional[int] = None,
            monitor: str = "auto") -> Dict[str, Any]:
        """Train by mini-batch gradient descent.

        Parameters
        ----------
        X : array (n, n_in)
            Training inputs, one sample per row.
        y : array (n,) of int, or (n, n_out)
            Class labels or target rows.
        epochs, mini_batch_size : int
            Passes over the data (at most), and samples per update (the last batch may be
            smaller).
        eta : float
            Learning rate η > 0 (the starting one when a ``schedule`` is given).
        lmbda : float
            L2 strength λ ≥ 0: the gradient gains (λ/n) w on the weights, so plain SGD
            decays them by (1 − ηλ/n) per update as in the book; biases never.
        evaluation_data : (X_eval, y_eval) or None
            Evaluated after every epoch (cost and accuracy); needed by ``early_stopping``
            and ``HalveOnPlateau``.
        monitor_training : bool
            Also record the cost and accuracy on the training data after every epoch.
        verbose : bool
            Print one line per epoch.
        callback : callable(epoch, history) or None
            Called after every epoch; returning True stops training.
        l1 : float
            L1 strength λ₁ ≥ 0: the gradient gains (λ₁/n) sgn(w) on the weights (sgn 0 = 0).
        optimizer : str or fastnn.optim object
            ``"sgd"`` (default), ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
            ``"adam"``, ``"amsgrad"``, or e.g. ``fastnn.optim.Adam(beta1=0.8)``. Fresh
            state for every call of fit.
        dropout : float, sequence of float, or None
            Probability of dropping each hidden unit, for all hidden layers or per hidden
            layer; one mask per mini-batch (inverted dropout: kept units are scaled by
            1/(1 − p) in training, so evaluation uses the full network as it is).
        early_stopping : int or None
            Stop when the evaluation accuracy has not improved for this many epochs.
        restore_best : bool
            At the end, restore the parameters of the epoch with the best evaluation score
            (see ``monitor``).
        monitor : {"auto", "accuracy", "cost"}
            What "best" means for ``early_stopping``, ``restore_best``, ``best_epoch`` and
            ``HalveOnPlateau``: the highest evaluation accuracy, or the lowest evaluation
            cost. ``"auto"``: accuracy when the evaluation targets are class labels or
            one-hot rows, the cost otherwise (regression targets, whose "accuracy", the
            agreement of argmaxes, means nothing).
        schedule : object from fastnn.schedules or None
            Sets η after every epoch, and may stop training (``HalveOnPlateau``).
        augment : callable(X, epoch) or None
            Gives each epoch's training inputs (e.g. ``fastnn.augment.Augmenter``); labels
            are unchanged. Monitoring uses the original X.
        hogwild : bool
            Opt-in asynchronous data parallelism for plain SGD (with L2): ``threads``
            workers each take a share of every epoch's mini-batches and update the shared
            parameters without locks (kernels/hogwild.py). Faster on many cores, not
            deterministic; one thread gives exactly the sequential result.
        clip_norm : float or None
            Gradient clipping by norm: when the mini-batch's mean gradient of the cost (every
            weight and bias as one vector, before the L1/L2 terms) has a Euclidean norm above
            ``clip_norm``, it is scaled down to that norm before the optimizer's step. Off by
            default; any optimizer, not with ``hogwild``.
        checkpoint : str or os.PathLike or None
            A folder to write a checkpoint into every ``checkpoint_every`` epochs, after the
            last epoch and when training stops early (fastnn/checkpoint.py): parameters,
            optimizer state, random generator state, η, schedule state, best epoch and
            history, written atomically; the newest two are kept.
        checkpoint_every : int
            Epochs between checkpoints.
        checkpoint_batches : int or None
            Also write a checkpoint every this many mini-batches within an epoch (for epochs
            long enough that losing one matters); a resume goes on from that mini-batch.
        resume : bool
            Go on from the newest checkpoint in ``checkpoint`` (if there is one) up to
            ``epochs`` epochs in all. In the deterministic mode (not Hogwild) the result is
            bit for bit that of a run never stopped. The other arguments must be those of
            the run that wrote it (a CheckpointError names any that differ).

        Returns
        -------
        dict of lists, one entry per epoch: ``epoch``, ``seconds``, ``eta``, and when
        monitored ``training_cost``, ``training_accuracy``, ``evaluation_cost``,
        ``evaluation_accuracy`` (accuracies as fractions); plus ``stopped``, the reason
        training ended before ``epochs`` (or None), and ``best_epoch`` with evaluation data.
        """
        return _fit.fit(self, X, y, epochs=epochs, mini_batch_size=mini_batch_size, eta=eta,
                        lmbda=lmbda, evaluation_data=evaluation_data,
                        monitor_training=monitor_training, verbose=verbose, callback=callback,
                        l1=l1, optimizer=optimizer, dropout=dropout,
                        early_stopping=early_stopping, restore_best=restore_best,
                        schedule=schedule, augment=augment, hogwild=hogwild,
                        checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                        clip_norm=clip_norm, checkpoint_batches=checkpoint_batches,
                        monitor=monitor)

    # -- inference --------------------------------------------------------------
    def _cost_accuracy(self, X, Y, labels, lmbda):
        if isinstance(X, _stream.StreamedInputs):
            n = X.shape[0]
            total, correct = 0.0, 0
            for start, stop in _stream.blocks(n, X.shape[1], self.dtype):
                Yb = Y.rows(slice(start, stop), self.dtype)
                Z, A = self._engine.forward(self.params, X.rows(slice(start, stop), self.dtype))
                total += self._engine.total_cost(self.params, Yb, Z, A, 0.0) * (stop - start)
                correct += int(np.sum(np.argmax(A, axis=1) == Y.truth(start, stop)))
            cost = total / n + self._engine.weight_penalty(self.params, lmbda, n)
            return cost, correct / n
        Z, A = self._engine.forward(self.params, X)
        cost = self._engine.total_cost(self.params, Y, Z, A, lmbda)
        truth = labels if labels is not None else np.argmax(Y, axis=1)
        return cost, float(np.mean(np.argmax(A, axis=1) == truth))

    def feedforward(self, X: npt.ArrayLike) -> np.ndarray:
        """Output activations ``(n, n_out)`` for inputs ``X`` ``(n, n_in)`` (a memmap or
        StreamedInputs is read a block at a time)."""
        if _stream.is_streamed(X):
            X = _stream.checked(X, "X", self.sizes[0], self.dtype)
            return np.concatenate([
                self._engine.forward(self.params, X.rows(slice(start, stop), self.dtype))[1]
                for start, stop in _stream.blocks(X.shape[0], X.shape[1], self.dtype)])
        X = _checks.check_inputs("X", X, self.sizes[0], self.dtype)
        return self._engine.forward(self.params, X)[1]

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """Predicted class (index of the largest output) for every row of X, int64 ``(n,)``."""
        return np.argmax(self.feedforward(X), axis=1)

    def evaluate(self, X: npt.ArrayLike, y: Targets, lmbda: float = 0.0) -> Dict[str, Any]:
        """``{"cost", "accuracy", "correct", "n"}`` on (X, y); cost includes ½(λ/n)Σ‖W‖²."""
        X, Y, labels = self._prepare("X", X, y, stream=True)
        cost, acc = self._cost_accuracy(X, Y, labels, _checks.check_non_negative("lmbda", lmbda))
        return {"cost": cost, "accuracy": acc, "correct": int(round(acc * X.shape[0])),
                "n": int(X.shape[0])}

    def gradients(self, X: npt.ArrayLike, y: Targets,
                  dropout_mask: Optional[Sequence[npt.ArrayLike]] = None,
                  ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Mean per-layer gradients of the (unregularized) cost over the batch (X, y).

        ``dropout_mask``, if given, is a list with one multiplier vector per hidden layer
        (0 for a dropped unit, 1/(1 − p) for a kept one) applied as in training.
        Returns ``(grad_w, grad_b)``: lists of ``(n_out, n_in)`` and ``(n_out,)`` arrays.
        """
        X, Y, _ = self._prepare("X", X, y)
        if dropout_mask is None:
            grad = self._engine.mean_gradient(self.params, X, Y)
        else:
            hidden = self.sizes[1:-1]
            if len(dropout_mask) != len(hidden) or any(
                    np.shape(s) != (h,) for s, h in zip(dropout_mask, hidden)):
                raise ValueError(f"dropout_mask must hold one vector per hidden layer of "
                                 f"sizes {list(hidden)}")
            drop = np.array([1.0] * len(hidden) + [0.0])
            grad = self._engine.mean_gradient(self.params, X, Y,
                                              mask=np.concatenate(dropout_mask), dropout=drop)
        return ([w.copy() for w in self._engine.weights(grad)],
                [b.copy() for b in self._engine.biases(grad)])

    # -- files ------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Write the network to ``path`` atomically (fastnn's checksummed .npz format;
        ``path`` a regular file, a new one or a link to one: see ``_io.atomic_write``).

        ValueError if a parameter is NaN or infinite: ``load`` refuses such a model, so it
        is not written (training never makes one: it stops when a parameter stops being
        finite)."""
        bad = np.flatnonzero(~np.isfinite(self.params))
        if bad.size:
            raise ValueError(f"the network holds {bad.size:,} parameters that are NaN or "
                             f"infinite (the first at index {bad[0]}); fastnn.load refuses "
                             f"such a model, so it is not saved")
        save_model(path, self.params, {"sizes": list(self.sizes),
                                       "activations": [a if isinstance(a, str) else list(a)
                                                       for a in self.activations],
                                       "cost": self.cost, "initializers": list(self.initializers)})

    @classmethod
    def load(cls, path: PathLike) -> "Network":
        """A network read from a file written by ``save``.

        The metadata is checked (sizes, one activation per layer, cost, initializers) and
        the number of parameters compared with the sizes before the network is built, so a
        file claiming huge layers is refused without allocating them. A file whose
        parameters are NaN or infinite is refused, not loaded with a warning: such a
        network's every output is NaN, so ``predict`` would return meaningless classes
        (all 0) without any error, and nothing can be done with it but retrain.

        Raises
        ------
        ModelFileError
            If the file is missing, corrupt, altered after saving or describes an invalid
            network; the message names the file and what was expected.
        """
        params, meta = load_model(path)
        try:
            sizes = _checks.check_sizes(meta.get("sizes"))
            n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
            if params.shape[0] != n_params:
                need = f"{n_params:,}" if n_params < 10 ** 18 else "more than 10**18"
                raise ModelFileError(f"{str(path)!r} holds {params.shape[0]:,} parameters; "
                                     f"sizes {list(sizes)!r:.200} need {need}")
            bad = np.flatnonzero(~np.isfinite(params))
            if bad.size:
                raise ModelFileError(f"{str(path)!r} holds {bad.size:,} parameters that are "
                                     f"NaN or infinite (the first at index {bad[0]}); "
                                     f"expected finite numbers: such a network's outputs "
                                     f"are NaN, its predictions meaningless")
            acts = meta.get("activations")
            if not isinstance(acts, list) or len(acts) != len(sizes) - 1:
                raise ValueError(f"activations={acts!r:.80}; expected a list of "
                                 f"{len(sizes) - 1}, one per layer")
            acts = [tuple(a) if isinstance(a, list) else a for a in acts]
            net = cls(sizes, hidden_activation=acts[:-1], output_activation=acts[-1],
                      cost=meta.get("cost"), dtype=meta["dtype"])
            initializers = meta.get("initializers", list(net.initializers))
            if not isinstance(initializers, list) or len(initializers) != len(acts) or any(
                    not isinstance(i, str) or i not in INITIALIZERS for i in initializers):
                raise ValueError(f"initializers={initializers!r:.80}; expected a list of "
                                 f"{len(acts)} of {', '.join(INITIALIZERS)}")
        except ModelFileError:
            raise
        except OverflowError as exc:  # an activation parameter such as 10**400
            raise ModelFileError(f"{str(path)!r} describes an invalid network: a number in "
                                 f"its metadata is too large for a float ({exc}); expected "
                                 f"finite numbers") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} describes an invalid network: {exc}") from None
        net.params[...] = params
        net.initializers = tuple(initializers)
        return net


def load(path: PathLike) -> Network:
    """``Network.load(path)``."""
    return Network.load(path)
