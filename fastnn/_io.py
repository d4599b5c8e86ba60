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
import zipfile

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


def load_model(path):
    """(params, meta) from a fastnn model file, verified; ModelFileError otherwise."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            if set(z.files) != {"params", "meta"}:
                raise ModelFileError(f"{path!r} holds arrays {sorted(z.files)}; expected a fastnn "
                                     f"model with 'params' and 'meta'")
            params = z["params"]
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
    except ModelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path!r} is not a readable fastnn model file "
                             f"(truncated or corrupt?): {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a fastnn model file (format "
                             f"{meta.get('format') if isinstance(meta, dict) else meta!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ModelFileError(f"{path!r} has format version {version!r}; this fastnn reads "
                             f"versions up to {VERSION}: upgrade fastnn")
    if params.ndim != 1 or params.dtype.name != meta.get("dtype"):
        raise ModelFileError(f"{path!r}: parameters of shape {params.shape} and dtype "
                             f"{params.dtype}; expected a 1-D {meta.get('dtype')} buffer")
    if _digest(params) != meta.get("sha256"):
        raise ModelFileError(f"{path!r}: checksum mismatch, the parameters were altered or "
                             f"corrupted after saving")
    return params, meta
