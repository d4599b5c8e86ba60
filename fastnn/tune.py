"""Hyperparameter search: the seeds' step-by-step recipe, grid search and random search,
run as independent trials in-process or on a Dask cluster.

A *trial* is one short training run described by a JSON-able ``spec`` (the network's
arguments, ``fit``'s arguments, which subset of which dataset, the seed). ``run_trial``
turns a spec into a *record*: the arguments, the per-epoch history (with the training
cost before the first epoch), the validation accuracy, the seconds of training, and
whether the training cost fell every epoch. Trials are deterministic (one thread each,
seeded), so the same spec gives the same record on any worker.

Every finished trial is appended to a JSON-lines file (``TrialStore``) as soon as its
result arrives, and flushed to disk. Searches are deterministic functions of the
finished trials, so running the same search again with the same file skips every trial
already in it: an interrupted search resumes where it stopped.

Trials run on a ``Runner``: ``InProcessRunner`` (one after another, here) or
``DaskRunner`` (an embedded ``distributed.LocalCluster`` with one single-threaded worker
per core, or any cluster given by its scheduler address). A trial whose worker dies is
run again by Dask on another worker; the store still gets one record per trial.

The recipe (``recipe``), after the seeds' hyperparameter strategy:

1. simplify: a subset of the training data, a smaller validation set, optionally a
   smaller network, so a trial takes seconds;
2. threshold η: with λ = 0, the largest η whose training cost falls in every one of the
   first few epochs, over factors of 10 and then refined within the decade; use half;
3. λ: 0 first, then factors of 10, chosen on validation accuracy, then refined;
4. η again for the chosen λ (on validation accuracy); then the mini-batch size, chosen
   by the best validation accuracy reached within the same training time;
5. the final run on the full data with early stopping and the halving schedule, and the
   test accuracy, measured once, at the very end.
"""
import hashlib
import inspect
import itertools
import json
import math
import os
import socket
import sys
import time
import warnings

import numpy as np

from . import _checks

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
    from .network import Network
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
    from .data import load_dataset
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


def _falls(costs):
    """True when every cost is finite and each is below the one before."""
    return all(c is not None for c in costs) and all(b < a for a, b in zip(costs, costs[1:]))


def run_trial(spec):
    """Train one trial and return ``(record, params)``: the JSON-able record (see the
    module docstring) and, for a ``final`` trial, the trained parameters (else None)."""
    from .network import Network, TrainingDiverged
    from .schedules import HalveOnPlateau

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
        "result": {"falls": diverged is None and _falls(_finite(train_cost)),
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

class InProcessRunner:
    """Runs trials one after another in this process."""

    description = "in-process (one trial at a time)"
    workers = 1

    def run(self, specs):
        for spec in specs:
            yield run_trial(spec)

    def close(self):
        pass


class DaskRunner:
    """Runs trials on Dask distributed: an embedded ``LocalCluster`` of ``workers``
    single-threaded worker processes (default: one per core), or the cluster whose
    scheduler is at ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``). Workers need fastnn
    installed and the dataset at the same path (or the default one)."""

    def __init__(self, scheduler=None, workers=None, scheduler_file=None, timeout=60):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError('running trials on Dask needs the dask extra: '
                              'pip install "fastnn[dask]"') from None
        self._cluster = None
        if scheduler is not None and scheduler_file is not None:
            raise ValueError("scheduler= and scheduler_file= exclude each other; give one")
        if scheduler_file is not None:
            scheduler_file = os.fspath(scheduler_file)
            deadline = time.monotonic() + timeout
            while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
                time.sleep(0.1)
            try:
                with open(scheduler_file) as f:
                    scheduler = json.load(f)["address"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"scheduler_file={scheduler_file!r} is not a Dask scheduler "
                                 f"file written by `dask scheduler --scheduler-file` "
                                 f"({exc})") from None
        if scheduler is None:
            if workers is not None:
                _checks.check_positive("workers", workers, integer=True)
            n = int(workers or os.cpu_count() or 1)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
            self.description = f"Dask LocalCluster, {n} single-threaded worker processes"
        else:
            if not isinstance(scheduler, str) or "://" not in scheduler:
                raise ValueError(f"scheduler={scheduler!r} is invalid; expected an address "
                                 f"such as tcp://host:8786")
            self.client = Client(scheduler, timeout=timeout)
            try:  # a search on a cluster without workers would wait for ever
                self.client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                self.client.close()
                raise ValueError(f"no Dask worker joined the scheduler at {scheduler} within "
                                 f"{timeout} s; start some with: dask worker {scheduler} "
                                 f"--nthreads 1") from None
            n = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask cluster at {scheduler} ({n} workers when it started)"

    @property
    def workers(self):
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, specs):
        from distributed import as_completed
        futures = [self.client.submit(run_trial, spec, key=f"fastnn-trial-{trial_key(spec)}",
                                      pure=False) for spec in specs]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_runner(scheduler=None, workers=None, in_process=False, scheduler_file=None):
    """``InProcessRunner`` when asked for (or when Dask is not installed and no scheduler
    was given, with a note), else ``DaskRunner``."""
    if in_process:
        if scheduler is not None or scheduler_file is not None:
            raise ValueError("in_process=True and a scheduler exclude each other")
        return InProcessRunner()
    if scheduler is not None or scheduler_file is not None:
        return DaskRunner(scheduler, workers, scheduler_file)
    if scheduler is None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            runner = InProcessRunner()
            runner.description += ' (Dask is not installed: pip install "fastnn[dask]")'
            return runner
    return DaskRunner(scheduler, workers)


