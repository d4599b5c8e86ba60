"""Bad values of fastnn's environment variables are errors on every path.

$FASTNN_NUM_THREADS and $FASTNN_GEMM were read only where the matrix path ran: a network
small enough for the loop path trained and predicted as if they were not set.
($FASTNN_SUBNORMALS, $FASTNN_LOOP_WIDTH and $FASTNN_COLD_START, added since, follow the
same rule.)
"""
import numpy as np
import pytest

import fastnn
from fastnn._engine import gemm as _gemm

SETTINGS = [
    ("FASTNN_NUM_THREADS", "four", r"environment variable FASTNN_NUM_THREADS='four' is invalid"),
    ("FASTNN_NUM_THREADS", "0", r"environment variable FASTNN_NUM_THREADS=0 is invalid"),
    ("FASTNN_NUM_THREADS", "100000", r"FASTNN_NUM_THREADS=100000 is more than the"),
    ("FASTNN_GEMM", "mkl", r"environment variable FASTNN_GEMM='mkl' is invalid; expected "
                           r"one of auto, engine, blas"),
    ("FASTNN_SUBNORMALS", "off", r"environment variable FASTNN_SUBNORMALS='off' is invalid; "
                                 r"expected one of flush, keep"),
    ("FASTNN_LOOP_WIDTH", "1024", r"environment variable FASTNN_LOOP_WIDTH='1024' is invalid; "
                                  r"expected one of auto, llvm, 256, 512"),
    ("FASTNN_COLD_START", "threads", r"environment variable FASTNN_COLD_START='threads' is "
                                     r"invalid; expected one of parallel, serial"),
]


@pytest.mark.parametrize("path", ["loops", "matrix"])
@pytest.mark.parametrize("variable, value, message", SETTINGS,
                         ids=[f"{v}={x}" for v, x, _ in SETTINGS])
def test_bad_setting_is_named_on_every_path(monkeypatch, path, variable, value, message):
    net = fastnn.Network([6, 5, 3], seed=0)
    net._engine.matrix = path == "matrix"
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(_gemm, "_state", {})  # the GEMM choice is made once per process
    before = net.params.copy()
    calls = {
        "fit": lambda: net.fit(X, y, epochs=1),
        "fit (general epoch)": lambda: net.fit(X, y, epochs=1, optimizer="adam", eta=0.01),
        "train_epoch": lambda: net.train_epoch(X, y, np.arange(40), 10, 0.5),
        "predict": lambda: net.predict(X),
        "evaluate": lambda: net.evaluate(X, y),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=message):
            call()
    np.testing.assert_array_equal(net.params, before)


def test_good_settings_are_taken(monkeypatch):
    monkeypatch.setenv("FASTNN_NUM_THREADS", "1")
    monkeypatch.setenv("FASTNN_GEMM", "blas")
    monkeypatch.setattr(_gemm, "_state", {})
    net = fastnn.Network([6, 5, 3], seed=0)
    X = np.random.default_rng(1).normal(size=(20, 6))
    net.fit(X, np.arange(20) % 3, epochs=1)
    assert net.predict(X).shape == (20,)
