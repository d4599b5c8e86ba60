"""Datasets: IDX and pickled-MNIST readers, dataset discovery and loading.

Three sources are understood:

* a folder of IDX files with the standard MNIST / Fashion-MNIST names
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or
  ``.gz``), such as the Debian package ``dataset-fashion-mnist`` installs in
  ``/usr/share/datasets/fashion-mnist``;
* the book's ``mnist.pkl.gz`` (a gzipped Python-2 pickle of
  ``(training, validation, test)``), read with a restricted unpickler that
  admits nothing but numpy arrays;
* the small Fashion-MNIST sample shipped in ``fastnn/sample_data``.

Every problem with a file raises :class:`DataError`, whose message names the
file, the value found and the value expected.

This module imports only numpy, the standard library and ``fastnn._io`` (which imports only
those).
"""

import gzip
import math
import os
import pickle
import pickletools
import zlib
from dataclasses import dataclass

import numpy as np

from ._io import read_bounded

__all__ = [
    "DEFAULT_DATA_DIRS",
    "DataError",
    "Dataset",
    "IDX_NAMES",
    "find_data",
    "load_dataset",
    "load_mnist_pickle",
    "read_idx",
    "write_idx",
]

#: Folders searched, in order, for a full dataset in IDX form.
DEFAULT_DATA_DIRS = ("/usr/share/datasets/fashion-mnist",)

#: The four IDX files of an MNIST-style folder, by role (each may end in .gz).
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_data")
_SAMPLE_HOW = ("the small Fashion-MNIST sample shipped with fastnn (2,500 training "
               "images); install dataset-fashion-mnist for the full set")
_ENV_VAR = "FASTNN_DATA"
_N_CLASSES = 10

