"""Files fastnn reads and writes (issue 17): readers bound what they allocate by the bytes a
file really holds and turn every failure into a clear error naming the file; checkpoints
with bad metadata are skipped for the older one; pruning, saves and interruptions never
lose the user's work; atomic writes never replace special files.

Every test writes real files (corrupt ones with numpy, zipfile, gzip and pickle) and reads
them with the real readers; allocation bounds are measured with tracemalloc, which sees
NumPy's buffers."""
import contextlib
import fcntl
import gzip
import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import checkpoint as ckpt
from fastnn import cli, network2
from fastnn._io import ModelFileError, atomic_write, save_model
from fastnn.cli import main
from fastnn.data import DataError, load_dataset, load_mnist_pickle, read_idx

SAMPLE = os.path.join(os.path.dirname(fastnn.__file__), "sample_data")
#: traced allocation allowed while reading a file whose header claims far more than it holds
PEAK_LIMIT = 16 * 2 ** 20


@pytest.fixture(scope="module")
def data():
    return load_dataset(SAMPLE)


@contextlib.contextmanager
def _peak_below(limit=PEAK_LIMIT):
    """Fail if the traced allocation peak inside the block reaches ``limit`` bytes."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < limit, f"allocated {peak:,} bytes reading a file that holds far less"


def _npy(header, data):
    """The bytes of a .npy file: ``header`` (a dict, written as numpy does), then ``data``."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + data


