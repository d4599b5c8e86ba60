"""The modern array API: ``fastnn.Network``.

Samples are rows. Targets are int class labels ``(n,)`` or target rows ``(n, n_out)``.
All parameters live in one flat buffer (``net.params``); ``net.weights[l]`` ``(n_out, n_in)``
and ``net.biases[l]`` ``(n_out,)`` are views of it.
"""
import time

import numpy as np

from . import _checks, _threads
from . import checkpoint as _ckpt
from . import stream as _stream
from ._engine import Engine
from ._io import ModelFileError, load_model, save_model
from .activations import activation_code, parse_activation
from .costs import cost_code
from .optim import SGD, OptimizerState, get_optimizer

#: initializer name -> (weight standard deviation from (n_in, n_out), bias standard deviation)
INITIALIZERS = {
    "default": (lambda n_in, n_out: 1.0 / np.sqrt(n_in), 1.0),         # the book's default
    "large": (lambda n_in, n_out: 1.0, 1.0),                            # the book's chapter 1
    "glorot": (lambda n_in, n_out: np.sqrt(2.0 / (n_in + n_out)), 0.0),  # Glorot & Bengio 2010
    "he": (lambda n_in, n_out: np.sqrt(2.0 / n_in), 0.0),               # He et al. 2015
}


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite parameter or cost; the last good parameters are kept."""


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
        One of the hidden activations or ``"softmax"``.
    cost : str
        ``"cross_entropy"`` (sigmoid output), ``"log_likelihood"`` (softmax output) or
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

    def __init__(self, sizes, hidden_activation="sigmoid", output_activation="sigmoid",
                 cost="cross_entropy", dtype="float32", seed=None, initializer="default",
                 threads=None):
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
    def weights(self):
        """Per-layer weight views ``(n_out, n_in)`` of ``params``."""
        return self._engine.weights(self.params)

    @property
    def biases(self):
        """Per-layer bias views ``(n_out,)`` of ``params``."""
        return self._engine.biases(self.params)

    def initialize(self, initializer="default"):
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

    @property
    def threads(self):
        """Threads for the engine and BLAS (None: $FASTNN_NUM_THREADS, else every core)."""
        return self._engine.threads

    @threads.setter
    def threads(self, threads):
        if threads is not None:
            _threads.resolve(threads)  # validate now, with the argument's name
        self._engine.threads = threads

    # -- training ---------------------------------------------------------------
    def _prepare(self, name, X, y, stream=False, finite=True):
        """Checked (X, Y, labels). With ``stream`` a memmap or StreamedInputs stays on disk:
        X becomes a StreamedInputs and Y a StreamedTargets (fastnn/stream.py). With
        ``finite`` False an in-memory X is not checked for NaN and infinities (the caller
        does it where training meets them: see ``_epoch``'s ``x_name``)."""
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

    def train_epoch(self, X, y, order, mini_batch_size, eta, lmbda=0.0, l1=0.0,
                    optimizer=None, dropout=None, dropout_seed=0, epoch=0, state=None,
                    hogwild=False, clip_norm=None):
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
        m, eta, lmbda, l1, optimizer, drop = self._training_arguments(
            mini_batch_size, eta, lmbda, l1, optimizer, dropout)
        clip_norm = self._clip_norm(clip_norm)
        self._check_hogwild(hogwild, l1, optimizer, drop, clip_norm)
        if state is None:
            state = OptimizerState(optimizer, self._engine.n_params, self.dtype)
        self._epoch(X, Y, np.ascontiguousarray(order, dtype=np.int64), m, eta, lmbda, epoch,
                    l1=l1, optimizer=optimizer, state=state, dropout=drop,
                    dropout_seed=dropout_seed, hogwild=hogwild, clip_norm=clip_norm,
                    x_name=None if isinstance(X, _stream.StreamedInputs) else "X")
        return state

    @staticmethod
    def _clip_norm(clip_norm):
        return None if clip_norm is None else _checks.check_positive("clip_norm", clip_norm)

    @staticmethod
    def _check_hogwild(hogwild, l1, optimizer, dropout, clip_norm=None):
        if not isinstance(hogwild, (bool, np.bool_)):
            raise ValueError(f"hogwild={hogwild!r} is invalid; expected True or False")
        if hogwild:
            extra = [what for what, on in (
                (f"optimizer={optimizer!r}", not isinstance(optimizer, SGD)),
                (f"l1={l1}", l1 != 0), ("dropout", np.any(dropout > 0)),
                (f"clip_norm={clip_norm}", clip_norm is not None)) if on]
            if extra:
                raise ValueError(f"hogwild=True runs the book's plain SGD with L2 only; it "
                                 f"cannot be combined with {', '.join(extra)}")

    def _training_arguments(self, mini_batch_size, eta, lmbda, l1, optimizer, dropout):
        """The checked (m, η, λ, λ₁, optimizer, per-layer dropout) shared by fit and train_epoch."""
        return (_checks.check_positive("mini_batch_size", mini_batch_size, integer=True),
                _checks.check_positive("eta", eta), _checks.check_non_negative("lmbda", lmbda),
                _checks.check_non_negative("l1", l1), get_optimizer(optimizer),
                self._dropout(dropout))

    def _dropout(self, dropout):
        """Per-layer dropout probabilities (float64, output 0) from a float or a per-hidden list."""
        n_hidden = len(self.sizes) - 2
        if dropout is None:
            values = [0.0] * n_hidden
        elif isinstance(dropout, (int, float)) and not isinstance(dropout, bool):
            values = [float(dropout)] * n_hidden
        else:
            try:
                values = [float(p) for p in dropout]
            except (TypeError, ValueError):
                values = None
            if values is None or len(values) != n_hidden:
                raise ValueError(f"dropout={dropout!r} is invalid; expected a probability or "
                                 f"one per hidden layer ({n_hidden})")
        for p in values:
            if not 0.0 <= p < 1.0:
                raise ValueError(f"dropout={dropout!r} is invalid; every probability must be in "
                                 f"[0, 1)")
        return np.array(values + [0.0])

    def _epoch(self, X, Y, order, m, eta, lmbda, epoch, n=None, l1=0.0, optimizer=None,
               state=None, dropout=None, dropout_seed=0, hogwild=False, clip_norm=None,
               batch0=0, x_name=None):
        """One epoch; returns a copy of the parameters from before it (the last good ones).

        The book's plain SGD with L2 runs the fused kernel (or, with ``hogwild``, its
        lock-free parallel form on every thread); anything else the general one. Part of
        an epoch of ``n`` samples when ``order`` is its mini-batches from number ``batch0``.
        ``x_name``: X was not checked for non-finite values (``_prepare(finite=False)``);
        when the epoch ends with a non-finite parameter, X is scanned, and a non-finite
        value found there raises the ValueError naming it (``x_name``) after the
        parameters and ``state`` are put back as they were.
        """
        last_good = self.params.copy()
        if x_name is not None and state is not None:
            state_before = (state.buffers.copy(), state.step.copy())
        plain = (optimizer is None or isinstance(optimizer, SGD)) and l1 == 0 and \
            (dropout is None or not np.any(dropout > 0)) and clip_norm is None
        if n is None:
            n = order.shape[0]
        if isinstance(X, _stream.StreamedInputs):
            # a block of whole mini-batches at a time, gathered in this epoch's order
            for start, stop in _stream.blocks(order.shape[0], X.shape[1], self.dtype, m):
                rows = order[start:stop]
                self._steps(X.rows(rows, self.dtype), Y.rows(rows, self.dtype),
                            np.arange(stop - start, dtype=np.int64), m, eta, lmbda, n, l1,
                            optimizer, state, dropout, dropout_seed, epoch, hogwild, plain,
                            clip_norm, batch0 + start // m)
        else:
            self._steps(X, Y, order, m, eta, lmbda, n, l1, optimizer, state, dropout,
                        dropout_seed, epoch, hogwild, plain, clip_norm, batch0)
        if not np.isfinite(self.params).all():
            error = None if x_name is None else _checks.non_finite(x_name, X)
            if error is not None:
                self.params[...] = last_good
                if state is not None:
                    state.buffers[...], state.step[...] = state_before
                raise error
            self._diverged(last_good, epoch, eta, "a parameter became NaN or infinite")
        return last_good

    def _steps(self, X, Y, order, m, eta, lmbda, n, l1, optimizer, state, dropout,
               dropout_seed, epoch, hogwild, plain, clip_norm, batch0):
        """The mini-batches of X[order] (all of an epoch, or one streamed block of it
        starting at mini-batch ``batch0``) on the kernel that runs them."""
        if hogwild:
            self._engine.train_epoch_async(self.params, X, Y, order, m, eta, lmbda, n=n)
        elif plain:
            self._engine.train_epoch(self.params, X, Y, order, m, eta, lmbda, n)
        else:
            self._engine.train_epoch_general(self.params, X, Y, order, m, eta, lmbda, l1,
                                             optimizer, state, dropout, dropout_seed, epoch,
                                             clip_norm, n=n, batch0=batch0)

    def _diverged(self, last_good, epoch, eta, what):
        self.params[...] = last_good
        raise TrainingDiverged(
            f"training diverged in epoch {epoch}: {what} with eta={eta}; the parameters of "
            f"the last good epoch were kept. Try a smaller eta.")

    def fit(self, X, y, epochs=1, mini_batch_size=10, eta=0.5, lmbda=0.0, evaluation_data=None,
            monitor_training=False, verbose=False, callback=None, l1=0.0, optimizer=None,
            dropout=None, early_stopping=None, restore_best=False, schedule=None, augment=None,
            hogwild=False, checkpoint=None, checkpoint_every=1, resume=False, clip_norm=None,
            checkpoint_batches=None, monitor="auto"):
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
        X, Y, labels = self._prepare("X", X, y, stream=True)
        epochs = _checks.check_positive("epochs", epochs, integer=True)
        m, eta, lmbda, l1, optimizer, drop = self._training_arguments(
            mini_batch_size, eta, lmbda, l1, optimizer, dropout)
        clip_norm = self._clip_norm(clip_norm)
        self._check_hogwild(hogwild, l1, optimizer, drop, clip_norm)
        if evaluation_data is not None:
            try:
                X_eval, y_eval = evaluation_data
            except (TypeError, ValueError):
                given = (f"a {type(evaluation_data).__name__} of {len(evaluation_data)} items"
                         if hasattr(evaluation_data, "__len__") else f"{evaluation_data!r:.60}")
                raise ValueError(f"evaluation_data={given} is invalid; expected a pair "
                                 f"(X_eval, y_eval)") from None
            X_eval, Y_eval, labels_eval = self._prepare("evaluation_data", X_eval, y_eval,
                                                        stream=True)
        if callback is not None and not callable(callback):
            raise ValueError(f"callback={callback!r} is not callable")
        if augment is not None and not callable(augment):
            raise ValueError(f"augment={augment!r} is not callable; expected f(X, epoch) -> X")
        if augment is not None and isinstance(X, _stream.StreamedInputs):
            raise ValueError("augment needs the training inputs in memory; X is streamed from "
                             "disk (a memmap or StreamedInputs): load it with np.asarray(X) "
                             "or train without augment")
        if early_stopping is not None:
            early_stopping = _checks.check_positive("early_stopping", early_stopping,
                                                    integer=True)
        needs_eval = [name for name, on in (
            ("early_stopping", early_stopping is not None), ("restore_best", restore_best),
            (f"schedule={schedule!r}", getattr(schedule, "needs_validation", False))) if on]
        if needs_eval and evaluation_data is None:
            raise ValueError(f"{needs_eval[0]} needs evaluation_data to watch the validation "
                             f"accuracy; pass evaluation_data=(X_val, y_val)")
        if monitor not in ("auto", "accuracy", "cost"):
            raise ValueError(f"monitor={monitor!r} is invalid; expected 'auto', 'accuracy' or "
                             f"'cost'")
        if monitor == "auto" and evaluation_data is not None:
            monitor = "accuracy" if _classes(Y_eval, labels_eval) else "cost"
        if schedule is not None:
            if not (hasattr(schedule, "start") and hasattr(schedule, "after_epoch")):
                raise ValueError(f"schedule={schedule!r} is not a schedule; expected an object "
                                 f"from fastnn.schedules")
            schedule.start(eta)
        monitored = {}
        if monitor_training:
            monitored["training"] = (X, Y, labels)
        if evaluation_data is not None:
            monitored["evaluation"] = (X_eval, Y_eval, labels_eval)
        history = {"epoch": [], "seconds": [], "eta": []}
        for name in monitored:
            history.update({f"{name}_cost": [], f"{name}_accuracy": []})
        history["stopped"] = None
        if evaluation_data is not None:
            history["monitor"] = monitor
        state = OptimizerState(optimizer, self._engine.n_params, self.dtype)
        dropout_seed = int(self._rng.integers(2 ** 63))
        best = (-np.inf, None, None)  # accuracy, epoch, parameters
        n = X.shape[0]
        first_epoch = first_batch = 0
        if checkpoint is not None:
            checkpoint_every = _checks.check_positive("checkpoint_every", checkpoint_every,
                                                      integer=True)
            if checkpoint_batches is not None:
                checkpoint_batches = _checks.check_positive("checkpoint_batches",
                                                            checkpoint_batches, integer=True)
            run = self._run_record(n, m, eta, lmbda, l1, optimizer, drop, hogwild, schedule,
                                   early_stopping, restore_best, sorted(monitored), augment,
                                   clip_norm)
            if monitor == "cost":  # only then, so that older checkpoints still resume
                run["monitor"] = "cost"
            if resume:
                found = _ckpt.latest(checkpoint)
                if found is not None:
                    first_epoch, eta, best, dropout_seed, first_batch = self._restore(
                        found, run, state, schedule, history, epochs)
        elif resume:
            raise ValueError("resume=True needs checkpoint=FOLDER, the folder of the run to "
                             "go on with")
        elif checkpoint_batches is not None:
            raise ValueError("checkpoint_batches needs checkpoint=FOLDER to write into")
        segment = n if checkpoint is None or checkpoint_batches is None \
            else checkpoint_batches * m
        for epoch in range(first_epoch, epochs):
            rng_before = self._rng.bit_generator.state  # a mid-epoch resume redraws the order
            order = self._rng.permutation(n).astype(np.int64)
            X_epoch = X if augment is None else self._augmented(augment, X, epoch)
            seconds, last_good = 0.0, None
            for s0 in range(first_batch * m, n, segment):
                s1 = min(s0 + segment, n)
                start = time.perf_counter()
                before = self._epoch(X_epoch, Y, order[s0:s1], m, eta, lmbda, epoch, n=n,
                                     l1=l1, optimizer=optimizer, state=state, dropout=drop,
                                     dropout_seed=dropout_seed, hogwild=hogwild,
                                     clip_norm=clip_norm, batch0=s0 // m)
                seconds += time.perf_counter() - start
                last_good = before if last_good is None else last_good
                if s1 < n:
                    self._save_checkpoint(checkpoint, epoch, run, state, eta, best,
                                          dropout_seed, schedule, history,
                                          batches_done=s1 // m, rng=rng_before)
            first_batch = 0
            history["epoch"].append(epoch)
            history["seconds"].append(seconds)
            history["eta"].append(eta)
            line = f"epoch {epoch}: {history['seconds'][-1]:.3f} s, eta {eta:g}"
            for name, (Xm, Ym, labels_m) in monitored.items():
                cost, acc = self._cost_accuracy(Xm, Ym, labels_m, lmbda)
                if not np.isfinite(cost):
                    self._diverged(last_good, epoch, eta, f"the {name} cost became {cost}")
                history[f"{name}_cost"].append(cost)
                history[f"{name}_accuracy"].append(acc)
                line += f", {name} cost {cost:.4f}, accuracy {acc:.4f}"
            if verbose:
                print(line, flush=True)
            if evaluation_data is not None and evaluation_score(history) > best[0]:
                best = (evaluation_score(history), epoch,
                        self.params.copy() if restore_best else None)
            if callback is not None and callback(epoch, history):
                history["stopped"] = "callback"
            elif early_stopping is not None and epoch - best[1] >= early_stopping:
                history["stopped"] = (f"early stopping: no better evaluation {monitor} for "
                                      f"{early_stopping} epochs")
            elif schedule is not None:
                eta = schedule.after_epoch(epoch, history)
                if eta is None:
                    history["stopped"] = f"schedule: {schedule!r} ended training"
            if checkpoint is not None and (history["stopped"] or epoch + 1 == epochs
                                           or (epoch + 1) % checkpoint_every == 0):
                self._save_checkpoint(checkpoint, epoch + 1, run, state, eta, best,
                                      dropout_seed, schedule, history)
            if history["stopped"]:
                break
        if evaluation_data is not None:
            history["best_epoch"] = best[1]
            if restore_best:
                self.params[...] = best[2]
        return history

    # -- checkpoints --------------------------------------------------------------
    def _run_record(self, n, m, eta, lmbda, l1, optimizer, drop, hogwild, schedule,
                    early_stopping, restore_best, monitored, augment, clip_norm=None):
        """What a checkpoint must match to be resumed by this run (``clip_norm`` only when
        set, so that checkpoints written before it existed still resume)."""
        record = {"sizes": [int(s) for s in self.sizes],
                  "activations": [a if isinstance(a, str) else list(a) for a in self.activations],
                  "cost": self.cost, "dtype": np.dtype(self.dtype).name, "n_samples": int(n),
                  "mini_batch_size": int(m), "eta": float(eta), "lmbda": float(lmbda),
                  "l1": float(l1), "optimizer": _stable_repr(optimizer),
                  "dropout": [float(p) for p in drop] if drop is not None else None,
                  "hogwild": bool(hogwild), "schedule": _stable_repr(schedule),
                  "early_stopping": early_stopping, "restore_best": bool(restore_best),
                  "monitored": list(monitored),
                  "augment": None if augment is None else _stable_repr(augment)}
        if clip_norm is not None:
            record["clip_norm"] = float(clip_norm)
        return record

    def _save_checkpoint(self, folder, epochs_done, run, state, eta, best, dropout_seed,
                         schedule, history, batches_done=0, rng=None):
        """Write a checkpoint; within an epoch (``batches_done`` > 0) ``rng`` is the random
        generator's state from before the epoch drew its order, so a resume redraws it."""
        arrays = {"params": self.params, "optimizer_state": state.buffers,
                  "optimizer_step": state.step}
        if best[2] is not None:
            arrays["best_params"] = best[2]
        meta = {"run": run, "rng": rng or self._rng.bit_generator.state, "eta": eta,
                "dropout_seed": dropout_seed, "best_accuracy": float(best[0]),
                "best_epoch": best[1], "history": history,
                "schedule": None if schedule is None else {
                    k: v for k, v in vars(schedule).items()
                    if isinstance(v, (int, float, str, bool, type(None)))}}
        _ckpt.save(folder, epochs_done, arrays, meta, batches_done=batches_done)

    def _restore(self, found, run, state, schedule, history, epochs):
        """Load a checkpoint into this run; returns (first epoch, η, best, dropout seed,
        first mini-batch of the first epoch). Its metadata was checked by
        ``checkpoint.load``. A checkpoint that has trained more than ``epochs`` is refused
        (``checkpoint.AlreadyTrained``) rather than returned as the result of a shorter run:
        the model cannot be untrained, and the user asked for fewer epochs."""
        arrays, meta, path = found
        saved = meta.get("run", {})
        differ = sorted(k for k in set(run) | set(saved) if run.get(k) != saved.get(k))
        if differ:
            detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {run.get(k)!r}"
                               for k in differ)
            raise _ckpt.CheckpointError(f"{path!r} was written by a different run ({detail}); "
                                        f"resume with the same arguments or another folder")
        if arrays["params"].shape != self.params.shape:
            raise _ckpt.CheckpointError(f"{path!r} holds {arrays['params'].shape[0]} "
                                        f"parameters; this network has {self.params.shape[0]}")
        done, batches = meta["epochs_done"], meta["batches_done"]
        if epochs < done or (epochs == done and batches):
            raise _ckpt.AlreadyTrained(epochs, done, batches, path)
        self.params[...] = arrays["params"]
        state.buffers[...] = arrays["optimizer_state"]
        state.step[...] = arrays["optimizer_step"]
        self._rng.bit_generator.state = meta["rng"]
        if schedule is not None and meta.get("schedule") is not None:
            vars(schedule).update(meta["schedule"])
        history.clear()
        history.update(meta["history"])
        best = (meta["best_accuracy"], meta["best_epoch"], arrays.get("best_params"))
        first = epochs if history.get("stopped") else done
        return first, meta["eta"], best, meta["dropout_seed"], batches

    def _augmented(self, augment, X, epoch):
        X_new = augment(X, epoch)
        if np.shape(X_new) != X.shape:
            raise ValueError(f"augment returned shape {np.shape(X_new)} for inputs of shape "
                             f"{X.shape}; expected the same shape")
        return _checks.check_inputs("augment(X, epoch)", X_new, self.sizes[0], self.dtype)

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

    def feedforward(self, X):
        """Output activations ``(n, n_out)`` for inputs ``X`` ``(n, n_in)`` (a memmap or
        StreamedInputs is read a block at a time)."""
        if _stream.is_streamed(X):
            X = _stream.checked(X, "X", self.sizes[0], self.dtype)
            return np.concatenate([
                self._engine.forward(self.params, X.rows(slice(start, stop), self.dtype))[1]
                for start, stop in _stream.blocks(X.shape[0], X.shape[1], self.dtype)])
        X = _checks.check_inputs("X", X, self.sizes[0], self.dtype)
        return self._engine.forward(self.params, X)[1]

    def predict(self, X):
        """Predicted class (index of the largest output) for every row of X, int64 ``(n,)``."""
        return np.argmax(self.feedforward(X), axis=1)

    def evaluate(self, X, y, lmbda=0.0):
        """``{"cost", "accuracy", "correct", "n"}`` on (X, y); cost includes ½(λ/n)Σ‖W‖²."""
        X, Y, labels = self._prepare("X", X, y, stream=True)
        cost, acc = self._cost_accuracy(X, Y, labels, _checks.check_non_negative("lmbda", lmbda))
        return {"cost": cost, "accuracy": acc, "correct": int(round(acc * X.shape[0])),
                "n": int(X.shape[0])}

    def gradients(self, X, y, dropout_mask=None):
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
    def save(self, path):
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
    def load(cls, path):
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


def evaluation_score(history):
    """The latest epoch's evaluation score, higher is better: the accuracy, or minus the
    cost when ``history["monitor"]`` is ``"cost"`` (see ``Network.fit``'s ``monitor``)."""
    if history.get("monitor") == "cost":
        return -history["evaluation_cost"][-1]
    return history["evaluation_accuracy"][-1]


def _classes(Y, labels):
    """Whether targets are classes: int labels, or rows that are all one-hot."""
    if labels is not None:
        return True
    rows = Y.array if isinstance(Y, _stream.StreamedTargets) else Y
    if rows is None:
        return True
    for start in range(0, rows.shape[0], 65536):
        block = np.asarray(rows[start:start + 65536])
        if not (np.all((block == 0) | (block == 1)) and np.all(block.sum(axis=1) == 1)):
            return False
    return True


def _stable_repr(obj):
    """repr(obj), or its type's name where the repr holds a memory address (a function)."""
    text = repr(obj)
    return type(obj).__qualname__ if " at 0x" in text else text


def load(path):
    """``Network.load(path)``."""
    return Network.load(path)
