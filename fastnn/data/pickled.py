"""The book's ``mnist.pkl.gz``: ``load_mnist_pickle``, a restricted unpickler that admits
nothing but numpy arrays of plain numbers, with every length bounded before it is read."""
import gzip
import math
import os
import pickle
import pickletools
import zlib

import numpy as np

from .idx import _GZIP_MAGIC, _MAX_GZIP_BYTES, _READ_CHUNK, DataError, _read_exactly

_N_CLASSES = 10

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


