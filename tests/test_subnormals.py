"""Subnormal numbers are flushed to zero while fastnn computes (fastnn/_engine/fpenv.py).

Intel cores take a microcode assist on every subnormal operand: a float32 Adam run went
from 2 s to 31-40 s per epoch once its parameters had decayed into that range. These tests
do not time anything: they check the floating-point mode itself, on the calling thread and
on every thread a parallel kernel uses, and that training leaves no subnormal parameter
(and does, as the IEEE default does, with ``FASTNN_SUBNORMALS=keep``).
"""
import platform
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastnn
from fastnn._engine import fpenv as _fpenv
from fastnn._engine import gemm as _gemm
from fastnn._engine import threads as _threads
from fastnn.kernels import fpenv

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="FTZ/DAZ are x86-64's MXCSR bits")

TINY32 = np.finfo(np.float32).tiny  # the smallest normal float32, 1.18e-38


@numba.njit
def _times(a, b):
    return a * b


def _subnormal(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


def test_the_mode_flushes_results_and_inputs_and_is_put_back():
    assert fpenv.flush_bits() == 0  # NumPy's default, and what every test starts from
    x = np.float32(1e-30)
    assert _times(x, np.float32(1e-10)) == np.float32(1e-40) != 0  # gradual underflow
    with _fpenv.flushing(True):
        assert fpenv.flush_bits() == fpenv.FLUSH
        assert _times(x, np.float32(1e-10)) == 0                    # FTZ: a result
        assert _times(np.float32(1e-40), np.float32(1e10)) == 0     # DAZ: an input
        assert _times(1e-300, 1e-10) == 0                           # float64 alike
        with _fpenv.flushing(False):                                 # nested: keep
            assert _times(x, np.float32(1e-10)) != 0
        assert fpenv.flush_bits() == fpenv.FLUSH
    assert fpenv.flush_bits() == 0
    assert _times(x, np.float32(1e-10)) != 0


def test_the_mode_is_put_back_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with _fpenv.flushing(True):
            raise RuntimeError("inside")
    assert fpenv.flush_bits() == 0


def test_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv(_fpenv.ENV, "sometimes")
    with pytest.raises(ValueError, match=r"FASTNN_SUBNORMALS='sometimes' is invalid; "
                                         r"expected one of flush, keep"):
        _fpenv.resolve()
    net = fastnn.Network([3, 2], seed=0)
    with pytest.raises(ValueError, match="FASTNN_SUBNORMALS"):
        net.predict(np.zeros((2, 3)))
    monkeypatch.setenv(_fpenv.ENV, " Keep ")
    assert _fpenv.resolve() is False


def _decaying(path, dtype="float32"):
    """A network whose first-layer weights only decay: inputs of 0 give them no gradient,
    and L2 halves them every step, from just above the smallest normal number."""
    net = fastnn.Network([4, 3, 2], dtype=dtype, seed=0)
    net._engine.matrix = path == "matrix"
    net.weights[0][...] = 64 * np.finfo(dtype).tiny
    return net


@pytest.mark.parametrize("path", ["loops", "matrix"])
@pytest.mark.parametrize("kind", ["sgd", "momentum", "hogwild"])
@pytest.mark.parametrize("keep", [False, True], ids=["flush", "keep"])
def test_training_leaves_no_subnormal_parameter(monkeypatch, path, kind, keep):
    if keep:
        monkeypatch.setenv(_fpenv.ENV, "keep")
    net = _decaying(path)
    X, y = np.zeros((40, 4), np.float32), np.arange(40) % 2
    # n = 40, η = 0.5, λ = 40: w ← (1 − ηλ/n) w = w / 2 each step, 4 steps an epoch
    if kind == "hogwild":
        if path == "matrix":
            pytest.skip("Hogwild runs the loop path's kernels")
        # two workers, two mini-batches each, their copies merged: when they overlap,
        # w + 2(w/4 − w) = −w/2 an epoch; when the machine runs them one after the other
        # (another process busy), w/4 then w/4 − 3w/16 = w/16. From 64 tiny = 2^-120,
        # seven epochs end between 2^-127 and 2^-148: subnormal, never 0 (eight could
        # reach 2^-152, below the smallest subnormal: it failed so in CI, 6 runs in 300
        # with a competing process)
        net.threads = min(2, _threads.available())
        net.fit(X, y, epochs=7, mini_batch_size=10, eta=0.5, lmbda=40.0, hogwild=True)
    else:
        optimizer = None if kind == "sgd" else fastnn.optim.Momentum(mu=0.0)
        net.fit(X, y, epochs=2, mini_batch_size=10, eta=0.5, lmbda=40.0, optimizer=optimizer)
    w = net.weights[0]
    if keep:  # IEEE arithmetic: 64 tiny / 2^8 (Hogwild: see above), every weight subnormal
        assert _subnormal(w) == w.size
        if kind != "hogwild":  # (whose workers' copies are merged otherwise)
            np.testing.assert_array_equal(w, np.float32(TINY32 / 4))
    else:
        assert _subnormal(net.params) == 0
        # SGD's fused decay halves w itself: below the smallest normal number, 0. The
        # optimizer's step is v = −w/2, flushed to 0 once subnormal, so w stays at the
        # smallest normal number: a step too small to represent is lost (Hogwild's merged
        # deltas likewise, above it).
        if kind == "sgd":
            np.testing.assert_array_equal(w, 0)
        elif kind == "momentum":
            np.testing.assert_array_equal(w, np.float32(TINY32))
    assert fpenv.flush_bits() == 0


@pytest.mark.parametrize("keep", [False, True], ids=["flush", "keep"])
def test_every_thread_of_the_engine_gemm_takes_the_callers_mode(keep):
    """The engine's threaded GEMM reads the caller's bits before its parallel loop and
    sets them in each body: a subnormal A reads as 0 on every thread, and every thread is
    left as it was."""
    threads = min(2, _threads.available())
    rng = np.random.default_rng(0)
    A = np.full((48, 40), 1e-40, np.float32)
    A[::7] = rng.random((7, 40), dtype=np.float32)  # some rows normal
    B = rng.random((40, 256), dtype=np.float32)
    C = np.full((48, 256), np.nan, np.float32)
    with _threads.limit(threads):
        with _fpenv.flushing(not keep, parallel=True):
            _gemm.engine_gemm(A, B, C)
        bits = np.empty(8 * threads, np.uint32)
        fpenv.threads_bits(bits)
    assert set(bits) == {0}  # each body put its thread back
    want = (A.astype(np.float64) if keep else np.where(A < TINY32, 0, A)) @ B
    np.testing.assert_allclose(C, want, rtol=1e-5, atol=0)
    rows = np.setdiff1d(np.arange(48), np.arange(0, 48, 7))
    assert (np.all(C[rows] != 0) if keep else np.all(C[rows] == 0))


def test_evaluation_flushes_too():
    """A forward pass sees subnormal weights as 0 (DAZ), also through the public API."""
    net = fastnn.Network([2, 2], output_activation="identity", cost="quadratic",
                         dtype="float32", seed=0)
    net.params[:] = 0
    net.weights[0][0, 0] = 1e-40
    X = np.array([[1e10, 0]], np.float32)
    assert net.feedforward(X)[0, 0] == 0
    assert fpenv.flush_bits() == 0


def test_threads_started_during_training_are_not_left_flushing():
    """A new thread starts with the bits of the thread that makes it: in a fresh process
    whose first parallel kernel runs inside fastnn's flushing (a matrix-path epoch on two
    threads), Numba's threads must still be in the default mode afterwards."""
    code = """
import numpy as np, fastnn
from fastnn.kernels import fpenv
net = fastnn.Network([64, 256, 10], dtype="float32", seed=0, threads=2)
net._engine.matrix = True
X = np.random.default_rng(0).random((512, 64), dtype=np.float32)
net.fit(X, np.arange(512) % 10, epochs=1, mini_batch_size=128)
bits = np.empty(64, np.uint32)
fpenv.threads_bits(bits)
print(sorted(set(bits.tolist())), fpenv.flush_bits())
"""
    if _threads.available() < 2:
        pytest.skip("one thread: no pool to start")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[0] 0", done.stdout
