"""Measured machine choices (fastnn/_engine/calibrate.py, the matrix path's Plan and ThreadWatch in
fastnn/_engine/matrix.py). The mechanism is tested with injected measurements, never by timing:
what is kept, what is trusted, what is measured again, what runs."""
import json
import os
import stat

import numba
import numpy as np
import pytest

import fastnn
from fastnn._engine import calibrate as _calibrate
from fastnn._engine import gemm as _gemm
from fastnn._engine import matrix as _matrix
from fastnn._engine import threads as _threads
from fastnn.cli import main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A calibration file of this test's own, and a process that has read nothing yet."""
    monkeypatch.setenv(_calibrate.DIR_ENV, str(tmp_path))
    monkeypatch.delenv(_calibrate.ENV, raising=False)
    _calibrate.reset()
    yield tmp_path / _calibrate.FILE_NAME
    _calibrate.reset()


def measured(values, calls=None):
    """A measure function returning ``values`` (and counting its calls)."""
    def measure(candidates):
        if calls is not None:
            calls.append(list(candidates))
        return {c: values[c] for c in candidates}
    return measure


def never(candidates):
    raise AssertionError(f"measured {candidates} although a usable record was there")


CANDIDATES = ["blas@1", "blas@2", "engine@1", "engine@2"]
TIMES = {"blas@1": 2.0, "blas@2": 1.0, "engine@1": 3.0, "engine@2": 1.5}


def test_measured_once_then_read_back_in_a_new_process(cache):
    calls = []
    choice, record = _calibrate.decide("k", CANDIDATES, measured(TIMES, calls), "a test")
    assert choice == "blas@2" and record["seconds"]["engine@1"] == 3.0 and len(calls) == 1
    assert _calibrate.decide("k", CANDIDATES, never, "a test")[0] == "blas@2"
    _calibrate.reset()  # as a new process: from the file
    data = json.loads(cache.read_text())
    assert data["format"] == _calibrate.FORMAT
    section = data["machines"][_calibrate.machine_key()]
    assert section["machine"] == _calibrate.machine()
    assert _calibrate.decide("k", CANDIDATES, never, "a test")[0] == "blas@2"


def test_says_so_once_per_process(cache, capsys):
    _calibrate.decide("a", CANDIDATES, measured(TIMES), "decision A")
    _calibrate.decide("b", CANDIDATES, measured(TIMES), "decision B")
    err = capsys.readouterr().err
    assert err.count("fastnn: measuring") == 1 and "decision A" in err and str(cache) in err


def _write(cache, text):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(text if isinstance(text, bytes) else text.encode())


def _good_file(cache, record):
    return json.dumps({"format": _calibrate.FORMAT, "version": _calibrate.VERSION,
                       "machines": {_calibrate.machine_key(): {
                           "machine": _calibrate.machine(), "records": {"k": record}}}})


GOOD = {"choice": "engine@1", "seconds": {"engine@1": 0.5, "blas@1": 1.0}}
CORRUPT = {
    "not json": b"\x00\xffgarbage",
    "truncated": lambda c: _good_file(c, GOOD)[:40],
    "another format": json.dumps({"format": "x", "version": 1, "machines": {}}),
    "newer version": lambda c: _good_file(c, GOOD).replace(
        f'"version": {_calibrate.VERSION}', '"version": 99'),
    "a list": "[1, 2, 3]",
    "too large": b" " * (_calibrate.MAX_BYTES + 1),
    "choice not a candidate": lambda c: _good_file(c, {"choice": "mkl@1",
                                                        "seconds": {"mkl@1": 0.1}}),
    "choice not measured": lambda c: _good_file(c, {"choice": "engine@1",
                                                     "seconds": {"blas@1": 0.1}}),
    "negative seconds": lambda c: _good_file(c, {"choice": "engine@1",
                                                  "seconds": {"engine@1": -1.0}}),
    "infinite seconds": lambda c: _good_file(c, {"choice": "engine@1",
                                                  "seconds": {"engine@1": 1e999}}),
    "seconds as text": lambda c: _good_file(c, {"choice": "engine@1",
                                                 "seconds": {"engine@1": "0.1"}}),
    "info not text": lambda c: _good_file(c, {"choice": "engine@1",
                                               "seconds": {"engine@1": 0.1},
                                               "info": {"engine@1": 5}}),
    "another machine's fingerprint under this key": lambda c: _good_file(c, GOOD).replace(
        '"cores": ', '"cores": 1000'),
}


