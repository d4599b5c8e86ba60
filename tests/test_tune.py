"""fastnn.tune: trials, the trial file, resuming, the seeds' recipe, grid and random search,
in-process and on Dask (an embedded LocalCluster, and a real scheduler with real worker
processes on loopback, one of them killed in the middle of a search)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fastnn import Network, tune
from fastnn.cli import main

NET = {"sizes": [784, 30, 10], "hidden_activation": "sigmoid", "output_activation": "sigmoid",
       "cost": "cross_entropy", "dtype": "float32"}
SMALL = {"path": None, "train": 1500, "validation": 500, "seed": 0}


def spec(**fit):
    return tune.make_spec("test", NET, {"epochs": 2, "mini_batch_size": 10, "eta": 0.5,
                                        **fit}, SMALL)


def stable(record):
    """A record without what depends on time and place."""
    out = json.loads(json.dumps(record))
    out["result"] = {k: v for k, v in out["result"].items()
                     if k not in ("train_seconds", "wall_seconds")}
    out["history"].pop("seconds")
    out.pop("worker")
    out.pop("stage")
    out["spec"].pop("stage")
    return out


class CountingRunner(tune.InProcessRunner):
    """In-process, counting trials; raises KeyboardInterrupt after ``stop_after`` of them
    (an interrupted search)."""

    def __init__(self, stop_after=None):
        self.count, self.stop_after = 0, stop_after

    def run(self, specs):
        for s in specs:
            if self.stop_after is not None and self.count >= self.stop_after:
                raise KeyboardInterrupt("interrupted by the test")
            self.count += 1
            yield tune.run_trial(s)


# -- one trial ----------------------------------------------------------------------

def test_trial_is_a_plain_training_run():
    record, params = tune.run_trial(spec(lmbda=1.0))
    assert params is None and record["key"] == tune.trial_key(spec(lmbda=1.0))
    # the same run by hand: the same subsets, the same network and fit
    (X, y), (Xv, yv), _, _ = tune.trial_data(SMALL, "float32")
    net = Network(seed=0, threads=1, **NET)
    cost0 = net.evaluate(X, y, 1.0)["cost"]
    history = net.fit(X, y, epochs=2, mini_batch_size=10, eta=0.5, lmbda=1.0,
                      evaluation_data=(Xv, yv), monitor_training=True)
    assert record["history"]["training_cost"] == [cost0] + history["training_cost"]
    assert record["history"]["validation_accuracy"] == history["evaluation_accuracy"]
    assert record["result"]["validation_accuracy"] == max(history["evaluation_accuracy"])
    assert record["result"]["falls"] == (cost0 > history["training_cost"][0]
                                         > history["training_cost"][1])
    assert X.shape == (1500, 784) and Xv.shape == (500, 784)
    json.dumps(record)  # JSON-able


def test_trial_is_deterministic_and_keys_ignore_the_stage():
    a, _ = tune.run_trial(spec(eta=3.0))
    b, _ = tune.run_trial(dict(spec(eta=3.0), stage="elsewhere"))
    assert stable(a) == stable(b)
    assert tune.trial_key(spec(eta=3.0)) != tune.trial_key(spec(eta=3.1))


def test_a_diverging_trial_is_recorded_not_raised():
    record, _ = tune.run_trial(tune.make_spec(
        "test", dict(NET, output_activation="identity", cost="quadratic"),
        {"epochs": 3, "mini_batch_size": 10, "eta": 1e6}, SMALL))
    assert record["result"]["diverged"] and not record["result"]["falls"]
    assert record["history"]["training_cost"][-1] is None  # NaN is stored as null
    json.dumps(record, allow_nan=False)


def test_falls_needs_every_cost_lower_than_the_one_before():
    assert tune.trials.falls([3.0, 2.0, 1.0])
    assert not tune.trials.falls([3.0, 2.0, 2.5])
    assert not tune.trials.falls([3.0, 3.0])
    assert not tune.trials.falls([3.0, None])


# -- the trial file -------------------------------------------------------------------

def test_store_appends_reloads_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "trials.jsonl"
    store = tune.TrialStore(path)
    records = [tune.run_trial(spec(eta=e))[0] for e in (0.1, 0.2)]
    for r in records:
        store.add(r)
    store.add(records[0])  # a second result for the same trial is ignored
    store.close()
    assert len(path.read_text().splitlines()) == 2
    with open(path, "ab") as f:  # a crash in the middle of writing a third record
        f.write(json.dumps(tune.run_trial(spec(eta=0.3))[0]).encode()[:100])
    with pytest.warns(RuntimeWarning, match="line 3: not a trial record"):
        again = tune.TrialStore(path)
    assert set(again.records) == {r["key"] for r in records}
    third = tune.run_trial(spec(eta=0.3))[0]
    again.add(third)
    again.close()
    with pytest.warns(RuntimeWarning, match="line 3"):
        final = tune.TrialStore(path)
    assert set(final.records) == {r["key"] for r in records} | {third["key"]}


# -- grid and random search -------------------------------------------------------------

def tuner(tmp_path, runner, name="trials.jsonl", **kw):
    return tune.Tuner(NET, {"epochs": 2, "mini_batch_size": 10}, train_subset=1500,
                      validation_subset=500, trials=tmp_path / name, runner=runner,
                      say=lambda *a: None, **kw)


def test_grid_search_runs_every_point_and_picks_the_best(tmp_path):
    runner = CountingRunner()
    with tuner(tmp_path, runner) as t:
        out = t.grid_search({"eta": [0.05, 0.5, 3.0], "lmbda": [0.0, 5.0]})
    assert runner.count == 6 and len(out["trials"]) == 6
    points = {(r["spec"]["fit"]["eta"], r["spec"]["fit"]["lmbda"]) for r in out["trials"]}
    assert points == {(e, l) for e in (0.05, 0.5, 3.0) for l in (0.0, 5.0)}
    best = max(r["result"]["validation_accuracy"] for r in out["trials"])
    assert out["best"]["result"]["validation_accuracy"] == best
    # the same search again runs nothing: every trial is in the file
    runner2 = CountingRunner()
    with tuner(tmp_path, runner2) as t:
        again = t.grid_search({"eta": [0.05, 0.5, 3.0], "lmbda": [0.0, 5.0]})
    assert runner2.count == 0 and again["best"]["key"] == out["best"]["key"]


def test_random_search_draws_the_same_points_for_the_same_seed(tmp_path):
    space = {"eta": ("log", 0.01, 3.0), "mini_batch_size": ("int", 5, 20),
             "hidden_activation": ["sigmoid", "tanh"]}
    with tuner(tmp_path, CountingRunner(), "a.jsonl") as t:
        a = t.random_search(space, 4)
    with tuner(tmp_path, CountingRunner(), "b.jsonl") as t:
        b = t.random_search(space, 4)
    assert [r["key"] for r in a["trials"]] == [r["key"] for r in b["trials"]]
    for r in a["trials"]:
        fit, net = r["spec"]["fit"], r["spec"]["network"]
        assert 0.01 <= fit["eta"] <= 3.0 and 5 <= fit["mini_batch_size"] <= 20
        assert net["hidden_activation"] in ("sigmoid", "tanh")
    with tuner(tmp_path, CountingRunner(), "c.jsonl", seed=1) as t:
        c = t.random_search(space, 4)
    assert [r["key"] for r in c["trials"]] != [r["key"] for r in a["trials"]]


def test_search_arguments_are_checked(tmp_path):
    with tuner(tmp_path, CountingRunner()) as t:
        with pytest.raises(ValueError, match="'callback' is not a searchable argument"):
            t.grid_search({"callback": [None]})
        with pytest.raises(ValueError, match=r"grid\['eta'\]=\[\] is invalid"):
            t.grid_search({"eta": []})
        with pytest.raises(ValueError, match="n_trials=0 is invalid"):
            t.random_search({"eta": [0.1]}, 0)
        with pytest.raises(ValueError, match=r"space\['eta'\].*is invalid"):
            t.random_search({"eta": ("normal", 0, 1)}, 2)
        with pytest.raises(ValueError, match="etas=.*expected positive numbers"):
            t.recipe(etas=[0.1, -1])
    with pytest.raises(ValueError, match="train_subset=0 is invalid"):
        tune.Tuner(NET, train_subset=0, trials=tmp_path / "x.jsonl", runner=CountingRunner())
    with pytest.raises(ValueError, match="sizes"):
        tune.Tuner(dict(NET, sizes=[784]), trials=tmp_path / "x.jsonl", runner=CountingRunner())


def test_space_values_from_the_command_line():
    assert tune.parse_space_value("eta", "0.1,0.5", False) == [0.1, 0.5]
    assert tune.parse_space_value("eta", "log:0.001:1", True) == ("log", 0.001, 1.0)
    assert tune.parse_space_value("mini_batch_size", "int:5:50", True) == ("int", 5, 50)
    assert tune.parse_space_value("hidden_activation", "choice:relu,tanh", True) == \
        ("choice", ["relu", "tanh"])
    assert tune.parse_space_value("sizes", "784-30-10,784-100-10", False) == \
        [[784, 30, 10], [784, 100, 10]]
    with pytest.raises(ValueError, match="eta='log:0:1' is invalid"):
        tune.parse_space_value("eta", "log:0:1", True)
    with pytest.raises(ValueError, match="sizes='784-x' is invalid"):
        tune.parse_space_value("sizes", "784-x", False)


# -- the recipe -----------------------------------------------------------------------

RECIPE = dict(threshold_epochs=2, epochs=2, etas=[0.01, 0.1, 1.0, 10.0, 100.0],
              lmbdas=[0.0, 0.1, 10.0], batch_sizes=(10,), final_epochs=2, patience=1)


def test_recipe_follows_the_seeds_steps(tmp_path):
    lines = []
    with tune.Tuner(NET, {"mini_batch_size": 10}, train_subset=1500, validation_subset=500,
                    trials=tmp_path / "t.jsonl", runner=CountingRunner(),
                    say=lines.append) as t:
        out = t.recipe(output=tmp_path / "tuned.npz", **RECIPE)
        records = list(t.store.records.values())
    text = "\n".join(lines)
    for step in range(1, 6):
        assert f"step {step}:" in text
    # step 2: the threshold falls, the next η tried above it does not (or it is the top)
    threshold = [r for r in records if r["stage"] == "threshold"]
    by_eta = {r["spec"]["fit"]["eta"]: r["result"]["falls"] for r in threshold}
    assert by_eta[out["threshold_eta"]]
    above = [e for e in by_eta if e > out["threshold_eta"]]
    assert above and not by_eta[min(above)]
    # step 3: λ is the best validation accuracy among the λ trials at η = threshold/2
    lam = [r for r in records if r["stage"] == "lambda"]
    assert {r["spec"]["fit"]["eta"] for r in lam} == {out["threshold_eta"] / 2}
    assert max(lam, key=lambda r: r["result"]["validation_accuracy"])["result"][
        "validation_accuracy"] == next(r for r in lam if r["spec"]["fit"]["lmbda"] == out[
            "lmbda"])["result"]["validation_accuracy"]
    # step 5: the final run uses all the data, and its network was saved
    final = out["final"]
    assert final["spec"]["data"]["train"] is None and final["spec"]["final"]
    assert final["spec"]["fit"]["halve_eta"] == 1 and final["spec"]["fit"]["early_stopping"] == 4
    net = tune_load(tmp_path / "tuned.npz")
    (X, y), _, (Xt, yt), _ = tune.trial_data(final["spec"]["data"], "float32")
    assert net.evaluate(Xt, yt)["accuracy"] == out["test_accuracy"] > 0.5


def tune_load(path):
    import fastnn
    return fastnn.load(path)


def test_an_interrupted_recipe_resumes_without_repeating_trials(tmp_path):
    with tune.Tuner(NET, {"mini_batch_size": 10}, train_subset=1500, validation_subset=500,
                    trials=tmp_path / "whole.jsonl", runner=CountingRunner(),
                    say=lambda *a: None) as t:
        whole = t.recipe(**RECIPE)
    total = whole["trials_run"]
    stopped = CountingRunner(stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        with tune.Tuner(NET, {"mini_batch_size": 10}, train_subset=1500,
                        validation_subset=500, trials=tmp_path / "cut.jsonl", runner=stopped,
                        say=lambda *a: None) as t:
            t.recipe(**RECIPE)
    assert len((tmp_path / "cut.jsonl").read_text().splitlines()) == 7
    rest = CountingRunner()
    with tune.Tuner(NET, {"mini_batch_size": 10}, train_subset=1500, validation_subset=500,
                    trials=tmp_path / "cut.jsonl", runner=rest, say=lambda *a: None) as t:
        resumed = t.recipe(**RECIPE)
    assert rest.count == total - 7
    for name in ("threshold_eta", "eta", "lmbda", "mini_batch_size", "test_accuracy"):
        assert resumed[name] == whole[name], name
    lines = (tmp_path / "cut.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(l)["key"] for l in lines}) == total


def test_without_dask_trials_run_in_process(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    runner = tune.make_runner()
    assert isinstance(runner, tune.InProcessRunner)
    assert 'pip install "fastnn[dask]"' in runner.description
    with pytest.raises(ImportError, match=r'pip install "fastnn\[dask\]"'):
        tune.DaskRunner()
    with pytest.raises(ValueError, match="exclude each other"):
        tune.make_runner(scheduler="tcp://127.0.0.1:8786", in_process=True)


# -- Dask -----------------------------------------------------------------------------

distributed = pytest.importorskip("distributed")


def test_local_cluster_gives_the_in_process_results(tmp_path):
    grid = {"eta": [0.1, 1.0, 5.0], "lmbda": [0.0, 1.0]}
    with tuner(tmp_path, CountingRunner(), "here.jsonl") as t:
        here = t.grid_search(grid)
    runner = tune.DaskRunner(workers=2)
    try:
        assert "LocalCluster, 2 single-threaded" in runner.description
        with tuner(tmp_path, runner, "dask.jsonl") as t:
            there = t.grid_search(grid)
    finally:
        runner.close()
    assert [stable(r) for r in here["trials"]] == [stable(r) for r in there["trials"]]
    assert len({r["worker"] for r in there["trials"]}) >= 1


def _start(args, log, env=None):
    return subprocess.Popen([sys.executable, "-m"] + args, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)


#: Loaded by each worker of ``cluster`` (dask worker --preload): the first worker to start
#: its second trial, once the search has recorded its first, writes its process id and the
#: trial's key to HOLD_MARKER and holds that trial until it is killed. So the test kills a
#: worker that is certainly in the middle of a trial, and whose first result is safe in
#: the trial file, without reading a clock. The other worker runs as usual.
HOLD = r"""
import json, os, threading, time
from fastnn import tune

