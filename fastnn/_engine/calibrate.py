"""Machine-dependent choices made by measuring on the user's machine, and remembered.

Which GEMM runs a network's products (BLAS or the engine's own) and on how many threads
depends on the core, its vector width, the BLAS and its kernel, and what else runs on the
machine; rules guessed on one CPU were wrong on another (an Intel core where BLAS on two
threads was slower than on one). So fastnn measures the candidates on the machine at
hand, once, and keeps the winner in a small JSON file in the user's cache folder, as
FFTW keeps its "wisdom" and oneDNN and cuDNN their autotuning results.

The file (``calibration.json`` in ``$FASTNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastnn``,
else ``~/.cache/fastnn``) holds one section per machine: its fingerprint (CPU model and
features, the CPU Numba compiles for, the BLAS and its kernel, the core count, Numba's
and fastnn's versions) and a record per decision. A section is used only when its
fingerprint is this machine's; a record only when it parses as one and its choice is
among the candidates of the decision at hand. Anything else (a corrupt file, another
machine's section, a record of an older layout) is measured again, never trusted; the
file is rewritten atomically. When the folder cannot be written, the measurements are
kept for the process only.

``FASTNN_CALIBRATE``
    ``auto`` (or unset): use what the file holds, measure what it lacks;
    ``redo``: measure every decision again once in this process, replacing the records;
    ``off``: measure nothing, use the built-in rules (fastnn/_engine/gemm.py's, every thread
    given).

``fastnn calibrate`` shows the file's records for this machine, redoes them for the
standard configurations, or clears them.
"""
import datetime
import hashlib
import json
import os
import platform
import sys
import threading

from .. import _checks, _io

ENV = "FASTNN_CALIBRATE"
DIR_ENV = "FASTNN_CACHE_DIR"
_CHOICES = ("auto", "redo", "off")
FORMAT = "fastnn-calibration"
VERSION = 1
FILE_NAME = "calibration.json"
#: a calibration file is a few kilobytes; anything past this is not one
MAX_BYTES = 4 * 2 ** 20

_lock = threading.RLock()
_state = {"loaded": None, "problem": None, "redone": set(), "announced": False,
          "save_error": None}


def mode():
    """``auto``, ``redo`` or ``off`` from $FASTNN_CALIBRATE; ValueError naming it when
    it is none of them."""
    return _checks.env_choice(ENV, _CHOICES)


def cache_dir():
    """The folder of the calibration file (not created here)."""
    configured = os.environ.get(DIR_ENV, "").strip()
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or \
        os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastnn")


def cache_path():
    return os.path.join(cache_dir(), FILE_NAME)


def _cpu_model():
    """The CPU's vendor, family, model and name as the kernel reports them (Linux), else
    what ``platform`` knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    return {"vendor": fields.get("vendor_id", platform.machine()),
            "family": fields.get("cpu family", ""), "model": fields.get("model", ""),
            "name": fields.get("model name", platform.processor())}


def machine():
    """This machine's fingerprint: what a measured choice depends on."""
    import numba

    from .. import __version__
    from . import blas as _blas
    from . import threads as _threads
    from . import width as _width
    blas = (_blas.numpy_blas_infos() or [{}])[0]
    features = _width.base_features()
    return {"cpu": _cpu_model(), "numba_cpu": _width.cpu_name(),
            "cpu_features": hashlib.sha256(features.encode()).hexdigest()[:16],
            "blas": {k: str(blas.get(k)) for k in ("internal_api", "version",
                                                   "architecture")},
            "cores": _threads.available(), "numba": numba.__version__,
            "fastnn": __version__, "python": platform.python_version()}