def _rewrite_zip(path, replace):
    """Rewrite the zip archive ``path`` with some members' bytes replaced."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members.update(replace)
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)


def _lie_about_size(raw, member, size):
    """Zip bytes with ``member``'s uncompressed size set to ``size`` in both its local header
    and the central directory (the CRC still matches the real content)."""
    raw = bytearray(raw)
    name = member.encode()
    at = 0
    while (at := raw.find(b"PK\x03\x04", at)) >= 0:  # local headers: size at +22
        if raw[at + 30:at + 30 + len(name)] == name:
            raw[at + 22:at + 26] = size.to_bytes(4, "little")
        at += 4
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) >= 0:  # central directory: size at +24
        if raw[at + 46:at + 46 + len(name)] == name:
            raw[at + 24:at + 28] = size.to_bytes(4, "little")
        at += 4
    return bytes(raw)


def _fit(data, folder, epochs, **kwargs):
    X, y = data.train
    net = fastnn.Network([784, 8, 10], seed=3)
    history = net.fit(X, y, epochs=epochs, mini_batch_size=10, eta=0.1, lmbda=1.0,
                      evaluation_data=data.validation, checkpoint=folder, **kwargs)
    return net, history


def _set_meta(path, edit):
    """Rewrite the checkpoint ``path`` with ``edit(meta)`` applied to its metadata (arrays
    and their checksums untouched)."""
    _, meta = ckpt.load(path)
    edit(meta)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.save(out, blob)
    _rewrite_zip(path, {"meta.npy": out.getvalue()})


# ------------------------------------------------------------------ readers

def test_a_checkpoint_member_claiming_a_huge_shape_is_skipped_for_the_older_one(data, tmp_path):
    _fit(data, tmp_path, 2)
    newest = ckpt.path_for(tmp_path, 2)
    header = {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12,)}
    _rewrite_zip(newest, {"params.npy": _npy(header, bytes(4 * 100))})
    with _peak_below(), pytest.raises(ckpt.CheckpointError, match="claims") as err:
        ckpt.load(newest)
    assert newest in str(err.value) and "'params'" in str(err.value)
    with pytest.warns(RuntimeWarning, match="skipping checkpoint.*checkpoint-000002"):
        _, meta, path = ckpt.latest(tmp_path)
    assert meta["epochs_done"] == 1 and path == ckpt.path_for(tmp_path, 1)


def test_cli_resume_past_a_checkpoint_claiming_a_huge_shape(tmp_path, capsys):
    folder = tmp_path / "ck"
    args = ["train", "--data", SAMPLE, "--sizes", "784,8,10", "--checkpoint", str(folder),
            "--output", str(tmp_path / "m.npz")]
    assert main(args + ["--epochs", "2", "--quiet"]) == 0
    newest = ckpt.path_for(folder, 2)
    header = {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12,)}
    _rewrite_zip(newest, {"params.npy": _npy(header, bytes(400))})
    capsys.readouterr()
    with pytest.warns(RuntimeWarning, match="skipping checkpoint.*checkpoint-000002"):
        assert main(args + ["--epochs", "3", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/3" in out and "epoch 3/3" in out and "epoch 1/3" not in out, out


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.npz"
    fastnn.Network([784, 5, 10], seed=1).save(path)
    return str(path)


def _write_npz_member(path, name, npy_bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, npy_bytes)


@pytest.mark.parametrize("rows", [10 ** 12, 100_000], ids=["terabytes", "300 MB"])
def test_predict_npz_whose_header_lies_is_refused_naming_the_file(model, tmp_path, capsys,
                                                                  rows):
    path = str(tmp_path / "x.npz")
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, 784)}
    _write_npz_member(path, "X.npy", _npy(header, bytes(4 * 784 * 3)))
    with _peak_below():
        assert main(["predict", model, path]) == 2
    err = capsys.readouterr().err
    assert f"DATA={path!r}" in err and "truncated or corrupt" in err, err


def test_predict_npy_whose_header_lies_is_refused_naming_the_file(model, tmp_path, capsys):
    path = str(tmp_path / "x.npy")
    header = {"descr": "<f4", "fortran_order": False, "shape": (1_000_000, 784)}
    with open(path, "wb") as f:
        f.write(_npy(header, bytes(4 * 784 * 3)))
    assert main(["predict", model, path]) == 2
    err = capsys.readouterr().err
    assert f"DATA={path!r}" in err and "claims" in err and "truncated or corrupt" in err, err


def test_predict_npz_still_reads_a_good_file(model, tmp_path, capsys):
    X = np.random.default_rng(0).random((7, 28, 28), dtype=np.float32)
    path = str(tmp_path / "x.npz")
    np.savez_compressed(path, X=np.asfortranarray(X))
    assert main(["predict", model, path]) == 0
    got = [int(v) for v in capsys.readouterr().out.split()]
    assert got == list(fastnn.load(model).predict(X.reshape(7, 784)))


def _idx_header(shape):
    return bytes([0, 0, 0x08, len(shape)]) + np.asarray(shape, ">u4").tobytes()


def test_gzip_idx_claiming_more_images_than_its_body_allocates_only_the_body(tmp_path):
    # 600,000 images claimed (470 MB, within the deflate ratio of a 1 MB file) over 1 MB
    # of incompressible pixels: the reader used to allocate the 470 MB before reading
    body = np.random.default_rng(0).integers(0, 256, 2 ** 20, dtype=np.uint8).tobytes()
    path = str(tmp_path / "train-images-idx3-ubyte.gz")
    with gzip.open(path, "wb") as f:
        f.write(_idx_header((600_000, 28, 28)) + body)
    with _peak_below(), pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    assert path in str(err.value)


def test_model_file_whose_zip_directory_and_header_both_lie(tmp_path):
    # a 64 kB deflated member whose zip entry and .npy header both claim 48 MB: within
    # 1032 times the file's size, so the ratio check passes; nothing that large is allocated
    noise = np.random.default_rng(1).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()
    claimed = 6_000_000
    params = _npy({"descr": "<f8", "fortran_order": False, "shape": (claimed,)}, noise)
    meta = _npy({"descr": "|u1", "fortran_order": False, "shape": (2,)}, b"{}")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("params.npy", params)
        z.writestr("meta.npy", meta)
    path = tmp_path / "lying.npz"
    path.write_bytes(_lie_about_size(out.getvalue(), "params.npy", 8 * claimed + 128))
    with _peak_below(), pytest.raises(ModelFileError, match="truncated") as err:
        fastnn.load(path)
    assert str(path) in str(err.value)


LOW_MEMORY_CHILD = """
import resource, sys
from fastnn.data import DataError, read_idx
size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + 64 * 2 ** 20, resource.RLIM_INFINITY))
try:
    read_idx(sys.argv[1])
except DataError as exc:
    print("DataError:", exc)
