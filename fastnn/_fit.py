"""Training a ``Network``: its checked arguments, the epoch runner, and ``fit`` as steps.

Part of the network layer (``network.py`` is its front door). Three pieces:

* ``TrainingArguments``: what one update rule needs (m, η, λ, λ₁, optimizer, per-layer
  dropout, clipping, Hogwild), checked once with the argument's name in every error;
* ``EpochRunner``: runs epochs (or a part of one) of a network with those arguments on
  the engine's kernel for them, keeping the optimizer state and the dropout seed between
  calls; ``Network.runner`` makes one. ``network2`` and ``Network.train_epoch`` train
  through it, and ``fit`` below;
* ``fit``: the loop of ``Network.fit`` as named steps — check the arguments
  (``_FitPlan``), start or resume (``_Run.start``), then per epoch train
  (``_Run.train``), record and monitor (``_Run.record``), decide whether to stop
  (``_Run.stop_reason``) and checkpoint (``_Run.checkpoint``); ``_Run.finish`` restores
  the best parameters and returns the history.
"""
import numbers
import time
from dataclasses import dataclass

import numpy as np

from . import _checks
from . import checkpoint as _ckpt
from .data import stream as _stream
from .optim import SGD, OptimizerState, get_optimizer


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite parameter or cost; the last good parameters are kept."""


# -- the arguments of an update rule --------------------------------------------------------
def check_dropout(dropout, n_hidden):
    """Per-layer dropout probabilities (float64, output 0) from None, one probability for
    every hidden layer, or one per hidden layer; ValueError naming ``dropout`` otherwise."""
    if dropout is None:
        return np.zeros(n_hidden + 1)
    try:
        values = [float(dropout)] * n_hidden \
            if isinstance(dropout, numbers.Real) and not isinstance(dropout, bool) \
            else [float(p) for p in dropout]
    except (TypeError, ValueError):
        values = None
    if values is None or len(values) != n_hidden or not all(0.0 <= p < 1.0 for p in values):
        raise ValueError(f"dropout={dropout!r} is invalid; expected None, a probability in "
                         f"[0, 1) or one per hidden layer ({n_hidden})")
    return np.array(values + [0.0])


@dataclass(frozen=True)
class TrainingArguments:
    """The checked arguments of one update rule (see ``Network.fit`` for their meaning)."""
    mini_batch_size: int
    eta: float
    lmbda: float
    l1: float
    optimizer: object
    dropout: np.ndarray
    clip_norm: object = None
    hogwild: bool = False

    @classmethod
    def check(cls, n_hidden, mini_batch_size, eta, lmbda=0.0, l1=0.0, optimizer=None,
              dropout=None, clip_norm=None, hogwild=False):
        """The arguments checked, each error naming its argument and value."""
        args = cls(_checks.check_positive("mini_batch_size", mini_batch_size, integer=True),
                   _checks.check_positive("eta", eta), _checks.check_non_negative("lmbda", lmbda),
                   _checks.check_non_negative("l1", l1), get_optimizer(optimizer),
                   check_dropout(dropout, n_hidden),
                   None if clip_norm is None else _checks.check_positive("clip_norm", clip_norm),
                   hogwild)
        if not isinstance(hogwild, (bool, np.bool_)):
            raise ValueError(f"hogwild={hogwild!r} is invalid; expected True or False")
        if hogwild:
            extra = [what for what, on in (
                (f"optimizer={optimizer!r}", not isinstance(args.optimizer, SGD)),
                (f"l1={args.l1}", args.l1 != 0), ("dropout", np.any(args.dropout > 0)),
                (f"clip_norm={args.clip_norm}", args.clip_norm is not None)) if on]
            if extra:
                raise ValueError(f"hogwild=True runs the book's plain SGD with L2 only; it "
                                 f"cannot be combined with {', '.join(extra)}")
        return args

    @property
    def plain(self):
        """The book's SGD with L2 only: the fused kernel runs it."""
        return isinstance(self.optimizer, SGD) and self.l1 == 0 and \
            not np.any(self.dropout > 0) and self.clip_norm is None


