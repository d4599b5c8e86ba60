"""Safe files: atomic writes, a bounded .npy reader, and fastnn's checksummed model format.

A fastnn model file is a NumPy ``.npz`` archive (never read with pickle, so loading never
runs code from the file) holding two arrays: ``params``, the flat parameter buffer, and
``meta``, UTF-8 JSON with the format name and version, sizes, activations, cost, dtype and
the SHA-256 of the parameter bytes.

Every array fastnn reads from a ``.npy`` member (model files, checkpoints, ``fastnn predict``
inputs) goes through :func:`read_member`: what a file's headers claim is never allocated
up front; the buffer grows as the bytes arrive, so a lying header costs only the bytes the
file really holds, and every failure is an error naming the file.
"""
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import tokenize
import zipfile
import zlib

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX: no locks, so no temporary file is ever deleted as an orphan
    fcntl = None

FORMAT = "fastnn-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that is missing, truncated, corrupt, tampered with or of a newer version."""


#: A save's temporary file is TARGET.fastnn-XXXXXXXX.tmp (XXXXXXXX from mkstemp), beside it.
_TEMP_MARK = ".fastnn-"
#: What a path that is not a regular file is, for messages.
_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISSOCK, "socket"))


def atomic_write(path, write, stale=None):
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it
    over ``path``: a crash at any moment leaves either the old file or the new one.

    What ``path`` may name:

    * a new file, or a regular file: replaced as above;
    * a symbolic link: followed, and the file it points to replaced as above (the link stays
      a link: someone made it point there, and replacing it would break that silently);
    * anything else, a directory, a FIFO, a device (``/dev/null``) or a socket: refused
      with ValueError before anything is written. A rename can only replace it with a
      regular file (as root, even ``/dev/null`` itself), and writing into it instead is
      not a save: nothing can be read back from a device, and a FIFO without a reader
      blocks forever.

    The temporary file is locked (``flock``) until it is renamed. Before writing, the
    temporaries of earlier saves of the same file that no running save holds are deleted
    (orphans of saves killed mid-write: see :func:`remove_orphans`); ``stale``, a regular
    expression of file names, widens that to the temporaries of every file it matches (a
    checkpoint folder's). An OSError names ``path``, never the temporary file.
    """
    path = os.fspath(path)
    target = _regular_target(path)
    folder, name = os.path.split(target)
    remove_orphans(folder, stale or re.escape(name))
    try:
        fd, tmp = _locked_temporary(folder, name)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as f:  # open, so locked, until renamed
            os.fchmod(fd, _mode_for(target))  # mkstemp makes 0600; a model is an ordinary file
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
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


def check_writable(path):
    """Raise what :func:`atomic_write` would (ValueError for a directory or special file,
    OSError naming ``path`` for a folder that cannot be written) without writing ``path``:
    a temporary file is made beside it and deleted, the only sure test (permissions, ACLs,
    read-only file systems and root all decide it)."""
    path = os.fspath(path)
    folder, name = os.path.split(_regular_target(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=name + _TEMP_MARK, suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _naming(exc, path) from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except FileNotFoundError:  # a concurrent save took it for an orphan
        pass


def _regular_target(path):
    """The file an atomic write of ``path`` replaces: ``path`` with its symbolic links
    resolved; ValueError unless that is a regular file or does not exist yet."""
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise _naming(exc, path) from None
    if stat.S_ISREG(mode):
        return target
    kind = next((kind for test, kind in _KINDS if test(mode)), "special file")
    through = "" if target == os.path.abspath(path) else f" (through a link to {target!r})"
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path!r} is a directory{through}; expected the path of a file, "
                         f"such as {os.path.join(path, 'model.npz')!r}")
    raise ValueError(f"{path!r} is a {kind}{through}; fastnn saves only regular files (an "
                     f"atomic save would replace the {kind} with one): expected the path of "
                     f"a regular file or of a new one")


def _naming(exc, path):
    """``exc`` (an OSError) naming ``path`` instead of the file it was raised for."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, path)


def _same_file(fd, path):
    """Whether ``path`` still names the open file ``fd``."""
    try:
        st, fst = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def _locked_temporary(folder, name):
    """A new temporary file for a save of ``folder/name``, open and locked: (fd, path)."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=name + _TEMP_MARK, suffix=".tmp", dir=folder)
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no locks on this file system: nothing can remove it either
            return fd, tmp
        if _same_file(fd, tmp):
            return fd, tmp
        os.close(fd)  # deleted as an orphan before it was locked: take another


def remove_orphans(folder, names):
    """Delete, in ``folder``, the temporary files of interrupted saves of the files whose
    names match the regular expression ``names``.

    Only files that are clearly such orphans are touched: named as :func:`atomic_write`
    names its temporaries (``NAME.fastnn-XXXXXXXX.tmp``), regular files (never a link,
    FIFO or device), and not locked by a save in progress (a save holds its lock until its
    rename; a killed one has released it). Anything else stays, including temporaries
    named in the earlier style, ``NAME.XXXXXXXX.tmp``, which other programs write too.
    Without ``fcntl`` (not POSIX) nothing is deleted.
    """
    if fcntl is None:
        return
    pattern = re.compile(f"(?:{names}){re.escape(_TEMP_MARK)}[a-z0-9_]{{8}}\\.tmp")
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry):
            continue
        orphan = os.path.join(folder, entry)
        try:
            fd = os.open(orphan, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError while a save holds it
                if _same_file(fd, orphan):
                    os.unlink(orphan)
        except OSError:
            pass
        finally:
            os.close(fd)


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
#: The arrays of a model file: name -> (description, check of the shape and dtype read from
#: the header).
_MEMBERS = {
    "params": ("a 1-D float32 or float64 buffer",
               lambda shape, dt: len(shape) == 1 and dt.kind == "f" and dt.itemsize in (4, 8)),
    "meta": ("a 1-D uint8 array of UTF-8 JSON",
             lambda shape, dt: len(shape) == 1 and dt == np.uint8),
}
#: Exceptions that zipfile, zlib and numpy's .npy header parser raise on corrupt input.
#: (RuntimeError: an encrypted member; RecursionError: JSON nested too deeply;
#: tokenize.TokenError and SyntaxError: numpy's tokenizing of a corrupt .npy header;
#: MemoryError: an honest file too large for this machine.)
ARCHIVE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
                   NotImplementedError, RuntimeError, RecursionError, tokenize.TokenError,
                   SyntaxError, MemoryError)


def brief(value, limit=80):
    """``repr(value)``, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


#: Array data is read in pieces of this many bytes, into a buffer grown as they arrive.
_PIECE = 1 << 20


def read_bounded(stream, n_bytes):
    """Up to ``n_bytes`` bytes of ``stream`` (fewer where it ends first), as a bytearray.

    The buffer grows as the bytes arrive, a piece of at most 1 MiB at a time, so memory
    follows the bytes the stream really holds, never the number a header claims (numpy's
    readers, and ``read(n)`` itself, allocate ``n`` bytes before reading any).
    """
    buffer = bytearray()
    try:
        while len(buffer) < n_bytes:
            piece = stream.read(min(_PIECE, n_bytes - len(buffer)))
            if not piece:
                break
            buffer += piece
    except MemoryError:
        buffer = None  # free what was read before the caller reports it
        raise
    return buffer


def read_npy_header(f, where, error, expect=None):
    """The header of the .npy stream ``f``: ``(shape, fortran_order, dtype, data bytes)``.

    ``where`` names the array in messages, ``error`` is the exception class raised, and
    ``expect`` is None or ``(description, check(shape, dtype))``. Format versions 1.0 and
    2.0 only; arrays of Python objects (which only pickle can read) are refused.
    """
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise error(f"{where} has .npy format version {version}; expected (1, 0) or (2, 0)")
    what, check = expect or ("an array of numbers", lambda shape, dtype: True)
    if dtype.hasobject or dtype.itemsize == 0 or any(d < 0 for d in shape) \
            or not check(shape, dtype):
        raise error(f"{where} has shape {shape} and dtype {dtype}; expected {what}")
    return shape, fortran, dtype, math.prod(shape) * dtype.itemsize


def read_npy(f, where, error, expect=None, limit=None):
    """The array in the .npy stream ``f``, in native byte order.

    The header is checked first (:func:`read_npy_header`; ``limit``, if given, is the most
    data bytes the file can hold, and a header claiming more is refused before reading),
    then the data is read with :func:`read_bounded`: a header that claims terabytes over a
    few bytes costs those few bytes, and is refused as truncated. Every failure of this
    kind, MemoryError included (data too large for this machine), raises ``error`` with a
    message starting with ``where``.
    """
    shape, fortran, dtype, n_bytes = read_npy_header(f, where, error, expect)
    if limit is not None and n_bytes > limit:
        raise error(f"{where} claims {n_bytes:,} bytes (shape {shape}) but the file can hold "
                    f"at most {limit:,}; the file is truncated or corrupt")
    try:
        data = read_bounded(f, n_bytes)
    except MemoryError:
        raise error(f"{where}: not enough memory to read its {n_bytes:,} bytes (shape "
                    f"{shape}, dtype {dtype})") from None
    if len(data) < n_bytes:
        raise error(f"{where} is truncated: {len(data):,} of the {n_bytes:,} data bytes its "
                    f"header claims (shape {shape}); the file is truncated or corrupt")
    if f.read(1):
        raise error(f"{where} has bytes after the {n_bytes:,} its header promises (shape "
                    f"{shape}); expected its end")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_member(z, name, where, disk_size, error=ModelFileError, expect=None):
    """Array ``name`` (member ``name.npy``) of the open zip archive ``z``, read with
    :func:`read_npy`; ``where`` names the file in messages and ``disk_size`` is its size.

    The member must be stored or deflated, and its data no more than its zip entry's size
    and 1032 times the file's size (deflate's largest ratio). Zip entries and .npy headers
    are only claims: these bounds give early clear messages, while read_npy's reading is
    what makes allocation follow the bytes really there. Model files, checkpoints and the
    .npz inputs of ``fastnn predict`` are all read by this function.
    """
    info = z.getinfo(name + ".npy")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise error(f"{where}: array {name!r} uses zip compression method "
                    f"{info.compress_type}; expected stored or deflated")
    with z.open(info) as f:
        return read_npy(f, f"{where}: array {name!r}", error, expect,
                        limit=min(info.file_size, _DEFLATE_MAX_RATIO * disk_size))


def load_model(path):
    """Read and verify a fastnn model file.

    The archive is read member by member (never with pickle) by :func:`read_member`: each
    array's header is checked (a 1-D float buffer ``params`` and a 1-D uint8 ``meta``, no
    more bytes than the file can hold), and its data read into a buffer that grows as the
    bytes arrive; then the JSON metadata, the format, the version, the dtype and the
    SHA-256 of the parameters are checked.

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
            params = read_member(z, "params", repr(path), disk_size, expect=_MEMBERS["params"])
            blob = read_member(z, "meta", repr(path), disk_size, expect=_MEMBERS["meta"])
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except ModelFileError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise ModelFileError(f"{path!r} is not a readable fastnn model file "
                             f"(truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise ModelFileError(f"{path!r} is not a fastnn model file (format {brief(found)}); "
                             f"expected format {FORMAT!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        raise ModelFileError(f"{path!r} has format version {brief(version)}; this fastnn "
                             f"reads versions up to {VERSION}: upgrade fastnn")
    if params.dtype.name != meta.get("dtype"):
        raise ModelFileError(f"{path!r}: parameters of shape {params.shape} and dtype "
                             f"{params.dtype}; expected a 1-D {brief(meta.get('dtype'))} "
                             f"buffer")
    if _digest(params) != meta.get("sha256"):
        raise ModelFileError(f"{path!r}: checksum mismatch, the parameters were altered or "
                             f"corrupted after saving")
    return params, meta