def machine_key(fingerprint=None):
    text = json.dumps(machine() if fingerprint is None else fingerprint, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_file(path):
    """(the parsed file as a dict, or None; the problem with it, or None)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if len(raw) > MAX_BYTES:
        return None, f"is larger than {MAX_BYTES:,} bytes: not a calibration file"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"is not valid JSON ({exc}); it will be measured again"
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or data.get("version") != VERSION or not isinstance(data.get("machines"), dict):
        return None, (f"is not a {FORMAT} file of version {VERSION}; it will be measured "
                      f"again")
    return data, None


def _valid_record(record):
    return (isinstance(record, dict) and isinstance(record.get("choice"), str)
            and isinstance(record.get("seconds"), dict)
            and all(isinstance(k, str) and isinstance(v, (int, float))
                    and not isinstance(v, bool) and 0 < v < float("inf")
                    for k, v in record["seconds"].items())
            and record["choice"] in record["seconds"]
            and isinstance(record.get("info", {}), dict)
            and all(isinstance(k, str) and isinstance(v, str)
                    for k, v in record.get("info", {}).items()))


def _records():
    """This machine's records from the file (loaded once per process): {key: record}."""
    with _lock:
        if _state["loaded"] is None:
            data, problem = _read_file(cache_path())
            records = {}
            if data is not None:
                section = data["machines"].get(machine_key())
                if isinstance(section, dict) and section.get("machine") == machine() \
                        and isinstance(section.get("records"), dict):
                    records = {k: v for k, v in section["records"].items()
                               if isinstance(k, str) and _valid_record(v)}
            _state["loaded"], _state["problem"] = records, problem
        return _state["loaded"]


def problem():
    """What was wrong with the calibration file when it was read (None: nothing)."""
    _records()
    return _state["problem"]


def _save():
    """Write this machine's records into the file, keeping the other machines' sections
    (a file that was not a calibration file is replaced). Never raises: a folder that
    cannot be written keeps the records in this process only (``save_error`` says why)."""
    path = cache_path()
    data, _ = _read_file(path)
    if data is None:
        data = {"format": FORMAT, "version": VERSION, "machines": {}}
    data["machines"][machine_key()] = {"machine": machine(), "records": _state["loaded"]}
    text = json.dumps(data, indent=1, sort_keys=True).encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _io.atomic_write(path, lambda f: f.write(text))
        _state["save_error"] = None
    except (OSError, ValueError) as exc:
        _state["save_error"] = str(exc)


def lookup(key, candidates):
    """The cached record of ``key`` when its choice is one of ``candidates`` and the
    mode allows its use, else None."""
    if mode() != "auto" and not (mode() == "redo" and key in _state["redone"]):
        return None
    record = _records().get(key)
    if record is None or record["choice"] not in candidates:
        return None
    return record


def fastest(seconds):
    """The default rule: the candidate that took the least time."""
    return min(seconds, key=seconds.get)


def decide(key, candidates, measure, what, choose=fastest):
    """The choice for ``key`` among ``candidates`` (strings), with its record.

    From the file when it holds a usable record (``lookup``); else ``measure(candidates)``
    runs, returning {candidate: seconds} (the tests inject these), or that and a dict of
    strings to keep with it ({candidate: result digest}, say), and ``choose(seconds)``
    picks (by default the fastest); the record is kept and saved. ``what`` names the
    decision in the one line printed to stderr the first time a process measures.
    Returns (choice, record) or (None, None) with $FASTNN_CALIBRATE=off."""
    if mode() == "off":
        return None, None
    with _lock:
        record = lookup(key, candidates)
        if record is not None:
            return record["choice"], record
        if not _state["announced"]:
            _state["announced"] = True
            print(f"fastnn: measuring {what} on this machine (once; kept in "
                  f"{cache_path()}, see `fastnn calibrate`)", file=sys.stderr, flush=True)
        seconds = measure(list(candidates))
        info = {}
        if isinstance(seconds, tuple):
            seconds, info = seconds
        unknown = set(seconds) - set(candidates)
        if unknown or not seconds:
            raise RuntimeError(f"calibration of {key} measured {sorted(seconds)}; expected "
                               f"some of {list(candidates)}")
        choice = choose(seconds)
        record = {"choice": choice, "seconds": {k: float(v) for k, v in seconds.items()},
                  "info": {str(k): str(v) for k, v in info.items()},
                  "date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "what": what}
        _records()[key] = record
        _state["redone"].add(key)
        _save()
        return choice, record


def records():
    """A copy of this machine's records ({key: record})."""
    with _lock:
        return {k: dict(v) for k, v in _records().items()}


def clear():
    """Forget this machine's records, in the process and in the file."""
    with _lock:
        _records().clear()
        _state["redone"].clear()
        _save()


def save_error():
    """Why the last save failed (None when it worked or none was tried)."""
    return _state["save_error"]


def reset():
    """Forget what this process read and measured (the file stays): for tests and for a
    changed $FASTNN_CACHE_DIR."""
    with _lock:
        _state.update(loaded=None, problem=None, redone=set(), announced=False,
                      save_error=None)
