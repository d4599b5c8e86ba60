"""Checkpoints (fastnn/checkpoint.py, ``fit(checkpoint=, resume=)``): resuming gives the
uninterrupted run's parameters bit for bit, also after a child process training with
checkpoints is killed with SIGKILL at random moments and in the middle of a checkpoint
write; a bad or foreign checkpoint gets a clear error and never a wrong resume."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastnn
from fastnn import checkpoint as ckpt
from fastnn.cli import main
from fastnn.data import load_dataset
from fastnn.schedules import HalveOnPlateau

SAMPLE = os.path.join(os.path.dirname(fastnn.__file__), "sample_data")


@pytest.fixture(scope="module")
def data():
    return load_dataset(SAMPLE)


def _fit(data, epochs, **kwargs):
    X, y = data.train
    net = fastnn.Network([784, 20, 10], seed=3)
    kwargs.setdefault("evaluation_data", data.validation)
    history = net.fit(X, y, epochs=epochs, mini_batch_size=10, eta=0.1, lmbda=1.0, **kwargs)
    return net, history


CASES = {
    "sgd": dict(),
    "adam+dropout": dict(optimizer="adam", dropout=0.2),
    "schedule+restore_best": dict(restore_best=True),
    "momentum+l1": dict(optimizer="momentum", l1=0.5),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_is_bit_identical(data, tmp_path, case):
    extra = CASES[case]
    schedule = (lambda: HalveOnPlateau(1)) if case == "schedule+restore_best" else (lambda: None)
    full, h_full = _fit(data, 5, schedule=schedule(), **extra)
    _fit(data, 2, schedule=schedule(), checkpoint=tmp_path, **extra)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000001.npz", "checkpoint-000002.npz"]
    resumed, h_res = _fit(data, 5, schedule=schedule(), checkpoint=tmp_path, resume=True,
                          **extra)
    np.testing.assert_array_equal(resumed.params, full.params)
    assert h_res["evaluation_accuracy"] == h_full["evaluation_accuracy"]
    assert h_res["eta"] == h_full["eta"]
    assert h_res["epoch"] == list(range(5))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000004.npz", "checkpoint-000005.npz"]


def test_checkpoint_every_k_and_a_stop_writes_a_final_one(data, tmp_path):
    stop_at_4 = lambda epoch, history: epoch == 3  # noqa: E731
    _, h = _fit(data, 7, checkpoint=tmp_path, checkpoint_every=3, callback=stop_at_4)
    assert h["stopped"] == "callback" and h["epoch"] == [0, 1, 2, 3]
    # every 3 epochs, then the stop
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000003.npz", "checkpoint-000004.npz"]
    _, meta, _ = ckpt.latest(tmp_path)
    assert meta["epochs_done"] == 4 and meta["history"]["stopped"] == "callback"
    # resuming a stopped run trains no further
    _, h2 = _fit(data, 7, checkpoint=tmp_path, checkpoint_every=3, callback=stop_at_4,
                 resume=True)
    assert h2["epoch"] == h["epoch"] and h2["stopped"] == "callback"


@pytest.mark.parametrize("case", ["sgd", "adam+dropout", "momentum+l1"])
def test_resume_within_an_epoch_is_bit_identical(data, tmp_path, case):
    """Checkpoints every 7 mini-batches; drop the end-of-run one so that the newest is one
    within the last epoch, and resume from it: the same bits as the run never stopped."""
    extra = CASES[case]
    full, h_full = _fit(data, 3, **extra)
    _fit(data, 3, checkpoint=tmp_path, checkpoint_batches=7, **extra)
    names = sorted(os.listdir(tmp_path))
    assert names[-1] == "checkpoint-000003.npz" and names[0].startswith("checkpoint-000002-")
    os.unlink(tmp_path / names[-1])
    _, meta, _ = ckpt.latest(tmp_path)
    assert meta["epochs_done"] == 2 and meta["batches_done"] % 7 == 0 and meta["batches_done"]
    resumed, h_res = _fit(data, 3, checkpoint=tmp_path, checkpoint_batches=7, resume=True,
                          **extra)
    np.testing.assert_array_equal(resumed.params, full.params)
    assert h_res["evaluation_accuracy"] == h_full["evaluation_accuracy"]
    # a resume may also change how often it checkpoints: the result does not depend on it
    os.unlink(tmp_path / "checkpoint-000003.npz")
    again, _ = _fit(data, 3, checkpoint=tmp_path, resume=True, **extra)
    np.testing.assert_array_equal(again.params, full.params)


def test_checkpoint_batches_needs_a_folder(data):
    with pytest.raises(ValueError, match="checkpoint_batches needs checkpoint=FOLDER"):
        _fit(data, 1, checkpoint_batches=5)
    with pytest.raises(ValueError, match="checkpoint_batches=0 is invalid"):
        _fit(data, 1, checkpoint="x", checkpoint_batches=0)


def test_resume_without_checkpoint_starts_fresh(data, tmp_path):
    a, _ = _fit(data, 2)
    b, _ = _fit(data, 2, checkpoint=tmp_path / "new", resume=True)
    np.testing.assert_array_equal(a.params, b.params)


def test_resume_with_other_arguments_is_refused(data, tmp_path):
    _fit(data, 1, checkpoint=tmp_path)
    X, y = data.train
    net = fastnn.Network([784, 20, 10], seed=3)
    with pytest.raises(ckpt.CheckpointError, match=r"different run \(eta: checkpoint 0.1, now 0.2"):
        net.fit(X, y, epochs=2, mini_batch_size=10, eta=0.2, lmbda=1.0,
                evaluation_data=data.validation, checkpoint=tmp_path, resume=True)


def test_resume_needs_a_folder(data):
    with pytest.raises(ValueError, match="resume=True needs checkpoint=FOLDER"):
        _fit(data, 1, resume=True)


def _corrupt(path, how):
    raw = bytearray(open(path, "rb").read())
    if how == "truncated":
        raw = raw[:len(raw) // 2]
    else:  # flip a byte inside the parameter data (not the zip structure's checksum-free parts)
        with np.load(path) as z:
            params = z["params"].copy()
        params[0] += 1.0
        arrays = {}
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["params"] = params
        np.savez(path, **arrays)
        return
    open(path, "wb").write(bytes(raw))


@pytest.mark.parametrize("how", ["truncated", "tampered"])
def test_a_bad_newest_checkpoint_is_refused_and_the_previous_one_used(data, tmp_path, how):
    _fit(data, 2, checkpoint=tmp_path)
    newest = ckpt.path_for(tmp_path, 2)
    _corrupt(newest, how)
    with pytest.raises(ckpt.CheckpointError, match="truncated or corrupt|checksum mismatch"):
        ckpt.load(newest)
    with pytest.warns(RuntimeWarning, match="skipping checkpoint"):
        arrays, meta, path = ckpt.latest(tmp_path)
    assert meta["epochs_done"] == 1 and path == ckpt.path_for(tmp_path, 1)


def test_a_newer_version_is_refused(tmp_path):
    meta = {"format": ckpt.FORMAT, "version": ckpt.VERSION + 1, "sha256": {}}
    path = tmp_path / "checkpoint-000001.npz"
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ckpt.CheckpointError, match="upgrade fastnn"):
        ckpt.load(path)


# -- SIGKILL ---------------------------------------------------------------------------
CHILD = """
import sys, fastnn
from fastnn.data import load_dataset
ds = load_dataset({sample!r})
X, y = ds.train
# load the compiled kernels first, so that the kills land in training: on a fast core
# loading them was over half of the span from "ready" to "done"
fastnn.Network([784, 64, 10], seed=5).fit(X[:20], y[:20], epochs=1, mini_batch_size=10,
                                          eta=0.1, lmbda=1.0, optimizer="adam",
                                          evaluation_data=(X[:10], y[:10]))