"""


def test_a_file_too_large_for_memory_gets_a_clear_error(tmp_path):
    # a true header: 314 MB of zero pixels (a 300 kB gzip file), read by a process that
    # may allocate only 64 MB more: MemoryError becomes the DataError naming the file
    path = str(tmp_path / "big-idx3-ubyte.gz")
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_idx_header((400_000, 28, 28)))
        left, zeros = 400_000 * 784, bytes(2 ** 24)
        while left:
            left -= f.write(zeros[:left])
    out = subprocess.run([sys.executable, "-c", LOW_MEMORY_CHILD, path], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.startswith("DataError:") and path in out.stdout, out.stdout
    assert "memory" in out.stdout


# ------------------------------------------------------------ checkpoint metadata

def _drop(name):
    return lambda meta: meta.pop(name)


def _set(name, value):
    return lambda meta: meta.__setitem__(name, value)


BAD_META = {
    "no history": (_drop("history"), "history"),
    "epochs_done a string": (_set("epochs_done", "2"), "epochs_done"),
    "no rng": (_drop("rng"), "rng"),
    "rng not a generator state": (_set("rng", {"bit_generator": "PCG64", "state": 3}), "rng"),
    "eta a string": (_set("eta", "0.1"), "eta"),
    "no dropout_seed": (_drop("dropout_seed"), "dropout_seed"),
    "best_epoch a list": (_set("best_epoch", [1]), "best_epoch"),
    "run a list": (_set("run", [1]), "run"),
    "history too short": (lambda m: m["history"]["epoch"].pop(), "history"),
    "history without evaluation": (lambda m: m["history"].pop("evaluation_accuracy"),
                                   "history"),
    "schedule a number": (_set("schedule", 5), "schedule"),
}


@pytest.mark.parametrize("case", list(BAD_META))
def test_a_checkpoint_with_bad_metadata_is_skipped_for_the_older_one(data, tmp_path, case):
    edit, field = BAD_META[case]
    full, _ = _fit(data, tmp_path / "full", 3)
    _fit(data, tmp_path, 2)
    newest = ckpt.path_for(tmp_path, 2)
    _set_meta(newest, edit)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.load(newest)
    assert newest in str(err.value) and repr(field) in str(err.value), str(err.value)
    with pytest.warns(RuntimeWarning, match=f"skipping checkpoint.*checkpoint-000002.*{field}"):
        resumed, history = _fit(data, tmp_path, 3, resume=True)
    assert history["epoch"] == [0, 1, 2]
    np.testing.assert_array_equal(resumed.params, full.params)


# ------------------------------------------------------------------ pruning

def test_pruning_keeps_what_the_run_wrote_and_what_is_not_its_own(data, tmp_path):
    garbage = {"checkpoint-000100.npz": b"not a zip at all",
               "checkpoint-000101.npz": b"PK\x03\x04 truncated"}
    for name, raw in garbage.items():
        (tmp_path / name).write_bytes(raw)
    # another run's checkpoint, older by number (within epoch 0), readable
    X, y = data.train
    fastnn.Network([784, 8, 10], seed=3).fit(
        X, y, epochs=1, mini_batch_size=10, eta=0.7, checkpoint=tmp_path / "other",
        checkpoint_batches=50)
    os.replace(ckpt.path_for(tmp_path / "other", 0, 150), ckpt.path_for(tmp_path, 0, 150))
    foreign = open(ckpt.path_for(tmp_path, 0, 150), "rb").read()
    _fit(data, tmp_path, 4)
    names = sorted(os.listdir(tmp_path))
    assert names == ["checkpoint-000000-00000150.npz", "checkpoint-000003.npz",
                     "checkpoint-000004.npz", "checkpoint-000100.npz",
                     "checkpoint-000101.npz", "other"], names
    for name, raw in garbage.items():
        assert (tmp_path / name).read_bytes() == raw
    assert open(ckpt.path_for(tmp_path, 0, 150), "rb").read() == foreign
    assert ckpt.load(ckpt.path_for(tmp_path, 4))[1]["epochs_done"] == 4


# ------------------------------------------------------------------ --output

def test_train_output_that_is_a_directory_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    code = main(["train", "--data", SAMPLE, "--sizes", "784,8,10", "--epochs", "1",
                 "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2 and "--output=" in captured.err and "directory" in captured.err
    assert "epoch 1/1" not in captured.out and ".tmp" not in captured.err
    assert os.listdir(tmp_path / "out") == []


def _unwritable_folder(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    if not os.path.isdir("/sys"):
        pytest.skip("running as root without /sys: no folder root cannot write into")
    return "/sys"  # sysfs: even root cannot create a file there


def test_train_output_in_an_unwritable_folder_is_refused_before_training(tmp_path, capsys):
    output = os.path.join(_unwritable_folder(tmp_path), "fastnn-test-model.npz")
    code = main(["train", "--data", SAMPLE, "--sizes", "784,8,10", "--epochs", "1",
                 "--output", output])
    captured = capsys.readouterr()
    assert code == 2 and f"--output={output!r}" in captured.err, captured.err
    assert "epoch 1/1" not in captured.out and ".tmp" not in captured.err
    assert not os.path.exists(output)


def test_a_final_save_that_fails_keeps_the_model_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = fastnn.Network([4, 3, 2], seed=5)
    output = str(tmp_path / "gone" / "model.npz")  # its folder vanished during training
    with pytest.raises(OSError) as err:
        cli.train._save_trained(net, output, checkpoint=None)
    message = str(err.value)
    assert f"--output={output!r}" in message and ".tmp" not in message
    rescued = message.split("saved to ")[1].split()[0].rstrip(";,.")
    assert os.path.isfile(rescued), message
    np.testing.assert_array_equal(fastnn.load(rescued).params, net.params)


# ------------------------------------------------------------------ special files

def _savers():
    net = fastnn.Network([3, 2], seed=0)
    book = network2.Network([3, 2])
    return {"atomic_write": lambda p: atomic_write(p, lambda f: f.write(b"data")),
            "Network.save": net.save, "network2.save": book.save}


@pytest.mark.parametrize("saver", list(_savers()))
def test_a_fifo_is_refused_and_left_alone(tmp_path, saver):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    with pytest.raises(ValueError, match=f"{path}.*FIFO"):
        _savers()[saver](str(path))
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


def _device(tmp_path):
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


def test_a_device_node_is_refused_and_left_alone(tmp_path):
    path = _device(tmp_path)
    with pytest.raises(ValueError, match="character device"):
        fastnn.Network([3, 2]).save(path)
    assert stat.S_ISCHR(os.lstat(path).st_mode)


def test_train_output_naming_a_device_is_refused_before_training(tmp_path, capsys):
    path = _device(tmp_path)
    code = main(["train", "--data", SAMPLE, "--sizes", "784,8,10", "--epochs", "1",
                 "--output", str(path)])
    captured = capsys.readouterr()
    assert code == 2 and "--output=" in captured.err and "device" in captured.err
    assert "epoch 1/1" not in captured.out
    assert stat.S_ISCHR(os.lstat(path).st_mode)


def test_a_symlink_is_followed_and_kept(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "model.npz"
    fastnn.Network([3, 2], seed=1).save(target)
    link = tmp_path / "model.npz"
    link.symlink_to(os.path.join("runs", "model.npz"))
    net = fastnn.Network([3, 2], seed=2)
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("runs", "model.npz")
    np.testing.assert_array_equal(fastnn.load(target).params, net.params)
    dangling = tmp_path / "new.npz"
    dangling.symlink_to(tmp_path / "runs" / "new.npz")
    net.save(dangling)
    assert dangling.is_symlink() and (tmp_path / "runs" / "new.npz").is_file()
    assert sorted(os.listdir(tmp_path / "runs")) == ["model.npz", "new.npz"]


# ------------------------------------------------------------------ temporaries

def test_a_save_removes_its_own_orphaned_temporaries_only(tmp_path):
    orphan = tmp_path / "model.npz.fastnn-abcd1234.tmp"  # a save killed mid-write
    orphan.write_bytes(b"PK half a model")
    busy = tmp_path / "model.npz.fastnn-busy0000.tmp"  # another process saving right now
    busy.write_bytes(b"PK")
    others = ["model.npz.tmp", "model.npz.abcd1234.tmp", "other.npz.fastnn-abcd1234.tmp",
              "notes.tmp", "model.npz.fastnn-abcd1234.tmp.keep"]
    for name in others:
        (tmp_path / name).write_bytes(b"someone's")
    fifo = tmp_path / "model.npz.fastnn-fifo0000.tmp"
    os.mkfifo(fifo)
    with open(busy, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        fastnn.Network([3, 2]).save(tmp_path / "model.npz")
    names = set(os.listdir(tmp_path))
    assert orphan.name not in names
    assert names == {"model.npz", busy.name, fifo.name, *others}, names


def test_a_checkpoint_save_removes_orphaned_checkpoint_temporaries(data, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    orphan = tmp_path / "checkpoint-000007.npz.fastnn-k1ll3d00.tmp"
    orphan.write_bytes(b"PK half a checkpoint")
    keep = tmp_path / "model.npz.fastnn-k1ll3d00.tmp"
    keep.write_bytes(b"PK half a model")
    _fit(data, tmp_path, 1)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000001.npz", keep.name]


# ------------------------------------------------------------------ smaller things

def test_ctrl_c_during_train_says_where_the_last_checkpoint_is(tmp_path):
    folder = tmp_path / "ck"
    child = subprocess.Popen(
        [sys.executable, "-m", "fastnn", "train", "--data", SAMPLE, "--sizes", "784,8,10",
         "--epochs", "100000", "--checkpoint", str(folder), "--output", "m.npz"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # wait for an event, not for a time: a checkpoint is complete (epochs take
        # milliseconds, so the first ones may already be pruned)
        deadline = time.monotonic() + 600
        while not (folder.is_dir() and any(n.endswith(".npz") for n in os.listdir(folder))):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 10 minutes"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and str(folder) in lines[0] and "--resume" in lines[0], err
    assert not (tmp_path / "m.npz").exists()


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(data, tmp_path):
    _fit(data, tmp_path, 4)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"epochs=2 .*4 epochs.*checkpoint-000004"):
        _fit(data, tmp_path, 2, resume=True)
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before
    _, history = _fit(data, tmp_path, 4, resume=True)  # as many: nothing left, no error
    assert history["epoch"] == [0, 1, 2, 3]
    # within an epoch: 2 epochs and 150 mini-batches done is more than 2 epochs
    X, y = data.train
    mid = tmp_path / "mid"
    fit = dict(mini_batch_size=10, eta=0.1, checkpoint=mid, checkpoint_batches=50)
    fastnn.Network([784, 8, 10], seed=3).fit(X, y, epochs=3, **fit)
    os.unlink(ckpt.path_for(mid, 3))  # as if killed within the third epoch
    with pytest.raises(ValueError, match=r"epochs=2 .*2 epochs and 150 mini-batches"):
        fastnn.Network([784, 8, 10], seed=3).fit(X, y, epochs=2, resume=True, **fit)


def test_cli_resume_with_fewer_epochs_than_the_checkpoint_is_refused(tmp_path, capsys):
    args = ["train", "--data", SAMPLE, "--sizes", "784,8,10", "--checkpoint",
            str(tmp_path / "cli"), "--output", str(tmp_path / "m.npz"), "--quiet"]
    assert main(args + ["--epochs", "4"]) == 0
    before = os.path.getmtime(tmp_path / "m.npz"), open(tmp_path / "m.npz", "rb").read()
    assert main(args + ["--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--epochs=2" in err and "4 epochs" in err, err
    assert (os.path.getmtime(tmp_path / "m.npz"), open(tmp_path / "m.npz", "rb").read()) \
        == before


@pytest.mark.parametrize("sizes, message", [
    ("783,30,10", "--sizes=783,30,10 takes 783 inputs"),
    ("784,30,5", "--sizes=784,30,5 has 5 outputs"),
])
def test_sizes_that_do_not_fit_the_data_name_sizes(tmp_path, capsys, sizes, message):
    code = main(["train", "--data", SAMPLE, "--sizes", sizes, "--epochs", "1",
                 "--output", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "m.npz").exists()


def test_a_model_with_nan_parameters_is_refused(tmp_path):
    net = fastnn.Network([3, 4, 2], seed=0)
    params = net.params.copy()
    params[[5, 7]] = [np.nan, np.inf]
    path = tmp_path / "nan.npz"
    save_model(path, params, {"sizes": [3, 4, 2], "activations": ["sigmoid", "sigmoid"],
                              "cost": "cross_entropy"})
    with pytest.raises(ModelFileError, match="2 parameters that are NaN or infinite") as err:
        fastnn.load(path)
    assert str(path) in str(err.value) and "index 5" in str(err.value)
    net.params[5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.save(tmp_path / "other.npz")
    assert not (tmp_path / "other.npz").exists()


def _parts(seed=0):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n))
                 for n in (30, 10, 10))


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_protocol_5_pickle_of_plain_arrays_is_read(tmp_path, order):
    parts = tuple((np.asarray(x, order=order), y) for x, y in _parts())
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=5)
    loaded = load_mnist_pickle(path)
    for (x, y), (x2, y2) in zip(parts, loaded):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


def test_a_protocol_5_array_whose_buffer_does_not_fit_its_shape_is_refused(tmp_path):
    raw = pickle.dumps(_parts(), protocol=5)
    x = _parts()[0][0]
    # claim one row more than the buffer holds: (31, 784) for 30 rows of data
    at = raw.find(b"K\x1eM\x10\x03\x86")  # BININT1 30, BININT2 784, TUPLE2
    assert at > 0
    raw = raw[:at] + b"K\x1f" + raw[at + 2:]
    path = tmp_path / "mnist.pkl"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=f"{x.nbytes + 784 * 4:,}.*{x.nbytes:,}") as err:
        load_mnist_pickle(path)
    assert str(path) in str(err.value)