MARKER, TRIALS = os.environ["HOLD_MARKER"], os.environ["HOLD_TRIALS"]


def recorded_here():
    me = f":{os.getpid()}"
    try:
        lines = open(TRIALS).read().splitlines()
    except FileNotFoundError:
        return False
    return any(json.loads(line)["worker"].endswith(me) for line in lines if line.strip())


def hold(real_run_trial):
    started = []

    def run_trial(spec):
        started.append(spec)
        if len(started) == 2 and not os.path.exists(MARKER):
            deadline = time.monotonic() + 300  # a bound on a wait, not a timing
            while not recorded_here() and time.monotonic() < deadline:
                time.sleep(0.05)
            mine = f"{MARKER}.{os.getpid()}"
            with open(mine, "w") as f:
                f.write(f"{os.getpid()} fastnn-trial-{tune.trial_key(spec)}")
            try:
                os.link(mine, MARKER)  # one worker only: fails if the other made it first
            except FileExistsError:
                return real_run_trial(spec)
            threading.Event().wait()  # held here until the test kills this process
        return real_run_trial(spec)
    run_trial.held_by_the_test = True
    return run_trial


if not getattr(tune.trials.run_trial, "held_by_the_test", False):  # Dask may load it twice
    tune.trials.run_trial = hold(tune.trials.run_trial)
