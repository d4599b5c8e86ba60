"""Tests of fastnn.data and fastnn.mnist_loader on real files written to tmp_path."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from fastnn import data, mnist_loader
from fastnn.data import DataError, find_data, load_dataset, load_mnist_pickle, read_idx, write_idx

FULL_DIR = "/usr/share/datasets/fashion-mnist"
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(data.__file__)), "sample_data")

# First labels of Fashion-MNIST's training and test files (also the sample's).
FIRST_TRAIN_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


# ----------------------------------------------------------------- helpers


def _idx_header(code, shape):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _write_bytes(path, payload, compress=False):
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return str(path)


def _write_idx_folder(folder, n_train=60, n_test=20, seed=0, train_labels=None,
                      gz=True):
    """Write a small MNIST-style IDX folder; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (rng.integers(0, 10, n_train, dtype=np.uint8)
                                    if train_labels is None else train_labels),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


def _mnist_like_parts(seed=0, sizes=(30, 10, 10)):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, 784), dtype=np.float32),
                  rng.integers(0, 10, n).astype(np.int64)) for n in sizes)


def _py2_array_opcodes(a):
    """Pickle opcodes that rebuild ``a`` as Python 2's numpy wrote arrays."""
    a = np.ascontiguousarray(a)

    def short_str(b):
        return b"U" + bytes([len(b)]) + b

    def integer(v):
        return b"J" + struct.pack("<i", v)

    shape = b"(" + b"".join(integer(d) for d in a.shape) + b"t"
    dtype = (b"cnumpy\ndtype\n" + short_str(a.dtype.str[1:].encode()) + integer(0)
             + integer(1) + b"\x87R(" + integer(3) + short_str(b"<") + b"NNN"
             + integer(-1) + integer(-1) + integer(0) + b"tb")
    raw = a.tobytes()
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(" + integer(0)
            + b"t" + short_str(b"b") + b"\x87R(" + integer(1) + shape + dtype + b"\x89"
            + b"T" + struct.pack("<I", len(raw)) + raw + b"tb")


def _write_py2_mnist_pickle(path, parts):
    """Write ``parts`` like the book's mnist.pkl.gz: Python 2 pickle opcodes, gzipped."""
    body = b"".join(b"(" + _py2_array_opcodes(x) + _py2_array_opcodes(y) + b"t"
                    for x, y in parts)
    return _write_bytes(path, b"\x80\x02(" + body + b"t.", compress=True)


