"""The modern array API (fastnn.Network): fit/predict/evaluate, model files, bad input,
divergence and training from two threads."""
import os
import re
import threading
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import ModelFileError, Network, TrainingDiverged
from fastnn._io import atomic_write
from fastnn.data import load_dataset

# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fashion():
    """First 5,000 training images and 2,000 validation images of the dataset."""
    data = load_dataset()
    X, y = data.train
    Xv, yv = data.validation
    return X[:5000], y[:5000], Xv[:2000], yv[:2000]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def _small_net(**kwargs):
    return Network([4, 3, 2], seed=1, **kwargs)


# ---------------------------------------------------------------- fit and history

def test_fit_learns_fashion_mnist(fashion):
    X, y, Xv, yv = fashion
    net = Network([784, 30, 10], dtype="float32", seed=0)
    chance = net.evaluate(Xv, yv)["accuracy"]
    history = net.fit(X, y, epochs=2, mini_batch_size=10, eta=0.5,
                      evaluation_data=(Xv, yv), monitor_training=True)
    acc = history["evaluation_accuracy"][-1]
    assert acc > 0.6, (f"validation accuracy after 2 epochs on 5,000 Fashion-MNIST images is "
                       f"{acc:.3f} (before training {chance:.3f}); expected > 0.6")
    assert history["training_accuracy"][-1] > 0.6
    assert history["training_cost"][1] < history["training_cost"][0] * 1.05
    # the history's last entry is what evaluate reports now
    now = net.evaluate(Xv, yv)
    assert now["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert now["cost"] == pytest.approx(history["evaluation_cost"][-1], rel=1e-12)
    assert now["correct"] == round(acc * 2000) and now["n"] == 2000
    assert np.mean(net.predict(Xv) == yv) == pytest.approx(acc, abs=1e-12)


def test_fit_history_keys_and_lengths(toy):
    X, y = toy
    net = _small_net()
    h = net.fit(X, y, epochs=3, mini_batch_size=7, eta=0.5)
    assert set(h) == {"epoch", "seconds", "eta", "stopped"}
    assert h["epoch"] == [0, 1, 2] and h["eta"] == [0.5] * 3 and h["stopped"] is None
    assert len(h["seconds"]) == 3 and all(s >= 0 for s in h["seconds"])

    h = net.fit(X, y, epochs=4, mini_batch_size=7, eta=0.5, lmbda=0.1,
                evaluation_data=(X[:10], y[:10]), monitor_training=True)
    assert set(h) == {"epoch", "seconds", "eta", "training_cost", "training_accuracy",
                      "evaluation_cost", "evaluation_accuracy", "stopped", "best_epoch",
                      "monitor"}
    assert h["monitor"] == "accuracy"
    assert all(len(v) == 4 for v in h.values() if isinstance(v, list)), \
        {k: v for k, v in h.items()}
    assert h["best_epoch"] == int(np.argmax(h["evaluation_accuracy"]))
    for key in ("training_accuracy", "evaluation_accuracy"):
        assert all(0.0 <= a <= 1.0 for a in h[key]), h[key]
    for key in ("training_cost", "evaluation_cost"):
        assert all(np.isfinite(c) and c > 0 for c in h[key]), h[key]
    # cost includes the L2 term with the lmbda of fit
    np.testing.assert_allclose(h["training_cost"][-1], net.evaluate(X, y, lmbda=0.1)["cost"],
                               rtol=1e-12, err_msg="history training_cost vs evaluate(lmbda)")


def test_fit_callback_stops_early(toy):
    X, y = toy
    seen = []

    def stop_after_two(epoch, history):
        seen.append((epoch, len(history["epoch"])))
        return epoch == 1

    h = _small_net().fit(X, y, epochs=10, callback=stop_after_two, monitor_training=True)
    assert seen == [(0, 1), (1, 2)]
    assert h["epoch"] == [0, 1] and len(h["training_cost"]) == 2


def test_fit_verbose_prints_one_line_per_epoch(toy, capsys):
    X, y = toy
    _small_net().fit(X, y, epochs=2, verbose=True, evaluation_data=(X, y))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 0:") and "evaluation cost" in lines[1]


def test_fit_accepts_target_rows_like_labels(toy):
    X, y = toy
    a, b = _small_net(), _small_net()
    a.fit(X, y, epochs=2, mini_batch_size=4)
    b.fit(X, np.eye(2)[y], epochs=2, mini_batch_size=4)
    np.testing.assert_array_equal(a.params, b.params, err_msg="labels vs one-hot targets")


# ---------------------------------------------------------------- inference

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_feedforward_shapes(dtype):
    net = Network([6, 5, 4], "tanh", "softmax", "log_likelihood", dtype=dtype, seed=2)
    X = np.random.default_rng(3).normal(size=(9, 6))
    A = net.feedforward(X)
    assert A.shape == (9, 4) and A.dtype == np.dtype(dtype)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps,
                               err_msg="softmax rows (ACTUAL) should sum to 1")
    assert (A > 0).all()
    p = net.predict(X)
    assert p.shape == (9,) and np.issubdtype(p.dtype, np.integer)
    np.testing.assert_array_equal(p, np.argmax(A, axis=1))
    assert net.feedforward(X[:1]).shape == (1, 4)
    assert net.predict(X[3:4]).tolist() == [p[3]]


