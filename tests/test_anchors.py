"""The JAX and PyTorch comparison implementations (bench/frameworks.py) train exactly like
the NumPy matrix version and the engine: one epoch from identical parameters gives the same
parameters.

float64 agrees to 1e-9 relative, float32 to float32 precision. Shapes are configs A and C
scaled down (C's [784, 1024, 1024, 10] becomes [784, 64, 64, 10], mini-batch 16): the
math is what is checked, and sample counts that are not a multiple of the mini-batch
size exercise the last, shorter mini-batch.
"""
import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn.perf.baselines import NumpyMatrixNetwork

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))
import frameworks as anchors  # noqa: E402

# name -> (sizes, hidden, output, cost, mini-batch size, samples)
SHAPES = {
    "A": ([784, 30, 10], "sigmoid", "sigmoid", "cross_entropy", 10, 95),
    "C": ([784, 64, 64, 10], "relu", "softmax", "log_likelihood", 16, 200),
}
# anchor id -> (make_anchor name, options, module needed)
ANCHORS = {
    "jax": ("jax", {}, "jax"),
    "torch-autograd": ("torch", {"gradient": "autograd"}, "torch"),
    "torch-manual": ("torch", {"gradient": "manual"}, "torch"),
}
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}
ETA, LMBDA = 0.5, 5.0