# IDX type code -> (big-endian dtype as stored, name used in messages).
_IDX_TYPES = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "int16"),
    0x0C: (np.dtype(">i4"), "int32"),
    0x0D: (np.dtype(">f4"), "float32"),
    0x0E: (np.dtype(">f8"), "float64"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, (dt, _) in _IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
# Headers claiming more data than this are refused before anything is allocated.
_MAX_GZIP_BYTES = 2 ** 32
# Deflate cannot expand input more than 1032-fold (zlib technical details), so
# a gzip file of c bytes holds at most 1032 * c bytes of data.
_DEFLATE_MAX_RATIO = 1032
# Largest single read of a length taken from a file (it is allocated before the read).
_READ_CHUNK = 1 << 20


class DataError(ValueError):
    """A data file is missing, malformed or holds values out of range."""


# --------------------------------------------------------------------------- IDX


def read_idx(path):
    """Read an IDX file, raw or gzip-compressed.

    Compression is detected from the first two bytes (``1f 8b``), not from the
    file name. The header is validated before any data is read: two zero
    bytes, a known type code, 1 to 4 dimensions, each dimension > 0 (an IDX
    file with a zero dimension holds no data and is refused), and a data size
    the file can actually hold. The data is then read into a buffer that grows
    as the bytes arrive, so memory follows what the file holds, not what its
    header claims. It must be exactly as long as the header says: a short
    file or stream is reported as truncated, extra bytes as trailing data.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        Array of the header's shape, in native byte order, with dtype uint8,
        int8, int16, int32, float32 or float64 (type codes 0x08, 0x09, 0x0B,
        0x0C, 0x0D, 0x0E).

    Raises
    ------
    DataError
        If the file is missing, corrupt, truncated, not an IDX file, or too
        large for the memory of this machine.
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot open IDX file: {exc.strerror or exc}") from exc
    with f:
        file_size = os.fstat(f.fileno()).st_size
        if f.read(2) == _GZIP_MAGIC:
            f.seek(0)
            return _read_idx_gzip(path, f, file_size)
        f.seek(0)
        return _read_idx_stream(path, f, file_size, compressed=False)


def _read_idx_gzip(path, f, file_size):
    """Read a gzip-compressed IDX file, turning gzip failures into DataError."""
    try:
        with gzip.GzipFile(fileobj=f, mode="rb") as g:
            return _read_idx_stream(path, g, file_size, compressed=True)
    except EOFError as exc:
        raise DataError(f"{path}: truncated gzip stream ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def _read_exactly(stream, n):
    """Read up to ``n`` bytes, looping over short reads.

    Each read asks for at most ``_READ_CHUNK`` bytes, so a huge ``n`` read from a short stream
    allocates only what the stream holds (``BufferedReader.read(n)`` and
    ``GzipFile.read(n)`` allocate ``n`` bytes up front).
    """
    parts = []
    while n > 0:
        part = stream.read(min(n, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _read_idx_stream(path, stream, file_size, compressed):
    """Parse and validate an IDX header, then read the data it describes."""
    kind = "gzip stream" if compressed else "file"
    magic = _read_exactly(stream, 4)
    if len(magic) < 4:
        raise DataError(f"{path}: {kind} holds {len(magic)} bytes, too short for an "
                        f"IDX magic number (4 bytes)")
    magic_hex = f"0x{int.from_bytes(magic, 'big'):08X}"
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path}: magic number {magic_hex} does not start with two "
                        f"zero bytes as an IDX file's must (0x0000TTDD); not an IDX file")
    code, ndim = magic[2], magic[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({name})" for c, (_, name) in _IDX_TYPES.items())
        raise DataError(f"{path}: magic number {magic_hex} has type code "
                        f"0x{code:02X}, expected one of {known}")
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: magic number {magic_hex} claims {ndim} "
                        f"dimensions, expected 1 to 4")
    raw_dims = _read_exactly(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path}: truncated header: {kind} ends after "
                        f"{4 + len(raw_dims)} bytes, expected {4 + 4 * ndim} "
                        f"(magic number and {ndim} dimension sizes)")
    shape = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    for axis, size in enumerate(shape):
        if size == 0:
            raise DataError(f"{path}: header shape {shape} has size 0 in "
                            f"dimension {axis}, expected every size > 0")
    stored, _ = _IDX_TYPES[code]
    n_bytes = math.prod(shape) * stored.itemsize
    header_bytes = 4 + 4 * ndim
    _check_claimed_size(path, shape, n_bytes, header_bytes, file_size, compressed)

    # The buffer grows as the bytes arrive: a gzip header may claim up to 1032 times the
    # file's size, and allocating that before reading cost gigabytes for a small file.
    try:
        buffer = read_bounded(stream, n_bytes)
    except MemoryError:
        raise DataError(f"{path}: not enough memory to read its {n_bytes:,} data bytes "
                        f"(shape {shape})") from None
    if len(buffer) < n_bytes:
        raise DataError(f"{path}: truncated: {kind} ends after {len(buffer):,} of the "
                        f"{n_bytes:,} data bytes its header promises (shape {shape})")
    if stream.read(1):
        raise DataError(f"{path}: trailing bytes after the {n_bytes:,} data bytes "
                        f"the header promises (shape {shape}); expected end of {kind}")
    data = np.frombuffer(buffer, dtype=stored)
    if not stored.isnative:
        data = data.byteswap(inplace=True).view(stored.newbyteorder("="))
    return data.reshape(shape)


def _check_claimed_size(path, shape, n_bytes, header_bytes, file_size, compressed):
    """Refuse a header whose data size the file cannot hold, before allocating."""
    if not compressed:
        expected = header_bytes + n_bytes
        promise = (f"header (shape {shape}) promises {header_bytes} header bytes and "
                   f"{n_bytes:,} data bytes, {expected:,} in all")
        if file_size < expected:
            raise DataError(f"{path}: truncated: file is {file_size:,} bytes, {promise}")
        if file_size > expected:
            raise DataError(f"{path}: {file_size - expected:,} trailing bytes: file is "
                            f"{file_size:,} bytes, {promise}")
        return
    if n_bytes > _MAX_GZIP_BYTES:
        raise DataError(f"{path}: header claims shape {shape}, {n_bytes:,} data bytes, "
                        f"more than the {_MAX_GZIP_BYTES:,} this reader accepts; "
                        f"the header is probably corrupt")
    limit = _DEFLATE_MAX_RATIO * file_size
    if header_bytes + n_bytes > limit:
        raise DataError(f"{path}: header claims shape {shape}, {n_bytes:,} data bytes, "
                        f"but a gzip file of {file_size:,} bytes can hold at most "
                        f"{limit:,}; the header is corrupt or the file truncated")


def write_idx(path, array):
    """Write an array as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    array : array_like
        1 to 4 dimensions, every size > 0, dtype uint8, int8, int16, int32,
        float32 or float64 (stored big-endian, as IDX requires).

    Raises
    ------
    ValueError
        If the array's dtype, number of dimensions or sizes cannot be stored.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _IDX_CODES:
        raise ValueError(f"write_idx: array dtype {array.dtype} cannot be stored in "
                         f"IDX; expected uint8, int8, int16, int32, float32 or float64")
    if not 1 <= array.ndim <= 4:
        raise ValueError(f"write_idx: array has {array.ndim} dimensions (shape "
                         f"{array.shape}), expected 1 to 4")
    if min(array.shape) == 0 or max(array.shape) >= 2 ** 32:
        raise ValueError(f"write_idx: array shape {array.shape} cannot be stored; "
                         f"expected every size in 1..2**32-1")
    code = _IDX_CODES[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = np.ascontiguousarray(array, dtype=_IDX_TYPES[code][0])
    if path.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(
                filename=os.path.basename(path), mode="wb", fileobj=raw, mtime=0) as f:
            f.write(header)
            f.write(memoryview(data).cast("B"))
    else:
        with open(path, "wb") as f:
            f.write(header)
            f.write(memoryview(data).cast("B"))


# ------------------------------------------------------------------ MNIST pickle


def _latin1_encode(text, encoding="latin1"):
    """Stand-in for ``_codecs.encode`` limited to latin-1 (array bytes in pickles).

    Python 3 writes bytes as ``_codecs.encode(text, "latin1")`` in protocol-2
    pickles, so this is what a protocol-2 ``mnist.pkl.gz`` written by Python 3
    needs; any other use is refused.
    """
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"_codecs.encode called with ({type(text).__name__}, {encoding!r}), "
            f"expected (str, 'latin1')")
    return text.encode("latin1")


#: dtypes an MNIST pickle may hold (numpy's short names, as pickled): plain numbers only
_PICKLE_DTYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
                            "f2", "f4", "f8"})


