"""The vector width the engine's loops are compiled for: 256 or 512 bits, measured.

LLVM vectorizes the loop kernels (the products of kernels/dense.py, the activations) for
the CPU Numba compiles for, and on a core with AVX-512 its tuning picks the width: 256
bits for Intel's AVX-512 cores (the ``prefer-256-bit`` tuning feature, against the
frequency drop of older Xeons), 512 for AMD's Zen 4 and Zen 5. On a 2-core Emerald
Rapids guest the engine's A epoch took 0.106 s with 512-bit loops against 0.150 s with
LLVM's choice (issue 18); which width wins depends on the core, so it is measured.

Where the CPU has AVX-512F, the first training on the loop path times the hot loops
(forward and δ products, weight gradient, sigmoid; float32, the [784, 100, 10] network
at mini-batch 10) compiled each way, in two child processes that compile in parallel
and are timed one after the other, alternated; the record is kept with the other
measured choices (fastnn/_engine/calibrate.py). The width is a process-wide setting of Numba's
code generator (the ``prefer-256-bit`` feature appended to the host's features), fixed
when the first kernel is compiled: ``apply``, called by ``import fastnn`` before any
kernel exists, sets it from the record, so a measurement made in a process serves from
the next one. Numba's cache keeps code per feature string, so each width has its own
cached kernels.

``FASTNN_LOOP_WIDTH``
    ``auto`` (or unset): measured as above; ``llvm``: LLVM's own choice, nothing
    measured (as with ``FASTNN_CALIBRATE=off``); ``256`` or ``512``: that width, nothing
    measured.

Nothing is measured or changed where there is no choice: a CPU without AVX-512 (every
loop is at most 256 bits wide; the setting is still checked) or a target the user fixed
(``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` set).
"""
import json
import os
import subprocess
import sys
import tempfile
import threading

import numba

from .. import _checks
from . import calibrate as _calibrate

ENV = "FASTNN_LOOP_WIDTH"
_CHOICES = ("auto", "llvm", "256", "512")
KEY = "loop vector width"
CANDIDATES = ("256", "512")
#: the tuning feature appended to the host's features for each width
SUFFIX = {"256": ",+prefer-256-bit", "512": ",-prefer-256-bit"}
WHAT = "the vector width of the loop kernels (256 or 512 bits)"
#: the network, mini-batch and work the probe times (see the module docstring)
PROBE_SIZES = (784, 100, 10)
PROBE_M = 10
PROBE_BATCHES = 100
ROUNDS = 5

_lock = threading.Lock()
_state = {"applied": None, "ensured": False, "failed": None}


def setting():
    """``auto``, ``llvm``, ``256`` or ``512`` from $FASTNN_LOOP_WIDTH (ValueError naming it
    when it is none of them)."""
    return _checks.env_choice(ENV, _CHOICES)


def cpu_features():
    """The feature string of the CPU Numba compiles for, as Numba decides it: its
    ``NUMBA_CPU_FEATURES`` when set (``generic`` sets it empty: the baseline x86-64),
    else the host's, also under another ``NUMBA_CPU_NAME`` (which then changes the
    tuning, never the instructions)."""
    configured = getattr(numba.config, "CPU_FEATURES", None)
    if configured is not None:
        return configured
    return host_features()


def host_features():
    """The host CPU's feature string as LLVM reports it."""
    try:
        from numba.core.codegen import get_host_cpu_features
    except ImportError:  # another Numba's layout: llvmlite's answer is the same
        import llvmlite.binding as llvm
        return llvm.get_host_cpu_features().flatten()
    return get_host_cpu_features()


def cpu_name():
    """The name of the CPU Numba compiles for (LLVM's, e.g. ``znver5``): its own
    setting, else the host's."""
    configured = getattr(numba.config, "CPU_NAME", None)
    if configured:
        return str(configured)
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_name()


def base_features():
    """``cpu_features()`` without the width this module appended: what identifies the
    machine in the calibration file, the same before and after ``apply``."""
    features = cpu_features()
    applied = _state["applied"]
    if applied is not None and features.endswith(SUFFIX[applied]):
        return features[:-len(SUFFIX[applied])]
    return features


