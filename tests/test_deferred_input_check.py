"""Network.train_epoch does not scan X for NaN and infinities before the epoch (issue 18,
item 4: the scan cost 10-20% of config A's epoch). A non-finite value in a row the epoch
trains on must still raise the ValueError naming it, with the parameters and the
optimizer state left as they were, on every path that trains: the fused loop kernel, the
general one (each optimizer, dropout, clipping), Hogwild, and the matrix path with either
GEMM. These fail if some path lets a non-finite input through without a non-finite
parameter (the premise of the deferred check)."""
import numpy as np
import pytest

import fastnn
from fastnn._engine import gemm as _gemm

N, D = 40, 6
BAD = [np.nan, np.inf, -np.inf]


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, D)).astype(dtype)
    y = rng.integers(0, 3, N)
    return X, y


PATHS = {
    # name: (Network kwargs, train_epoch kwargs, engine.matrix)
    "fused loops": ({}, {}, False),
    "fused loops, relu": (dict(hidden_activation="relu"), {}, False),
    "momentum": ({}, dict(optimizer="momentum"), False),
    "adam": ({}, dict(optimizer="adam"), False),
    "adagrad": ({}, dict(optimizer="adagrad"), False),
    "rmsprop": ({}, dict(optimizer="rmsprop"), False),
    "nesterov": ({}, dict(optimizer="nesterov"), False),
    "l1": ({}, dict(l1=0.1), False),
    "dropout": (dict(hidden_activation="relu"), dict(dropout=0.5), False),
    "clip": ({}, dict(clip_norm=0.5), False),
    "hogwild": ({}, dict(hogwild=True), False),
    "matrix": ({}, {}, True),
    "matrix, adam, dropout": (dict(hidden_activation="relu"),
                              dict(optimizer="adam", dropout=0.3), True),
}


CASES = [(path, gemm) for path, (_, _, matrix) in PATHS.items()
         for gemm in (("blas", "engine") if matrix else (None,))]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("path,gemm", CASES,
                         ids=[p + (f", {g} GEMM" if g else "") for p, g in CASES])
def test_non_finite_input_raises_and_keeps_everything(path, gemm, value, dtype, monkeypatch):
    net_kw, epoch_kw, matrix = PATHS[path]
    if gemm is not None:
        monkeypatch.setattr(_gemm, "_state", {})
        monkeypatch.setenv("FASTNN_GEMM", gemm)
    # wide enough for the engine's GEMM to take the hidden layer's products
    net = fastnn.Network([D, 80, 3], dtype=dtype, seed=1, **net_kw)
    net._engine.matrix = matrix
    X, y = _data(dtype)
    order = np.random.default_rng(2).permutation(N)
    m = 8 if matrix else 5
    state = net.train_epoch(X, y, order, m, 0.1, **epoch_kw)  # a state worth keeping
    params, buffers, step = net.params.copy(), state.buffers.copy(), state.step.copy()
    row, col = int(order[N // 2]), 4   # in the middle of the epoch
    X[row, col] = value
    with pytest.raises(ValueError, match=rf"X holds a non-finite value {value!r} at row "
                                         rf"{row}, column {col}; expected finite numbers"):
        net.train_epoch(X, y, order, m, 0.1, state=state, epoch=1, **epoch_kw)
    np.testing.assert_array_equal(net.params, params, err_msg="parameters changed")
    np.testing.assert_array_equal(state.buffers, buffers, err_msg="optimizer state changed")
    np.testing.assert_array_equal(state.step, step, err_msg="step count changed")


def test_rows_outside_order_are_not_read():
    """The deferred check looks only where training looked: a NaN in a row the epoch
    does not use changes nothing (the same parameters as without it)."""
    X, y = _data("float64")
    order = np.arange(0, N, 2)
    a = fastnn.Network([D, 5, 3], dtype="float64", seed=3)
    b = fastnn.Network([D, 5, 3], dtype="float64", seed=3)
    a.train_epoch(X, y, order, 4, 0.5)
    X[1, 0] = np.nan
    b.train_epoch(X, y, order, 4, 0.5)
    np.testing.assert_array_equal(a.params, b.params)


def test_overflow_without_bad_input_is_still_divergence():
    """Finite inputs that make the parameters overflow are a divergence (the last good
    parameters kept), not an input error."""
    X, y = _data("float32")
    X *= 1e30
    net = fastnn.Network([D, 5, 3], dtype="float32", seed=0, hidden_activation="relu",
                         output_activation="identity", cost="quadratic")
    before = net.params.copy()
    with pytest.raises(fastnn.TrainingDiverged):
        net.train_epoch(X, y, np.arange(N), 5, 1.0)
    np.testing.assert_array_equal(net.params, before)


def test_fit_still_checks_up_front():
    """fit scans X once, before its first epoch (one pass per fit, not per epoch)."""
    X, y = _data("float32")
    X[3, 2] = np.inf
    net = fastnn.Network([D, 5, 3], seed=0)
    with pytest.raises(ValueError, match="X holds a non-finite value inf at row 3, column 2"):
        net.fit(X, y, epochs=1, mini_batch_size=5, eta=0.1)