class _PickledNdarray:
    """Stands for ``numpy.ndarray`` in a pickle: the type to rebuild, never to be called.

    A pickle names ``numpy.ndarray`` only as the first argument of ``_reconstruct``;
    calling it (REDUCE or NEWOBJ) would allocate an array of any shape the file claims,
    so that is refused.
    """

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("the pickle calls numpy.ndarray directly; a pickled "
                                     "array is rebuilt with _reconstruct, then filled")


class _PickledDtype:
    """A dtype being unpickled: ``numpy.dtype(name, align, copy)``, then ``__setstate__``.

    numpy's own ``dtype.__setstate__`` trusts its state (flags, sizes, fields): a
    crafted state can mark a float dtype as holding Python objects, and unpickling then
    fails inside numpy ("RuntimeError: Internal error, get_clear_loop not set") and
    leaves a ``SystemError`` (found by fuzzing with atheris). Here only the plain
    numeric types of :data:`_PICKLE_DTYPES` are admitted, with the state numpy writes for
    them: ``(3, byteorder, None, None, None, -1, -1, 0)``.
    """

    def __init__(self, name, align=False, copy=False):
        if not isinstance(name, str) or name not in _PICKLE_DTYPES:
            raise pickle.UnpicklingError(f"numpy.dtype({name!r:.40}) in the pickle; expected "
                                         f"one of {', '.join(sorted(_PICKLE_DTYPES))}")
        self.dtype = np.dtype(name)

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3 \
                or state[1] not in ("<", ">", "|", "=") or state[2:] != (None, None, None,
                                                                        -1, -1, 0):
            raise pickle.UnpicklingError(f"dtype state {state!r:.80} in the pickle; expected "
                                         f"(3, byteorder, None, None, None, -1, -1, 0)")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class _PickledArray:
    """An array being unpickled: made by ``_reconstruct``, filled by ``__setstate__``.

    The state numpy writes is ``(1, shape, dtype, is_fortran, data)``; the data length
    must be exactly what the shape and dtype need, and the array is built from those
    bytes with :func:`numpy.frombuffer`, never by numpy's own ``__setstate__``.
    """

    array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise pickle.UnpicklingError(f"array state {_describe(state)} in the pickle; "
                                         f"expected (1, shape, dtype, is_fortran, data)")
        _, shape, dtype, fortran, data = state
        if not isinstance(fortran, (bool, int)):
            raise pickle.UnpicklingError(f"array state {_describe(state)} in the pickle; "
                                         f"expected (1, shape, numpy.dtype, bool, bytes)")
        self.array = _array_from_bytes(shape, dtype, data, "F" if fortran else "C")


