"""The first epoch's compile on two cores: the backward pass in a helper process.

A first ``fit`` with an empty Numba cache spends most of its time compiling the book's
SGD epoch (kernels/epoch.py's ``train_epoch``): on a 2-core Zen 4 guest 13.7 s of a
15 s first fit, of which the backward pass and the kernels under it 6.5 s and the
forward pass 4.6 s. Numba compiles on one thread (a process-wide lock), so the second
core idles. Here, where the loop path's epoch is not compiled in this process nor in the
cache, and a second CPU is free:

1. a helper process (the same Python, the same Numba cache folder and target) compiles
   the backward pass for the exact types the epoch calls it with;
2. meanwhile this process compiles the forward pass, then the kernels that evaluating
   the network runs (by evaluating it on a few random rows);
3. it waits for the helper, and then compiles the epoch, which loads the backward pass
   from the cache.

The machine code is the same: Numba's cache keeps each function's LLVM bitcode beside
its object code for callers to link and inline, as they do a function compiled in
process. If the helper fails or is not possible (one CPU, a cache folder Numba cannot
write, no cache), this process compiles everything itself, as before; nothing else
changes. ``FASTNN_COLD_START=parallel`` (the default) or ``serial`` (no helper).
"""
import os
import subprocess
import sys
import threading

import numba
import numpy as np
from numba import types

from .. import _checks
from . import width as _width

ENV = "FASTNN_COLD_START"
_CHOICES = ("parallel", "serial")
#: seconds to wait for the helper before compiling the backward pass here
TIMEOUT = 300

_lock = threading.Lock()
_done = set()   # dtypes whose epoch this process has seen compiled or prepared


def setting():
    """``parallel`` or ``serial`` from $FASTNN_COLD_START (ValueError naming it when it
    is neither)."""
    return _checks.env_choice(ENV, _CHOICES)


def _signatures(dtype):
    """Numba signatures of (``train_epoch``, ``forward_pass``, ``backward_pass``) as the
    engine calls them for parameters of ``dtype`` (tests/test_coldstart.py checks them
    against the types a real epoch compiles)."""
    f = numba.from_dtype(np.dtype(dtype))
    vec, ivec, dvec = (types.Array(t, 1, "C") for t in (f, types.int64, types.float64))
    mat = types.Array(f, 2, "C")
    layout = (vec, ivec, ivec, ivec, ivec, vec)  # params, w_off, b_off, sizes, acts, act_params
    epoch = layout + (types.int64, mat, mat, ivec, types.int64, f, f, ivec, vec, vec, vec, vec,
                      types.int64, types.int64, types.float64, types.none)
    forward = layout + (dvec, vec, mat, ivec, ivec, vec, vec)
    backward = layout + (dvec, vec, types.int64, mat, mat, ivec, ivec, vec, vec, vec, f, f, f,
                         vec)
    return epoch, forward, backward


def _cached(dispatcher, sig):
    """Whether ``dispatcher`` has ``sig`` compiled in this process or in its on-disk
    cache; None when that cannot be told (no cache, another Numba's internals)."""
    if any(tuple(s) == tuple(sig) for s in dispatcher.signatures):
        return True
    try:
        cache = dispatcher._cache
        if type(cache).__name__ == "NullCache":
            return None
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, OSError, TypeError, ValueError):
        return None


def _free_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def prepare(engine):
    """Before the engine's first loop-path SGD epoch in this process: compile as above
    when the epoch is cold. Returns what was done (``None``: nothing to do, else
    ``parallel`` or ``serial``, and the helper's failure if any), for the tests."""
    dtype = np.dtype(engine.dtype)
    if dtype.name in _done:
        return None
    with _lock:
        if dtype.name in _done:
            return None
        _done.add(dtype.name)
        from ..kernels import epoch as _epoch
        sig_epoch, sig_forward, sig_backward = _signatures(dtype)
        if _cached(_epoch.train_epoch, sig_epoch) is not False:
            return None
        if setting() == "serial" or _free_cpus() < 2 or \
                _cached(_epoch.backward_pass, sig_backward) is not False:
            return "serial", None
        # the loops' width is measured (once per AVX-512 machine) before the helper
        # starts, on a quiet machine, and the helper compiles for what this process runs
        _width.ensure()
        helper = _start_helper(engine)
        _epoch.forward_pass.compile(sig_forward)
        _evaluate(engine)
        return "parallel", _join(helper)


def _evaluate(engine):
    """Compile what evaluating the engine's network runs (training with evaluation data
    or monitoring would next), on three random rows."""
    rng = np.random.default_rng(0)
    params = (rng.standard_normal(engine.n_params) * 0.01).astype(engine.dtype)
    X = rng.random((3, int(engine.sizes[0]))).astype(engine.dtype)
    Z, A = engine.forward(params, X)
    Y = np.zeros_like(A)
    Y[:, 0] = 1
    engine.total_cost(params, Y, Z, A, 0.0)


_HELPER = r"""
import sys
from fastnn._engine import coldstart as _coldstart
from fastnn.kernels import epoch
epoch.backward_pass.compile(_coldstart._signatures(sys.argv[1])[2])
"""


def _start_helper(engine):
    env = dict(os.environ)
    # the helper compiles for exactly this process's target, measures nothing, and
    # compiles nothing in a helper of its own
    env.update({"FASTNN_CALIBRATE": "off", ENV: "serial",
                "FASTNN_LOOP_WIDTH": _width.applied() or "llvm"})
    try:
        return subprocess.Popen([sys.executable, "-c", _HELPER, np.dtype(engine.dtype).name],
                                env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return exc


def _join(helper):
    """None when the helper compiled its share, else why not (this process then
    compiles it, as without a helper)."""
    if isinstance(helper, OSError):
        return f"the helper could not start: {helper}"
    try:
        _, err = helper.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.communicate()
        return f"the helper took more than {TIMEOUT} s"
    if helper.returncode != 0:
        return f"the helper failed (exit {helper.returncode}): {err.strip()[-500:]}"
    return None
