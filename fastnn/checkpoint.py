"""Training checkpoints: everything ``Network.fit`` needs to go on as if never stopped.

A checkpoint is one file ``checkpoint-EEEEEE.npz`` in the checkpoint folder (EEEEEE: the
number of epochs completed), or ``checkpoint-EEEEEE-BBBBBBBB.npz`` within an epoch
(``fit(checkpoint_batches=N)``; BBBBBBBB: the mini-batches of the epoch in progress
done), written atomically (temporary file, fsync, rename: see
``fastnn._io.atomic_write``), so a process killed at any moment, even in the middle of a
write, leaves the folder holding complete checkpoints only, plus perhaps a ``*.tmp`` file
that nothing reads. It is a NumPy archive read with ``allow_pickle=False``: arrays
(parameters, optimizer state, the best epoch's parameters) and ``meta``, UTF-8 JSON
holding the epoch, the random generator's state, η, the schedule's state, the history,
the arguments of the run, and the SHA-256 of every array.

Reading one never allocates what it only claims (every array goes through
``fastnn._io.read_member``), and its metadata is checked field by field, with the types a
resume needs, as a model file's is. ``latest`` returns the newest checkpoint that
verifies, skipping (with a warning naming the file and what is wrong) one that does not.

After a new checkpoint is complete, the run's own older ones are deleted but the newest
``keep`` (default 2, the new one included). A file is the run's own when its metadata
reads and holds the same run record; a newer one, one that cannot be read, or one of
another run or version is never deleted. A save also deletes the orphaned temporary files
of checkpoint saves killed mid-write (``_io.remove_orphans``).
"""
import glob
import hashlib
import json
import math
import os
import re
import warnings
import zipfile

import numpy as np

from ._io import ARCHIVE_ERRORS, atomic_write, brief, read_member

FORMAT = "fastnn-checkpoint"
VERSION = 1
_NAMES = r"checkpoint-\d{6,}(?:-\d{8,})?\.npz"
_NAME = re.compile(r"checkpoint-(\d{6,})(?:-(\d{8,}))?\.npz$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, of another run, or of a newer version."""


class AlreadyTrained(ValueError):
    """``resume=True`` with fewer ``epochs`` than the checkpoint has already trained: going
    on would give a model trained longer than asked for (the checkpoint is left as it is)."""

    def __init__(self, epochs, done, batches, path):
        self.epochs, self.done, self.batches, self.path = epochs, done, batches, path
        self.needed = done + (1 if batches else 0)
        more = f" and {batches} mini-batches of the next" if batches else ""
        super().__init__(f"epochs={epochs} is fewer than the {done} epochs{more} already "
                         f"trained by the checkpoint {path!r}; resume with "
                         f"epochs={self.needed} or more, or start afresh in another "
                         f"checkpoint folder")


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def path_for(folder, epochs_done, batches_done=0):
    within = f"-{int(batches_done):08d}" if batches_done else ""
    return os.path.join(os.fspath(folder), f"checkpoint-{int(epochs_done):06d}{within}.npz")


def save(folder, epochs_done, arrays, meta, keep=2, batches_done=0):
    """Write a checkpoint of ``epochs_done`` epochs (and ``batches_done`` mini-batches of
    the next) atomically; delete the run's own older ones (same ``meta["run"]``) but the
    newest ``keep``, this one included. Returns its path."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    meta = dict(meta, format=FORMAT, version=VERSION, epochs_done=int(epochs_done),
                batches_done=int(batches_done),
                sha256={name: _digest(a) for name, a in arrays.items()})
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path = path_for(folder, epochs_done, batches_done)
    atomic_write(path, lambda f: np.savez(f, meta=blob, **arrays), stale=_NAMES)
    _prune(folder, (int(epochs_done), int(batches_done)), meta.get("run"), keep)
    return path


def _prune(folder, newest, run, keep):
    """Delete the checkpoints of ``run`` older than ``newest``, the (epochs, mini-batches)
    of the one just written, but the newest ``keep - 1`` of them. Only files whose
    metadata reads and holds the same run record are deleted: never the one just written,
    a newer file, one that cannot be read, or one of another run or version (two unreadable
    files numbered higher than the run's used to make every new checkpoint be deleted as
    soon as it was written)."""
    listed = _listed(folder, numbers=True)
    own = [path for number, path in listed if number < newest and _is_own(path, run)]
    for old in own[:max(len(own) - (keep - 1), 0)]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass


def _is_own(path, run):
    """Whether ``path`` is a checkpoint of this version written by the run ``run`` (only its
    metadata is read)."""
    try:
        with zipfile.ZipFile(path) as z:
            meta = _read_meta(z, path)
    except (KeyError, CheckpointError) + ARCHIVE_ERRORS:
        return False
    return meta.get("format") == FORMAT and meta.get("version") == VERSION \
        and meta.get("run") == run


def _listed(folder, numbers=False):
    """Checkpoint files in ``folder``, oldest first (with ``numbers``: ((epochs,
    mini-batches), path) pairs)."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(folder)), "checkpoint-*.npz")):
        match = _NAME.search(os.path.basename(path))
        if match:
            found.append(((int(match.group(1)), int(match.group(2) or 0)), path))
    found.sort()
    return found if numbers else [path for _, path in found]


def _floats(shape, dtype):
    return len(shape) == 1 and dtype.kind == "f" and dtype.itemsize in (4, 8)


#: The arrays of a checkpoint: name -> (description, check of the header's shape and dtype).
_ARRAYS = {
    "meta": ("a 1-D uint8 array of UTF-8 JSON",
             lambda shape, dtype: len(shape) == 1 and dtype == np.uint8),
    "params": ("a 1-D float32 or float64 buffer", _floats),
    "best_params": ("a 1-D float32 or float64 buffer", _floats),
    "optimizer_state": ("a (3, n) float32 or float64 array", lambda shape, dtype: (
        len(shape) == 2 and shape[0] == 3 and _floats(shape[1:], dtype))),
    "optimizer_step": ("a (1,) integer array", lambda shape, dtype: (
        shape == (1,) and dtype.kind in "iu")),
}
_REQUIRED = ("params", "optimizer_state", "optimizer_step")


def _read_meta(z, path):
    """The metadata dict of checkpoint ``path``, open as the zip archive ``z``."""
    blob = read_member(z, "meta", repr(path), os.path.getsize(path), CheckpointError,
                       _ARRAYS["meta"])
    meta = json.loads(blob.tobytes().decode("utf-8"))
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path!r} is not a fastnn checkpoint")
    return meta


