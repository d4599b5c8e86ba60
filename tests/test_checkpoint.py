"""Checkpoints (fastnn/checkpoint.py, ``fit(checkpoint=, resume=)``): resuming gives the
uninterrupted run's parameters bit for bit, also after a child process training with
checkpoints is killed with SIGKILL before every kind of step it takes (training, and each
file-system call of a checkpoint write) and in the middle of a checkpoint write; a bad or
foreign checkpoint gets a clear error and never a wrong resume."""
import json
import os
import signal
import subprocess
import sys
import warnings

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
{hook}
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


#: The child kills itself (SIGKILL) in the middle of writing the checkpoint of KILL_AT
#: epochs: after the arrays are written into the temporary file, before its fsync and
#: rename (checkpoint.save writes them with one np.savez, its metadata among them).
KILL_HOOK = """
import json, os, signal
from fastnn import checkpoint
_savez = checkpoint.np.savez

def _savez_then_die(f, **arrays):
    _savez(f, **arrays)
    if json.loads(arrays["meta"].tobytes())["epochs_done"] == KILL_AT:
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

checkpoint.np.savez = _savez_then_die
"""


def _child(tmp_path, folder, kill_at=None, extra=None):
    script = tmp_path / "child.py"
    hook = "" if kill_at is None else KILL_HOOK.replace("KILL_AT", str(int(kill_at)))
    script.write_text(CHILD.format(sample=SAMPLE, epochs=EPOCHS, extra=extra or {}, hook=hook))
    return subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE,
                            text=True)


#: The child below counts the steps it takes that could matter to a kill: a segment of
#: training (everything between checkpoints: no file is touched, so a kill anywhere in it
#: leaves what a kill just before it leaves) and each file-system call on the checkpoint
#: folder (creating it, creating the temporary file, each write into it, its fsync, the
#: rename, the folder's fsync, each deletion). With ``kill_at`` = k > 0 it kills itself
#: (SIGKILL) just before step k; with 0 it trains to the end and prints every step. The
#: steps are the same in every run (training is deterministic), so a kill point is a step
#: number, not a moment on a clock. The hooks wrap the os and tempfile functions that
#: fastnn/_io.py's atomic_write calls; if checkpoints come to be written some other way,
#: the count run misses a kind of step and the test says so.
STEPPED_CHILD = r"""
import json, os, re, signal, sys, tempfile
import fastnn
from fastnn.data import load_dataset
from fastnn._fit import EpochRunner
from fastnn.network import Network

sample, folder, kill_at, extra, epochs = sys.argv[1:]
folder, kill_at, extra, epochs = (os.path.abspath(folder), int(kill_at), json.loads(extra),
                                  int(epochs))
ds = load_dataset(sample)
X, y = ds.train
# load the compiled kernels before the hooks go in
Network([784, 64, 10], seed=5).fit(X[:20], y[:20], epochs=1, mini_batch_size=10, eta=0.1,
                                   lmbda=1.0, optimizer="adam", evaluation_data=(X[:10], y[:10]))
steps = []


def step(kind, detail=""):
    steps.append(f"{kind}: {detail}" if detail else kind)
    if len(steps) == kill_at:
        print(f"killed before step {kill_at}: {steps[-1]}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def ours(path):
    path = os.path.abspath(os.fspath(path))
    return path == folder or path.startswith(folder + os.sep)


tracked = {}  # file descriptor -> what it is, for the folder and its temporary files
real = {name: getattr(os, name) for name in ("open", "close", "fdopen", "fsync", "mkdir",
                                             "replace", "rename", "unlink", "remove")}
real_mkstemp = tempfile.mkstemp


def mkstemp(*args, **kwargs):
    where = kwargs.get("dir", args[2] if len(args) > 2 else None)
    if where is None or not ours(where):
        return real_mkstemp(*args, **kwargs)
    step("create temporary file")
    fd, path = real_mkstemp(*args, **kwargs)
    tracked[fd] = re.sub(r"\.[^.]*\.tmp$", ".*.tmp", os.path.basename(path))  # not random
    return fd, path


def os_open(path, flags, *args, **kwargs):
    fd = real["open"](path, flags, *args, **kwargs)
    if ours(path):
        tracked[fd] = "the folder" if os.path.abspath(path) == folder else os.path.basename(path)
    return fd


def os_close(fd):
    tracked.pop(fd, None)
    return real["close"](fd)


class CountingFile:
    def __init__(self, f, fd):
        self._f, self._fd = f, fd

    def write(self, data):
        step("write", tracked[self._fd])
        return self._f.write(data)

    def close(self):
        tracked.pop(self._fd, None)
        return self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def fdopen(fd, *args, **kwargs):
    f = real["fdopen"](fd, *args, **kwargs)
    return CountingFile(f, fd) if fd in tracked else f


def fsync(fd):
    fd = fd if isinstance(fd, int) else fd.fileno()
    if fd in tracked:
        step(*(("fsync folder",) if tracked[fd] == "the folder" else ("fsync", tracked[fd])))
    return real["fsync"](fd)


def mkdir(path, *args, **kwargs):
    if ours(path) and not os.path.exists(path):
        step("create folder")
    return real["mkdir"](path, *args, **kwargs)


def renamer(name):
    def rename(src, dst, *args, **kwargs):
        if ours(dst):
            step("rename", os.path.basename(dst))
        return real[name](src, dst, *args, **kwargs)
    return rename


def deleter(name):
    def delete(path, *args, **kwargs):
        if ours(path):
            step("delete", os.path.basename(path))
        return real[name](path, *args, **kwargs)
    return delete


real_epoch = EpochRunner.run


def train(self, *args, **kwargs):
    step("train")
    return real_epoch(self, *args, **kwargs)


tempfile.mkstemp = mkstemp
os.open, os.close, os.fdopen, os.fsync, os.mkdir = os_open, os_close, fdopen, fsync, mkdir
os.replace, os.rename = renamer("replace"), renamer("rename")
os.unlink, os.remove = deleter("unlink"), deleter("remove")
EpochRunner.run = train
net = Network([784, 64, 10], seed=5)
net.fit(X, y, epochs=epochs, mini_batch_size=10, eta=0.1, lmbda=1.0, optimizer="adam",
        evaluation_data=ds.validation, checkpoint=folder, **extra)
print(json.dumps(steps), flush=True)
"""
KINDS = ("train", "create folder", "create temporary file", "write", "fsync", "rename",
         "delete")


