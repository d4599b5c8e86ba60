"""Safe model files: atomic writes and fastnn's checksummed format.

A fastnn model file is a NumPy ``.npz`` archive (read with ``allow_pickle=False``, so
loading never runs code from the file) holding two arrays: ``params``, the flat parameter
buffer, and ``meta``, UTF-8 JSON with the format name and version, sizes, activations,
cost, dtype and the SHA-256 of the parameter bytes.
"""
import hashlib
import json
import os
import tempfile
import tokenize
import zipfile
import zlib

import numpy as np

FORMAT = "fastnn-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that is missing, truncated, corrupt, tampered with or of a newer version."""


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it
    over ``path``: a crash at any moment leaves either the old file or the new one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; a model file is an ordinary file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _mode_for(path):
    """The replaced file's permissions, or those of a new file under the current umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _digest(params):
    return hashlib.sha256(np.ascontiguousarray(params).tobytes()).hexdigest()


def save_model(path, params, meta):
    """Write ``params`` and the ``meta`` dict atomically in fastnn's format."""
    meta = dict(meta, format=FORMAT, version=VERSION, sha256=_digest(params),
                dtype=np.dtype(params.dtype).name)
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, params=params, meta=blob))


#: Deflate cannot expand data more than 1032-fold, so an archive member claiming more than this
#: many bytes per byte of the file on disk is corrupt (refused before anything is allocated).
_DEFLATE_MAX_RATIO = 1032
#: The arrays of a model file: name -> (description, check of the dtype read from the header).
_MEMBERS = {
    "params": ("a 1-D float32 or float64 buffer",
               lambda dt: dt.kind == "f" and dt.itemsize in (4, 8)),
    "meta": ("a 1-D uint8 array of UTF-8 JSON", lambda dt: dt == np.uint8),
}
#: Exceptions that zipfile, zlib and numpy's .npy header parser raise on corrupt input.
#: (RuntimeError: an encrypted member; RecursionError: JSON nested too deeply;
#: tokenize.TokenError and SyntaxError: numpy's tokenizing of a corrupt .npy header.)
_ARCHIVE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
                   NotImplementedError, RuntimeError, RecursionError, tokenize.TokenError,
                   SyntaxError)


def _brief(value, limit=80):
    """``repr(value)``, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_member(z, name, path, disk_size):
    """One ``.npy`` member of a model archive, its header checked before allocating."""
    what, dtype_ok = _MEMBERS[name]
    info = z.getinfo(name + ".npy")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{path!r}: array {name!r} uses zip compression method "
                             f"{info.compress_type}; expected stored or deflated")
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ModelFileError(f"{path!r}: array {name!r} has .npy format version "
                                 f"{version}; expected (1, 0) or (2, 0)")
        if len(shape) != 1 or dtype.hasobject or not dtype_ok(dtype):
            raise ModelFileError(f"{path!r}: array {name!r} has shape {shape} and dtype "
                                 f"{dtype}; expected {what}")
        n_bytes = shape[0] * dtype.itemsize
        limit = min(info.file_size, _DEFLATE_MAX_RATIO * disk_size)
        if n_bytes > limit:
            raise ModelFileError(f"{path!r}: array {name!r} claims {n_bytes:,} bytes "
                                 f"(shape {shape}) but the file can hold at most {limit:,}; "
                                 f"the file is truncated or corrupt")
        data = np.empty(shape[0], dtype=dtype)
        view = memoryview(data.view(np.uint8))
        done = 0
        while done < n_bytes:
            got = f.readinto(view[done:])
            if not got:
                raise ModelFileError(f"{path!r}: array {name!r} is truncated: {done:,} of "
                                     f"{n_bytes:,} data bytes; the file is truncated or corrupt")
            done += got
        if f.read(1):
            raise ModelFileError(f"{path!r}: array {name!r} has bytes after the {n_bytes:,} "
                                 f"its header promises (shape {shape}); expected its end")
    return data.astype(dtype.newbyteorder("="), copy=False)


def load_model(path):
    """Read and verify a fastnn model file.

    The archive is read member by member (never with pickle); each array's header is
    checked (a 1-D float buffer ``params`` and a 1-D uint8 ``meta``, no more bytes than the
    file can hold) before any buffer is allocated, then the JSON metadata, the format, the
    version, the dtype and the SHA-256 of the parameters are checked.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    params : numpy.ndarray
        The flat parameter buffer (float32 or float64, native byte order).
    meta : dict
        The metadata written by :func:`save_model`.

    Raises
    ------
    ModelFileError
        If the file is missing, not a fastnn model file, truncated, corrupt, altered after
        saving or of a newer format version; the message names the file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path!r} does not exist")
    try:
        disk_size = os.path.getsize(path)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if sorted(names) != ["meta.npy", "params.npy"]:
                arrays = sorted(n[:-4] if n.endswith(".npy") else n for n in names)
                raise ModelFileError(f"{path!r} holds arrays {arrays}; expected a fastnn "
                                     f"model with 'params' and 'meta'")
            params = _read_member(z, "params", path, disk_size)
            blob = _read_member(z, "meta", path, disk_size)
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except ModelFileError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise ModelFileError(f"{path!r} is not a readable fastnn model file "
                             f"(truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise ModelFileError(f"{path!r} is not a fastnn model file (format {_brief(found)}); "
                             f"expected format {FORMAT!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        raise ModelFileError(f"{path!r} has format version {_brief(version)}; this fastnn "
                             f"reads versions up to {VERSION}: upgrade fastnn")
    if params.dtype.name != meta.get("dtype"):
        raise ModelFileError(f"{path!r}: parameters of shape {params.shape} and dtype "
                             f"{params.dtype}; expected a 1-D {_brief(meta.get('dtype'))} "
                             f"buffer")
    if _digest(params) != meta.get("sha256"):
        raise ModelFileError(f"{path!r}: checksum mismatch, the parameters were altered or "
                             f"corrupted after saving")
    return params, meta