# -- searches ---------------------------------------------------------------------

class Search:
    """Runs batches of trials through a runner, skipping those already in the store and
    recording each as it finishes; ``say`` gets one line per finished trial."""

    def __init__(self, store, runner, say=print):
        self.store, self.runner, self.say = store, runner, say
        self.ran = 0  # trials run by this search (not found in the store)

    def run(self, specs, describe):
        keys = [trial_key(s) for s in specs]
        todo, seen = [], set()
        for spec, key in zip(specs, keys):
            if key not in self.store and key not in seen:
                todo.append(spec)
                seen.add(key)
        for k in keys:
            if k in self.store:
                self.say("  " + describe(self.store.get(k)) + "  (done before)")
        params = {}
        for record, p in self.runner.run(todo):
            self.store.add(record)
            self.ran += 1
            if p is not None:
                params[record["key"]] = p
            self.say("  " + describe(record))
        return [self.store.get(k) for k in keys], params


def _fmt(x):
    return "–" if x is None else f"{x:.4g}"


def _describe(names):
    def describe(record):
        spec, result = record["spec"], record["result"]
        args = {**spec["network"], **spec["fit"]}
        shown = ", ".join(f"{n} {args[n]}" for n in names if n in args)
        costs = " → ".join(_fmt(c) for c in record["history"]["training_cost"][:6])
        text = (f"{shown}: validation accuracy {result['validation_accuracy']:.4f}, "
                f"training cost {costs}, {result['train_seconds']:.2f} s")
        if result["diverged"]:
            text += " (diverged)"
        return text
    return describe


def _dist_value(dist, rng):
    kind = dist[0]
    if kind == "log":
        return float(math.exp(rng.uniform(math.log(dist[1]), math.log(dist[2]))))
    if kind == "uniform":
        return float(rng.uniform(dist[1], dist[2]))
    if kind == "int":
        return int(rng.integers(dist[1], dist[2] + 1))
    if kind == "choice":
        return dist[1][int(rng.integers(len(dist[1])))]
    raise ValueError(f"unknown distribution {dist!r}")


