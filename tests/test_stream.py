"""Data sets larger than memory: training on memory-mapped files (fastnn/data/stream.py).

The streamed epoch must be the in-memory epoch exactly, and the engine's own allocations
(tracemalloc sees NumPy's) must not grow with the file: 100 MB and 1 GB files are trained
on and their allocation peaks compared.
"""
import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn.data import stream as stream


def write_npy(path, n, n_in, seed=0, dtype=np.float32, chunk=20000):
    """An .npy file of n random rows in [0, 1), written a chunk at a time."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, n_in))
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        out[start:stop] = rng.random((stop - start, n_in), dtype=np.float32)
    out.flush()
    del out
    return path


def labels_for(n, seed=0, classes=10):
    return np.random.default_rng(seed + 1).integers(0, classes, n)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few mini-batches, so that every epoch has many and a short last one."""
    monkeypatch.setattr(stream, "BLOCK_BYTES", 40 * 30 * 4 * 3 + 7)


CASES = {
    "loop sgd+l2": dict(mini_batch_size=7, eta=0.5, lmbda=2.0),
    "loop adam+dropout+clip": dict(mini_batch_size=7, eta=0.01, optimizer="adam",
                                   dropout=0.3, clip_norm=0.5, l1=0.2),
    "matrix sgd": dict(mini_batch_size=64, eta=0.1, matrix=True),
    "matrix momentum+dropout": dict(mini_batch_size=64, eta=0.05, optimizer="momentum",
                                    dropout=0.2, matrix=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_streamed_training_is_the_in_memory_training_bit_for_bit(tmp_path, small_blocks, case):
    kwargs = dict(CASES[case])
    matrix = kwargs.pop("matrix", False)
    n = 1000
    path = write_npy(tmp_path / "X.npy", n, 40)
    y = labels_for(n, classes=5)
    X_mem = np.load(path)
    X_map = np.load(path, mmap_mode="r")
    assert stream.block_rows(40, np.float32, kwargs["mini_batch_size"]) < n / 4
    nets = []
    for X in (X_mem, X_map):
        net = fastnn.Network([40, 30, 5], "relu", "softmax", "log_likelihood", seed=3)
        if matrix:
            net._engine.matrix = True
        history = net.fit(X, y, epochs=3, evaluation_data=(X, y), monitor_training=True,
                          **kwargs)
        nets.append((net, history))
    (a, ha), (b, hb) = nets
    np.testing.assert_array_equal(b.params, a.params)
    for key in ("training_cost", "evaluation_cost"):
        np.testing.assert_allclose(hb[key], ha[key], rtol=1e-6)
    assert hb["training_accuracy"] == ha["training_accuracy"]
    assert not np.array_equal(a.params, fastnn.Network([40, 30, 5], seed=3).params)


def test_streamed_evaluation_and_prediction_match(tmp_path, small_blocks):
    n = 700
    path = write_npy(tmp_path / "X.npy", n, 40, seed=4)
    y = labels_for(n, 4, classes=5)
    net = fastnn.Network([40, 30, 5], "sigmoid", "sigmoid", "cross_entropy", seed=1)
    net.fit(np.load(path), y, epochs=1, eta=0.5)
    X_map = np.load(path, mmap_mode="r")
    got, want = net.evaluate(X_map, y, lmbda=3.0), net.evaluate(np.load(path), y, lmbda=3.0)
    assert got["accuracy"] == want["accuracy"] and got["correct"] == want["correct"]
    assert got["cost"] == pytest.approx(want["cost"], rel=1e-6)
    np.testing.assert_array_equal(net.feedforward(X_map), net.feedforward(np.load(path)))
    np.testing.assert_array_equal(net.predict(X_map), net.predict(np.load(path)))
    # targets as rows instead of labels
    Y = np.eye(5)[y]
    assert net.evaluate(X_map, Y)["accuracy"] == want["accuracy"]


def test_streamed_inputs_with_a_divisor_read_pixels_like_load_dataset(tmp_path, small_blocks):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 40), dtype=np.uint8)
    np.save(tmp_path / "p.npy", pixels)
    X = fastnn.StreamedInputs(np.load(tmp_path / "p.npy", mmap_mode="r"), divisor=255)
    y = labels_for(300, classes=5)
    in_memory = (pixels / np.float32(255)).astype(np.float32)
    np.testing.assert_array_equal(X.rows(slice(None), np.dtype(np.float32)), in_memory)
    a = fastnn.Network([40, 20, 5], seed=2)
    b = fastnn.Network([40, 20, 5], seed=2)
    a.fit(in_memory, y, epochs=2, mini_batch_size=10, eta=0.3)
    b.fit(X, y, epochs=2, mini_batch_size=10, eta=0.3)
    np.testing.assert_array_equal(b.params, a.params)