net = fastnn.Network([784, 64, 10], seed=5)
print("ready", flush=True)
net.fit(X, y, epochs={epochs}, mini_batch_size=10, eta=0.1, lmbda=1.0, optimizer="adam",
        evaluation_data=ds.validation, checkpoint=sys.argv[1], **{extra!r})
print("done", flush=True)
"""
EPOCHS = 12


def _uninterrupted(data):
    X, y = data.train
    net = fastnn.Network([784, 64, 10], seed=5)
    net.fit(X, y, epochs=EPOCHS, mini_batch_size=10, eta=0.1, lmbda=1.0, optimizer="adam",
            evaluation_data=data.validation)
    return net.params


def _resume(data, folder, **extra):
    X, y = data.train
    net = fastnn.Network([784, 64, 10], seed=5)
    net.fit(X, y, epochs=EPOCHS, mini_batch_size=10, eta=0.1, lmbda=1.0, optimizer="adam",
            evaluation_data=data.validation, checkpoint=folder, resume=True, **extra)
    return net.params


def _child(tmp_path, folder, env=None, extra=None):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(sample=SAMPLE, epochs=EPOCHS, extra=extra or {}))
    return subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize("extra", [{}, {"checkpoint_batches": 15}],
                         ids=["every epoch", "every 15 mini-batches"])
def test_sigkill_at_random_moments_loses_nothing(data, tmp_path, extra):
    expected = _uninterrupted(data)
    # how long the child trains on this machine, from "ready" to "done"
    child = _child(tmp_path, tmp_path / "timing", extra=extra)
    assert child.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    assert child.stdout.readline().strip() == "done"
    span = time.perf_counter() - start
    child.wait()
    rng = np.random.default_rng(7)
    outcomes = []
    for trial in range(8):
        folder = tmp_path / f"run{trial}"
        child = _child(tmp_path, folder, extra=extra)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, span))
        child.send_signal(signal.SIGKILL)
        child.wait()
        found = ckpt.latest(folder) if folder.exists() else None
        outcomes.append((0, 0) if found is None else
                        (found[1]["epochs_done"], found[1]["batches_done"]))
        np.testing.assert_array_equal(_resume(data, folder, **extra), expected)
    print(f"training took {span:.2f} s; (epochs, mini-batches) done when killed: {outcomes}")
    # the kills landed inside training, not only before it or after it
    assert any(0 < done < EPOCHS for done, _ in outcomes), outcomes


@pytest.mark.parametrize("kill_at", [1, 7])
def test_sigkill_in_the_middle_of_a_checkpoint_write(data, tmp_path, kill_at):
    folder = tmp_path / "run"
    child = _child(tmp_path, folder, {ckpt.KILL_VARIABLE: str(kill_at)})
    out, _ = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL and "done" not in out
    leftovers = [n for n in os.listdir(folder) if n.endswith(".tmp")]
    assert leftovers, "the kill should have left the half-written temporary file"
    found = ckpt.latest(folder)
    if kill_at == 1:
        assert found is None  # nothing complete yet: resuming starts afresh
    else:
        assert found[1]["epochs_done"] == kill_at - 1
    np.testing.assert_array_equal(_resume(data, folder), _uninterrupted(data))


def test_cli_checkpoint_and_resume(tmp_path, capsys):
    args = ["train", "--data", SAMPLE, "--sizes", "784,16,10", "--epochs", "3",
            "--checkpoint", str(tmp_path / "ck"), "--output", str(tmp_path / "m.npz"), "--quiet"]
    assert main(args) == 0
    assert sorted(os.listdir(tmp_path / "ck")) == ["checkpoint-000002.npz",
                                                  "checkpoint-000003.npz"]
    assert main(args + ["--resume"]) == 0
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    within = ["train", "--data", SAMPLE, "--sizes", "784,16,10", "--epochs", "1",
              "--checkpoint", str(tmp_path / "ck2"), "--checkpoint-batches", "40", "--quiet",
              "--output", str(tmp_path / "m2.npz")]
    assert main(within) == 0
    names = sorted(os.listdir(tmp_path / "ck2"))
    assert names[-1] == "checkpoint-000001.npz" and names[0].startswith("checkpoint-000000-")