def parse_space_value(name, text, random):
    """One ``NAME=...`` value of the CLI: for a grid, comma-separated values; for random
    search ``log:LO:HI``, ``uniform:LO:HI``, ``int:LO:HI`` or ``choice:A,B,...`` (a
    plain comma list is a choice)."""
    def atom(s):
        s = s.strip()
        for cast in (int, float):
            try:
                return cast(s)
            except ValueError:
                pass
        if s in ("none", "None"):
            return None
        return s

    if name == "sizes":
        try:
            return [[int(v) for v in part.split("-")] for part in text.split(",")] \
                if not random else ("choice", [[int(v) for v in part.split("-")]
                                               for part in text.split(",")])
        except ValueError:
            raise ValueError(f"sizes={text!r} is invalid; expected sizes such as "
                             f"784-30-10,784-100-10") from None
    if random and ":" in text:
        kind, _, rest = text.partition(":")
        if kind == "choice":
            return ("choice", [atom(v) for v in rest.split(",")])
        try:
            lo, hi = (float(v) for v in rest.split(":"))
        except ValueError:
            raise ValueError(f"{name}={text!r} is invalid; expected {kind}:LOW:HIGH") from None
        if kind not in ("log", "uniform", "int") or not lo < hi or (kind == "log" and lo <= 0):
            raise ValueError(f"{name}={text!r} is invalid; expected log:LOW:HIGH (0 < LOW < "
                             f"HIGH), uniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,...")
        return (kind, int(lo), int(hi)) if kind == "int" else (kind, lo, hi)
    values = [atom(v) for v in text.split(",")]
    return ("choice", values) if random else values


