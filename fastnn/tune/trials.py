"""Trials: a JSON-able spec, ``run_trial`` (spec -> record) and ``TrialStore`` (the
JSON-lines file that makes a search resumable)."""
import hashlib
import inspect
import json
import math
import os
import socket
import time
import warnings

import numpy as np

SCHEMA = 1


class TuneError(ValueError):
    """A search cannot go on (e.g. no η tried lets the training cost fall)."""

#: Network arguments a search may vary (besides fit's)
NETWORK_ARGS = ("sizes", "hidden_activation", "output_activation", "cost", "initializer",
                "dtype")
#: fit arguments that are not hyperparameters (data, files, callbacks, output)
_NOT_SEARCHABLE = {"self", "X", "y", "evaluation_data", "monitor_training", "verbose",
                   "callback", "schedule", "augment", "checkpoint", "checkpoint_every",
                   "resume", "checkpoint_batches", "hogwild", "restore_best"}


def searchable_fit_args():
    """Names of ``Network.fit``'s arguments a search may vary."""
    from ..network import Network
    return tuple(p for p in inspect.signature(Network.fit).parameters
                 if p not in _NOT_SEARCHABLE)


# -- trials ---------------------------------------------------------------------------

def trial_key(spec):
    """A stable 16-hex-digit key for a spec: the SHA-256 of its canonical JSON without the
    ``stage`` label, so the same training run is shared by every step that asks for it."""
    text = json.dumps({k: v for k, v in spec.items() if k != "stage"}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_spec(stage, network, fit, data, seed=0, final=False):
    """A trial spec: ``stage`` labels it (part of its key), ``network`` holds Network's
    arguments, ``fit`` fit's, ``data`` the dataset and subset (``path``, ``train``,
    ``validation``: sample counts or None for all, ``seed``: the subset's draw)."""
    return {"schema": SCHEMA, "stage": stage, "network": dict(network), "fit": dict(fit),
            "data": dict(data), "seed": int(seed), "final": bool(final)}


_DATA = {}


def _dataset(path, dtype):
    """The dataset, loaded once per process (each Dask worker keeps its own copy)."""
    from ..data import load_dataset
    key = (path, np.dtype(dtype).name)
    if key not in _DATA:
        _DATA.clear()
        _SUBSETS.clear()
        _DATA[key] = load_dataset(path, dtype=np.dtype(dtype).type)
    return _DATA[key]


def _subset(X, y, count, rng):
    if count is None or count >= X.shape[0]:
        return X, y
    rows = np.sort(rng.permutation(X.shape[0])[:count])
    return np.ascontiguousarray(X[rows]), y[rows]


_SUBSETS = {}
_WARMED = set()  # the kinds of run whose kernels this process has compiled or loaded


def trial_data(data_spec, dtype):
    """(train, validation, test, description) for a spec's ``data`` entry: the subsets are
    drawn with the spec's own seed, so every worker draws the same rows. The last two
    subsets drawn are kept (a search's trials share one; copying it costs about as much
    as a short trial's training)."""
    key = (json.dumps(data_spec, sort_keys=True), np.dtype(dtype).name)
    if key not in _SUBSETS:
        ds = _dataset(data_spec.get("path"), dtype)
        rng = np.random.default_rng(data_spec.get("seed", 0))
        train = _subset(*ds.train, data_spec.get("train"), rng)
        validation = _subset(*ds.validation, data_spec.get("validation"), rng)
        if len(_SUBSETS) >= 2:
            _SUBSETS.pop(next(iter(_SUBSETS)))
        _SUBSETS[key] = (train, validation, ds.test, ds.description)
    return _SUBSETS[key]


def _finite(values):
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def falls(costs):
    """True when every cost is finite and each is below the one before."""
    return all(c is not None for c in costs) and all(b < a for a, b in zip(costs, costs[1:]))


def run_trial(spec):
    """Train one trial and return ``(record, params)``: the JSON-able record (see the
    module docstring) and, for a ``final`` trial, the trained parameters (else None)."""
    from ..network import Network, TrainingDiverged
    from ..schedules import HalveOnPlateau

    net_args = dict(spec["network"])
    fit_args = dict(spec["fit"])
    dtype = net_args.get("dtype", "float32")
    (X, y), (X_val, y_val), (X_test, y_test), description = trial_data(spec["data"], dtype)
    final = spec.get("final", False)
    halve = fit_args.pop("halve_eta", None)
    if halve is not None:
        fit_args["schedule"] = HalveOnPlateau(patience=halve)
    if final:
        fit_args["restore_best"] = True
    lmbda = fit_args.get("lmbda", 0.0)
    # an untimed warm-up on a few samples compiles (or loads) the kernels, so the first
    # epoch's seconds are training only; once per process for each kind of run
    m = fit_args.get("mini_batch_size", 10)
    kind = json.dumps([net_args, m, str(fit_args.get("optimizer")), bool(fit_args.get("l1")),
                       fit_args.get("dropout") is not None, "clip_norm" in fit_args],
                      sort_keys=True, default=str)
    if kind not in _WARMED:
        warm = Network(threads=1, seed=0, **net_args)
        warm.fit(X[:2 * m], y[:2 * m], epochs=1, **{k: v for k, v in fit_args.items()
                                                    if k not in ("epochs", "early_stopping",
                                                                 "schedule", "restore_best")})
        _WARMED.add(kind)
    net = Network(threads=1, seed=spec["seed"], **net_args)
    start_cost = net.evaluate(X, y, lmbda)["cost"]
    start_acc = net.evaluate(X_val, y_val)["accuracy"]
    diverged = None
    began = time.perf_counter()
    try:
        history = net.fit(X, y, evaluation_data=(X_val, y_val), monitor_training=True,
                          **fit_args)
    except TrainingDiverged as exc:
        diverged, history = str(exc), None
    wall = time.perf_counter() - began
    if history is None:
        train_cost, val_acc, val_cost, seconds, eta = [start_cost, None], [], [], [], []
        best_acc, epochs, stopped, best_epoch = start_acc, 0, "diverged", None
    else:
        train_cost = [start_cost] + list(history["training_cost"])
        val_acc, val_cost = history["evaluation_accuracy"], history["evaluation_cost"]
        seconds, eta = history["seconds"], history["eta"]
        best_acc = max(val_acc)
        epochs, stopped, best_epoch = len(val_acc), history["stopped"], history["best_epoch"]
    record = {
        "schema": SCHEMA, "key": trial_key(spec), "stage": spec["stage"], "spec": spec,
        "history": {"training_cost": _finite(train_cost),
                    "training_accuracy": [] if history is None else
                    list(history["training_accuracy"]),
                    "validation_cost": _finite(val_cost), "validation_accuracy": list(val_acc),
                    "seconds": list(seconds), "eta": list(eta)},
        "result": {"falls": diverged is None and falls(_finite(train_cost)),
                   "validation_accuracy": best_acc, "start_validation_accuracy": start_acc,
                   "final_training_cost": _finite(train_cost)[-1], "epochs": epochs,
                   "best_epoch": best_epoch, "stopped": stopped, "diverged": diverged,
                   "train_seconds": float(sum(seconds)), "wall_seconds": wall},
        "data": description, "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    params = None
    if final:
        record["result"]["test_accuracy"] = (net.evaluate(X_test, y_test)["accuracy"]
                                             if history is not None else None)
        params = net.params.copy()
    return record, params


# -- the trial file -----------------------------------------------------------------

class TrialStore:
    """Finished trials in a JSON-lines file, one record per line, appended and flushed to
    disk as each trial finishes. A line cut short by a crash (the last one) is skipped
    with a warning; the trial runs again."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.records = {}
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                lines = f.read().split(b"\n")
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = record["key"]
                    if record.get("schema") != SCHEMA:
                        raise ValueError(f"schema {record.get('schema')!r}")
                except (ValueError, KeyError, TypeError) as exc:
                    warnings.warn(f"{self.path}, line {number}: not a trial record ({exc}); "
                                  f"skipped, that trial will run again", RuntimeWarning,
                                  stacklevel=2)
                    continue
                self.records.setdefault(key, record)
        self._file = None

    def __contains__(self, key):
        return key in self.records

    def get(self, key):
        return self.records.get(key)

    def add(self, record):
        """Append one record (a second record for the same key is ignored)."""
        if record["key"] in self.records:
            return
        if self._file is None:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            self._file = open(self.path, "ab")
            if self._file.tell() > 0:  # a line cut short by a crash must not swallow ours
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        self._file.write(b"\n")
        self._file.write(json.dumps(record, sort_keys=True).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[record["key"]] = record

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


# -- where trials run ---------------------------------------------------------------

