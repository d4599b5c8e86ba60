"""atheris harness for ``fastnn.data.load_mnist_pickle``:
``python fuzz/fuzz_pickle.py -runs=100000``.

The first byte of each input chooses whether the rest is stored as it is or
gzip-compressed. A correct answer is the documented ``(training, validation, test)``
structure, or ``DataError`` naming the file; a pickle that tries to run code must never
get to (the harness checks that no marker file appears). See ``_harness.py``.
"""
import gzip
import os
import pickle

import _harness
import numpy as np

with _harness.instrumented_imports():
    from fastnn.data import DataError, load_mnist_pickle

FILE = _harness.InputFile(".pkl")
MARKER = os.path.join(FILE.folder, "pwned")


def test_one_input(data):
    compress, body = (data[:1] == b"\x01"), data[1:]
    path = FILE.write(gzip.compress(body, mtime=0) if compress else body)
    try:
        parts = load_mnist_pickle(path)
    except DataError as exc:
        _harness.check_message(path, exc)
        parts = None
    if os.path.exists(MARKER):
        raise AssertionError("a pickle ran code: the marker file was created")
    if parts is not None:
        assert isinstance(parts, tuple) and len(parts) == 3
        for images, labels in parts:
            assert type(images) is np.ndarray and images.ndim == 2 and images.shape[1] == 784
            assert type(labels) is np.ndarray and labels.ndim == 1
            assert len(labels) == len(images) and images.dtype.kind == "f"
            assert labels.dtype.kind in "iu" and np.all((labels >= 0) & (labels <= 9))


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def seeds():
    rng = np.random.default_rng(0)
    parts = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n))
                  for n in (2, 1, 1))
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        raw = pickle.dumps(parts, protocol=protocol)
        yield b"\x00" + raw
        yield b"\x01" + raw
    for func, arg in [(os.system, f"touch {MARKER}"), (eval, f"open({MARKER!r}, 'w')")]:
        yield b"\x00" + pickle.dumps((parts[0], _Payload(func, arg), parts[2]), protocol=2)


if __name__ == "__main__":
    _harness.main("pickle", test_one_input, seeds)