def test_a_raw_idx_file_through_np_memmap(tmp_path, small_blocks):
    """The issue's second form: a raw IDX image file memory-mapped past its 16-byte header,
    read as pixel / 255, trains exactly as the file read whole by read_idx."""
    from fastnn.data import read_idx, write_idx

    rng = np.random.default_rng(5)
    write_idx(tmp_path / "images-idx3-ubyte", rng.integers(0, 256, (250, 8, 5), dtype=np.uint8))
    y = labels_for(250, classes=3)
    whole = read_idx(tmp_path / "images-idx3-ubyte").reshape(250, 40) / np.float32(255)
    mapped = fastnn.StreamedInputs(np.memmap(tmp_path / "images-idx3-ubyte", np.uint8, "r",
                                             offset=16, shape=(250, 40)), divisor=255)
    a, b = fastnn.Network([40, 10, 3], seed=4), fastnn.Network([40, 10, 3], seed=4)
    a.fit(whole.astype(np.float32), y, epochs=2, mini_batch_size=10, eta=0.3)
    b.fit(mapped, y, epochs=2, mini_batch_size=10, eta=0.3)
    np.testing.assert_array_equal(b.params, a.params)


def test_streamed_input_errors_name_the_problem(tmp_path):
    path = write_npy(tmp_path / "X.npy", 50, 6)
    bad = np.lib.format.open_memmap(tmp_path / "bad.npy", mode="w+", dtype=np.float32,
                                    shape=(50, 4))
    bad[:] = 0.5
    bad[31, 2] = np.nan
    bad.flush()
    net = fastnn.Network([4, 3, 2])
    y = labels_for(50, classes=2)
    with pytest.raises(ValueError, match=r"X has shape \(50, 6\); expected \(n_samples, 4\)"):
        net.fit(np.load(path, mmap_mode="r"), y)
    with pytest.raises(ValueError, match="non-finite value nan at row 31, column 2"):
        net.fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), y)
    good = np.load(tmp_path / "bad.npy", mmap_mode="r")[:30]
    with pytest.raises(ValueError, match="augment needs the training inputs in memory"):
        net.fit(good, y[:30], augment=lambda X, epoch: X)
    with pytest.raises(ValueError, match=r"y has 50 labels for 30 samples"):
        net.fit(good, y)
    with pytest.raises(ValueError, match=r"divisor=0 is invalid"):
        fastnn.StreamedInputs(good, divisor=0)
    with pytest.raises(ValueError, match=r"expected \(n_samples, n_inputs\)"):
        fastnn.StreamedInputs(np.zeros(5))


def _peak_while_training(path, n, epochs=1):
    X = np.load(path, mmap_mode="r")
    y = labels_for(n)
    net = fastnn.Network([784, 30, 10], seed=0)
    net.fit(X[:100], y[:100], epochs=1)  # compile and warm up outside the measurement
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=epochs, mini_batch_size=10, eta=0.5)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_training_on_100_MB_and_1_GB_files_allocates_the_same(tmp_path):
    """One epoch of [784, 30, 10] on an .npy file of 100 MB (32,000 samples) and one of
    1 GB (320,000): the peak of the engine's traced allocations is the per-epoch index
    (shuffle, 8 bytes a sample, twice while it is made) plus one block (16 MB), not the
    data (4 × 784 bytes a sample)."""
    row = 784 * 4
    peaks = {}
    for label, n in (("100 MB", 100_000_000 // row), ("1 GB", 1_000_000_000 // row)):
        path = write_npy(tmp_path / f"X-{n}.npy", n, 784, chunk=8000)
        peaks[label] = (n, _peak_while_training(path, n))
        path.unlink()
    (n_small, small), (n_big, big) = peaks["100 MB"], peaks["1 GB"]
    index = 24 * (n_big - n_small)  # labels and the shuffled index (and its int64 copy)
    print({k: f"{p / 1e6:.1f} MB peak for {n} samples" for k, (n, p) in peaks.items()})
    assert big - small <= index + 4e6, peaks
    assert big < 0.05 * n_big * row, peaks  # 1 GB of data, about 30 MB allocated