class Tuner:
    """What every search shares: the base configuration, the data, the store, the runner.

    Parameters
    ----------
    network : dict
        ``Network`` arguments (``sizes``, ``hidden_activation``, ``output_activation``,
        ``cost``, ``initializer``, ``dtype``).
    fit : dict
        ``fit`` arguments every trial starts from (``epochs``, ``mini_batch_size``, ``eta``,
        ``lmbda``, ...).
    data : str or None
        Dataset folder or ``mnist.pkl.gz`` (None: ``fastnn.data.find_data``'s default).
    train_subset, validation_subset : int or None
        Samples of the training and validation data per trial (None: all).
    trials : str or os.PathLike
        The JSON-lines trial file (created, or resumed from).
    runner : InProcessRunner, DaskRunner, or None (``make_runner()``)
    seed : int
        Seeds every trial's network and the subsets.
    say : callable
        Prints progress (``print``; a no-op to be quiet).
    """

    def __init__(self, network, fit=None, data=None, train_subset=10000,
                 validation_subset=2000, trials="fastnn-trials.jsonl", runner=None, seed=0,
                 say=print):
        from .network import Network
        self.network = dict(network)
        Network(**self.network)  # check the network's arguments now, with their names
        self.fit = dict(fit or {})
        self._check_fit_names(self.fit)
        for name, value in (("train_subset", train_subset),
                            ("validation_subset", validation_subset)):
            if value is not None:
                _checks.check_positive(name, value, integer=True)
        self.data_path = None if data is None else os.fspath(data)
        self.subset = {"path": self.data_path, "train": train_subset,
                       "validation": validation_subset, "seed": int(seed)}
        self.full = {"path": self.data_path, "train": None, "validation": None,
                     "seed": int(seed)}
        self.seed = int(seed)
        self.store = TrialStore(trials)
        self._own_runner = runner is None
        self.runner = make_runner() if runner is None else runner
        self.say = say
        self.search = Search(self.store, self.runner, say)

    def close(self):
        self.store.close()
        if self._own_runner:
            self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _check_fit_names(args):
        allowed = set(searchable_fit_args()) | {"halve_eta"}
        bad = sorted(set(args) - allowed)
        if bad:
            raise ValueError(f"{bad[0]!r} is not a searchable argument; expected fit "
                             f"arguments ({', '.join(sorted(allowed))}) or network "
                             f"arguments ({', '.join(NETWORK_ARGS)})")

    def _split(self, args):
        network = {k: v for k, v in args.items() if k in NETWORK_ARGS}
        fit = {k: v for k, v in args.items() if k not in NETWORK_ARGS}
        self._check_fit_names(fit)
        return network, fit

    def _spec(self, stage, network=None, fit=None, data=None, final=False):
        return make_spec(stage, {**self.network, **(network or {})}, {**self.fit, **(fit or {})},
                         data or self.subset, self.seed, final)

    # -- grid and random search ----------------------------------------------------
    def _points(self, stage, points):
        specs = []
        for point in points:
            network, fit = self._split(point)
            specs.append(self._spec(stage, network, fit))
        names = sorted({n for p in points for n in p})
        records, _ = self.search.run(specs, _describe(names))
        def score(r):  # accuracy, then the lower last validation cost (None: diverged)
            costs = r["history"]["validation_cost"]
            last = costs[-1] if costs and costs[-1] is not None else math.inf
            return r["result"]["validation_accuracy"], -last

        best = max(records, key=score)
        return {"trials": records, "best": best}

    def grid_search(self, grid):
        """Every combination of ``grid`` (name → list of values); returns ``{"trials",
        "best"}`` (best by validation accuracy, then lower validation cost)."""
        if not grid:
            raise ValueError("grid is empty; expected at least one NAME: [values]")
        names = list(grid)
        for name in names:
            if not isinstance(grid[name], (list, tuple)) or not grid[name]:
                raise ValueError(f"grid[{name!r}]={grid[name]!r} is invalid; expected a "
                                 f"non-empty list of values")
        points = [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
        self.say(f"grid search: {len(points)} trials over {', '.join(names)}")
        return self._points("grid", points)

    def random_search(self, space, n_trials):
        """``n_trials`` points drawn from ``space`` (name → ``("log", lo, hi)``,
        ``("uniform", lo, hi)``, ``("int", lo, hi)``, ``("choice", [values])`` or a list,
        which is a choice), with the tuner's seed: the same draw every time, so a resumed
        search finds its finished trials."""
        _checks.check_positive("n_trials", n_trials, integer=True)
        if not space:
            raise ValueError("space is empty; expected at least one NAME: distribution")
        rng = np.random.default_rng(self.seed)
        dists = {n: ("choice", list(d)) if isinstance(d, list) else tuple(d)
                 for n, d in space.items()}
        for n, d in dists.items():
            if not d or d[0] not in ("log", "uniform", "int", "choice"):
                raise ValueError(f"space[{n!r}]={space[n]!r} is invalid; expected (\"log\", lo, "
                                 f"hi), (\"uniform\", lo, hi), (\"int\", lo, hi) or a list")
        points = [{n: _dist_value(d, rng) for n, d in dists.items()} for _ in range(n_trials)]
        self.say(f"random search: {n_trials} trials over {', '.join(dists)}")
        return self._points("random", points)

    # -- the recipe ----------------------------------------------------------------
    def recipe(self, threshold_epochs=3, epochs=10, etas=None, lmbdas=None,
               batch_sizes=(1, 5, 10, 20, 50, 100), trial_sizes=None, final_epochs=60,
               patience=5, output=None):
        """Run the seeds' five steps (module docstring) and return a summary dict.

        ``threshold_epochs``: epochs over which the training cost must fall; ``epochs``:
        epochs of the λ, η and mini-batch trials; ``etas``: the decades tried first
        (default 10⁻⁴ … 10²); ``lmbdas``: the λ decades (default 0 and 10⁻³ … 10²);
        ``trial_sizes``: a smaller network for steps 2-4; ``final_epochs``, ``patience``:
        the final run's limit and the halving schedule's patience (early stopping waits
        four times as long); ``output``: where to save the final network (or None).
        """
        _checks.check_positive("threshold_epochs", threshold_epochs, integer=True)
        _checks.check_positive("epochs", epochs, integer=True)
        _checks.check_positive("final_epochs", final_epochs, integer=True)
        _checks.check_positive("patience", patience, integer=True)
        etas = [10.0 ** k for k in range(-4, 3)] if etas is None else list(etas)
        lmbdas = [0.0] + [10.0 ** k for k in range(-3, 3)] if lmbdas is None else list(lmbdas)
        for name, values in (("etas", etas), ("batch_sizes", batch_sizes)):
            if not values or any(not isinstance(v, (int, float)) or isinstance(v, bool)
                                 or not v > 0 for v in values):
                raise ValueError(f"{name}={values!r} is invalid; expected positive numbers")
        if not lmbdas or any(not isinstance(v, (int, float)) or v < 0 for v in lmbdas):
            raise ValueError(f"lmbdas={lmbdas!r} is invalid; expected numbers >= 0")
        small = {} if trial_sizes is None else {"sizes": list(_checks.check_sizes(trial_sizes))}
        sizes = small.get("sizes", self.network["sizes"])
        summary = {"runner": self.runner.description}

        # 1. simplify
        counts = [f"{self.subset[p]:,}" if self.subset[p] else "all the"
                  for p in ("train", "validation")]
        self.say(f"step 1: simplify. Trials train on {counts[0]} samples (at most) and "
                 f"validate on {counts[1]}, network {list(sizes)}, one thread each; "
                 f"{self.runner.description}")

        # 2. threshold η
        self.say(f"step 2: threshold η. λ = 0; the training cost must fall in each of the "
                 f"first {threshold_epochs} epochs")
        base = {"lmbda": 0.0, "epochs": threshold_epochs}
        threshold = self._threshold("threshold", small, base, etas)
        eta = threshold / 2
        summary.update(threshold_eta=threshold, eta=eta)
        self.say(f"  threshold η = {threshold:g}; using η = {eta:g} (half)")

        # 3. λ
        self.say(f"step 3: λ by factors of 10 on validation accuracy ({epochs} epochs, "
                 f"η = {eta:g})")
        lmbda = self._best_of("lambda", small, {"eta": eta, "epochs": epochs}, "lmbda",
                              sorted(set(lmbdas)))
        finer = [lmbda * f for f in (0.25, 0.5, 2.0, 4.0)] if lmbda > 0 else \
            [min(v for v in lmbdas if v > 0) / 4] if any(v > 0 for v in lmbdas) else []
        if finer:
            self.say(f"  refining around λ = {lmbda:g}")
            lmbda = self._best_of("lambda", small, {"eta": eta, "epochs": epochs},
                                  "lmbda", sorted(set([lmbda] + finer)))
        summary["lmbda"] = lmbda
        self.say(f"  λ = {lmbda:g}")

        # 4. η again, then the mini-batch size
        self.say(f"step 4: η again for λ = {lmbda:g} (validation accuracy, {epochs} epochs; "
                 f"a trial whose training cost does not fall is out)")
        eta = self._best_of("eta", small, {"lmbda": lmbda, "epochs": epochs}, "eta",
                            [eta * f for f in (0.25, 0.5, 1.0, 2.0)],
                            falls_epochs=threshold_epochs)
        summary["eta"] = eta
        self.say(f"  η = {eta:g}")
        self.say(f"  mini-batch size: the best validation accuracy reached within the "
                 f"training time of the quickest ({', '.join(map(str, batch_sizes))})")
        m, scores = self._batch_size(small, {"eta": eta, "lmbda": lmbda, "epochs": epochs},
                                     batch_sizes)
        summary.update(mini_batch_size=m, batch_scores=scores)
        self.say(f"  mini-batch size = {m}")

        # 5. the final run
        final_fit = {"eta": eta, "lmbda": lmbda, "mini_batch_size": m, "epochs": final_epochs,
                     "early_stopping": 4 * patience, "halve_eta": patience}
        self.say(f"step 5: final run on all the training data: η = {eta:g}, λ = {lmbda:g}, "
                 f"mini-batch {m}, up to {final_epochs} epochs, η halved after {patience} "
                 f"epochs without a better validation accuracy, early stopping after "
                 f"{4 * patience}; the test set is used once, now")
        spec = self._spec("final", fit=final_fit, data=self.full, final=True)
        (record,), params = self.search.run([spec], _describe(["eta", "lmbda",
                                                               "mini_batch_size"]))
        result = record["result"]
        summary.update(final=record, test_accuracy=result["test_accuracy"],
                       validation_accuracy=result["validation_accuracy"])
        if output is not None:
            from .network import Network
            net = Network(**self.network)
            if record["key"] in params:
                net.params[...] = params[record["key"]]
            else:  # the final trial was found in the trial file: train it again, here
                record_again, p = run_trial(spec)
                net.params[...] = p
            net.save(output)
            summary["output"] = os.fspath(output)
        test = result["test_accuracy"]
        self.say(f"test accuracy {_fmt(test)} (validation {result['validation_accuracy']:.4f}, "
                 f"{result['epochs']} epochs, best epoch {result['best_epoch']}; "
                 f"stopped: {result['stopped']})")
        summary["trials_run"] = self.search.ran
        return summary

    def _threshold(self, stage, small, base, etas):
        describe = _describe(["eta"])
        specs = [self._spec(stage, small, {**base, "eta": float(e)}) for e in sorted(etas)]
        records, _ = self.search.run(specs, describe)
        falls = [r["result"]["falls"] for r in records]
        if not falls[0]:
            raise TuneError(f"the training cost did not fall for the smallest η tried "
                               f"({min(etas):g}); try smaller etas, or check the data")
        # the largest η of the unbroken run of falling costs from the smallest one up
        top = 0
        while top + 1 < len(falls) and falls[top + 1]:
            top += 1
        found = sorted(etas)[top]
        if top + 1 == len(falls):
            self.say(f"  every η up to {found:g} works; going on by factors of 10")
            while True:
                nxt = found * 10
                (rec,), _ = self.search.run([self._spec(stage, small, {**base, "eta": nxt})],
                                            describe)
                if not rec["result"]["falls"] or nxt >= 1e6:
                    break
                found = nxt
        self.say(f"  threshold between {found:g} and {found * 10:g}; refining")
        refine = [found * f for f in (1.5, 2.0, 3.0, 5.0, 7.0)]
        records, _ = self.search.run([self._spec(stage, small,
                                                 {**base, "eta": e}) for e in refine], describe)
        for e, r in zip(refine, records):
            if not r["result"]["falls"]:
                break
            found = e
        return found

    def _best_of(self, stage, small, base, name, values, falls_epochs=None):
        """The value with the best validation accuracy; with ``falls_epochs``, only among
        those whose training cost fell in each of the first ``falls_epochs`` epochs."""
        specs = [self._spec(stage, small, {**base, name: float(v)}) for v in values]
        records, _ = self.search.run(specs, _describe([name]))
        ok = [(v, r) for v, r in zip(values, records) if not r["result"]["diverged"] and (
            falls_epochs is None
            or _falls(r["history"]["training_cost"][:falls_epochs + 1]))]
        if not ok:
            raise TuneError(f"every {name} tried ({values}) diverged or its training "
                               f"cost did not fall")
        best = max(ok, key=lambda vr: vr[1]["result"]["validation_accuracy"])
        return best[0]

    def _batch_size(self, small, base, sizes):
        specs = [self._spec("mini-batch", small, {**base, "mini_batch_size": int(m)})
                 for m in sizes]
        records, _ = self.search.run(specs, _describe(["mini_batch_size"]))
        budget = min(r["result"]["train_seconds"] for r in records)
        scores = {}
        for m, r in zip(sizes, records):
            elapsed = np.cumsum(r["history"]["seconds"])
            reached = [a for a, t in zip(r["history"]["validation_accuracy"], elapsed)
                       if t <= budget * (1 + 1e-9)]
            scores[int(m)] = max(reached) if reached else \
                r["result"]["start_validation_accuracy"]
        for m in sizes:
            self.say(f"  mini-batch {m}: validation accuracy {scores[int(m)]:.4f} within "
                     f"{budget:.2f} s")
        best = max(sizes, key=lambda m: (scores[int(m)], m))
        return int(best), scores


# -- the command line (fastnn tune) ------------------------------------------------

def _numbers(option, text, kind=float):
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        what = "integers" if kind is int else "numbers"
        raise ValueError(f"{option}={text!r} is invalid; expected comma-separated {what}")
    return values


def add_parser(commands, network_arguments):
    """``fastnn tune``'s argparse subcommand (``network_arguments`` adds --sizes, --cost,
    --hidden-activation and --output-activation, shared with ``fastnn train``)."""
    import argparse
    tune = commands.add_parser(
        "tune", help="search hyperparameters: the seeds' recipe, grid or random search",
        description="Without --grid or --random, run the seeds' recipe: (1) trials on a "
                    "data subset, (2) the threshold eta at which the training cost stops "
                    "falling, halved, (3) lambda by factors of 10 on validation accuracy, "
                    "(4) eta again and the mini-batch size, (5) a final run on all the data "
                    "with early stopping and the halving schedule, and the test accuracy. "
                    "Trials run on Dask (an embedded LocalCluster, one single-threaded "
                    "worker per core, or --scheduler) and are written to --trials as they "
                    "finish: running the same command again resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    network_arguments(tune, [784, 30, 10])
    tune.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                      help="grid search over NAME (any fit argument, or sizes as 784-30-10); "
                           "repeat for more names")
    tune.add_argument("--random", type=int, default=None, metavar="N",
                      help="random search of N trials over the --space distributions")
    tune.add_argument("--space", action="append", default=[], metavar="NAME=DIST",
                      help="for --random: log:LO:HI, uniform:LO:HI, int:LO:HI or "
                           "choice:A,B,...; repeat for more names")
    tune.add_argument("--eta", type=float, default=0.5, help="eta of grid/random trials")
    tune.add_argument("--lmbda", type=float, default=0.0,
                      help="lambda of grid/random trials")
    tune.add_argument("--mini-batch-size", type=int, default=10,
                      help="mini-batch size of the recipe's first steps and of grid/random "
                           "trials")
    tune.add_argument("--epochs", type=int, default=10,
                      help="epochs per trial (the recipe's lambda, eta and mini-batch steps)")
    tune.add_argument("--threshold-epochs", type=int, default=3,
                      help="epochs over which the training cost must fall (recipe step 2)")
    tune.add_argument("--etas", default=None, metavar="E1,E2,...",
                      help="the eta decades of step 2 (default 1e-4,...,100)")
    tune.add_argument("--lmbdas", default=None, metavar="L1,L2,...",
                      help="the lambda values of step 3 (default 0,1e-3,...,100)")
    tune.add_argument("--batch-sizes", default="1,5,10,20,50,100",
                      help="mini-batch sizes of step 4")
    tune.add_argument("--trial-sizes", default=None, metavar="SIZES",
                      help="a smaller network for the recipe's trials, e.g. 784,10")
    tune.add_argument("--subset", type=int, default=10000,
                      help="training samples per trial (0: all)")
    tune.add_argument("--validation-subset", type=int, default=2000,
                      help="validation samples per trial (0: all)")
    tune.add_argument("--final-epochs", type=int, default=60, help="final run's epoch limit")
    tune.add_argument("--patience", type=int, default=5,
                      help="final run: epochs without a better validation accuracy before "
                           "eta is halved (early stopping waits 4 times as long)")
    tune.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    tune.add_argument("--seed", type=int, default=0, help="seeds every trial and the subsets")
    tune.add_argument("--data", default=None,
                      help="dataset folder or mnist.pkl.gz (default as for fastnn train)")
    tune.add_argument("--trials", default="fastnn-trials.jsonl",
                      help="JSON-lines file of finished trials (resumed when it exists)")
    tune.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="a running Dask scheduler, e.g. tcp://host:8786 (default: an "
                           "embedded LocalCluster)")
    tune.add_argument("--scheduler-file", default=None, metavar="FILE",
                      help="the file `dask scheduler --scheduler-file FILE` writes (waited "
                           "for, up to a minute)")
    tune.add_argument("--workers", type=int, default=None,
                      help="workers of the embedded LocalCluster (default: one per core)")
    tune.add_argument("--in-process", action="store_true",
                      help="run the trials here, one after another, without Dask")
    tune.add_argument("--output", default="fastnn-tuned.npz",
                      help="where the recipe saves its final network")
    tune.add_argument("--json", default=None, help="write the search's summary as JSON here")
    tune.add_argument("--quiet", action="store_true", help="print only the final summary")
    return tune