def _problem(shape, dtype, seed=0):
    """(network, X, Y, order, m) with data drawn from ``seed``."""
    sizes, hidden, output, cost, m, n = SHAPES[shape]
    net = fastnn.Network(sizes, hidden, output, cost, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    order = rng.permutation(n).astype(np.int64)
    return net, X, Y, order, m


def _kinds(shape):
    """(hidden activation, output activation, cost) of a shape."""
    return SHAPES[shape][1:4]


def _anchor(anchor_id, net, shape, dtype):
    name, options, module = ANCHORS[anchor_id]
    pytest.importorskip(module)
    return anchors.make_anchor(name, net.weights, net.biases, *_kinds(shape), dtype,
                               **options)


def _assert_same(actual, expected, dtype, what):
    for l, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == np.dtype(dtype), f"{what}[{l}] has dtype {a.dtype}, not {dtype}"
        np.testing.assert_allclose(a, e, **TOLERANCE[dtype], err_msg=f"{what}[{l}]")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("anchor_id", list(ANCHORS))
def test_epoch_matches_numpy_matrix_and_engine(anchor_id, shape, dtype):
    net, X, Y, order, m = _problem(shape, dtype)
    anchor = _anchor(anchor_id, net, shape, dtype)
    before = [w.copy() for w in net.weights]

    numpy_net = NumpyMatrixNetwork(net.weights, net.biases, *_kinds(shape), dtype=dtype)
    numpy_net.train_epoch(X, Y, order, m, ETA, LMBDA)
    net._engine.train_epoch(net.params, X, Y, order, m, ETA, LMBDA)
    anchor.train_epoch(X, Y, order, m, ETA, LMBDA)

    # the epoch really trains: every layer moved well beyond the tolerance
    for l, (w, w0) in enumerate(zip(anchor.weights, before)):
        assert np.max(np.abs(w - w0)) > 1e-3, f"layer {l} did not move"
    _assert_same(anchor.weights, numpy_net.weights, dtype, "weights vs NumPy matrix")
    _assert_same(anchor.biases, numpy_net.biases, dtype, "biases vs NumPy matrix")
    _assert_same(anchor.weights, net.weights, dtype, "weights vs engine")
    _assert_same(anchor.biases, net.biases, dtype, "biases vs engine")


@pytest.mark.parametrize("anchor_id", list(ANCHORS))
def test_two_epochs_and_a_single_short_mini_batch(anchor_id):
    """Fewer samples than the mini-batch size (one short mini-batch), then a second epoch
    in another order: still the NumPy matrix version's parameters."""
    net, X, Y, order, _ = _problem("A", "float64", seed=3)
    anchor = _anchor(anchor_id, net, "A", "float64")
    numpy_net = NumpyMatrixNetwork(net.weights, net.biases, dtype="float64")
    for epoch_order, m in ((order[:7], 10), (order[::-1].copy(), 20)):
        anchor.train_epoch(X, Y, epoch_order, m, ETA, LMBDA)
        numpy_net.train_epoch(X, Y, epoch_order, m, ETA, LMBDA)
    _assert_same(anchor.weights, numpy_net.weights, "float64", "weights")
    _assert_same(anchor.biases, numpy_net.biases, "float64", "biases")


@pytest.mark.parametrize("anchor_id", ["jax", "torch-autograd"])
def test_set_parameters_restarts_from_the_given_parameters(anchor_id):
    net, X, Y, order, m = _problem("A", "float64")
    anchor = _anchor(anchor_id, net, "A", "float64")
    anchor.train_epoch(X, Y, order, m, ETA, LMBDA)
    first = anchor.weights + anchor.biases
    anchor.set_parameters(net.weights, net.biases)
    _assert_same(anchor.weights, net.weights, "float64", "weights after set_parameters")
    anchor.train_epoch(X, Y, order, m, ETA, LMBDA)
    _assert_same(anchor.weights + anchor.biases, first, "float64", "second run")
    with pytest.raises(ValueError, match=r"layer sizes \[784, 30\]; expected \[784, 30, 10\]"):
        anchor.set_parameters(net.weights[:1], net.biases[:1])


def test_jax_float32_stays_float32_with_x64_enabled():
    """A float64 anchor turns on jax_enable_x64; a float32 anchor's epoch still traces to
    float32 arithmetic only (no f64 anywhere in its jaxpr) and returns float32."""
    jax = pytest.importorskip("jax")
    net64, *_ = _problem("C", "float64")
    anchors.JaxScanNetwork(net64.weights, net64.biases, *_kinds("C"), "float64")
    assert jax.config.jax_enable_x64
    net, X, Y, order, m = _problem("C", "float32")
    anchor = _anchor("jax", net, "C", "float32")
    calls = anchor._calls(X, Y, order, m, ETA, LMBDA)
    assert [what for what, _ in calls] == ["epoch", "step"]  # 200 = 12 x 16 + 8
    for what, args in calls:
        fn = anchor._epoch_fn if what == "epoch" else anchor._step_fn
        text = str(jax.make_jaxpr(fn)(anchor.params, *args))
        assert "f32" in text and "f64" not in text, f"{what} traces to float64 operations"
    anchor.train_epoch(X, Y, order, m, ETA, LMBDA)
    assert all(w.dtype == np.float32 for w in anchor.weights + anchor.biases)


def test_jax_compiles_ahead_of_time_once_per_shape():
    pytest.importorskip("jax")
    net, X, Y, order, m = _problem("A", "float32")
    anchor = _anchor("jax", net, "A", "float32")
    Xd, Yd = anchor.to_device(X), anchor.to_device(Y)
    first = anchor.compile(Xd, Yd, order, m)
    assert first > 0 and len(anchor.compile_seconds) == 2  # the scan and the last step
    assert anchor.compile(Xd, Yd, order, m) == 0
    anchor.train_epoch(Xd, Yd, order, m, ETA, LMBDA)        # nothing new to compile
    assert len(anchor.compile_seconds) == 2
    anchor.train_epoch(Xd, Yd, order[:80], m, ETA, LMBDA)   # 8 mini-batches, not 9: new scan
    assert len(anchor.compile_seconds) == 3


@pytest.mark.parametrize("name,message", [
    ("jax", r"the JAX anchor needs JAX, which is not installed: pip install 'jax\[cpu\]'"),
    ("torch", r"the PyTorch anchor needs PyTorch, which is not installed: pip install torch"),
])
def test_missing_framework_says_what_to_install(monkeypatch, name, message):
    monkeypatch.setitem(sys.modules, name, None)   # makes `import jax` / `import torch` fail
    net, *_ = _problem("A", "float32")
    with pytest.raises(ImportError, match=message):
        anchors.make_anchor(name, net.weights, net.biases)
    assert not anchors.available(name)


@pytest.mark.parametrize("kwargs,message", [
    (dict(hidden_activation="tanh"), r"hidden_activation='tanh' is not supported.*'sigmoid'"),
    (dict(output_activation="softmax"),
     r"output_activation='softmax' with cost='cross_entropy' is not supported"),
    (dict(dtype="float16"), r"dtype='float16' is not supported"),
])
def test_bad_network_is_named_before_any_import(monkeypatch, kwargs, message):
    monkeypatch.setitem(sys.modules, "jax", None)
    net, *_ = _problem("A", "float32")
    with pytest.raises(ValueError, match=message):
        anchors.make_anchor("jax", net.weights, net.biases, **kwargs)
    with pytest.raises(ValueError, match=r"name='mxnet' is not an anchor"):
        anchors.make_anchor("mxnet", net.weights, net.biases)
    with pytest.raises(ValueError, match=r"biases\[1\] has 3 entries; expected 10"):
        anchors.make_anchor("jax", net.weights, [net.biases[0], np.zeros(3)])


@pytest.mark.parametrize("anchor_id", ["jax", "torch-autograd"])
@pytest.mark.parametrize("change,message", [
    (dict(X=np.zeros((95, 783))), r"X has shape \(95, 783\); expected \(n_samples, 784\)"),
    (dict(Y=np.zeros((94, 10))), r"Y has shape \(94, 10\); expected \(95, 10\)"),
    (dict(order=np.array([0, 95])), r"order holds indices from 0 to 95; expected 0 to 94"),
    (dict(order=np.array([0.0, 1.0])), r"order has shape \(2,\) and dtype float64"),
    (dict(mini_batch_size=0), r"mini_batch_size=0 is invalid; expected a positive integer"),
    (dict(eta=-1.0), r"eta=-1.0 is invalid"),
    (dict(lmbda=float("nan")), r"lmbda=nan is invalid"),
])
def test_bad_epoch_arguments_are_named(anchor_id, change, message):
    net, X, Y, order, m = _problem("A", "float32")
    anchor = _anchor(anchor_id, net, "A", "float32")
    args = dict(X=X, Y=Y, order=order, mini_batch_size=m, eta=ETA, lmbda=LMBDA)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        anchor.train_epoch(**args)


def test_limit_jax_threads_sets_xla_flags_only_before_import(monkeypatch):
    for name, value in anchors._jax_threads.items():   # restored after the test
        monkeypatch.setitem(anchors._jax_threads, name, value)
    monkeypatch.setitem(anchors._jax_threads, "set_before_import", False)
    monkeypatch.setitem(sys.modules, "jax", None)     # as if JAX were not imported yet
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    info = anchors.limit_jax_threads(1)
    anchors.limit_jax_threads(1)                      # idempotent
    assert info["in_effect"] is True and not info["jax_imported"]
    assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x",
                                               *anchors.XLA_ONE_THREAD_FLAGS]

    monkeypatch.setitem(anchors._jax_threads, "set_before_import", False)
    monkeypatch.setitem(sys.modules, "jax", object())  # JAX already imported
    monkeypatch.setenv("XLA_FLAGS", "")
    info = anchors.limit_jax_threads(1)
    assert os.environ["XLA_FLAGS"] == ""
    assert info["in_effect"] is False and "after JAX had been imported" in info["note"]
    info = anchors.limit_jax_threads("all")
    assert info["in_effect"] is False and "no thread limit" in info["note"]
    with pytest.raises(ValueError, match=r"threads='one' is invalid"):
        anchors.limit_jax_threads("one")


def test_limit_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        info = anchors.limit_torch_threads(1)
        assert info["num_threads"] == torch.get_num_threads() == 1
        with pytest.raises(ValueError, match=r"threads=0 is invalid"):
            anchors.limit_torch_threads(0)
    finally:
        torch.set_num_threads(before)
