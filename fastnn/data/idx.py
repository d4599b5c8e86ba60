"""IDX files (the MNIST and Fashion-MNIST format): ``read_idx`` and ``write_idx``.

Raw or gzipped; every length a header claims is checked against the file before anything
is allocated, and every problem raises ``DataError`` naming the file, the value found and
the value expected.
"""
import gzip
import math
import os
import zlib

import numpy as np

from .._io import read_bounded


class DataError(ValueError):
    """A data file is missing, malformed or holds values out of range."""


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