@pytest.mark.parametrize("what", list(CORRUPT))
def test_a_bad_or_foreign_file_is_measured_again_and_rewritten(cache, what):
    content = CORRUPT[what]
    _write(cache, content(cache) if callable(content) else content)
    calls = []
    choice, _ = _calibrate.decide("k", CANDIDATES, measured(TIMES, calls), "a test")
    assert calls and choice == "blas@2"
    data = json.loads(cache.read_text())  # rewritten as a calibration file
    assert data["machines"][_calibrate.machine_key()]["records"]["k"]["choice"] == "blas@2"


def test_a_good_record_is_used(cache):
    _write(cache, _good_file(cache, GOOD))
    assert _calibrate.decide("k", ["engine@1", "blas@1"], never, "a test")[0] == "engine@1"


def test_a_record_whose_choice_is_no_longer_a_candidate_is_measured_again(cache):
    """FASTNN_GEMM=blas, say: the engine's record does not apply."""
    _write(cache, _good_file(cache, GOOD))
    calls = []
    choice, _ = _calibrate.decide("k", ["blas@1", "blas@2"], measured(TIMES, calls), "t")
    assert calls == [["blas@1", "blas@2"]] and choice == "blas@2"


def test_other_machines_sections_are_kept(cache):
    other = {"machine": {"cpu": "elsewhere"}, "records": {"x": GOOD}}
    _write(cache, json.dumps({"format": _calibrate.FORMAT, "version": _calibrate.VERSION,
                              "machines": {"0123456789abcdef": other}}))
    _calibrate.decide("k", CANDIDATES, measured(TIMES), "a test")
    data = json.loads(cache.read_text())
    assert data["machines"]["0123456789abcdef"] == other
    assert "k" in data["machines"][_calibrate.machine_key()]["records"]


def test_off_measures_nothing_and_redo_measures_again_once(cache, monkeypatch):
    _calibrate.decide("k", CANDIDATES, measured(TIMES), "a test")
    monkeypatch.setenv(_calibrate.ENV, "off")
    assert _calibrate.decide("k", CANDIDATES, never, "a test") == (None, None)
    monkeypatch.setenv(_calibrate.ENV, "redo")
    _calibrate.reset()
    calls = []
    faster = dict(TIMES, **{"engine@1": 0.1})
    assert _calibrate.decide("k", CANDIDATES, measured(faster, calls), "t")[0] == "engine@1"
    assert _calibrate.decide("k", CANDIDATES, never, "t")[0] == "engine@1"  # once
    assert len(calls) == 1


@pytest.mark.parametrize("value", ["maybe", "0", "yes"])
def test_a_bad_setting_is_named_on_every_path(cache, monkeypatch, value):
    monkeypatch.setenv(_calibrate.ENV, value)
    net = fastnn.Network([4, 3, 2], seed=0)
    X = np.zeros((6, 4), np.float32)
    y = np.zeros(6, dtype=int)
    with pytest.raises(ValueError, match=rf"FASTNN_CALIBRATE='{value}' is invalid; expected "
                                         rf"one of auto, redo, off"):
        net.train_epoch(X, y, np.arange(6), 2, 0.1)  # the loop path, which measures nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_keeps_the_choice_for_the_process(cache):
    cache.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        choice, _ = _calibrate.decide("k", CANDIDATES, measured(TIMES), "a test")
    finally:
        cache.parent.chmod(stat.S_IRWXU)
    assert choice == "blas@2" and _calibrate.save_error()
    assert _calibrate.decide("k", CANDIDATES, never, "a test")[0] == "blas@2"