def _array_from_bytes(shape, dtype, data, order):
    """The array of ``shape`` (a tuple of sizes), ``dtype`` (a :class:`_PickledDtype`) and
    ``order`` ("C" or "F") made of the bytes ``data`` (bytes, a bytearray, or Python 2's
    latin-1 str), which must be exactly as many as the shape and dtype need."""
    if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r:.80} in the pickle; expected "
                                     f"a tuple of sizes >= 0")
    if not isinstance(dtype, _PickledDtype) or not isinstance(data, (bytes, bytearray, str)):
        raise pickle.UnpicklingError(f"array of dtype {_describe(dtype)} with data "
                                     f"{_describe(data)} in the pickle; expected a "
                                     f"numpy.dtype and bytes")
    n_bytes = math.prod(shape) * dtype.dtype.itemsize
    if len(data) != n_bytes:
        raise pickle.UnpicklingError(f"array of shape {shape!r:.80} and dtype "
                                     f"{dtype.dtype} needs {n_bytes:,} bytes, the pickle "
                                     f"holds {len(data):,}")
    # Python 2 str data arrives as latin-1 text; a bytearray makes the array writable
    buffer = bytearray(data, "latin1") if isinstance(data, str) else bytearray(data)
    return np.frombuffer(buffer, dtype=dtype.dtype).reshape(shape, order=order)


def _safe_frombuffer(buffer, dtype, shape, order):
    """Stand-in for numpy's ``_frombuffer``, which protocol-5 pickles call for contiguous
    arrays as ``_frombuffer(data, dtype, shape, order)``, with their data in the pickle
    (out-of-band buffers are refused by the unpickler, which is given none). The same
    checks as for the arrays of older protocols; the array is built here."""
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"_frombuffer called with order {order!r:.20}, expected "
                                     f"'C' or 'F'")
    array = _PickledArray()
    array.array = _array_from_bytes(shape, dtype, buffer, order)
    return array


def _safe_reconstruct(subtype, shape, dtype):
    """Stand-in for numpy's ``_reconstruct``: an empty :class:`_PickledArray` to fill.

    ``ndarray.__reduce__`` always writes ``_reconstruct(ndarray, (0,), b'b')`` and then
    fills the array with ``__setstate__``; other arguments are refused (a non-empty
    shape would make numpy allocate whatever the file claims).
    """
    if subtype is not _PickledNdarray:
        raise pickle.UnpicklingError(f"_reconstruct called with type {_describe(subtype)}, "
                                     f"expected numpy.ndarray")
    if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape) \
            or math.prod(shape) != 0:
        raise pickle.UnpicklingError(f"_reconstruct called with shape {shape!r:.80}, expected "
                                     f"an empty shape such as (0,)")
    if dtype not in (b"b", "b"):
        raise pickle.UnpicklingError(f"_reconstruct called with dtype {dtype!r:.40}, "
                                     f"expected b'b'")
    return _PickledArray()