"""


@pytest.fixture
def cluster(tmp_path):
    """A real scheduler and two real single-threaded workers, separate processes on
    loopback (no nanny: a killed worker stays dead), loading HOLD."""
    file = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "wb")
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(file)], log)]
    deadline = time.time() + 60
    while not file.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert file.exists(), (tmp_path / "cluster.log").read_text()
    hold = tmp_path / "hold.py"
    hold.write_text(HOLD)
    env = dict(os.environ, HOLD_MARKER=str(tmp_path / "held"),
               HOLD_TRIALS=str(tmp_path / "trials.jsonl"))
    workers = [_start(["distributed.cli.dask_worker", "--scheduler-file", str(file),
                       "--nthreads", "1", "--no-nanny", "--no-dashboard", "--preload",
                       str(hold)], log, env)
               for _ in range(2)]
    procs += workers
    from distributed import Client
    address = json.loads(file.read_text())["address"]
    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=90)
    try:
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()


def test_search_survives_a_killed_worker(tmp_path, cluster):
    """A worker is killed (SIGKILL) while it runs a trial (HOLD keeps it in one); the
    search ends with every trial recorded once, the killed worker's trial run again on
    the other worker, and every result the one an uninterrupted in-process search gets."""
    address, workers = cluster
    trials = tmp_path / "trials.jsonl"
    argv = ["--grid", "eta=0.05,0.2,0.5,1,2,4", "--grid", "lmbda=0,5", "--epochs", "3",
            "--subset", "6000", "--validation-subset", "500", "--trials", str(trials),
            "--quiet"]
    search = subprocess.Popen([sys.executable, "-m", "fastnn", "tune", "--scheduler", address]
                              + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    held = tmp_path / "held"
    deadline = time.time() + 300  # a bound on the wait for HOLD, not a timing
    while not held.exists() and search.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert held.exists(), search.communicate()[0].decode()
    pid, key = held.read_text().split()
    victim = next(w for w in workers if w.pid == int(pid))
    survivor = next(w for w in workers if w is not victim)
    from distributed import Client
    with Client(address, timeout=30) as client:
        pids = client.run(os.getpid)  # worker address -> its process id
        where = next(a for a, p in pids.items() if p == victim.pid)
        assert key in client.processing(workers=[where])[where]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    done_at_kill = [json.loads(l) for l in trials.read_text().splitlines()]
    assert any(r["worker"].endswith(f":{victim.pid}") for r in done_at_kill)
    out = search.communicate(timeout=300)[0].decode()
    assert search.returncode == 0, out
    assert "best of 12 trials" in out
    lines = trials.read_text().splitlines()
    records = {json.loads(l)["key"]: json.loads(l) for l in lines}
    assert len(lines) == len(records) == 12 and len(done_at_kill) < 12
    # the held trial was run again, on the other worker
    assert records[key.removeprefix("fastnn-trial-")]["worker"].endswith(f":{survivor.pid}")
    # every result is the one an uninterrupted in-process search gets
    assert main(["tune", "--in-process"] + argv[:-3] + ["--trials", str(tmp_path / "here.jsonl"),
                                                        "--quiet"]) == 0
    here = {json.loads(l)["key"]: stable(json.loads(l))
            for l in (tmp_path / "here.jsonl").read_text().splitlines()}
    assert {k: stable(r) for k, r in records.items()} == here
    assert {r["worker"] for r in records.values()} == {r["worker"] for r in done_at_kill} | \
        {records[key.removeprefix("fastnn-trial-")]["worker"]}


# -- the command line -------------------------------------------------------------------

def test_cli_recipe_in_process_writes_summary_trials_and_model(tmp_path, capsys):
    argv = ["tune", "--in-process", "--subset", "1500", "--validation-subset", "500",
            "--epochs", "2", "--threshold-epochs", "2", "--etas", "0.1,1,10",
            "--lmbdas", "0,1", "--batch-sizes", "10,20", "--final-epochs", "2",
            "--patience", "1", "--trials", str(tmp_path / "t.jsonl"),
            "--output", str(tmp_path / "m.npz"), "--json", str(tmp_path / "s.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "step 2: threshold η" in out and "tuned: eta" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["trials_run"] == len((tmp_path / "t.jsonl").read_text().splitlines())
    assert summary["mini_batch_size"] in (10, 20)
    first = tune_load(tmp_path / "m.npz").params.copy()
    # again: nothing to run, the same answer; the final network, found in the trial file,
    # is trained again here for --output, and comes out the same
    assert main(argv + ["--quiet"]) == 0
    again = json.loads((tmp_path / "s.json").read_text())
    assert again["trials_run"] == 0
    assert again["eta"] == summary["eta"] and again["lmbda"] == summary["lmbda"]
    assert "step" not in capsys.readouterr().out
    assert (tune_load(tmp_path / "m.npz").params == first).all()


def test_cli_interrupted_search_says_how_to_resume(tmp_path, capsys, monkeypatch):
    calls = []

    def interrupted(spec):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(spec)
        return real(spec)

    real = tune.run_trial
    monkeypatch.setattr(tune.trials, "run_trial", interrupted)
    argv = ["tune", "--in-process", "--grid", "eta=0.1,0.5,1", "--epochs", "1", "--subset",
            "1000", "--validation-subset", "200", "--trials", str(tmp_path / "t.jsonl")]
    assert main(argv) == 130
    assert "interrupted; 2 finished trials are in" in capsys.readouterr().err
    monkeypatch.setattr(tune.trials, "run_trial", real)
    assert main(argv + ["--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["trials_run"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--grid", "eta=0.1", "--random", "3"], "--grid and --random exclude each other"),
    (["--random", "3"], "--random needs at least one --space"),
    (["--space", "eta=log:0.1:1"], "--space needs --random"),
    (["--grid", "eta"], "--grid 'eta' is invalid; expected NAME=VALUES"),
    (["--grid", "bogus=1,2"], "'bogus' is not a searchable argument"),
    (["--subset", "-1"], "--subset=-1 is invalid"),
    (["--epochs", "0"], "--epochs=0 is invalid"),
    (["--batch-sizes", "a,b"], "--batch-sizes='a,b' is invalid; expected comma-separated "
                               "integers"),
    (["--scheduler", "localhost"], "scheduler='localhost' is invalid"),
])
def test_cli_errors(tmp_path, capsys, argv, message):
    assert main(["tune", "--trials", str(tmp_path / "t.jsonl")] + argv) == 2
    assert message in capsys.readouterr().err


def test_scheduler_file_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a Dask scheduler file"):
        tune.DaskRunner(scheduler_file=tmp_path / "missing.json", timeout=0.3)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json.*is not a Dask scheduler file"):
        tune.DaskRunner(scheduler_file=tmp_path / "bad.json", timeout=0.3)
    with pytest.raises(ValueError, match="exclude each other"):
        tune.DaskRunner(scheduler="tcp://127.0.0.1:1", scheduler_file=tmp_path / "bad.json")