# -- the epoch runner ---------------------------------------------------------------------
class EpochRunner:
    """Runs a network's epochs with fixed ``TrainingArguments`` (``Network.runner``).

    ``state`` (a ``fastnn.optim.OptimizerState``) carries the optimizer's buffers and step
    count from call to call; ``dropout_seed`` with the epoch and mini-batch numbers
    decides every dropout mask, so the same calls give the same bits.
    """

    def __init__(self, net, args, state=None, dropout_seed=0):
        self.net = net
        self.args = args
        self.state = state if state is not None else \
            OptimizerState(args.optimizer, net.params.shape[0], net.dtype)
        self.dropout_seed = dropout_seed

    def run(self, X, Y, order, epoch, n=None, batch0=0, x_name=None):
        """One epoch over the rows ``X[order]`` (or the part of one starting at mini-batch
        ``batch0`` of an epoch of ``n`` samples); returns a copy of the parameters from
        before it, the last good ones.

        When it ends with a non-finite parameter: if ``x_name`` names an X that was not
        checked for non-finite values, X is scanned and a non-finite value found there
        raises the ValueError naming it (after the parameters and the state are put back);
        otherwise the parameters go back and ``TrainingDiverged`` is raised.
        """
        net, state = self.net, self.state
        last_good = net.params.copy()
        if x_name is not None:
            state_before = (state.buffers.copy(), state.step.copy())
        if n is None:
            n = order.shape[0]
        m = self.args.mini_batch_size
        if isinstance(X, _stream.StreamedInputs):
            # a block of whole mini-batches at a time, gathered in this epoch's order
            for start, stop in _stream.blocks(order.shape[0], X.shape[1], net.dtype, m):
                rows = order[start:stop]
                self.steps(X.rows(rows, net.dtype), Y.rows(rows, net.dtype),
                           np.arange(stop - start, dtype=np.int64), epoch, n,
                           batch0 + start // m)
        else:
            self.steps(X, Y, order, epoch, n, batch0)
        if not np.isfinite(net.params).all():
            error = None if x_name is None else _checks.non_finite(x_name, X)
            if error is not None:
                net.params[...] = last_good
                state.buffers[...], state.step[...] = state_before
                raise error
            diverged(net, last_good, epoch, self.args.eta, "a parameter became NaN or infinite")
        return last_good

    def steps(self, X, Y, order, epoch, n, batch0=0):
        """The mini-batches of the in-memory rows X[order] on the kernel that runs them,
        with the L2 decay of an epoch of ``n`` samples, and nothing else: no check of the
        result (``run`` does that)."""
        a, engine, params = self.args, self.net.engine, self.net.params
        if a.hogwild:
            engine.train_epoch_async(params, X, Y, order, a.mini_batch_size, a.eta, a.lmbda,
                                     n=n)
        elif a.plain:
            engine.train_epoch(params, X, Y, order, a.mini_batch_size, a.eta, a.lmbda, n)
        else:
            engine.train_epoch_general(params, X, Y, order, a.mini_batch_size, a.eta, a.lmbda,
                                       a.l1, a.optimizer, self.state, a.dropout,
                                       self.dropout_seed, epoch, a.clip_norm, n=n,
                                       batch0=batch0)

    def augmented(self, augment, X, epoch):
        """``augment(X, epoch)``, checked: the same shape, finite, of the network's dtype."""
        X_new = augment(X, epoch)
        if np.shape(X_new) != X.shape:
            raise ValueError(f"augment returned shape {np.shape(X_new)} for inputs of shape "
                             f"{X.shape}; expected the same shape")
        return _checks.check_inputs("augment(X, epoch)", X_new, self.net.sizes[0],
                                    self.net.dtype)


def diverged(net, last_good, epoch, eta, what):
    """Put the last good parameters back and raise ``TrainingDiverged``."""
    net.params[...] = last_good
    raise TrainingDiverged(
        f"training diverged in epoch {epoch}: {what} with eta={eta}; the parameters of "
        f"the last good epoch were kept. Try a smaller eta.")


# -- fit -------------------------------------------------------------------------------
def evaluation_score(history):
    """The latest epoch's evaluation score, higher is better: the accuracy, or minus the
    cost when ``history["monitor"]`` is ``"cost"`` (see ``Network.fit``'s ``monitor``)."""
    if history.get("monitor") == "cost":
        return -history["evaluation_cost"][-1]
    return history["evaluation_accuracy"][-1]


@dataclass
class _FitPlan:
    """Everything ``fit`` was asked, checked."""
    X: object
    Y: object
    labels: object
    epochs: int
    args: TrainingArguments
    monitored: dict           # name -> (X, Y, labels) evaluated after every epoch
    monitor: str              # "accuracy" or "cost" (what "best" means), or "auto"
    early_stopping: object
    restore_best: bool
    schedule: object
    augment: object
    callback: object
    verbose: bool
    checkpoint: object
    checkpoint_every: int
    checkpoint_batches: object
    resume: bool

    @classmethod
    def check(cls, net, X, y, epochs, mini_batch_size, eta, lmbda, evaluation_data,
              monitor_training, verbose, callback, l1, optimizer, dropout, early_stopping,
              restore_best, schedule, augment, hogwild, checkpoint, checkpoint_every, resume,
              clip_norm, checkpoint_batches, monitor):
        X, Y, labels = net._prepare("X", X, y, stream=True)
        epochs = _checks.check_positive("epochs", epochs, integer=True)
        args = TrainingArguments.check(len(net.sizes) - 2, mini_batch_size, eta, lmbda, l1,
                                       optimizer, dropout, clip_norm, hogwild)
        if evaluation_data is not None:
            try:
                X_eval, y_eval = evaluation_data
            except (TypeError, ValueError):
                given = (f"a {type(evaluation_data).__name__} of {len(evaluation_data)} items"
                         if hasattr(evaluation_data, "__len__") else f"{evaluation_data!r:.60}")
                raise ValueError(f"evaluation_data={given} is invalid; expected a pair "
                                 f"(X_eval, y_eval)") from None
            X_eval, Y_eval, labels_eval = net._prepare("evaluation_data", X_eval, y_eval,
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
        if schedule is not None and not (hasattr(schedule, "start")
                                         and hasattr(schedule, "after_epoch")):
            raise ValueError(f"schedule={schedule!r} is not a schedule; expected an object "
                             f"from fastnn.schedules")
        monitored = {}
        if monitor_training:
            monitored["training"] = (X, Y, labels)
        if evaluation_data is not None:
            monitored["evaluation"] = (X_eval, Y_eval, labels_eval)
        if checkpoint is not None:
            checkpoint_every = _checks.check_positive("checkpoint_every", checkpoint_every,
                                                      integer=True)
            if checkpoint_batches is not None:
                checkpoint_batches = _checks.check_positive("checkpoint_batches",
                                                            checkpoint_batches, integer=True)
        elif resume:
            raise ValueError("resume=True needs checkpoint=FOLDER, the folder of the run to "
                             "go on with")
        elif checkpoint_batches is not None:
            raise ValueError("checkpoint_batches needs checkpoint=FOLDER to write into")
        return cls(X, Y, labels, epochs, args, monitored, monitor, early_stopping,
                   restore_best, schedule, augment, callback, verbose, checkpoint,
                   checkpoint_every, checkpoint_batches, resume)


class _Run:
    """The state of one ``fit``: η, the history, the best epoch, the runner."""

    def __init__(self, net, plan):
        self.net, self.plan = net, plan
        self.eta = plan.args.eta
        self.history = {"epoch": [], "seconds": [], "eta": []}
        for name in plan.monitored:
            self.history.update({f"{name}_cost": [], f"{name}_accuracy": []})
        self.history["stopped"] = None
        if "evaluation" in plan.monitored:
            self.history["monitor"] = plan.monitor
        self.runner = EpochRunner(net, plan.args,
                                  dropout_seed=int(net.rng.integers(2 ** 63)))
        self.best = (-np.inf, None, None)  # score, epoch, parameters
        self.first_epoch = self.first_batch = 0
        self.record_of_run = None

    def start(self):
        """Start the schedule; with a checkpoint folder, describe the run, and with
        ``resume`` go on from its newest checkpoint."""
        p = self.plan
        if p.schedule is not None:
            p.schedule.start(self.eta)
        if p.checkpoint is None:
            return
        self.record_of_run = _run_record(self.net, p)
        if p.resume:
            found = _ckpt.latest(p.checkpoint)
            if found is not None:
                self._restore(found)

    def train(self, epoch):
        """One epoch (in segments of ``checkpoint_batches`` mini-batches, each followed by a
        checkpoint, when asked); returns its seconds and the parameters from before it."""
        p, net = self.plan, self.net
        n, m = p.X.shape[0], p.args.mini_batch_size
        segment = n if p.checkpoint is None or p.checkpoint_batches is None \
            else p.checkpoint_batches * m
        rng_before = net.rng.bit_generator.state  # a mid-epoch resume redraws the order
        order = net.rng.permutation(n).astype(np.int64)
        X_epoch = p.X if p.augment is None else self.runner.augmented(p.augment, p.X, epoch)
        seconds, last_good = 0.0, None
        self.runner.args = _with_eta(p.args, self.eta)
        for s0 in range(self.first_batch * m, n, segment):
            s1 = min(s0 + segment, n)
            start = time.perf_counter()
            before = self.runner.run(X_epoch, p.Y, order[s0:s1], epoch, n=n, batch0=s0 // m)
            seconds += time.perf_counter() - start
            last_good = before if last_good is None else last_good
            if s1 < n:
                self._save(epoch, batches_done=s1 // m, rng=rng_before)
        self.first_batch = 0
        return seconds, last_good

    def record(self, epoch, seconds, last_good):
        """Append the epoch to the history, with the cost and accuracy of every monitored
        set (a non-finite cost is a divergence); print it when ``verbose``."""
        h = self.history
        h["epoch"].append(epoch)
        h["seconds"].append(seconds)
        h["eta"].append(self.eta)
        line = f"epoch {epoch}: {seconds:.3f} s, eta {self.eta:g}"
        for name, (Xm, Ym, labels_m) in self.plan.monitored.items():
            cost, acc = self.net._cost_accuracy(Xm, Ym, labels_m, self.plan.args.lmbda)
            if not np.isfinite(cost):
                diverged(self.net, last_good, epoch, self.eta, f"the {name} cost became {cost}")
            h[f"{name}_cost"].append(cost)
            h[f"{name}_accuracy"].append(acc)
            line += f", {name} cost {cost:.4f}, accuracy {acc:.4f}"
        if self.plan.verbose:
            print(line, flush=True)
        if "evaluation" in self.plan.monitored and evaluation_score(h) > self.best[0]:
            self.best = (evaluation_score(h), epoch,
                         self.net.params.copy() if self.plan.restore_best else None)

    def stop_reason(self, epoch):
        """Why training stops after this epoch (the callback, early stopping, the
        schedule), or None; the schedule sets the next epoch's η."""
        p = self.plan
        if p.callback is not None and p.callback(epoch, self.history):
            return "callback"
        if p.early_stopping is not None and epoch - self.best[1] >= p.early_stopping:
            return (f"early stopping: no better evaluation {p.monitor} for "
                    f"{p.early_stopping} epochs")
        if p.schedule is not None:
            self.eta = p.schedule.after_epoch(epoch, self.history)
            if self.eta is None:
                return f"schedule: {p.schedule!r} ended training"
        return None

    def checkpoint(self, epoch):
        """After the epoch: a checkpoint every ``checkpoint_every`` epochs, after the last
        and when training stops."""
        p = self.plan
        if p.checkpoint is not None and (self.history["stopped"] or epoch + 1 == p.epochs
                                         or (epoch + 1) % p.checkpoint_every == 0):
            self._save(epoch + 1)

    def finish(self):
        if "evaluation" in self.plan.monitored:
            self.history["best_epoch"] = self.best[1]
            if self.plan.restore_best:
                self.net.params[...] = self.best[2]
        return self.history

    # -- checkpoints ----------------------------------------------------------------
    def _save(self, epochs_done, batches_done=0, rng=None):
        """Write a checkpoint; within an epoch (``batches_done`` > 0) ``rng`` is the random
        generator's state from before the epoch drew its order, so a resume redraws it."""
        net, state, best = self.net, self.runner.state, self.best
        schedule = self.plan.schedule
        arrays = {"params": net.params, "optimizer_state": state.buffers,
                  "optimizer_step": state.step}
        if best[2] is not None:
            arrays["best_params"] = best[2]
        meta = {"run": self.record_of_run, "rng": rng or net.rng.bit_generator.state,
                "eta": self.eta, "dropout_seed": self.runner.dropout_seed,
                "best_accuracy": float(best[0]), "best_epoch": best[1],
                "history": self.history,
                "schedule": None if schedule is None else {
                    k: v for k, v in vars(schedule).items()
                    if isinstance(v, (int, float, str, bool, type(None)))}}
        _ckpt.save(self.plan.checkpoint, epochs_done, arrays, meta, batches_done=batches_done)

    def _restore(self, found):
        """Load a checkpoint into this run (its metadata was checked by ``checkpoint.load``).
        A checkpoint that has trained more than ``epochs`` is refused
        (``checkpoint.AlreadyTrained``) rather than returned as the result of a shorter run:
        the model cannot be untrained, and the user asked for fewer epochs."""
        arrays, meta, path = found
        run, net, state, epochs = self.record_of_run, self.net, self.runner.state, \
            self.plan.epochs
        saved = meta.get("run", {})
        differ = sorted(k for k in set(run) | set(saved) if run.get(k) != saved.get(k))
        if differ:
            detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {run.get(k)!r}"
                               for k in differ)
            raise _ckpt.CheckpointError(f"{path!r} was written by a different run ({detail}); "
                                        f"resume with the same arguments or another folder")
        if arrays["params"].shape != net.params.shape:
            raise _ckpt.CheckpointError(f"{path!r} holds {arrays['params'].shape[0]} "
                                        f"parameters; this network has {net.params.shape[0]}")
        done, batches = meta["epochs_done"], meta["batches_done"]
        if epochs < done or (epochs == done and batches):
            raise _ckpt.AlreadyTrained(epochs, done, batches, path)
        net.params[...] = arrays["params"]
        state.buffers[...] = arrays["optimizer_state"]
        state.step[...] = arrays["optimizer_step"]
        net.rng.bit_generator.state = meta["rng"]
        schedule = self.plan.schedule
        if schedule is not None and meta.get("schedule") is not None:
            vars(schedule).update(meta["schedule"])
        self.history.clear()
        self.history.update(meta["history"])
        self.best = (meta["best_accuracy"], meta["best_epoch"], arrays.get("best_params"))
        self.first_epoch = epochs if self.history.get("stopped") else done
        self.eta = meta["eta"]
        self.runner.dropout_seed = meta["dropout_seed"]
        self.first_batch = batches


def fit(net, X, y, **arguments):
    """``Network.fit`` (see its docstring): check, start or resume, then per epoch train,
    record, decide whether to stop, checkpoint."""
    run = _Run(net, _FitPlan.check(net, X, y, **arguments))
    run.start()
    for epoch in range(run.first_epoch, run.plan.epochs):
        seconds, last_good = run.train(epoch)
        run.record(epoch, seconds, last_good)
        run.history["stopped"] = run.stop_reason(epoch)
        run.checkpoint(epoch)
        if run.history["stopped"]:
            break
    return run.finish()


def _with_eta(args, eta):
    """``args`` with this epoch's η (a schedule changes it between epochs)."""
    if eta == args.eta:
        return args
    return TrainingArguments(args.mini_batch_size, eta, args.lmbda, args.l1, args.optimizer,
                             args.dropout, args.clip_norm, args.hogwild)


def _run_record(net, plan):
    """What a checkpoint must match to be resumed by this run (``clip_norm`` and
    ``monitor`` only when they differ from their old defaults, so that checkpoints written
    before they existed still resume)."""
    a = plan.args
    record = {"sizes": [int(s) for s in net.sizes],
              "activations": [a if isinstance(a, str) else list(a) for a in net.activations],
              "cost": net.cost, "dtype": np.dtype(net.dtype).name,
              "n_samples": int(plan.X.shape[0]), "mini_batch_size": int(a.mini_batch_size),
              "eta": float(a.eta), "lmbda": float(a.lmbda), "l1": float(a.l1),
              "optimizer": _stable_repr(a.optimizer),
              "dropout": [float(p) for p in a.dropout] if a.dropout is not None else None,
              "hogwild": bool(a.hogwild), "schedule": _stable_repr(plan.schedule),
              "early_stopping": plan.early_stopping, "restore_best": bool(plan.restore_best),
              "monitored": sorted(plan.monitored),
              "augment": None if plan.augment is None else _stable_repr(plan.augment)}
    if a.clip_norm is not None:
        record["clip_norm"] = float(a.clip_norm)
    if plan.monitor == "cost":
        record["monitor"] = "cost"
    return record


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