def test_feedforward_matches_numpy_over_several_chunks():
    """More rows than one evaluation chunk (1,024): every chunk is computed right."""
    net = Network([7, 6, 5], "relu", "sigmoid", "cross_entropy", dtype="float64", seed=4)
    X = np.random.default_rng(5).normal(size=(2500, 7))
    a = X
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = a @ w.T + b
        a = np.maximum(z, 0) if l == 0 else 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(net.feedforward(X), a, rtol=1e-12,
                               err_msg="engine feedforward (ACTUAL) vs NumPy (DESIRED)")


# ---------------------------------------------------------------- model files

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, dtype):
    net = Network([5, 4, 3, 3], ["relu", "tanh"], "softmax", "quadratic", dtype=dtype, seed=6)
    X = np.random.default_rng(7).normal(size=(20, 5))
    net.fit(X, np.arange(20) % 3, epochs=1, mini_batch_size=3)
    path = tmp_path / "model.fnn"
    net.save(path)
    assert path.is_file() and not path.is_symlink() and path.stat().st_size > net.params.nbytes
    assert zipfile.is_zipfile(path)
    assert sorted(os.listdir(tmp_path)) == ["model.fnn"], "save left extra files behind"

    back = fastnn.load(path)
    assert back.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.params, net.params)
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.cost == net.cost
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    # a str path works too
    back2 = Network.load(str(path))
    np.testing.assert_array_equal(back2.params, net.params)


@pytest.fixture
def saved(tmp_path):
    net = Network([4, 3, 2], seed=8)
    path = tmp_path / "good.fnn"
    net.save(path)
    return net, path


def _expect_model_error(path, *patterns):
    with pytest.raises(ModelFileError, match=re.escape(str(path))) as info:
        fastnn.load(path)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), str(info.value)
    return info.value