def test_a_folder_that_is_a_file_keeps_the_choice_for_the_process(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(_calibrate.DIR_ENV, str(blocker))
    _calibrate.reset()
    try:
        choice, _ = _calibrate.decide("k", CANDIDATES, measured(TIMES), "a test")
        assert choice == "blas@2" and _calibrate.save_error()
        assert blocker.read_text() == "x"
    finally:
        _calibrate.reset()


# ------------------------------------------------------------------ the plan's rule

@pytest.mark.parametrize("seconds, expected", [
    ({"blas@1": 1.0, "blas@2": 0.95, "engine@2": 2.0}, "blas@1"),   # 5%: not worth a thread
    ({"blas@1": 1.0, "blas@2": 0.5, "engine@1": 0.6}, "blas@2"),
    ({"blas@1": 1.0, "engine@1": 0.8, "engine@2": 0.79}, "engine@1"),
    ({"blas@2": 1.0, "blas@4": 0.85, "blas@16": 0.7}, "blas@16"),
    ({"blas@2": 1.0, "blas@4": 0.7, "blas@16": 0.68}, "blas@4"),
])
def test_more_threads_only_when_clearly_faster(seconds, expected):
    assert _matrix.choose(seconds) == expected


@pytest.mark.parametrize("threads, fixed, expected", [
    (1, False, [1]), (2, False, [1, 2]), (16, False, [1, 2, 4, 8, 16]),
    (12, False, [1, 2, 4, 8, 12]), (2, True, [2]), (16, True, [16])])
def test_thread_candidates(threads, fixed, expected):
    assert _matrix.thread_candidates(threads, fixed) == expected


# ------------------------------------------------------------------ plans in training

def _matrix_net(threads=None, dtype="float64", sizes=(30, 80, 5)):
    net = fastnn.Network(list(sizes), "relu", "softmax", "log_likelihood", dtype=dtype,
                         seed=0, threads=threads)
    net._engine.matrix = True
    return net


def _data(n=192, d=30, k=5):
    rng = np.random.default_rng(0)
    return rng.random((n, d)), rng.integers(0, k, n)


def test_training_runs_the_measured_plan(cache, monkeypatch):
    """Injected: the engine's GEMM on one thread measured fastest. Training then runs
    the engine's GEMM (its launches counted) with one Numba thread, and matches the
    reference-checked BLAS result to rounding."""
    fake = {"blas@1": 2.0, "blas@2": 1.9, "engine@1": 1.0, "engine@2": 0.98}
    monkeypatch.setattr(_matrix.MatrixPath, "measure",
                        lambda self, m, c, **kw: ({k: fake[k] for k in c}, {}))
    launches = []
    real = _gemm._run
    monkeypatch.setattr(_gemm, "_run", lambda A, B, C, beta: launches.append(
        numba.get_num_threads()) or real(A, B, C, beta))
    X, y = _data()
    net = _matrix_net()
    net.fit(X, y, epochs=1, mini_batch_size=64, eta=0.1)
    plan = net._engine.plan(64, _threads.resolve(None))
    assert plan.engine_gemm and plan.threads == 1
    assert launches and set(launches) == {1}
    blas = _matrix_net()
    blas._engine.gemm = "blas"
    blas.fit(X, y, epochs=1, mini_batch_size=64, eta=0.1)
    np.testing.assert_allclose(net.params, blas.params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("digests, says", [
    ({"blas@1": "a", "blas@2": "a", "engine@1": "c", "engine@2": "c"}, "(same bits)"),
    ({"blas@1": "a", "blas@2": "b", "engine@1": "c", "engine@2": "c"},
     "(last bits may differ)")])
def test_the_plan_says_whether_adapting_keeps_the_bits(cache, monkeypatch, digests, says):
    fake = {"blas@1": 2.0, "blas@2": 1.0, "engine@1": 3.0, "engine@2": 2.5}
    monkeypatch.setattr(_matrix.MatrixPath, "measure", lambda self, m, c, **kw: (
        {k: fake[k] for k in c}, {k: digests[k] for k in c}))
    plan = _matrix_net()._engine.plan(64, 2)  # up to two threads (nothing runs)
    assert plan.watch is not None and plan.describe().startswith(
        f"BLAS on 2 threads, fewer under load {says}")


def test_a_fixed_thread_count_is_run_as_given(cache, monkeypatch):
    seen = []
    monkeypatch.setattr(_matrix.MatrixPath, "measure",
                        lambda self, m, c, **kw: seen.append(c) or ({k: 1.0 for k in c}, {}))
    threads = _threads.available()
    net = _matrix_net(threads=threads)
    plan = net._engine.plan(64, threads)
    assert seen == [[f"blas@{threads}", f"engine@{threads}"]]
    assert plan.threads == threads and plan.watch is None


def test_gemm_setting_leaves_nothing_to_measure(cache, monkeypatch):
    monkeypatch.setenv(_gemm.ENV, "blas")
    monkeypatch.setattr(_matrix.MatrixPath, "measure", never)
    net = _matrix_net(threads=1)
    plan = net._engine.plan(64, 1)
    assert not plan.engine_gemm and plan.threads == 1 and "FASTNN_GEMM=blas" in plan.why


def test_off_runs_the_rule_on_every_thread(cache, monkeypatch):
    monkeypatch.setenv(_calibrate.ENV, "off")
    monkeypatch.setattr(_matrix.MatrixPath, "measure", never)
    net = _matrix_net()
    plan = net._engine.plan(64, _threads.available())
    assert plan.engine_gemm == _gemm.use_engine()[0]
    assert plan.threads == _threads.available() and "FASTNN_CALIBRATE=off" in plan.why


def test_the_real_measurement_covers_every_candidate_and_restores_the_path():
    """MatrixPath.measure itself (timed, but nothing asserted about the times): a
    positive figure for every candidate, a digest of each one's result, the engine's
    GEMM giving the same bits on every thread count, and the path left as it was."""
    net = _matrix_net(dtype="float32", sizes=(30, 80, 80, 5))
    path = net._engine.matrix_path()
    before = path.engine_gemm
    candidates = [f"{g}@{t}" for g in ("blas", "engine")
                  for t in _matrix.thread_candidates(_threads.available(), False)]
    seconds, digests = path.measure(64, candidates, batches=2, rounds=1)
    assert set(seconds) == set(candidates) and all(0 < v < 60 for v in seconds.values())
    assert set(digests) == set(candidates)
    assert len({digests[c] for c in candidates if c.startswith("engine")}) == 1
    assert path.engine_gemm == before


# ------------------------------------------------------------------ the thread watch

def test_watch_leaves_an_idle_run_on_the_fastest_count():
    w = _matrix.ThreadWatch({1: 2.0, 2: 1.0}, 2)
    for _ in range(200):
        t, k = w.next()
        assert t == 2
        w.done(t, [1.05] * k)  # noise, no competitor
    assert w.switches == 0


def test_watch_ignores_work_the_calibration_did_not_see():
    """An optimizer step makes every count slower than calibrated, one thread relatively
    more: no switch (the first form of the watch compared this run's two-thread times
    with the calibration's one-thread figure and fell back to one thread, idle)."""
    w = _matrix.ThreadWatch({1: 4.91, 2: 4.32}, 2)
    real = {1: 6.4, 2: 5.3}
    for _ in range(300):
        t, k = w.next()
        w.done(t, [real[t]] * k)
    assert w.current == 2 and w.switches == 0


def test_watch_falls_back_under_load_backs_off_and_returns():
    w = _matrix.ThreadWatch({1: 2.0, 2: 1.0}, 2)
    busy = {1: 2.1, 2: 6.0}   # a competitor on one of two cores: two threads collapse
    for _ in range(3):  # two slow segments, then the probe of one thread
        t, k = w.next()
        w.done(t, [busy[t]] * k)
    assert w.current == 1 and w.switches == 1
    probes = []
    for i in range(400):
        t, k = w.next()
        if t == 2:
            probes.append(i)
        w.done(t, [busy[t]] * k)
    assert w.current == 1
    gaps = np.diff(probes)
    assert len(probes) >= 3 and gaps[-1] > gaps[0]  # backing off
    assert gaps.max() <= w.MAX_BACKOFF + 1
    idle = {1: 2.0, 2: 1.0}   # the competitor left: the next probe brings two threads back
    for _ in range(w.MAX_BACKOFF + 2):
        t, k = w.next()
        w.done(t, [idle[t]] * k)
    assert w.current == 2


def test_watch_segments_run_on_the_watchs_threads_with_the_same_bits(cache):
    """An epoch split into segments by a watch runs each segment on the thread count the
    watch said, and on the engine's GEMM (which splits no sum by threads) gives the same
    bits as the epoch on one count."""
    class Scripted:
        def __init__(self):
            self.script = [2, 1, 1, 2, 1] * 10
            self.seen = []

        def next(self):
            return min(self.script.pop(0), _threads.available()), 1

        def done(self, threads, times):
            self.seen.append((threads, numba.get_num_threads()))

    X, y = _data(n=320, d=30, k=5)
    Y = np.eye(5)[y]
    runs = []
    for watch in (None, Scripted()):
        net = _matrix_net(sizes=(30, 80, 80, 5))
        path = net._engine.matrix_path()
        path.engine_gemm = True
        with _threads.limit(1):
            path.train_epoch(net.params, X, Y, np.arange(320), 64, 0.1, 1.0, watch=watch)
        runs.append(net.params.copy())
        if watch is not None:
            assert watch.seen and all(asked == ran for asked, ran in watch.seen)
    np.testing.assert_array_equal(runs[0], runs[1])


# ------------------------------------------------------------------ fastnn calibrate

def test_cli_shows_redoes_and_clears(cache, capsys):
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out and "no records for this machine yet" in out
    assert main(["calibrate", "--redo", "--sizes", "30,80,5", "--mini-batch-size",
                 "64"]) == 0
    out = capsys.readouterr().out
    assert "30x80x5, mini-batch 64, float32, SGD: " in out and "measured:" in out
    assert "30x80x5, mini-batch 64, float32, an optimizer's step: " in out
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "matrix-path float32 30x80x5 mini-batch 64 sgd" in out
    assert "matrix-path float32 30x80x5 mini-batch 64 general" in out
    assert main(["calibrate", "--clear"]) == 0
    capsys.readouterr()
    assert main(["calibrate"]) == 0
    assert "no records for this machine yet" in capsys.readouterr().out


def test_cli_names_a_corrupt_file(cache, capsys):
    _write(cache, b"{not json")
    assert main(["calibrate"]) == 0
    assert "is not valid JSON" in capsys.readouterr().out


def test_cli_redo_refuses_when_off(cache, monkeypatch, capsys):
    monkeypatch.setenv(_calibrate.ENV, "off")
    assert main(["calibrate", "--redo"]) == 2
    assert "FASTNN_CALIBRATE=off turns measuring off" in capsys.readouterr().err


# ------------------------------------------------------------------ loops or matrix

@pytest.mark.parametrize("faster", ["loops", "matrix"])
def test_near_the_threshold_the_path_is_measured(cache, monkeypatch, faster):
    """[784, 30, 10] at mini-batch 128 is 18 MFLOP per mini-batch, within NEAR of the
    rule's 50: the path is measured (injected here), once, and training takes it."""
    calls = []
    times = {"loops": 1.0, "matrix": 2.0} if faster == "loops" else \
        {"loops": 2.0, "matrix": 1.0}
    monkeypatch.setattr(fastnn._engine.Engine, "_measure_paths",
                        lambda self, m, t, c: calls.append(m) or times)
    net = fastnn.Network([784, 30, 10], seed=0)
    assert net._engine.uses_matrix(128) == (faster == "matrix")
    assert net._engine.uses_matrix(128) == (faster == "matrix") and calls == [128]
    ran = []
    real = _matrix.MatrixPath.train_epoch
    monkeypatch.setattr(_matrix.MatrixPath, "train_epoch",
                        lambda self, *a, **k: ran.append(1) or real(self, *a, **k))
    monkeypatch.setattr(_matrix.MatrixPath, "measure",
                        lambda self, m, c, **kw: ({k: 1.0 for k in c}, {}))
    rng = np.random.default_rng(0)
    net.fit(rng.random((256, 784)), rng.integers(0, 10, 256), epochs=1,
            mini_batch_size=128, eta=0.1)
    assert bool(ran) == (faster == "matrix")


def test_far_from_the_threshold_the_rule_decides(cache, monkeypatch):
    monkeypatch.setattr(fastnn._engine.Engine, "_measure_paths", never)
    assert not fastnn.Network([784, 30, 10])._engine.uses_matrix(10)      # config A
    big = fastnn.Network([784, 1024, 1024, 10], "relu", "softmax", "log_likelihood")
    assert big._engine.uses_matrix(128)                                   # config C
    assert not big._engine.uses_matrix(8)                                 # too few rows


def test_the_path_measurement_times_both_paths():
    """Engine._measure_paths itself: a positive time for each path (nothing asserted
    about which is faster)."""
    net = fastnn.Network([60, 40, 5], dtype="float64", seed=0)
    seconds = net._engine._measure_paths(48, 1, ["loops", "matrix"], batches=2, rounds=1)
    assert set(seconds) == {"loops", "matrix"}
    assert all(0 < v < 60 for v in seconds.values())


def test_watch_load_that_slows_every_count_costs_few_probes():
    """Load that slows every count alike (another process contending for memory) is no
    reason to change: the probes find nothing faster and back off."""
    w = _matrix.ThreadWatch({1: 2.0, 2: 1.0}, 2)
    slow = {1: 6.0, 2: 3.0}
    probes = 0
    for _ in range(400):
        current = w.current
        t, k = w.next()
        probes += t != current
        w.done(t, [slow[t]] * k)
    assert w.current == 2 and w.switches == 0
    assert 3 <= probes <= 12


def test_watch_keeps_the_plans_fewer_threads_when_idle():
    """The plan took one thread as two were under 10% faster: idle, nothing is tried
    (the watch's fastest count is the plan's, not the calibration's raw minimum)."""
    w = _matrix.ThreadWatch({1: 1.0, 2: 0.98}, 1)
    for _ in range(200):
        t, k = w.next()
        assert t == 1
        w.done(t, [1.02] * k)
    assert w.switches == 0


def test_watch_ignores_one_slow_segment():
    """An epoch's first segment waits for threads to wake: one slow segment among fast
    ones changes nothing and tries nothing."""
    w = _matrix.ThreadWatch({1: 2.0, 2: 1.0}, 2)
    for i in range(100):
        t, k = w.next()
        assert t == 2
        w.done(t, [(3.0 if i % 10 == 0 else 1.0)] * k)
    assert w.switches == 0


def test_the_general_epoch_is_measured_with_an_optimizer_step(cache, monkeypatch):
    """SGD and the epoch with an optimizer's step get plans of their own (the step runs
    on one thread, so what more threads gain differs), each measured as it runs."""
    kinds = []
    monkeypatch.setattr(_matrix.MatrixPath, "measure", lambda self, m, c, kind="sgd": (
        kinds.append(kind) or ({k: 1.0 for k in c}, {})))
    X, y = _data()
    net = _matrix_net()
    net.fit(X, y, epochs=1, mini_batch_size=64, eta=0.1)
    net.fit(X, y, epochs=1, mini_batch_size=64, eta=0.01, optimizer="adam")
    assert kinds == ["sgd", "general"]
    with pytest.raises(ValueError, match="kind='adam' is invalid"):
        net._engine.plan(64, 1, "adam")


def test_the_general_measurement_runs_the_optimizer_step():
    net = _matrix_net(dtype="float32", sizes=(30, 80, 5))
    seconds, digests = net._engine.matrix_path().measure(64, ["blas@1", "engine@1"], batches=2,
                                                     rounds=1, kind="general")
    assert set(seconds) == {"blas@1", "engine@1"} and all(v > 0 for v in seconds.values())