class _LimitedReader:
    """Read-only file wrapper for the unpickler that never allocates more than the data.

    A pickle opcode may claim a length of up to 2**64 bytes; ``read(n)`` of the wrapped
    file would allocate ``n`` bytes before finding the file short. Here every read is
    done in chunks, and at most ``limit`` bytes are read in all (a gzip bomb stops
    there), so memory stays proportional to the bytes actually present.
    """

    def __init__(self, stream, path, limit=_MAX_GZIP_BYTES):
        self._stream = stream
        self._path = path
        self._left = limit
        self._pos = 0

    def tell(self):
        """Bytes read so far (opcode positions for :func:`pickletools.genops`)."""
        return self._pos

    def _count(self, data):
        self._pos += len(data)
        self._left -= len(data)
        if self._left < 0:
            raise DataError(f"{self._path}: pickle data exceeds {_MAX_GZIP_BYTES:,} bytes, "
                            f"more than this reader accepts; the file is probably corrupt")
        return data

    def read(self, n=-1):
        """Up to ``n`` bytes (all that is left if ``n`` is negative)."""
        if n is None or n < 0:
            n = self._left + 1
        return self._count(_read_exactly(self._stream, n))

    def readline(self):
        """One line, read in chunks of at most ``_READ_CHUNK`` bytes."""
        parts = []
        while True:
            part = self._stream.readline(_READ_CHUNK)
            parts.append(self._count(part))
            if not part or part.endswith(b"\n"):
                return b"".join(parts)


class _MnistUnpickler(pickle.Unpickler):
    """Unpickler that admits only the globals an MNIST pickle of numpy arrays needs."""

    def __init__(self, file, path):
        super().__init__(_LimitedReader(file, path), encoding="latin1")
        self._path = path
        self._allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
            ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,  # protocol 5
            ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
            ("numpy", "ndarray"): _PickledNdarray,
            ("numpy", "dtype"): _PickledDtype,
            ("_codecs", "encode"): _latin1_encode,
        }

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(f"refusing to load global {module}.{name} from {self._path}: "
                            f"an MNIST pickle may hold only numpy arrays") from None


_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
# How far a memo index may run ahead of the number of memo stores before it.
_MEMO_SLACK = 1024


def _check_pickle_lengths(stream, path):
    """Walk the pickle's opcodes once, checking the sizes they claim against the data.

    Two opcodes make the C unpickler allocate what the file claims rather than what it
    holds: a BINBYTES, BINBYTES8 or BYTEARRAY8 buffer is allocated whole (up to 2**64
    bytes) before it is read, and a PUT to memo index ``i`` grows the memo table to
    ``2 * i`` entries (a 4-byte index: 64 GiB). :func:`pickletools.genops` reads each
    argument through :class:`_LimitedReader` instead, so a length beyond the end of the
    data is refused having allocated only what is there; a memo index may run ahead of
    the number of memo stores before it by at most ``_MEMO_SLACK`` (picklers number them
    in order, from 0, or from 1 in Python 2's cPickle), so the memo table stays
    proportional to the file. Nothing is constructed and no global is looked up.
    """
    n_puts = 0
    for opcode, arg, pos in pickletools.genops(_LimitedReader(stream, path)):
        if opcode.name in _MEMO_PUTS:
            if opcode.name != "MEMOIZE" and int(arg) > n_puts + _MEMO_SLACK:
                raise DataError(f"{path}: not a valid MNIST pickle: {opcode.name} at byte "
                                f"{pos:,} stores memo index {int(arg):,} after {n_puts:,} "
                                f"stores; expected indices numbered in order from 0 or 1")
            n_puts += 1