def load(path):
    """(arrays, meta) of one checkpoint file, verified; CheckpointError otherwise.

    Every array is read by ``fastnn._io.read_member`` (a header claiming more than the file
    holds costs only what it holds); the format, version, SHA-256 of every array and every
    metadata field a resume reads (with its type) are checked; the message names the file,
    and the field or array that is wrong.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
            if "meta" not in names:
                raise CheckpointError(f"{path!r} has no 'meta' record; not a fastnn checkpoint")
            meta = _read_meta(z, path)
            _check_version(path, meta)
            unknown = sorted(set(names) - set(_ARRAYS))
            if unknown:
                raise CheckpointError(f"{path!r} holds arrays {unknown}; a fastnn checkpoint "
                                      f"has only {sorted(_ARRAYS)}")
            disk_size = os.path.getsize(path)
            arrays = {name: read_member(z, name, repr(path), disk_size, CheckpointError,
                                        _ARRAYS[name]) for name in names if name != "meta"}
    except CheckpointError:
        raise
    except (KeyError,) + ARCHIVE_ERRORS as exc:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or "
                              f"corrupt?): {type(exc).__name__}: {exc}") from None
    digests = meta.get("sha256")
    if not isinstance(digests, dict) or set(digests) != set(arrays):
        raise CheckpointError(f"{path!r}: its arrays {sorted(arrays)} do not match its record")
    for name, array in arrays.items():
        if _digest(array) != digests[name]:
            raise CheckpointError(f"{path!r}: checksum mismatch in {name!r}; the file was "
                                  f"altered or corrupted after it was written")
    _check_arrays(path, arrays, meta)
    _check_fields(path, meta)
    return arrays, meta


def _check_version(path, meta):
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a fastnn checkpoint (format "
                              f"{brief(meta.get('format'))}); expected {FORMAT!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path!r} has checkpoint version {brief(version)}; this "
                              f"fastnn reads versions up to {VERSION}: upgrade fastnn")


def _check_arrays(path, arrays, meta):
    """The arrays a resume needs are there, and fit together."""
    for name in _REQUIRED:
        if name not in arrays:
            raise CheckpointError(f"{path!r} lacks the array {name!r}; expected "
                                  f"{', '.join(_REQUIRED)}")
    params = arrays["params"]
    for name, shape in (("optimizer_state", (3,) + params.shape),
                        ("best_params", params.shape)):
        if name in arrays and (arrays[name].shape != shape or arrays[name].dtype != params.dtype):
            raise CheckpointError(f"{path!r}: array {name!r} has shape {arrays[name].shape} "
                                  f"and dtype {arrays[name].dtype}; expected {shape} and "
                                  f"{params.dtype}, as the parameters")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_rng_state(value):
    """Whether ``value`` is a state of NumPy's default bit generator (PCG64), which
    ``Network`` draws from."""
    generator = np.random.default_rng().bit_generator
    try:
        generator.state = value
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        return False
    return True


#: The metadata fields a resume reads: name -> (what is expected, check).
_FIELDS = {
    "epochs_done": ("an integer >= 0", _is_int),
    "batches_done": ("an integer >= 0", _is_int),
    "run": ("a dict of the run's arguments, with 'monitored' a list", lambda v: (
        isinstance(v, dict) and isinstance(v.get("monitored"), list)
        and all(m in ("training", "evaluation") for m in v["monitored"]))),
    "rng": ("a state of NumPy's PCG64 generator", _is_rng_state),
    "eta": ("a finite number > 0 (or null once training stopped)", lambda v: v is None or (
        _is_number(v) and math.isfinite(v) and v > 0)),
    "dropout_seed": ("an integer >= 0", _is_int),
    "best_accuracy": ("a number", _is_number),
    "best_epoch": ("an integer >= 0 or null", lambda v: v is None or _is_int(v)),
    "history": ("a dict of per-epoch lists", lambda v: isinstance(v, dict)),
    "schedule": ("null or a dict of numbers, strings and booleans", lambda v: v is None or (
        isinstance(v, dict) and all(isinstance(x, (int, float, str, bool, type(None)))
                                    for x in v.values()))),
}
_MISSING = object()


def _field_error(path, name, value, expected):
    shown = "missing" if value is _MISSING else brief(value)
    field = name if name.startswith("history[") else f"metadata field {name!r}"
    return CheckpointError(f"{path!r}: {field} is {shown}; expected {expected}")


def _check_fields(path, meta):
    """Every metadata field a resume reads has the type it needs, and the history one
    entry per epoch done; CheckpointError naming the file and the field otherwise."""
    for name, (expected, check) in _FIELDS.items():
        value = meta.get(name, _MISSING)
        if value is _MISSING or not check(value):
            raise _field_error(path, name, value, expected)
    history, done = meta["history"], meta["epochs_done"]
    keys = ["epoch", "seconds", "eta"] + [f"{m}_{k}" for m in meta["run"]["monitored"]
                                          for k in ("cost", "accuracy")]
    for key in keys:
        entries = history.get(key, _MISSING)
        if not isinstance(entries, list) or len(entries) != done \
                or not all(_is_number(x) for x in entries):
            raise _field_error(path, f"history[{key!r}]", entries, f"a list of {done} "
                               f"numbers, one per epoch done, in metadata field 'history'")
    stopped = history.get("stopped", _MISSING)
    if not (stopped is None or isinstance(stopped, str)):
        raise _field_error(path, "history['stopped']", stopped, "null or the reason "
                           "training stopped, in metadata field 'history'")
    if history.get("monitor", "accuracy") not in ("accuracy", "cost"):
        raise _field_error(path, "history['monitor']", history["monitor"], "'accuracy' or "
                           "'cost', in metadata field 'history'")
    if meta["eta"] is None and stopped is None:
        raise _field_error(path, "eta", None, "a number > 0 while training goes on")
    if meta["best_epoch"] is not None and meta["run"].get("restore_best") \
            and "best_params" not in meta["sha256"]:
        raise CheckpointError(f"{path!r} lacks the array 'best_params' that restore_best "
                              f"needs for its best epoch {meta['best_epoch']}")


def latest(folder):
    """(arrays, meta, path) of the newest checkpoint in ``folder`` that verifies, or None
    when there is none. A newer one that fails to verify is skipped with a warning."""
    for path in reversed(_listed(folder)):
        try:
            arrays, meta = load(path)
        except CheckpointError as exc:
            warnings.warn(f"skipping checkpoint: {exc}", RuntimeWarning, stacklevel=2)
            continue
        return arrays, meta, path
    return None
