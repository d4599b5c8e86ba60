"""Data sets larger than memory: training and evaluation a block of rows at a time.

Give ``fit`` (or ``evaluate``, ``train_epoch``, ``feedforward``) a memory-mapped array,
``np.load("X.npy", mmap_mode="r")`` or ``np.memmap(...)``, or a ``StreamedInputs`` (for a
raw IDX image file, ``StreamedInputs(np.memmap(path, np.uint8, "r", offset=16,
shape=(n, 784)), divisor=255)`` reads pixel / 255 as ``load_dataset`` does), and nothing
is copied whole into memory: every
epoch materializes its shuffled index (8 bytes a sample) and, one block of mini-batches
at a time (about ``BLOCK_BYTES`` of inputs), the rows those mini-batches use, converted
to the network's dtype. Class labels stay as labels; one-hot rows are made per block.

The mini-batches are exactly those of the in-memory epoch (the same rows in the same
order; blocks end on mini-batch boundaries), so a streamed run gives the same
parameters, bit for bit, as the same run on the array loaded into memory
(tests/test_stream.py).
"""
import numbers

import numpy as np

#: Inputs per block of a streamed epoch, in bytes of the network's dtype (rounded down to
#: whole mini-batches, at least one).
BLOCK_BYTES = 16 << 20


class StreamedInputs:
    """A 2-D array of inputs, one sample per row, read a block of rows at a time.

    Parameters
    ----------
    array : array-like (n, n_in)
        Usually a ``numpy.memmap`` (or the result of ``np.load(..., mmap_mode="r")``).
    divisor : number or None
        Rows are read as ``row / divisor`` (e.g. 255 for uint8 pixels), computed in the
        network's dtype exactly as ``fastnn.data.load_dataset`` scales pixels.
    """

    def __init__(self, array, divisor=None):
        if not isinstance(array, np.ndarray):
            raise ValueError(f"array={type(array).__name__} is invalid; expected a NumPy "
                             f"array or memmap of shape (n_samples, n_inputs)")
        if array.ndim != 2:
            raise ValueError(f"array has shape {array.shape}; expected (n_samples, n_inputs)")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ValueError(f"array has dtype {array.dtype}; expected numbers")
        if divisor is not None and (isinstance(divisor, bool)
                                    or not isinstance(divisor, numbers.Real)
                                    or not np.isfinite(divisor) or divisor <= 0):
            raise ValueError(f"divisor={divisor!r} is invalid; expected None or a positive "
                             f"finite number")
        self.array = array
        self.divisor = divisor
        self.shape = array.shape

    def __repr__(self):
        kind = "memmap" if isinstance(self.array, np.memmap) else "array"
        scale = "" if self.divisor is None else f", divisor={self.divisor:g}"
        return f"StreamedInputs({kind} {self.shape} {self.array.dtype}{scale})"

    def rows(self, index, dtype):
        """The rows ``index`` (a slice or int array) as a C-contiguous ``dtype`` array."""
        dtype = np.dtype(dtype)
        if self.divisor is None and self.array.dtype == dtype and not isinstance(index, slice):
            # gathered straight into the block: no second copy of it
            out = np.empty((len(index), self.shape[1]), dtype=dtype)
            return np.take(self.array, index, axis=0, out=out, mode="clip")  # in range: no buffer
        raw = self.array[index]  # a view for a slice; for indices, a copy in the file's dtype
        out = np.empty(raw.shape, dtype=dtype)
        if self.divisor is None:
            out[...] = raw
        else:
            np.divide(raw, dtype.type(self.divisor), out=out)
        return out

    def check(self, name, n_in, dtype):
        """Check the shape against the network and every value for finiteness, one block at
        a time (a whole-array check would allocate a mask the size of the data)."""
        if self.shape[1] != n_in:
            raise ValueError(f"{name} has shape {self.shape}; expected (n_samples, {n_in})")
        if self.shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {self.shape}); expected at least one "
                             f"sample")
        if np.issubdtype(self.array.dtype, np.floating):
            for start, stop in blocks(self.shape[0], self.shape[1], dtype):
                part = self.array[start:stop]
                finite = np.isfinite(part)
                if not finite.all():
                    bad = np.argwhere(~finite)[0]
                    value = float(part[tuple(bad)])
                    raise ValueError(f"{name} holds a non-finite value {value} at "
                                     f"row {start + bad[0]}, column {bad[1]}; expected finite "
                                     f"numbers")
        return self


class StreamedTargets:
    """Targets for streamed inputs: int class labels (one-hot rows made per block) or an
    (n, n_out) array read a block of rows at a time."""

    def __init__(self, labels=None, rows=None, n_out=None):
        self.labels = labels
        self.array = rows
        self.n_out = n_out

    def rows(self, index, dtype):
        if self.labels is not None:
            chosen = self.labels[index]
            out = np.zeros((chosen.shape[0], self.n_out), dtype=dtype)
            out[np.arange(chosen.shape[0]), chosen] = 1
            return out
        return np.ascontiguousarray(self.array[index], dtype=dtype)

    def truth(self, start, stop):
        """Class of rows start..stop (label, or argmax of the target rows)."""
        if self.labels is not None:
            return self.labels[start:stop]
        return np.argmax(self.array[start:stop], axis=1)


def is_streamed(X):
    """Whether ``X`` is trained on a block at a time: a StreamedInputs or a memmap."""
    return isinstance(X, (StreamedInputs, np.memmap))


def checked(X, name, n_in, dtype):
    """``X`` (a memmap or StreamedInputs) as a StreamedInputs checked against the network."""
    if not isinstance(X, StreamedInputs):
        X = StreamedInputs(X)
    return X.check(name, n_in, dtype)


def block_rows(n_in, dtype, mini_batch_size=1):
    """Rows per block: about BLOCK_BYTES of inputs, whole mini-batches, at least one."""
    per_row = max(int(n_in), 1) * np.dtype(dtype).itemsize
    batches = max(BLOCK_BYTES // (per_row * mini_batch_size), 1)
    return int(batches * mini_batch_size)


def blocks(n, n_in, dtype, mini_batch_size=1):
    """(start, stop) of each block of ``n`` rows."""
    step = block_rows(n_in, dtype, mini_batch_size)
    return [(start, min(start + step, n)) for start in range(0, n, step)]