def load_mnist_pickle(path):
    """Read the book's ``mnist.pkl.gz`` with a restricted unpickler.

    The file is a gzipped (or raw) pickle of ``(training, validation, test)``,
    each ``(images, labels)`` with images ``(n, 784)`` floats in [0, 1] and
    labels ``(n,)`` integers in 0..9. It was written by Python 2, so it is read
    with ``encoding="latin1"``. Only numpy array reconstruction is admitted;
    any other global (``os.system``, ``builtins.eval``, ...) is refused before
    it can be called. Pickles of every protocol are read, 5 included (numpy
    writes a protocol-5 array as a call of ``_frombuffer`` on its bytes, which
    is admitted with the same checks). Memory stays proportional to the data in the file: the
    opcodes are first walked with :mod:`pickletools`, checking every claimed
    length and memo index against the bytes present, and at most 4 GiB of
    (decompressed) pickle data is read. Arrays are rebuilt here, not by numpy's
    ``__setstate__`` (which trusts its input): plain numeric dtypes only, the
    dtype and array states numpy writes, data exactly as long as the shape
    needs.

    Parameters
    ----------
    path : str or os.PathLike
        The pickle file.

    Returns
    -------
    tuple
        ``((train_x, train_y), (validation_x, validation_y), (test_x, test_y))``
        as stored in the file, after validation.

    Raises
    ------
    DataError
        If the file is unreadable, refers to a forbidden global or does not
        have the structure above.
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot open pickle file: {exc.strerror or exc}") from exc
    with f:
        try:
            compressed = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
            _check_pickle_lengths(stream, path)
            f.seek(0)
            stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
            parts = _MnistUnpickler(stream, path).load()
        except DataError:
            raise
        except EOFError as exc:
            raise DataError(f"{path}: truncated pickle or gzip stream ({exc})") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from exc
        except MemoryError:
            raise DataError(f"{path}: not enough memory to read this pickle") from None
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError,
                IndexError, KeyError, OverflowError, RecursionError, OSError) as exc:
            raise DataError(f"{path}: not a valid MNIST pickle ({type(exc).__name__}: "
                            f"{exc})") from exc
    return _check_pickle_parts(path, parts)


def _check_pickle_parts(path, parts):
    """Validate the ``(training, validation, test)`` structure of an MNIST pickle."""
    if not isinstance(parts, tuple) or len(parts) != 3:
        raise DataError(f"{path}: pickle holds {_describe(parts)}, expected a 3-tuple "
                        f"(training, validation, test)")
    checked = []
    for part_name, part in zip(("training", "validation", "test"), parts):
        where = f"{path}: {part_name} part"
        if not isinstance(part, tuple) or len(part) != 2:
            raise DataError(f"{where} is {_describe(part)}, expected a 2-tuple "
                            f"(images, labels)")
        images, labels = (_unpickled_array(where, x) for x in part)
        if not isinstance(images, np.ndarray) or images.ndim != 2 or images.shape[1] != 784:
            raise DataError(f"{where}: images are {_describe(images)}, expected a 2-D "
                            f"array with 784 columns")
        if images.dtype.kind != "f":
            raise DataError(f"{where}: images have dtype {images.dtype}, expected floats")
        if not isinstance(labels, np.ndarray) or labels.ndim != 1:
            raise DataError(f"{where}: labels are {_describe(labels)}, expected a 1-D array")
        if labels.dtype.kind not in "iu":
            raise DataError(f"{where}: labels have dtype {labels.dtype}, expected integers")
        if len(labels) != len(images):
            raise DataError(f"{where}: {len(labels):,} labels for {len(images):,} "
                            f"images, expected one label per image")
        _check_labels(where, labels)
        checked.append((images, labels))
    return tuple(checked)


def _unpickled_array(where, obj):
    """The array a :class:`_PickledArray` was filled with (other objects as they are)."""
    if isinstance(obj, _PickledArray):
        if obj.array is None:
            raise DataError(f"{where}: an array is never filled with data (no __setstate__); "
                            f"expected numpy's (1, shape, dtype, is_fortran, data)")
        return obj.array
    return obj


def _describe(obj):
    """Short description of an object for error messages."""
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape} and dtype {obj.dtype}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"a value of type {type(obj).__name__}"


def _check_labels(where, labels):
    """Raise DataError naming the first label outside 0..9 and its index."""
    bad = np.flatnonzero((labels < 0) | (labels >= _N_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where}: label {labels[i]} at index {i}, expected 0..9 "
                        f"({bad.size:,} labels out of range)")


# ---------------------------------------------------------------- discovery


def _has_idx_files(folder):
    """True if ``folder`` holds all four IDX files (raw or .gz)."""
    return all(os.path.isfile(os.path.join(folder, name))
               or os.path.isfile(os.path.join(folder, name + ".gz"))
               for name in IDX_NAMES.values())


def _given_path(value, origin):
    """Resolve a user-given data path, or raise DataError if it does not exist."""
    path = os.path.abspath(os.path.expanduser(os.fspath(value)))
    if not os.path.exists(path):
        raise DataError(f"{path}: data path given by {origin} does not exist; expected "
                        f"a folder of MNIST-style IDX files or an mnist.pkl.gz file")
    kind = "IDX files in" if os.path.isdir(path) else "pickled MNIST-style data from"
    return path, f"{kind} {path} (from {origin})"


def find_data(data=None):
    """Find the dataset to use.

    The first of these wins: the ``data`` argument; the ``FASTNN_DATA``
    environment variable; the first folder of :data:`DEFAULT_DATA_DIRS` that
    holds the four IDX files (the Debian package ``dataset-fashion-mnist``);
    the small sample shipped in ``fastnn/sample_data``.

    Parameters
    ----------
    data : str or os.PathLike, optional
        A folder of IDX files or an ``mnist.pkl.gz`` file.

    Returns
    -------
    path : str
        The folder or pickle file.
    how : str
        A short human description of what was found, for messages.

    Raises
    ------
    DataError
        If ``data`` or ``FASTNN_DATA`` is given but does not exist.
    """
    if data is not None:
        return _given_path(data, "the data argument")
    env = os.environ.get(_ENV_VAR)
    if env:
        return _given_path(env, f"the {_ENV_VAR} environment variable")
    for folder in DEFAULT_DATA_DIRS:
        if _has_idx_files(folder):
            return folder, f"full Fashion-MNIST from {folder}"
    return _SAMPLE_DIR, _SAMPLE_HOW


# ------------------------------------------------------------------ loading


@dataclass(frozen=True, repr=False)
class Dataset:
    """Training, validation and test sets as rows of C-contiguous arrays.

    Attributes
    ----------
    train, validation, test : tuple of (numpy.ndarray, numpy.ndarray)
        ``(X, y)``: ``X`` of shape ``(n, 784)``, float32 or float64, pixels
        scaled to [0, 1]; ``y`` of shape ``(n,)``, int64 labels in 0..9.
    source : str
        The folder or file the data came from.
    description : str
        Where the data came from and how it was split, for messages.
    n_classes : int
        Number of classes (10).
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    description: str
    n_classes: int = _N_CLASSES

    def __repr__(self):
        sizes = ", ".join(f"{name}={len(part[1]):,}" for name, part in
                          (("train", self.train), ("validation", self.validation),
                           ("test", self.test)))
        return (f"Dataset({sizes}, n_features={self.train[0].shape[1]}, "
                f"dtype={self.train[0].dtype}, source={self.source!r})")


