"""Determinism and concurrency.

Same seed, data and thread count give the same bits in separate processes; the thread
count does not change the sequential loop path at all, and changes the matrix path (BLAS)
by at most rounding; two networks trained at once from two Python threads give exactly
what they give one after the other; and the BLAS limit is restored when concurrent
training ends. What changes with the thread count is documented in docs/reliability.md.
"""
import json
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn._engine import threads as _threads

# One process trains every configuration and prints a SHA-256 of each one's parameters.
SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import fastnn

threads = int(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.random((600, 40)).astype(np.float32)
y = rng.integers(0, 5, 600)
configs = {
    "loop sgd+l2": dict(sizes=[40, 30, 5], fit=dict(mini_batch_size=10, eta=0.5, lmbda=1.0)),
    "loop adam+dropout+l1": dict(sizes=[40, 30, 5], fit=dict(
        mini_batch_size=10, eta=0.01, optimizer="adam", dropout=0.3, l1=0.5)),
    "loop momentum+clip+step decay": dict(sizes=[40, 20, 20, 5], fit=dict(
        mini_batch_size=7, eta=0.2, optimizer="momentum", clip_norm=0.5,
        schedule=fastnn.schedules.StepDecay(1, 0.5))),
    "matrix sgd": dict(sizes=[40, 64, 64, 5], matrix=True, fit=dict(mini_batch_size=64,
                                                                   eta=0.1)),
    "matrix adam+dropout": dict(sizes=[40, 64, 64, 5], matrix=True, fit=dict(
        mini_batch_size=64, eta=0.01, optimizer="adam", dropout=0.2)),
}
out = {}
for name, c in configs.items():
    net = fastnn.Network(c["sizes"], "relu", "softmax", "log_likelihood", seed=7,
                         threads=threads)
    if c.get("matrix"):
        net._engine.matrix = True
    net.fit(X, y, epochs=3, **c["fit"])
    out[name] = [hashlib.sha256(net.params.tobytes()).hexdigest(), net.params.tolist()]
print(json.dumps(out))
"""


def run_configs(threads):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def runs():
    counts = sorted({1, min(2, _threads.available())})
    return {t: (run_configs(t), run_configs(t)) for t in counts}


def test_same_seed_and_threads_give_the_same_bits_in_separate_processes(runs):
    for threads, (first, second) in runs.items():
        assert len(first) == 5
        for name in first:
            assert first[name][0] == second[name][0], f"{name} on {threads} thread(s)"


@pytest.mark.skipif(_threads.available() < 2, reason="needs two cores")
def test_what_the_thread_count_changes(runs):
    """The loop path is serial by design: the same bits on any thread count. The matrix
    path's products run on BLAS's threads, which may split sums differently: equal to
    rounding (measured on the 2-core machine: identical too)."""
    one, two = runs[1][0], runs[2][0]
    for name in one:
        if name.startswith("loop"):
            assert one[name][0] == two[name][0], name
        else:
            np.testing.assert_allclose(two[name][1], one[name][1], rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def test_the_configurations_give_different_hashes(runs):
    """The hashes above are of trained parameters, not of something constant."""
    first = next(iter(runs.values()))[0]
    assert len({h for h, _ in first.values()}) == len(first)


def blas_threads():
    """{library path: threads} of every BLAS loaded now."""
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def _train(net, X, y, kwargs, results, key):
    net.fit(X, y, epochs=2, **kwargs)
    results[key] = net.params.copy()


CONCURRENT = {
    "loop": ([30, 25, 4], False, dict(mini_batch_size=10, eta=0.3, lmbda=0.5)),
    "general": ([30, 25, 4], False, dict(mini_batch_size=10, eta=0.01, optimizer="adam",
                                         dropout=0.2)),
    "matrix": ([30, 64, 64, 4], True, dict(mini_batch_size=64, eta=0.1)),
}


def _network(sizes, matrix, seed):
    net = fastnn.Network(sizes, "relu", "softmax", "log_likelihood", seed=seed)
    if matrix:
        net._engine.matrix = True
    return net


@pytest.mark.parametrize("pair", [("loop", "loop"), ("loop", "matrix"), ("general", "matrix"),
                                  ("matrix", "matrix")], ids="+".join)
def test_two_python_threads_train_as_if_one_after_the_other(pair):
    rng = np.random.default_rng(1)
    X = rng.random((1200, 30)).astype(np.float32)
    y = rng.integers(0, 4, 1200)
    blas_before = blas_threads()
    sequential, concurrent = {}, {}
    for k, name in enumerate(pair):
        sizes, matrix, kwargs = CONCURRENT[name]
        _train(_network(sizes, matrix, seed=k), X, y, kwargs, sequential, k)
    workers = []
    for k, name in enumerate(pair):
        sizes, matrix, kwargs = CONCURRENT[name]
        workers.append(threading.Thread(target=_train, args=(
            _network(sizes, matrix, seed=k), X, y, kwargs, concurrent, k)))
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for k in range(2):
        np.testing.assert_array_equal(concurrent[k], sequential[k])
    assert not np.array_equal(sequential[0], sequential[1]) or pair[0] != pair[1]
    after = blas_threads()  # the shared BLAS limit was restored
    assert {path: after[path] for path in blas_before} == blas_before


def test_concurrent_limits_restore_blas_and_numba():
    """Interleaved limit() blocks from two threads: BLAS holds the larger count while both
    run, the remaining block's count when one ends, and its original when both are done;
    each thread keeps its own Numba count."""
    if _threads.available() < 2:
        pytest.skip("needs two cores")
    def blas():
        return list(blas_threads().values())

    before = blas()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with _threads.limit(2):
            seen["numba_other"] = numba.get_num_threads()
            entered.set()
            release.wait(30)
        # leaves first: the main thread's block is still running

    t = threading.Thread(target=other)
    with _threads.limit(1):
        t.start()
        entered.wait(30)
        seen["numba_main"] = numba.get_num_threads()
        seen["blas_both"] = blas()
        release.set()
        t.join()
        seen["blas_main_only"] = blas()
    assert seen["numba_other"] == 2 and seen["numba_main"] == 1
    assert all(n == 2 for n in seen["blas_both"]), (seen, blas_threads())
    assert all(n == 1 for n in seen["blas_main_only"])
    assert blas() == before


def test_every_kernel_releases_the_gil():
    """Two Python threads can only overlap in kernels compiled with nogil=True."""
    import importlib
    import pkgutil

    import fastnn.kernels as kernels

    dispatchers = []
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"fastnn.kernels.{info.name}")
        dispatchers += [f for f in vars(module).values()
                        if isinstance(f, numba.core.registry.CPUDispatcher)
                        and f.__module__ == module.__name__]
    assert len(dispatchers) > 30
    held = [f.__name__ for f in dispatchers if not f.targetoptions.get("nogil")]
    assert not held, f"kernels that hold the GIL: {held}"


def test_regularized_cost_does_not_depend_on_blas_threads():
    """The L2 term is a NumPy sum, not a BLAS dot whose rounding follows the BLAS thread
    count (Dask workers run BLAS on one thread: a tuning trial must report the same cost
    there as here)."""
    from threadpoolctl import threadpool_limits
    net = fastnn.Network([784, 100, 10], dtype="float32", seed=3)
    X = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    y = np.arange(50) % 10
    costs = []
    for threads in (1, 2, 1, 2):
        with threadpool_limits(threads):
            costs.append(net.evaluate(X, y, lmbda=5.0)["cost"])
    assert len(set(costs)) == 1, costs