def test_load_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.fnn"
    bad.write_bytes(data[: len(data) // 2])
    _expect_model_error(bad, "truncated or corrupt")
    empty = tmp_path / "empty.fnn"
    empty.write_bytes(b"")
    _expect_model_error(empty)


def test_load_flipped_bytes_in_parameters(saved, tmp_path):
    net, path = saved
    data = bytearray(path.read_bytes())
    at = bytes(data).find(net.params.tobytes())
    assert at > 0, "parameter bytes not found stored plainly in the file"
    data[at + 5] ^= 0xFF
    bad = tmp_path / "flipped.fnn"
    bad.write_bytes(bytes(data))
    _expect_model_error(bad)


def _rewrite(path, out, params=None, meta_update=None):
    """Copy a model file, replacing its params and/or meta fields (a well-formed archive)."""
    import json
    with np.load(path) as z:
        p = z["params"].copy() if params is None else params
        meta = json.loads(z["meta"].tobytes().decode())
    meta.update(meta_update or {})
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(out, "wb") as f:
        np.savez(f, params=p, meta=blob)


def test_load_tampered_parameters_fail_checksum(saved, tmp_path):
    net, path = saved
    params = net.params.copy()
    params[3] += 1.0
    bad = tmp_path / "tampered.fnn"
    _rewrite(path, bad, params=params)
    _expect_model_error(bad, "checksum")


def test_load_newer_version(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "v99.fnn"
    _rewrite(path, bad, meta_update={"version": 99})
    _expect_model_error(bad, "version 99")


def test_load_missing_file(tmp_path):
    _expect_model_error(tmp_path / "nope" / "missing.fnn", "does not exist")


def test_load_not_a_model(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    _expect_model_error(other)


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()],
                         ids=["RuntimeError", "KeyboardInterrupt"])
def test_interrupted_save_keeps_old_file(saved, tmp_path, exc):
    net, path = saved
    before = path.read_bytes()

    def write(f):
        f.write(b"PK\x03\x04 half a model" * 100)
        raise exc

    with pytest.raises(type(exc)):
        atomic_write(path, write)
    assert path.read_bytes() == before, "the old model file was modified"
    np.testing.assert_array_equal(fastnn.load(path).params, net.params)
    assert sorted(os.listdir(tmp_path)) == ["good.fnn"], "a temporary file was left behind"


def test_save_over_existing_model_replaces_it(saved, tmp_path):
    _, path = saved
    other = Network([4, 3, 2], seed=9)
    other.save(path)
    np.testing.assert_array_equal(fastnn.load(path).params, other.params)
    assert sorted(os.listdir(tmp_path)) == ["good.fnn"]


# ---------------------------------------------------------------- bad input

X_OK = np.zeros((5, 4), dtype=np.float32)
Y_OK = np.array([0, 1, 0, 1, 1])


def _nan_at(r, c, value):
    X = X_OK.copy()
    X[r, c] = value
    return X


BAD_FIT = [
    # (description, kwargs of fit, ValueError message pattern)
    ("X wrong width", dict(X=np.zeros((5, 3))), r"X has shape \(5, 3\).*\(n_samples, 4\)"),
    ("X 1-D", dict(X=np.zeros(4)), r"X has shape \(4,\).*2-D"),
    ("X 1-D other", dict(X=np.zeros(5)), r"X has shape \(5,\)"),
    ("X 3-D", dict(X=np.zeros((5, 4, 1))), r"X has shape \(5, 4, 1\)"),
    ("X empty", dict(X=np.zeros((0, 4)), y=np.zeros(0, dtype=int)), r"X is empty.*\(0, 4\)"),
    ("X NaN", dict(X=_nan_at(2, 1, np.nan)),
     r"X holds a non-finite value .*nan.* row 2, column 1"),
    ("X inf", dict(X=_nan_at(4, 3, -np.inf)),
     r"X holds a non-finite value .*-inf.* row 4, column 3"),
    ("label too big", dict(y=np.array([0, 1, 0, 7, 1])), r"y\[3\] = 7 is out of range.*0\.\.1"),
    ("label negative", dict(y=np.array([0, -1, 0, 1, 1])), r"y\[1\] = -1 is out of range"),
    ("label count", dict(y=np.array([0, 1, 0, 1])), r"y has 4 labels for 5 samples"),
    ("target shape", dict(y=np.zeros((5, 3))), r"y has shape \(5, 3\).*\(5, 2\)"),
    ("target rows count", dict(y=np.zeros((6, 2))), r"y has shape \(6, 2\)"),
    ("float labels", dict(y=np.array([0, 0.5, 1, 1, 0])), r"y has dtype float64"),
    ("eta 0", dict(eta=0), r"eta=0 is invalid"),
    ("eta negative", dict(eta=-0.5), r"eta=-0\.5 is invalid"),
    ("eta NaN", dict(eta=float("nan")), r"eta=nan is invalid"),
    ("eta inf", dict(eta=float("inf")), r"eta=inf is invalid"),
    ("eta str", dict(eta="0.5"), r"eta='0\.5' is invalid"),
    ("mini_batch_size 0", dict(mini_batch_size=0),
     r"mini_batch_size=0 is invalid.*positive integer"),
    ("mini_batch_size 2.5", dict(mini_batch_size=2.5), r"mini_batch_size=2\.5 is invalid"),
    ("mini_batch_size True", dict(mini_batch_size=True), r"mini_batch_size=True is invalid"),
    ("epochs 0", dict(epochs=0), r"epochs=0 is invalid"),
    ("epochs -1", dict(epochs=-1), r"epochs=-1 is invalid"),
    ("lmbda negative", dict(lmbda=-0.1), r"lmbda=-0\.1 is invalid.*>= 0"),
    ("lmbda NaN", dict(lmbda=float("nan")), r"lmbda=nan is invalid"),
    ("evaluation_data X", dict(evaluation_data=(np.zeros((3, 5)), np.zeros(3, dtype=int))),
     r"evaluation_data\[0\] has shape \(3, 5\)"),
    ("evaluation_data labels", dict(evaluation_data=(np.zeros((3, 4)), np.array([0, 1]))),
     r"evaluation_data\[1\] has 2 labels for 3 samples"),
    ("evaluation_data label range", dict(evaluation_data=(np.zeros((3, 4)), np.array([0, 2, 1]))),
     r"evaluation_data\[1\]\[1\] = 2 is out of range"),
    ("evaluation_data not a pair", dict(evaluation_data=(X_OK,)),
     r"evaluation_data=.*expected a pair"),
    ("callback", dict(callback=5), r"callback=5 is not callable"),
]


@pytest.mark.parametrize("what,kwargs,pattern", BAD_FIT, ids=[c[0] for c in BAD_FIT])
def test_fit_rejects_bad_input(what, kwargs, pattern):
    net = _small_net()
    before = net.params.copy()
    args = dict(X=X_OK, y=Y_OK)
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=pattern):
        net.fit(X, y, **args)
    np.testing.assert_array_equal(net.params, before, err_msg="parameters changed on bad input")


def test_fit_bad_evaluation_data_names_the_value():
    with pytest.raises(ValueError, match=r"evaluation_data.*12345"):
        _small_net().fit(X_OK, Y_OK, evaluation_data=12345)


@pytest.mark.parametrize("call", ["predict", "feedforward", "evaluate", "gradients"])
def test_other_methods_reject_bad_x(call):
    net = _small_net()
    args = (np.zeros((2, 5)),) if call in ("predict", "feedforward") else (np.zeros((2, 5)), [0, 1])
    with pytest.raises(ValueError, match=r"X has shape \(2, 5\); expected \(n_samples, 4\)"):
        getattr(net, call)(*args)


def test_train_epoch_rejects_bad_order():
    net = _small_net()
    with pytest.raises(ValueError, match=r"order must be .*0\.\.4.*\[0, 5\]"):
        net.train_epoch(X_OK, Y_OK, [0, 5], 2, 0.1)
    with pytest.raises(ValueError, match=r"order"):
        net.train_epoch(X_OK, Y_OK, [0.5, 1.0], 2, 0.1)
    with pytest.raises(ValueError, match=r"mini_batch_size=0 is invalid"):
        net.train_epoch(X_OK, Y_OK, [0, 1], 0, 0.1)


BAD_NETWORK = [
    ("unknown hidden", dict(hidden_activation="mish"), r"hidden_activation='mish' is not a known"),
    ("softmax hidden", dict(hidden_activation="softmax"), r"hidden_activation='softmax'"),
    ("hidden list length", dict(hidden_activation=["relu", "tanh"]),
     r"hidden_activation=\['relu', 'tanh'\] has 2 entries.*\(1\)"),
    ("unknown output", dict(output_activation="gelu"), r"output_activation='gelu' is not a known"),
    ("unknown cost", dict(cost="hinge"), r"cost='hinge' is not a known cost"),
    ("cross_entropy softmax", dict(cost="cross_entropy", output_activation="softmax"),
     r"cost='cross_entropy' cannot be paired with output_activation='softmax'"),
    ("log_likelihood sigmoid", dict(cost="log_likelihood", output_activation="sigmoid"),
     r"cost='log_likelihood' cannot be paired with output_activation='sigmoid'"),
    ("sizes one layer", dict(sizes=[784]), r"sizes=\[784\] must list at least"),
    ("sizes zero", dict(sizes=[784, 0, 10]), r"sizes=\[784, 0, 10\].*positive integer, got 0"),
    ("sizes str", dict(sizes="abc"), r"sizes='abc'"),
    ("sizes float", dict(sizes=[4, 2.5, 2]), r"sizes=\[4, 2\.5, 2\].*got 2\.5"),
    ("sizes int", dict(sizes=5), r"sizes=5 must be a sequence"),
    ("dtype int32", dict(dtype="int32"), r"dtype='int32' is not supported"),
    ("dtype float16", dict(dtype=np.float16), r"dtype=.*float16.* is not supported"),
    ("initializer", dict(initializer="xavier"), r"initializer='xavier' is invalid"),
]


@pytest.mark.parametrize("what,kwargs,pattern", BAD_NETWORK, ids=[c[0] for c in BAD_NETWORK])
def test_network_rejects_bad_configuration(what, kwargs, pattern):
    args = dict(sizes=[4, 3, 2])
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        Network(**args)


# ---------------------------------------------------------------- divergence

def test_divergence_raises_and_keeps_last_good_parameters():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(50, 4)) * 1e3
    Y = rng.normal(size=(50, 2))
    net = Network([4, 3, 2], "identity", "identity", "quadratic", dtype="float32", seed=11)
    net.fit(X / 1e3, Y, epochs=1, eta=0.01)     # a good epoch first
    good = net.params.copy()
    assert np.isfinite(good).all()
    with pytest.raises(TrainingDiverged, match=r"epoch 0.*smaller eta") as info:
        net.fit(X, Y, epochs=3, eta=1e30)
    assert "eta=1e+30" in str(info.value)
    assert isinstance(info.value, FloatingPointError)
    assert np.isfinite(net.params).all(), "parameters are not finite after divergence"
    np.testing.assert_array_equal(net.params, good,
                                  err_msg="parameters are not those of the last good epoch")
    # the network is still usable
    assert np.isfinite(net.feedforward(X[:3] / 1e3)).all()


