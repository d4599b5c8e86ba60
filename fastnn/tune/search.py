"""The searches: ``Tuner`` (the seeds' recipe, grid and random search) over trials."""
import itertools
import math
import os

import numpy as np

from .. import _checks
from . import trials
from .runners import make_runner
from .trials import (
    NETWORK_ARGS,
    TrialStore,
    TuneError,
    falls,
    make_spec,
    searchable_fit_args,
    trial_key,
)


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


def fmt(x):
    """A number in four significant digits, or – for None (an accuracy not measured)."""
    return "–" if x is None else f"{x:.4g}"


def _describe(names):
    def describe(record):
        spec, result = record["spec"], record["result"]
        args = {**spec["network"], **spec["fit"]}
        shown = ", ".join(f"{n} {args[n]}" for n in names if n in args)
        costs = " → ".join(fmt(c) for c in record["history"]["training_cost"][:6])
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
        from ..network import Network
        self.network = dict(network)
        Network(**self.network)  # check the network's arguments now, with their names
        self.fit = dict(fit or {})
        self.check_fit_names(self.fit)
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
    def check_fit_names(args):
        allowed = set(searchable_fit_args()) | {"halve_eta"}
        bad = sorted(set(args) - allowed)
        if bad:
            raise ValueError(f"{bad[0]!r} is not a searchable argument; expected fit "
                             f"arguments ({', '.join(sorted(allowed))}) or network "
                             f"arguments ({', '.join(NETWORK_ARGS)})")

    def _split(self, args):
        network = {k: v for k, v in args.items() if k in NETWORK_ARGS}
        fit = {k: v for k, v in args.items() if k not in NETWORK_ARGS}
        self.check_fit_names(fit)
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
            from ..network import Network
            net = Network(**self.network)
            if record["key"] in params:
                net.params[...] = params[record["key"]]
            else:  # the final trial was found in the trial file: train it again, here
                record_again, p = trials.run_trial(spec)
                net.params[...] = p
            net.save(output)
            summary["output"] = os.fspath(output)
        test = result["test_accuracy"]
        self.say(f"test accuracy {fmt(test)} (validation {result['validation_accuracy']:.4f}, "
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
            or falls(r["history"]["training_cost"][:falls_epochs + 1]))]
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