class _RunsShell:
    """Pickles as a call of os.system: loading it with plain pickle runs a command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


# ---------------------------------------------------------------- read/write IDX


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (7,)),
    (np.int8, (3, 5)),
    (np.int16, (2, 3, 4)),
    (np.int32, (2, 2, 3, 2)),
    (np.float32, (4, 6)),
    (np.float64, (5, 1, 3)),
])
def test_idx_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        array = (rng.standard_normal(shape) * 1e3).astype(dtype)
    else:
        array = rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)
    path = tmp_path / ("a.idx" + (".gz" if compress else ""))
    write_idx(path, array)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.shape == shape
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_big_endian_on_disk_and_big_endian_input(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([1, 256, -2], dtype=">i4"))
    assert path.read_bytes() == (_idx_header(0x0C, (3,)) + b"\x00\x00\x00\x01"
                                 + b"\x00\x00\x01\x00" + b"\xff\xff\xff\xfe")
    np.testing.assert_array_equal(read_idx(path), [1, 256, -2])


def test_compression_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "real.gz", array)
    write_idx(tmp_path / "real", array)
    os.rename(tmp_path / "real.gz", tmp_path / "gzipped_without_suffix")
    os.rename(tmp_path / "real", tmp_path / "raw_with_suffix.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped_without_suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw_with_suffix.gz"), array)


def test_write_idx_refuses_what_idx_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="5 dimensions"):
        write_idx(tmp_path / "a", np.zeros((1,) * 5, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        write_idx(tmp_path / "a", np.zeros((0, 3), dtype=np.uint8))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_bad_magic(tmp_path, compress):
    path = _write_bytes(tmp_path / "bad", b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01\x07",
                        compress)
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert path in message and "0x12340801" in message and "two zero bytes" in message


def test_bad_type_code(tmp_path):
    path = _write_bytes(tmp_path / "bad", _idx_header(0x0A, (2,)) + b"\x00\x00")
    with pytest.raises(DataError, match=r"type code 0x0A, expected one of 0x08") as err:
        read_idx(path)
    assert path in str(err.value)


@pytest.mark.parametrize("ndim", [0, 5])
def test_bad_number_of_dimensions(tmp_path, ndim):
    path = _write_bytes(tmp_path / "bad", bytes([0, 0, 8, ndim]) + b"\x00\x00\x00\x01" * ndim)
    with pytest.raises(DataError, match=f"claims {ndim} dimensions, expected 1 to 4"):
        read_idx(path)


def test_zero_dimension_refused(tmp_path):
    path = _write_bytes(tmp_path / "empty", _idx_header(0x08, (0, 28, 28)))
    with pytest.raises(DataError, match=r"size 0 in dimension 0, expected every size > 0"):
        read_idx(path)


def test_short_header(tmp_path):
    path = _write_bytes(tmp_path / "short", b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with pytest.raises(DataError, match=r"truncated header.*expected 16"):
        read_idx(path)
    path = _write_bytes(tmp_path / "tiny", b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(path)


def test_truncated_raw(tmp_path):
    path = _write_bytes(tmp_path / "t", _idx_header(0x08, (10, 4)) + bytes(39))
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert path in message and "truncated" in message
    assert "file is 51 bytes" in message and "40 data bytes, 52 in all" in message


def test_truncated_gzip_data(tmp_path):
    # A complete gzip stream whose content is one byte shorter than promised.
    path = _write_bytes(tmp_path / "t.gz", _idx_header(0x0D, (10, 4)) + bytes(159), True)
    with pytest.raises(DataError, match=r"truncated: gzip stream ends after 159 of the 160"):
        read_idx(path)


def test_truncated_gzip_file(tmp_path):
    payload = _idx_header(0x08, (4000,)) + np.random.default_rng(0).bytes(4000)
    path = _write_bytes(tmp_path / "t.gz", payload, True)
    full = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(full[:len(full) // 2])
    with pytest.raises(DataError, match="truncated gzip stream") as err:
        read_idx(path)
    assert path in str(err.value)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_trailing_bytes(tmp_path, compress):
    path = _write_bytes(tmp_path / "t", _idx_header(0x08, (3,)) + b"\x01\x02\x03\x04\x05",
                        compress)
    with pytest.raises(DataError, match="trailing bytes") as err:
        read_idx(path)
    assert path in str(err.value)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_huge_header_refused_before_allocating(tmp_path, compress):
    # 10**12 one-byte items: allocating them would need a terabyte.
    path = _write_bytes(tmp_path / "huge", _idx_header(0x08, (10 ** 6, 10 ** 6)) + bytes(10),
                        compress)
    with pytest.raises(DataError, match="1,000,000,000,000") as err:
        read_idx(path)
    assert path in str(err.value)


def test_gzip_claim_beyond_deflate_ratio_refused(tmp_path):
    # 400 MB claimed (under the 4 GiB cap) from a file of a few dozen bytes.
    path = _write_bytes(tmp_path / "lie.gz", _idx_header(0x08, (400_000_000,)), True)
    with pytest.raises(DataError, match="can hold at most"):
        read_idx(path)


def test_corrupt_gzip_crc(tmp_path):
    path = tmp_path / "c.gz"
    write_idx(path, np.arange(100, dtype=np.uint8))
    blob = bytearray(path.read_bytes())
    blob[-8] ^= 0xFF  # first byte of the CRC-32 in the gzip trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="corrupt gzip data") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_deflate_data(tmp_path):
    path = tmp_path / "c.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    blob = bytearray(path.read_bytes())
    for i in range(20, 60):
        blob[i] = 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(DataError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


# ---------------------------------------------------------------- IDX folders


def test_load_dataset_small_idx_folder(tmp_path):
    arrays = _write_idx_folder(tmp_path / "d")
    ds = load_dataset(tmp_path / "d", n_validation=10)
    (X, y), (Xv, yv), (Xt, yt) = ds.train, ds.validation, ds.test
    assert (X.shape, Xv.shape, Xt.shape) == ((50, 784), (10, 784), (20, 784))
    assert y.shape == (50,) and yv.shape == (10,) and yt.shape == (20,)
    for x in (X, Xv, Xt):
        assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
        assert 0.0 <= x.min() and x.max() <= 1.0
    for labels in (y, yv, yt):
        assert labels.dtype == np.int64
    pixels = arrays["train-images-idx3-ubyte"].reshape(60, 784)
    np.testing.assert_array_equal(np.rint(X * 255), pixels[:50])
    np.testing.assert_array_equal(np.rint(Xv * 255), pixels[50:])
    np.testing.assert_allclose(X, pixels[:50] / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(yv, arrays["train-labels-idx1-ubyte"][50:])
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte"])
    assert ds.source == str(tmp_path / "d") and ds.n_classes == 10
    assert "held out" not in ds.description


def test_load_dataset_small_training_set_holds_out_a_fifth(tmp_path):
    _write_idx_folder(tmp_path / "d", gz=False)
    ds = load_dataset(tmp_path / "d", dtype=np.float64)
    assert len(ds.train[1]) == 48 and len(ds.validation[1]) == 12
    assert ds.train[0].dtype == np.float64 and ds.test[0].dtype == np.float64
    assert "last 12 of its 60 training images" in ds.description


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "float", "no-such-type"])
def test_load_dataset_rejects_dtype(tmp_path, dtype):
    _write_idx_folder(tmp_path / "d")
    if dtype == "float":  # np.dtype("float") is float64: accepted
        assert load_dataset(tmp_path / "d", dtype=dtype).train[0].dtype == np.float64
        return
    with pytest.raises(ValueError, match="dtype=") as err:
        load_dataset(tmp_path / "d", dtype=dtype)
    assert not isinstance(err.value, DataError)


def test_label_out_of_range_names_file_value_and_index(tmp_path):
    labels = np.zeros(60, dtype=np.uint8)
    labels[37] = 12
    _write_idx_folder(tmp_path / "d", train_labels=labels)
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "d")
    message = str(err.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert "label 12 at index 37, expected 0..9" in message


def test_image_label_count_mismatch(tmp_path):
    _write_idx_folder(tmp_path / "d", train_labels=np.zeros(59, dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: 59 labels, "
                                        r"expected 60 \(one per image in .*train-images"):
        load_dataset(tmp_path / "d")


def test_missing_file_in_folder(tmp_path):
    _write_idx_folder(tmp_path / "d")
    os.remove(tmp_path / "d" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset(tmp_path / "d")


def test_images_must_be_bytes(tmp_path):
    _write_idx_folder(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28), np.float32))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: images have dtype float32"):
        load_dataset(tmp_path / "d")


# ---------------------------------------------------------------- discovery


def test_data_argument_missing_names_path(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(DataError, match=str(missing)):
        find_data(missing)
    with pytest.raises(DataError, match=str(missing)):
        load_dataset(missing)


def test_env_var_used_and_missing_path_named(tmp_path, monkeypatch):
    _write_idx_folder(tmp_path / "d")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "d"))
    path, how = find_data()
    assert path == str(tmp_path / "d") and "FASTNN_DATA" in how
    assert len(load_dataset(n_validation=10).test[1]) == 20
    # An explicit argument beats the environment variable.
    assert find_data(SAMPLE_DIR)[0] == SAMPLE_DIR
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=str(tmp_path / "gone")) as err:
        find_data()
    assert "FASTNN_DATA" in str(err.value)


def test_default_dirs_then_sample(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    _write_idx_folder(tmp_path / "full")
    monkeypatch.setattr(data, "DEFAULT_DATA_DIRS", (str(incomplete), str(tmp_path / "full")))
    assert find_data() == (str(tmp_path / "full"), f"full Fashion-MNIST from {tmp_path / 'full'}")
    monkeypatch.setattr(data, "DEFAULT_DATA_DIRS", (str(incomplete),))
    path, how = find_data()
    assert os.path.samefile(path, SAMPLE_DIR)
    assert "sample" in how and "dataset-fashion-mnist" in how


def test_shipped_sample(monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_DIRS", ())
    ds = load_dataset()
    assert os.path.samefile(ds.source, SAMPLE_DIR)
    assert [len(part[1]) for part in (ds.train, ds.validation, ds.test)] == [2000, 500, 500]
    assert ds.train[0].shape == (2000, 784) and ds.train[0].dtype == np.float32
    assert "2,500 training images" in ds.description and "last 500" in ds.description
    assert list(ds.train[1][:10]) == FIRST_TRAIN_LABELS
    assert list(ds.test[1][:10]) == FIRST_TEST_LABELS
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([ds.train[1], ds.validation[1]])),
        [248, 272, 249, 256, 245, 250, 240, 260, 241, 239])
    pixels = np.rint(np.concatenate([ds.train[0], ds.validation[0]]) * 255)
    assert pixels.sum() == 141_951_202 and np.rint(ds.test[0] * 255).sum() == 29_494_551
    assert ds.train[0].min() == 0.0 and ds.train[0].max() == 1.0


@pytest.mark.skipif(not os.path.isdir(FULL_DIR),
                    reason=f"full Fashion-MNIST not installed in {FULL_DIR}; "
                           f"apt-get install dataset-fashion-mnist")
def test_full_fashion_mnist(monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    ds = load_dataset()
    assert ds.source == FULL_DIR and "full Fashion-MNIST" in ds.description
    assert [x.shape for x, _ in (ds.train, ds.validation, ds.test)] == [
        (50000, 784), (10000, 784), (10000, 784)]
    assert list(ds.train[1][:10]) == FIRST_TRAIN_LABELS
    assert list(ds.test[1][:10]) == FIRST_TEST_LABELS
    # The shipped sample is the head of the full set.
    sample = load_dataset(SAMPLE_DIR)
    np.testing.assert_array_equal(sample.train[0], ds.train[0][:2000])
    np.testing.assert_array_equal(sample.test[1], ds.test[1][:500])


# ---------------------------------------------------------------- MNIST pickle


def test_load_mnist_pickle_protocol_2(tmp_path):
    parts = _mnist_like_parts()
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=2)
    loaded = load_mnist_pickle(path)
    assert len(loaded) == 3
    for (x, y), (x0, y0) in zip(loaded, parts):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)
        assert x.dtype == np.float32 and y.dtype == np.int64
    ds = load_dataset(path, dtype=np.float64, n_validation=3)
    assert [len(p[1]) for p in (ds.train, ds.validation, ds.test)] == [30, 10, 10]
    assert ds.train[0].dtype == np.float64 and ds.train[0].flags["C_CONTIGUOUS"]


def test_load_mnist_pickle_written_like_python2(tmp_path):
    parts = _mnist_like_parts(seed=3, sizes=(8, 4, 5))
    path = _write_py2_mnist_pickle(tmp_path / "mnist.pkl.gz", parts)
    for (x, y), (x0, y0) in zip(load_mnist_pickle(path), parts):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)
    training, validation, test = mnist_loader.load_data(path)
    np.testing.assert_array_equal(test[0], parts[2][0])


def test_mnist_loader_wrapper_on_pickle(tmp_path):
    parts = _mnist_like_parts(seed=4)
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=2)
    training, validation, test = mnist_loader.load_data_wrapper(str(path))
    assert isinstance(training, list)
    assert (len(training), len(validation), len(test)) == (30, 10, 10)
    x, y = training[7]
    assert x.shape == (784, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], parts[0][0][7])
    assert y.shape == (10, 1) and y.dtype == np.float64
    assert y.sum() == 1.0 and y[parts[0][1][7], 0] == 1.0
    x, label = test[4]
    assert x.shape == (784, 1) and isinstance(label, np.int64) and label == parts[2][1][4]


def test_mnist_loader_wrapper_on_sample():
    training, validation, test = mnist_loader.load_data_wrapper(SAMPLE_DIR)
    assert (len(training), len(validation), len(test)) == (2000, 500, 500)
    labels = [int(np.argmax(y)) for _, y in training[:10]]
    assert labels == FIRST_TRAIN_LABELS
    assert [int(label) for _, label in test[:10]] == FIRST_TEST_LABELS
    assert all(isinstance(label, np.int64) for _, label in validation)
    raw = mnist_loader.load_data(SAMPLE_DIR)
    assert [len(part[1]) for part in raw] == [2000, 500, 500]
    assert raw[0][0].dtype == np.float32 and raw[0][1].dtype == np.int64


def test_vectorized_result():
    e = mnist_loader.vectorized_result(3)
    assert e.shape == (10, 1) and e.dtype == np.float64
    np.testing.assert_array_equal(e[:, 0], np.eye(10)[3])


def test_malicious_pickle_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = _RunsShell(f"touch {marker}")
    x, y = _mnist_like_parts()[0]
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((x, y), (x, payload), (x, y)), f, protocol=2)
    with pytest.raises(DataError) as err:
        load_mnist_pickle(path)
    refused = f"{os.system.__module__}.system"  # posix.system on Linux
    assert f"refusing to load global {refused} from {path}" in str(err.value)
    assert not marker.exists()


def test_handcrafted_os_system_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = _write_bytes(tmp_path / "evil.pkl",
                        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(DataError, match="refusing to load global os.system from"):
        load_mnist_pickle(path)
    assert not marker.exists()
    with pytest.raises(DataError, match="refusing to load global os.system"):
        load_dataset(path)
    assert not marker.exists()


@pytest.mark.parametrize("obj, message", [
    ([1, 2, 3], "a list of length 3, expected a 3-tuple"),
    (((1, 2), (3, 4)), "a tuple of length 2, expected a 3-tuple"),
])
def test_pickle_structure_checked(tmp_path, obj, message):
    path = tmp_path / "p.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    with pytest.raises(DataError, match=message):
        load_mnist_pickle(path)


def test_pickle_arrays_checked(tmp_path):
    (x, y), validation, test = _mnist_like_parts()
    cases = [
        (((x[:, :100], y), validation, test), "training part: images are an array of shape"),
        (((x, y[:-1]), validation, test), "29 labels for 30 images"),
        (((x, y.astype(np.float64)), validation, test), "labels have dtype float64"),
        (((x, np.where(np.arange(30) == 6, 10, y)), validation, test),
         "label 10 at index 6, expected 0..9"),
    ]
    for obj, message in cases:
        path = tmp_path / "p.pkl.gz"
        with gzip.open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)
        with pytest.raises(DataError, match=message):
            load_mnist_pickle(path)


def test_pickle_pixels_out_of_range_refused_by_load_dataset(tmp_path):
    (x, y), validation, test = _mnist_like_parts()
    path = tmp_path / "p.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((x * 255, y), validation, test), f, protocol=2)
    with pytest.raises(DataError, match=r"expected pixels scaled to \[0, 1\]"):
        load_dataset(path)


def test_corrupt_and_truncated_pickle(tmp_path):
    path = tmp_path / "p.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(_mnist_like_parts(), f, protocol=2)
    blob = path.read_bytes()
    path.write_bytes(blob[:len(blob) // 2])
    with pytest.raises(DataError, match="truncated") as err:
        load_mnist_pickle(path)
    assert str(path) in str(err.value)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="not a valid MNIST pickle"):
        load_mnist_pickle(path)