def _stepped_child(tmp_path, folder, kill_at, extra):
    script = tmp_path / "stepped_child.py"
    script.write_text(STEPPED_CHILD)
    return subprocess.run([sys.executable, str(script), SAMPLE, str(folder), str(kill_at),
                           json.dumps(extra), str(EPOCHS)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("extra", [{}, {"checkpoint_batches": 15}],
                         ids=["every epoch", "every 15 mini-batches"])
def test_sigkill_at_every_kind_of_step_loses_nothing(data, tmp_path, extra):
    """A child training with checkpoints is killed (SIGKILL) just before a chosen step:
    one step of every kind (a stretch of training, creating the folder, creating the
    temporary file, a write into it, its fsync, the rename, deleting an old checkpoint),
    each at an occurrence drawn with a fixed seed, and one drawn among all the steps.
    Between two steps the child touches no file, and a kill before the folder's fsync
    leaves what one before the next deletion leaves, so these are all the kinds of state
    a kill can leave on disk. (The random kill times this replaces, drawn from one timed
    run, mostly landed in training: in one run 5 of 8 came before the first checkpoint;
    the writes are a few percent of the run, so a kill inside one was rare.) Every time
    the newest checkpoint is the last one renamed into place before the kill (none was
    lost, none is corrupt), and resuming from it reaches the uninterrupted run's
    parameters bit for bit (the same compiled loops on the same inputs; also when the
    kill came before the first checkpoint and the run starts afresh)."""
    expected = _uninterrupted(data)
    counted = _stepped_child(tmp_path, tmp_path / "count", 0, extra)
    assert counted.returncode == 0, counted.stdout + counted.stderr
    steps = json.loads(counted.stdout.splitlines()[-1])
    kinds = [s.split(": ")[0] for s in steps]
    missing = set(KINDS) - set(kinds)
    assert not missing, (f"the child took no step of the kinds {sorted(missing)}: checkpoints "
                         f"are written through calls STEPPED_CHILD does not hook; update it")
    rng = np.random.default_rng(7)
    points = [1 + int(rng.choice([i for i, k in enumerate(kinds) if k == kind]))
              for kind in KINDS]
    points.append(1 + int(rng.integers(len(steps))))
    outcomes = []
    for trial, kill_at in enumerate(points):
        folder = tmp_path / f"run{trial}"
        child = _stepped_child(tmp_path, folder, kill_at, extra)
        assert child.returncode == -signal.SIGKILL, (kill_at, child.stdout, child.stderr)
        assert child.stdout.splitlines()[-1] == \
            f"killed before step {kill_at}: {steps[kill_at - 1]}"
        renamed = [s.split(": ")[1] for s in steps[:kill_at - 1] if s.startswith("rename: ")]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checkpoint skipped as unreadable fails
            found = ckpt.latest(folder) if folder.exists() else None
        newest = None if found is None else os.path.basename(found[2])
        assert newest == (renamed[-1] if renamed else None), steps[kill_at - 1]
        outcomes.append((steps[kill_at - 1], newest))
        np.testing.assert_array_equal(_resume(data, folder, **extra), expected)
    print(f"{len(steps)} steps; killed before (step, newest checkpoint): {outcomes}")


@pytest.mark.parametrize("kill_at", [1, 7])
def test_sigkill_in_the_middle_of_a_checkpoint_write(data, tmp_path, kill_at):
    folder = tmp_path / "run"
    child = _child(tmp_path, folder, kill_at)
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
