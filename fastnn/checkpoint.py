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

The newest ``keep`` checkpoints are kept (default 2); older ones are deleted after a new
one is complete. ``latest`` returns the newest checkpoint that verifies, skipping (with a
warning) one that does not.
"""
import glob
import hashlib
import json
import os
import re
import signal
import warnings
import zipfile

import numpy as np

from ._io import atomic_write

#: a test-only switch: the process kills itself (SIGKILL) in the middle of writing the
#: checkpoint of this many epochs, after the data and before the fsync and rename
KILL_VARIABLE = "FASTNN_TEST_KILL_IN_CHECKPOINT"

FORMAT = "fastnn-checkpoint"
VERSION = 1
_NAME = re.compile(r"checkpoint-(\d{6,})(?:-(\d{8,}))?\.npz$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, of another run, or of a newer version."""


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def path_for(folder, epochs_done, batches_done=0):
    within = f"-{int(batches_done):08d}" if batches_done else ""
    return os.path.join(os.fspath(folder), f"checkpoint-{int(epochs_done):06d}{within}.npz")


def save(folder, epochs_done, arrays, meta, keep=2, batches_done=0):
    """Write a checkpoint of ``epochs_done`` epochs (and ``batches_done`` mini-batches of
    the next) atomically; delete all but the newest ``keep``. Returns its path."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    meta = dict(meta, format=FORMAT, version=VERSION, epochs_done=int(epochs_done),
                batches_done=int(batches_done),
                sha256={name: _digest(a) for name, a in arrays.items()})
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path = path_for(folder, epochs_done, batches_done)
    kill = os.environ.get(KILL_VARIABLE) == str(int(epochs_done))

    def write(f):
        np.savez(f, meta=blob, **arrays)
        if kill:
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    atomic_write(path, write)
    for old in _listed(folder)[:-keep]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
    return path


def _listed(folder):
    """Checkpoint files in ``folder``, oldest first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(folder)), "checkpoint-*.npz")):
        match = _NAME.search(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), int(match.group(2) or 0), path))
    return [path for _, _, path in sorted(found)]


def load(path):
    """(arrays, meta) of one checkpoint file, verified; CheckpointError otherwise."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise CheckpointError(f"{path!r} has no 'meta' record; not a fastnn checkpoint")
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            arrays = {name: z[name] for name in z.files if name != "meta"}
    except CheckpointError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError,
            UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or "
                              f"corrupt?): {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path!r} is not a fastnn checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path!r} has checkpoint version {version!r}; this fastnn reads "
                              f"versions up to {VERSION}: upgrade fastnn")
    digests = meta.get("sha256")
    if not isinstance(digests, dict) or set(digests) != set(arrays):
        raise CheckpointError(f"{path!r}: its arrays {sorted(arrays)} do not match its record")
    for name, array in arrays.items():
        if _digest(array) != digests[name]:
            raise CheckpointError(f"{path!r}: checksum mismatch in {name!r}; the file was "
                                  f"altered or corrupted after it was written")
    return arrays, meta


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
