"""Subnormal numbers: flushed to zero while fastnn computes, unless asked to keep them.

Every engine call (an epoch, a gradient, an evaluation) runs with the calling thread's
flush-to-zero and denormals-are-zero bits set, and the parallel kernels give their threads
the same bits (kernels/fpenv.py says how and why: subnormal operands cost Intel cores a
microcode assist each, and a float32 Adam run went from 2 s to 31-40 s per epoch once its
parameters had decayed into that range). The bits are put back when the call returns, so
NumPy and everything else in the process keep gradual underflow.

What it changes: a value that would be smaller than the dtype's smallest normal number
(1.2e-38 in float32, 2.2e-308 in float64) is 0 instead, and such an input counts as 0.
Training reaches those values only where a weight has decayed or a moment has shrunk to
nothing; the results elsewhere are bit for bit the same (the parity tests compare with the
reference where no subnormal occurs, and ``tests/test_subnormals.py`` where one does, in
both modes). XLA runs its CPU kernels this way; PyTorch offers it as
``torch.set_flush_denormal``.

``FASTNN_SUBNORMALS``
    ``flush`` (or unset): as above. ``keep``: gradual underflow, the IEEE default, for
    results that must match another implementation bit for bit down there.
"""
import contextlib

import numba
import numpy as np

from .. import _checks
from ..kernels import fpenv as _k

ENV = "FASTNN_SUBNORMALS"
_CHOICES = ("flush", "keep")


def resolve():
    """Whether engine calls flush subnormals: $FASTNN_SUBNORMALS (default ``flush``).
    Raises ValueError naming the variable when it is neither ``flush`` nor ``keep``."""
    return _checks.env_choice(ENV, _CHOICES) == "flush"


_pool_started = []


def _start_pool():
    """Start Numba's threads, all of them, before any bits are set: a thread starts with
    the bits of the thread that makes it, so a pool started inside ``flushing`` would
    flush for the rest of the process, in code that is not fastnn's."""
    previous = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    try:
        _k.threads_bits(np.empty(4 * numba.config.NUMBA_NUM_THREADS, np.uint32))
    finally:
        numba.set_num_threads(previous)
    _pool_started.append(True)


def enter(flush=True, parallel=False):
    """Set this thread's FTZ and DAZ bits (``flush``) or clear them; returns what
    ``leave`` needs to put them back. ``parallel``: parallel kernels may run before
    ``leave``, so Numba's threads are started first (once per process; compiling that
    start costs about a second the first time, so only callers that need it pay)."""
    if flush and parallel and not _pool_started:
        _start_pool()
    return _k.set_flush(int(_k.FLUSH) if flush else 0)


def leave(old):
    """Put back the bits ``enter`` found."""
    _k.restore(old)


@contextlib.contextmanager
def flushing(flush=True, parallel=False):
    """Run the block between ``enter(flush, parallel)`` and ``leave``, which also runs
    when the block raises."""
    old = enter(flush, parallel)
    try:
        yield
    finally:
        leave(old)
