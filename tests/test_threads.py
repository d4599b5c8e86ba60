"""The threads knob (argument and FASTNN_NUM_THREADS) and the opt-in Hogwild mode."""
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn._engine import threads as _threads
from fastnn.data import load_dataset


def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_resolve_defaults_to_every_core(monkeypatch):
    monkeypatch.delenv(_threads.ENV, raising=False)
    assert _threads.resolve() == numba.config.NUMBA_NUM_THREADS
    assert _threads.resolve(1) == 1


def test_resolve_reads_the_environment(monkeypatch):
    monkeypatch.setenv(_threads.ENV, "1")
    assert _threads.resolve() == 1
    assert _threads.resolve(_threads.available()) == _threads.available()  # argument wins


@pytest.mark.parametrize("value, words", [
    (0, "threads=0 is invalid"), (-2, "threads=-2 is invalid"), (1.5, "threads=1.5"),
    (True, "threads=True"), ("2", "threads='2'"),
    (10_000, "more than the"),
])
def test_bad_thread_counts_are_named(value, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        _threads.resolve(value)
    with pytest.raises(ValueError, match="threads"):
        fastnn.Network([4, 3, 2], threads=value)


@pytest.mark.parametrize("env", ["two", "0", "1e3"])
def test_bad_environment_variable_is_named(monkeypatch, env):
    monkeypatch.setenv(_threads.ENV, env)
    with pytest.raises(ValueError, match=f"environment variable {_threads.ENV}"):
        _threads.resolve()
    net = fastnn.Network([4, 3, 2])  # the value is read when work starts
    with pytest.raises(ValueError, match=_threads.ENV):
        net.fit(np.zeros((4, 4)), [0, 1, 0, 1], hogwild=True)


def test_limit_sets_numba_and_blas_then_restores():
    before_numba = numba.get_num_threads()
    before_blas = blas_threads()
    with _threads.limit(1):
        assert numba.get_num_threads() == 1
        assert all(n == 1 for n in blas_threads())
    assert numba.get_num_threads() == before_numba
    assert blas_threads() == before_blas


TWO = pytest.mark.skipif(_threads.available() < 2, reason="needs two cores")


@TWO
def test_blas_limit_overrides_the_block_and_restores_it():
    with _threads.limit(2):
        outer = blas_threads()
        with _threads.blas_limit(1):
            assert all(n == 1 for n in blas_threads())
            assert numba.get_num_threads() == 2  # Numba's threads are left alone
        assert blas_threads() == outer


@TWO
@pytest.mark.parametrize("engine_gemm, threads, quiet", [(True, 2, True), (True, 1, False),
                                                         (False, 2, False)])
def test_matrix_path_quiets_blas_only_under_its_own_threaded_gemm(engine_gemm, threads, quiet):
    """BLAS drops to one thread while the engine's GEMM runs on several Numba threads
    (OpenBLAS's idle workers would spin against them), and only then."""
    net = fastnn.Network([40, 64, 5], threads=threads)
    mp = net._engine.matrix_path()
    mp.engine_gemm = engine_gemm
    with _threads.limit(threads):
        outer = blas_threads()
        with mp.quiet_blas():
            assert blas_threads() == ([1] * len(outer) if quiet else outer)


def test_refresh_limits_a_blas_loaded_inside_the_block_and_restores_it():
    """SciPy's own OpenBLAS, loaded (as Numba's first compile loads it) inside a one-thread
    block, runs on every core until ``refresh``; after the block it is as it was. A fresh
    process, so that the library is not loaded yet."""
    pytest.importorskip("scipy")
    if _threads.available() < 2:
        pytest.skip("needs two cores to tell a limit from the default")
    code = """
import json
import numpy
from threadpoolctl import threadpool_info
from fastnn._engine import threads as _threads
def counts():
    return {b["filepath"]: b["num_threads"] for b in threadpool_info() if b["user_api"] == "blas"}
seen = {}
with _threads.limit(1):
    seen["numpy_only"] = counts()
    import scipy.linalg
    seen["loaded"] = counts()
    _threads.refresh()
    seen["refreshed"] = counts()
seen["after"] = counts()
print(json.dumps(seen))
"""
    # Two BLAS threads to start with, whatever this process's environment says (in the
    # full suite a library once started with one thread here)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    seen = json.loads(out.stdout)
    new = set(seen["loaded"]) - set(seen["numpy_only"])
    if not new:
        pytest.skip("SciPy shares NumPy's BLAS here: nothing new is loaded")
    assert all(seen["loaded"][lib] > 1 for lib in new), (seen, os.sched_getaffinity(0))
    assert set(seen["refreshed"].values()) == {1}
    assert all(seen["after"][lib] == seen["loaded"][lib] for lib in new)
    assert all(seen["after"][lib] > 1 for lib in seen["numpy_only"])


def test_info_reports_what_ran():
    info = _threads.info()
    assert info["numba_threads"] == numba.get_num_threads()
    assert info["blas"] and {"internal_api", "num_threads"} <= set(info["blas"][0])
    assert isinstance(info["numba_threading_layer"], str)


def test_matrix_path_results_do_not_depend_on_threads():
    rng = np.random.default_rng(0)
    X = rng.random((256, 40))
    y = rng.integers(0, 5, 256)
    params = []
    for threads in {1, _threads.available()}:
        net = fastnn.Network([40, 64, 64, 5], "relu", "softmax", "log_likelihood",
                             dtype="float64", seed=2, threads=threads)
        net._engine.matrix = True
        net.fit(X, y, epochs=2, mini_batch_size=64, eta=0.1)
        params.append(net.params)
    for p in params[1:]:
        np.testing.assert_allclose(p, params[0], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------ Hogwild

def small_problem(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 30)).astype(np.float32)
    y = (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)
    return X, y


@pytest.mark.parametrize("sync_every", [0, 4])
def test_one_worker_is_exactly_the_sequential_epoch(sync_every):
    X, y = small_problem()
    Y = np.eye(2, dtype=np.float32)[y]
    order = np.random.default_rng(1).permutation(len(X)).astype(np.int64)
    net = fastnn.Network([30, 12, 2], seed=3)
    sequential, parallel = net.params.copy(), net.params.copy()
    net._engine.train_epoch(sequential, X, Y, order, 10, 0.5, 2.0)
    net._engine.train_epoch_async(parallel, X, Y, order, 10, 0.5, 2.0, workers=1,
                                  sync_every=sync_every)
    np.testing.assert_array_equal(parallel, sequential)


@pytest.mark.parametrize("sync_every", [0, 1, 4])
def test_workers_cover_every_mini_batch(sync_every):
    """Two workers' shares and exchanges make up the whole epoch. Run on one thread (the
    workers one after the other, so no race can overwrite an update), with η tiny the
    order of the steps does not matter to first order: the total step is the sequential
    one (measured: 2% off with sync_every = 1, 0.03% with 4), while a worker's share
    missing would take half of it (norm error 0.50, measured). The kernel is called
    directly because ``Engine.train_epoch_async`` runs one thread per worker.

    On two threads at once, two exchanges can overlap and lose an update (kernels/
    hogwild.py); the test below counts how often."""
    from fastnn.kernels import hogwild

    X, y = small_problem()
    X = X.astype(np.float64)
    Y = np.eye(2, dtype=np.float64)[y]
    order = np.arange(len(X), dtype=np.int64)
    net = fastnn.Network([30, 12, 2], dtype="float64", seed=3)
    e = net._engine
    p0 = net.params.copy()
    sequential, parallel = p0.copy(), p0.copy()
    eta, m, workers = 1e-4, 10, 2
    e.train_epoch(sequential, X, Y, order, m, eta, 0.0)
    total = m * int(e.sizes[1:].sum())
    private = e.n_params if sync_every > 0 else 0
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        hogwild.train_epoch_async(
            parallel, e.w_off, e.b_off, e.sizes, e.acts, e.act_params, e.cost, X, Y, order, m,
            eta, 1.0, workers, sync_every, np.arange(m, dtype=np.int64),
            *(np.empty((workers, total)) for _ in range(3)),
            *(np.empty((workers, private)) for _ in range(2)), np.zeros((workers, 2)))
    finally:
        numba.set_num_threads(previous)
    step_seq = sequential - p0
    step_par = parallel - p0
    assert np.abs(step_seq).max() > 1e-6
    error = np.linalg.norm(step_par - step_seq) / np.linalg.norm(step_seq)
    assert error < 0.1, f"two workers' epoch is {error:.1%} off the sequential one"


def test_exchange_walks_every_element_once_from_the_workers_offset():
    from fastnn.kernels import hogwild

    rng = np.random.default_rng(0)
    for t, workers, size in [(0, 1, 7), (1, 3, 10), (2, 3, 10), (3, 4, 5), (1, 2, 1)]:
        shared, local, base = (rng.random(size) for _ in range(3))
        expected = shared + (local - base)
        hogwild._exchange(shared, local, base, t, workers)
        np.testing.assert_allclose(shared, expected, rtol=1e-15)
        np.testing.assert_array_equal(local, shared)
        np.testing.assert_array_equal(base, shared)


@pytest.mark.skipif(_threads.available() < 2, reason="needs two cores")
def test_concurrent_exchanges_match_the_race_free_result_when_they_do_not_overlap():
    """Two workers on two threads, one exchange each at the end of the epoch: the result
    is exactly start + Δ₀ + Δ₁ unless the two unlocked exchanges overlap, and then one
    worker's change is lost where they did (Hogwild's design). How often, and how much,
    depends on the machine's scheduling: 0 in 300 runs on the development machine; on a
    loaded CI machine 4 in 30, once one whose worker was preempted mid-exchange and wrote
    back stale values over nearly the whole buffer. So the test bounds neither; it checks
    what a bug in the partition or the exchange would break in every run: some run, of up
    to 100, must match the race-free prediction element for element."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "bench" / "hogwild_races.py"
    spec = importlib.util.spec_from_file_location("hogwild_races", path)
    races = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(races)
    lost = []
    for attempt in range(100):
        records, n_params = races.race_runs(1, n=1000, sizes=(100, 40, 10), seed=attempt)
        if not records:
            break
        lost += records
    else:
        raise AssertionError(f"all 100 runs differ from the race-free result: {lost[:5]}")


def test_hogwild_rejects_what_it_does_not_run():
    X, y = small_problem(40)
    net = fastnn.Network([30, 5, 2])
    for kwargs, words in [({"optimizer": "adam"}, "optimizer="), ({"l1": 0.1}, "l1=0.1"),
                          ({"dropout": 0.2}, "dropout"), ({"hogwild": "yes"}, "hogwild='yes'")]:
        kwargs.setdefault("hogwild", True)
        with pytest.raises(ValueError, match=words):
            net.fit(X, y, **kwargs)


@pytest.mark.skipif(_threads.available() < 2, reason="needs two cores")
def test_hogwild_accuracy_tracks_sequential_on_fashion_mnist():
    """After 5 epochs of [784, 30, 10] with every core as a Hogwild worker, the median test
    accuracy over six seeds is within 1 percentage point of the sequential runs' median.

    One run's accuracy moves by about half a point from seed to seed (100 seeds on two
    cores, one of them busy: sequential 0.835-0.861, Hogwild 0.828-0.858, means 0.8500 and
    0.8502), so this CI bar is looser than the issue's 0.5 points, which bench/hogwild.py
    measures over more seeds. The median, not the mean: a fresh-clone CI run once saw one
    Hogwild run of four at 0.800 (the others 0.838-0.857), a tail no quiet or loaded run
    here reproduced in 140 seeds, and enough to move a mean of four by 1.4 points. A bug
    that loses updates wholesale moves every run, and the median with them."""
    ds = load_dataset(dtype=np.float32)
    (X, y), (Xt, yt) = ds.train, ds.test
    if X.shape[0] < 50_000:
        pytest.skip(f"needs the full Fashion-MNIST (apt-get install dataset-fashion-mnist); "
                    f"found {ds.description}")
    accs = {False: [], True: []}
    for seed in range(6):
        for hogwild in (False, True):
            net = fastnn.Network([784, 30, 10], seed=seed)
            net.fit(X, y, epochs=5, mini_batch_size=10, eta=0.1, lmbda=5.0, hogwild=hogwild)
            accs[hogwild].append(net.evaluate(Xt, yt)["accuracy"])
    diff = np.median(accs[True]) - np.median(accs[False])
    assert abs(diff) <= 0.01, f"hogwild {accs[True]} vs sequential {accs[False]}"


def test_network2_passes_threads_and_hogwild_through():
    from fastnn import network2
    X, y = small_problem(200)
    data = [(x.reshape(-1, 1).astype(np.float64), np.eye(2)[t].reshape(-1, 1))
            for x, t in zip(X, y)]
    results = []
    for hogwild in (False, True):
        np.random.seed(0)
        import random
        random.seed(0)
        net = network2.Network([30, 8, 2])
        net.SGD(data, 2, 10, 0.5, threads=1, hogwild=hogwild)
        results.append(np.concatenate([w.ravel() for w in net.weights]))
    np.testing.assert_array_equal(results[0], results[1])  # one worker: the same epochs
    with pytest.raises(ValueError, match="threads=0"):
        network2.Network([30, 8, 2]).SGD(data, 1, 10, 0.5, threads=0)
    with pytest.raises(ValueError, match="hogwild=True runs"):
        network2.Network([30, 8, 2]).SGD(data, 1, 10, 0.5, hogwild=True, optimizer="adam")