def command(args):
    """Run ``fastnn tune`` for parsed ``args``; returns the exit status."""
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    for name in ("epochs", "threshold_epochs", "final_epochs", "patience", "mini_batch_size"):
        _checks.check_positive("--" + name.replace("_", "-"), getattr(args, name), integer=True)
    for name in ("subset", "validation_subset"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid; "
                             f"expected a sample count >= 0 (0: all)")
    if args.random is not None:
        _checks.check_positive("--random", args.random, integer=True)
    if args.grid and args.random is not None:
        raise ValueError("--grid and --random exclude each other; choose one search")
    if args.space and args.random is None:
        raise ValueError("--space needs --random N (the number of trials to draw)")
    if args.random is not None and not args.space:
        raise ValueError("--random needs at least one --space NAME=DIST")

    def parse(option, items, random):
        out = {}
        for item in items:
            name, eq, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not eq or not name or not text:
                raise ValueError(f"{option} {item!r} is invalid; expected NAME=VALUES")
            out[name] = parse_space_value(name, text, random)
        return out

    grid = parse("--grid", args.grid, False)
    space = parse("--space", args.space, True)
    Tuner._check_fit_names({n: v for n, v in {**grid, **space}.items()
                            if n not in NETWORK_ARGS})
    output_activation = args.output_activation or (
        "softmax" if args.cost == "log_likelihood" else "sigmoid")
    network = {"sizes": list(args.sizes), "hidden_activation": args.hidden_activation,
               "output_activation": output_activation, "cost": args.cost, "dtype": args.dtype}
    fit = {"mini_batch_size": args.mini_batch_size}
    if grid or space:
        fit.update(eta=args.eta, lmbda=args.lmbda, epochs=args.epochs)
    recipe_args = {}
    if not (grid or space):
        recipe_args = dict(
            threshold_epochs=args.threshold_epochs, epochs=args.epochs,
            etas=None if args.etas is None else _numbers("--etas", args.etas),
            lmbdas=None if args.lmbdas is None else _numbers("--lmbdas", args.lmbdas),
            batch_sizes=_numbers("--batch-sizes", args.batch_sizes, int),
            trial_sizes=None if args.trial_sizes is None else
            _numbers("--trial-sizes", args.trial_sizes, int),
            final_epochs=args.final_epochs, patience=args.patience, output=args.output)
    runner = make_runner(args.scheduler, args.workers, args.in_process, args.scheduler_file)
    tuner = None
    try:
        with Tuner(network, fit, data=args.data, train_subset=args.subset or None,
                   validation_subset=args.validation_subset or None, trials=args.trials,
                   runner=runner, seed=args.seed, say=say) as tuner:
            start = time.perf_counter()
            if grid:
                out = tuner.grid_search(grid)
            elif space:
                out = tuner.random_search(space, args.random)
            else:
                out = tuner.recipe(**recipe_args)
            seconds = time.perf_counter() - start
            ran = tuner.search.ran
    except KeyboardInterrupt:
        done = 0 if tuner is None else len(tuner.store.records)
        print(f"fastnn tune: interrupted; {done} finished trials are in {args.trials}: the "
              f"same command goes on from there", file=sys.stderr, flush=True)
        return 130
    finally:
        runner.close()
    if grid or space:
        best = out["best"]
        args_shown = {**best["spec"]["network"], **best["spec"]["fit"]}
        chosen = {n: args_shown[n] for n in (grid or space)}
        summary = {"search": "grid" if grid else "random", "best": chosen,
                   "validation_accuracy": best["result"]["validation_accuracy"],
                   "trials": len(out["trials"])}
        print(f"best of {len(out['trials'])} trials: "
              + ", ".join(f"{k} {v}" for k, v in chosen.items())
              + f" (validation accuracy {best['result']['validation_accuracy']:.4f}); "
              f"{ran} trials run in {seconds:.1f} s; trials in {args.trials}", flush=True)
    else:
        summary = {k: v for k, v in out.items() if k != "final"}
        print(f"tuned: eta {out['eta']:g}, lambda {out['lmbda']:g}, mini-batch "
              f"{out['mini_batch_size']}; test accuracy {_fmt(out['test_accuracy'])}; "
              f"{ran} trials run in {seconds:.1f} s; model saved to {args.output}; trials in "
              f"{args.trials}", flush=True)
    summary.update(seconds=seconds, trials_run=ran, trials_file=args.trials)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: fastnn tune (python -m fastnn tune --help)")