def _idx_path(folder, name):
    """Path of IDX file ``name`` (raw or .gz) in ``folder``, or DataError."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    expected = ", ".join(IDX_NAMES.values())
    raise DataError(f"{folder}: missing {name} (or {name}.gz); expected the four "
                    f"MNIST-style IDX files {expected}")


def _read_idx_pair(folder, images_name, labels_name):
    """Read and check an images/labels pair; return ``(uint8 (n, d), labels, paths)``."""
    images_path = _idx_path(folder, images_name)
    labels_path = _idx_path(folder, labels_name)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8:
        raise DataError(f"{images_path}: images have dtype {images.dtype}, expected "
                        f"uint8 pixels (IDX type code 0x08)")
    if images.ndim < 2:
        raise DataError(f"{images_path}: images have shape {images.shape}, expected "
                        f"(n, rows, cols) such as (n, 28, 28)")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels have shape {labels.shape}, expected (n,)")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels have dtype {labels.dtype}, expected "
                        f"integers (IDX type code 0x08)")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels):,} labels, expected {len(images):,} "
                        f"(one per image in {images_path})")
    _check_labels(labels_path, labels)
    return images.reshape(len(images), -1), labels.astype(np.int64), images_path


def _scale(pixels, dtype):
    """uint8 pixels -> C-contiguous ``dtype`` array in [0, 1]."""
    X = np.empty(pixels.shape, dtype=dtype)
    np.divide(pixels, dtype.type(255), out=X)
    return X


def _check_dtype(dtype):
    """Validate the ``dtype`` argument: float32 or float64."""
    try:
        checked = None if dtype is None else np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or checked.type not in (np.float32, np.float64):
        raise ValueError(f"dtype={dtype!r}: expected numpy.float32 or numpy.float64")
    return checked


def load_dataset(data=None, dtype=np.float32, n_validation=10000):
    """Load a dataset as rows of C-contiguous arrays.

    With IDX files, the last ``n_validation`` training images are held out
    for validation and the t10k files are the test set (full Fashion-MNIST:
    50,000 / 10,000 / 10,000). A training set smaller than
    ``2 * n_validation`` (the shipped sample of 2,500 images) holds out one
    fifth instead, which the description says. With an ``mnist.pkl.gz`` file,
    its three parts are used as they are and ``n_validation`` is ignored.

    Parameters
    ----------
    data : str or os.PathLike, optional
        Folder of IDX files or ``.pkl.gz`` file; default: see :func:`find_data`.
    dtype : {numpy.float32, numpy.float64}
        Dtype of the image arrays.
    n_validation : int
        Number of training images held out for validation.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        If the data is missing or malformed.
    ValueError
        If ``dtype`` or ``n_validation`` is invalid.
    """
    dtype = _check_dtype(dtype)
    if isinstance(n_validation, bool) or not isinstance(n_validation, (int, np.integer)) \
            or n_validation < 0:
        raise ValueError(f"n_validation={n_validation!r}: expected an integer >= 0")
    n_validation = int(n_validation)
    source, how = find_data(data)
    if os.path.isfile(source):
        parts = load_mnist_pickle(source)
        train, validation, test = (
            (np.ascontiguousarray(x, dtype=dtype), np.ascontiguousarray(y, dtype=np.int64))
            for x, y in parts)
        for name, (x, _) in (("training", train), ("validation", validation),
                             ("test", test)):
            _check_unit_range(source, name, x)
        return Dataset(train, validation, test, source, how)

    train_pixels, train_labels, train_path = _read_idx_pair(
        source, IDX_NAMES["train_images"], IDX_NAMES["train_labels"])
    test_pixels, test_labels, test_path = _read_idx_pair(
        source, IDX_NAMES["test_images"], IDX_NAMES["test_labels"])
    if test_pixels.shape[1] != train_pixels.shape[1]:
        raise DataError(f"{test_path}: {test_pixels.shape[1]} pixels per image, expected "
                        f"{train_pixels.shape[1]} as in {train_path}")
    n_train = len(train_labels)
    if n_train < 2 * n_validation:
        how += (f"; the last {n_train // 5:,} of its {n_train:,} training images (one "
                f"fifth, as {n_train:,} < 2 x n_validation={n_validation:,}) are held "
                f"out for validation")
        n_validation = n_train // 5
    n_fit = n_train - n_validation
    X = _scale(train_pixels, dtype)
    train = (X[:n_fit], train_labels[:n_fit])
    validation = (X[n_fit:], train_labels[n_fit:])
    test = (_scale(test_pixels, dtype), test_labels)
    return Dataset(train, validation, test, source, how)


def _check_unit_range(path, part_name, X):
    """Raise DataError unless every pixel of ``X`` is a number in [0, 1]."""
    if X.size and not (np.all(np.isfinite(X)) and X.min() >= 0 and X.max() <= 1):
        raise DataError(f"{path}: {part_name} images hold values from {X.min()} to "
                        f"{X.max()}, expected pixels scaled to [0, 1]")