def user_fixed():
    """Whether the user chose Numba's target (``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``)."""
    return any(os.environ.get(v, "").strip() for v in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"))


def has_choice():
    """Whether there are two widths to choose from: the host has AVX-512F and the user
    did not fix the target."""
    return not user_fixed() and "+avx512f" in host_features().split(",")


def features_for(choice, host=None):
    """Numba's feature string for loops of ``choice`` bits on ``host`` (the host's
    features by default)."""
    if choice not in SUFFIX:
        raise ValueError(f"choice={choice!r} is invalid: expected one of {list(SUFFIX)}")
    return (host_features() if host is None else host) + SUFFIX[choice]


def _codegen_started():
    """Whether Numba built its CPU code generator already (its features are then fixed)."""
    from numba.core.registry import cpu_target
    return cpu_target.__dict__.get("_toplevel_target_context") is not None


def apply():
    """Make Numba compile for the recorded width, if there is one to apply: called by
    ``import fastnn`` before any kernel is compiled. Never raises: a bad
    $FASTNN_CALIBRATE is reported by the first training, which reads it again."""
    try:
        if not has_choice() or _codegen_started():
            return None
        choice = setting()
        if choice == "auto":
            record = _calibrate.lookup(KEY, CANDIDATES) \
                if _calibrate.mode() == "auto" else None
            choice = None if record is None else record["choice"]
    except (ValueError, OSError):
        return None
    if choice not in SUFFIX:
        return None
    numba.config.CPU_FEATURES = features_for(choice)
    _state["applied"] = choice
    return choice


def applied():
    """The width this process's loops are compiled for by ``apply`` (None: LLVM's)."""
    return _state["applied"]


def ensure():
    """Measure the width once per machine where there is a choice (the first training on
    the loop path calls this); the result applies from the next process when this one
    compiled its kernels already. A probe that fails is reported on stderr and training
    goes on with LLVM's choice."""
    if _state["ensured"]:  # every later call: one lookup (network2 calls per mini-batch)
        return
    with _lock:
        if _state["ensured"]:
            return
        _state["ensured"] = True
    if not has_choice() or setting() != "auto" or _calibrate.mode() == "off":
        return
    try:
        default, choice, record = _decide()
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        _state["failed"] = str(exc)
        print(f"fastnn: could not measure {WHAT} ({exc}); the loops keep LLVM's choice",
              file=sys.stderr, flush=True)
        return
    if choice is not None and choice != (_state["applied"] or default):
        print(f"fastnn: the loops will be compiled for {choice}-bit vectors from the next "
              f"process on (measured {_seconds(record)}; this one compiled them already)",
              file=sys.stderr, flush=True)


def _decide():
    """(LLVM's width, the chosen width, its record): from the calibration file, or
    measured now."""
    default = llvm_width()
    choice, record = _calibrate.decide(KEY, CANDIDATES, measure, WHAT,
                                       lambda seconds: choose(seconds, default))
    return default, choice, record


def redo():
    """Measure the width again (``fastnn calibrate --redo``, which sets
    FASTNN_CALIBRATE=redo around it) and say what was chosen, or why there is no choice."""
    if not has_choice() or setting() != "auto":
        return describe()
    default, choice, record = _decide()
    if choice is None:
        return describe()
    now = "in this process" if (_state["applied"] or default) == choice else \
        "from the next process on"
    return (f"{choice} bits {now} (LLVM's choice: {default}; measured {_seconds(record)}; "
            f"per process {record['info'].get(choice, '?')})")


def _seconds(record):
    return ", ".join(f"{c} bits {s * 1e3:.3g} ms" for c, s in
                     sorted(record["seconds"].items(), key=lambda kv: kv[1]))


def describe():
    """One line for the reports: the width the loops run at in this process, and why."""
    if user_fixed():
        return f"as Numba's target set by the user ({cpu_name()})"
    if "+avx512f" not in host_features().split(","):
        return f"LLVM's choice for {cpu_name()} (no AVX-512: at most 256 bits)"
    if setting() != "auto":
        fixed = f"{ENV}={setting()}"
        if _state["applied"] is not None:
            return f"{_state['applied']}-bit vectors ({fixed})"
        return f"LLVM's choice for {cpu_name()} ({fixed})"
    if _calibrate.mode() == "off":
        return f"LLVM's choice for {cpu_name()} ({_calibrate.ENV}=off)"
    record = _calibrate.records().get(KEY)
    measured = f" (measured {_seconds(record)})" if record else ""
    if _state["applied"] is not None:
        return f"{_state['applied']}-bit vectors{measured}"
    if _state["failed"]:
        return f"LLVM's choice for {cpu_name()} (the measurement failed: {_state['failed']})"
    if record:
        return (f"LLVM's choice for {cpu_name()} in this process; {record['choice']} bits "
                f"from the next{measured}")
    return f"LLVM's choice for {cpu_name()} (not measured yet)"


# -- the measurement ---------------------------------------------------------------
#: the other width must be at least this much faster to leave LLVM's choice: two processes
#: running the same machine code differ by up to 15-40% on a shared 2-core guest (code
#: placement, the host), so a smaller difference is not evidence
FASTER_BY = 1.10
#: processes timed per width (their times averaged), against that per-process noise
PROCESSES = 2


def _axpy(a, x, y):  # compiled for its machine code (``llvm_width``), never run
    for i in range(y.shape[0]):
        y[i] = a * x[i] + y[i]


def llvm_width():
    """The width LLVM's own tuning gives this process's loops, read from the machine code
    of a compiled loop: ``512`` when it uses zmm registers, else ``256``. (Compiled here,
    not at import: making a Numba function builds the code generator, whose features
    ``apply`` must set first.)"""
    if "llvm" not in _state:
        sig = (numba.float32, numba.float32[::1], numba.float32[::1])
        axpy = numba.njit(fastmath=True, no_cfunc_wrapper=True)(_axpy)
        axpy.compile(sig)
        _state["llvm"] = "512" if "zmm" in axpy.inspect_asm(sig) else "256"
    return _state["llvm"]


def choose(seconds, default):
    """The width to compile for: ``default`` (LLVM's) unless the other is at least
    ``FASTER_BY`` times faster."""
    other = min((c for c in seconds if c != default), key=seconds.get, default=None)
    if default not in seconds or (other is not None
                                  and seconds[default] >= FASTER_BY * seconds[other]):
        return other
    return default


def measure(candidates, rounds=ROUNDS, batches=PROBE_BATCHES, processes=PROCESSES):
    """{width: seconds of the probe's work} for each candidate width, and the per-process
    times: for each width, one child process compiles the loops (the widths in parallel,
    each into its own empty Numba cache), then ``processes`` − 1 more load them from that
    cache; the parent times every process one at a time, alternating, ``rounds`` times.
    A process's time is its least; a width's, the mean over its processes."""
    env = dict(os.environ)
    env[_calibrate.ENV] = "off"
    children = []
    with tempfile.TemporaryDirectory(prefix="fastnn-width-") as tmp:
        def start(c, k):
            env_c = dict(env, NUMBA_CPU_FEATURES=features_for(c),
                         NUMBA_CACHE_DIR=os.path.join(tmp, c))
            err = open(os.path.join(tmp, f"{c}-{k}.err"), "w+")
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(batches)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                env=env_c)
            children.append((c, proc, err))

        try:
            for c in candidates:
                start(c, 0)
            for c, proc, err in list(children):
                _expect(c, proc, err, "ready")
            for k in range(1, processes):
                for c in candidates:
                    start(c, k)
            for c, proc, err in children[len(candidates):]:
                _expect(c, proc, err, "ready")
            best = [float("inf")] * len(children)
            for r in range(rounds):
                for j in range(len(children)):
                    i = (j + r) % len(children)
                    c, proc, err = children[i]
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    best[i] = min(best[i], float(_expect(c, proc, err, None)))
            seconds = {c: sum(b for (cc, _, _), b in zip(children, best) if cc == c)
                       / processes for c in candidates}
            info = {c: " ".join(f"{b * 1e3:.3g}" for (cc, _, _), b in zip(children, best)
                                if cc == c) + " ms" for c in candidates}
            return seconds, info
        finally:
            for _, proc, err in children:
                try:
                    proc.stdin.close()
                    proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait()
                err.close()