def test_divergence_in_a_later_epoch_names_that_epoch():
    """Epoch k diverges -> the message names k and the parameters are epoch k-1's."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 4))
    Y = rng.normal(size=(40, 2))
    net = Network([4, 3, 2], "identity", "identity", "quadratic", dtype="float64", seed=13)
    snapshots = []
    eta = 0.6   # grows geometrically but stays finite for a few epochs
    with pytest.raises(TrainingDiverged) as info:
        net.fit(X * 30, Y, epochs=200, mini_batch_size=40, eta=eta,
                callback=lambda e, h: snapshots.append(net.params.copy()))
    k = len(snapshots)
    assert k >= 1, "diverged in the first epoch: the test needs a later one"
    assert re.search(rf"epoch {k}\b", str(info.value)), (k, str(info.value))
    np.testing.assert_array_equal(net.params, snapshots[-1])
    assert np.isfinite(net.params).all()


# ---------------------------------------------------------------- threads

def test_two_threads_train_like_one_after_the_other():
    """Two networks trained at once from two Python threads end with the bits each gets
    trained alone. The threads go in lockstep: a barrier before the first epoch and one
    after every epoch (a ``callback``, which changes nothing in training), so each
    thread's epoch k runs while the other thread is inside its own fit, at epoch k; the
    two trainings overlap by construction, not by the timing of one run (which the
    test asserted before, with clock readings, and a loaded machine can starve one
    thread until the other is done)."""
    rng = np.random.default_rng(14)
    X = rng.normal(size=(8000, 40)).astype(np.float32)
    y = rng.integers(0, 5, size=8000)

    def make(seed):
        return Network([40, 64, 5], "tanh", "softmax", "log_likelihood", seed=seed)

    def train(net, callback=None):
        return net.fit(X, y, epochs=3, mini_batch_size=8, eta=0.05, lmbda=0.2,
                       callback=callback)

    seq = [make(1), make(2)]
    for net in seq:
        train(net)

    par = [make(1), make(2)]
    errors = []
    barrier = threading.Barrier(2)
    epochs_seen = {0: [], 1: []}

    def run(i):
        def lockstep(epoch, history):
            epochs_seen[i].append(epoch)
            barrier.wait(timeout=120)  # the other thread has finished this epoch too
        try:
            barrier.wait(timeout=60)
            train(par[i], lockstep)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a training thread hung"
    assert not errors, errors
    assert epochs_seen == {0: [0, 1, 2], 1: [0, 1, 2]}
    for i in range(2):
        np.testing.assert_array_equal(par[i].params, seq[i].params,
                                      err_msg=f"network {i}: threaded vs sequential training")
    assert not np.array_equal(seq[0].params, seq[1].params)


def test_divergence_while_monitoring_names_epoch_and_keeps_last_good_parameters():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 4)) * 30
    Y = rng.normal(size=(40, 2))
    net = Network([4, 3, 2], "identity", "identity", "quadratic", dtype="float32", seed=13)
    snapshots = [net.params.copy()]
    with pytest.raises(TrainingDiverged, match=r"epoch \d+.*smaller eta"):
        net.fit(X, Y, epochs=300, mini_batch_size=40, eta=0.6, monitor_training=True,
                callback=lambda e, h: snapshots.append(net.params.copy()))
    np.testing.assert_array_equal(net.params, snapshots[-1],
                                  err_msg="parameters are not those of the last good epoch")


def test_saved_files_get_ordinary_permissions_and_keep_a_replaced_files(tmp_path):
    import os
    import stat
    net = _small_net()
    old = os.umask(0o022)
    try:
        net.save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o644
    os.chmod(tmp_path / "new.npz", 0o640)
    net.save(tmp_path / "new.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


def test_pickle_leaves_the_work_buffers_behind():
    import pickle
    rng = np.random.default_rng(0)
    X = rng.random((2000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    net = fastnn.Network([784, 100, 10], seed=0)
    small = len(pickle.dumps(net))
    net.evaluate(X, y)
    net.fit(X[:100], y[:100], epochs=1)
    again = pickle.loads(pickle.dumps(net))
    assert len(pickle.dumps(net)) < 1.2 * small
    assert (again.params == net.params).all()
    np.testing.assert_array_equal(again.feedforward(X[:50]), net.feedforward(X[:50]))
    assert again.fit(X[:100], y[:100], epochs=1)["epoch"] == [0]