_CHILD = "import sys; from fastnn._engine.width import _probe; _probe(int(sys.argv[1]))"


def _expect(candidate, proc, err, expected):
    line = proc.stdout.readline().strip()
    if not line or (expected is not None and line != expected):
        proc.kill()
        proc.wait()
        err.seek(0)
        tail = err.read()[-2000:]
        raise RuntimeError(f"the {candidate}-bit probe process ended without a result "
                           f"(exit {proc.returncode}): {tail.strip() or 'no output'}")
    return line


def _probe(batches):
    """The child: compile and warm up the loops, say ``ready``, then time ``batches``
    mini-batches for every ``go`` read from stdin, printing the seconds."""
    import time

    import numpy as np

    from ..kernels import activations, dense
    dt = np.float32
    rng = np.random.default_rng(0)
    n_in, n_hid, n_out = PROBE_SIZES
    m = PROBE_M
    W1 = (rng.standard_normal((n_hid, n_in)) / np.sqrt(n_in)).astype(dt)
    W2 = (rng.standard_normal((n_out, n_hid)) / np.sqrt(n_hid)).astype(dt)
    b1, b2 = np.zeros(n_hid, dt), np.zeros(n_out, dt)
    X = rng.random((batches * m, n_in)).astype(dt)
    order = rng.permutation(batches * m).astype(np.int64)
    ident = np.arange(m, dtype=np.int64)
    Z1, A1, D1 = (np.zeros((m, n_hid), dt) for _ in range(3))
    Z2, A2, D2 = (np.zeros((m, n_out), dt) for _ in range(3))
    alpha, beta = dt(-1e-6), dt(1.0)

    def work():
        for k in range(0, batches * m, m):
            rows = order[k:k + m]
            dense.forward_product(W1, b1, X, rows, Z1)
            activations.activate(Z1, A1, activations.SIGMOID, dt(0))
            dense.forward_product(W2, b2, A1, ident, Z2)
            activations.activate(Z2, A2, activations.SIGMOID, dt(0))
            np.subtract(A2, dt(0.1), out=D2)
            dense.delta_product(W2, D2, D1)
            dense.weight_product(D2, A1, ident, alpha, beta, W2)
            dense.weight_product(D1, X, rows, alpha, beta, W1)

    work()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        start = time.perf_counter()
        work()
        print(json.dumps(time.perf_counter() - start), flush=True)

