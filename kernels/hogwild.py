"""Asynchronous data-parallel SGD: lock-free updates of shared parameters (Hogwild!).

Opt-in (``hogwild=True``); the default training stays sequential and deterministic.

The epoch's mini-batches, in the epoch's shuffled order, are split into ``workers``
contiguous runs, one per thread. Every worker runs the same fused step as the sequential
epoch (epoch.py's forward and backward passes with the update applied in place,
w ← (1 − ηλ/n) w − (η/m) Σ δ a_inᵀ), and all of them update one shared parameter
buffer without locks: an update may overwrite a concurrent one, and a worker may read
weights while another writes them. Niu, Recht, Ré and Wright (2011) show that SGD still
converges under such races.

Their updates are sparse; a dense network's are not: every step writes every weight, so
workers stepping on the shared buffer itself fight over the same cache lines on every
mini-batch (measured on two cores: slower than one thread). So each worker steps on its
own copy and, every ``sync_every`` mini-batches, adds what it changed since the last
exchange into the shared buffer (unlocked read-add-write, element by element) and takes
the shared buffer, with every other worker's changes, as its new copy. ``sync_every`` = 0
selects the plain form (every step directly on the shared buffer).

An exchange is an unlocked read-add-write, so two workers exchanging the same element at
the same moment can lose one's change to it (up to ``sync_every`` of its steps). Workers
of equal shares finish together, and walking the buffer from the same end they could
overlap over long runs of elements: measured on two cores with one exchange at the end
of the epoch (bench/hogwild_races.py), 3 runs in 2,000 lost updates on 19,757-30,982 of
B's 79,510 parameters. So worker t walks it from its own offset t·N/workers, wrapping
around: in 2,000 runs, 3 lost updates, on 153, 160 and 6,480 parameters.

With one worker the loop is exactly the sequential epoch. Per-worker scratch: rows ``t``
of the (workers, ·) arrays ``ws_z``, ``ws_a``, ``ws_d`` (workspaces), ``local`` and
``base`` (the copy and its state at the last exchange; (workers, 0) when sync_every = 0)
and ``steps`` (the per-batch step −η/m′ in the parameters' dtype).
"""
import numpy as np
from numba import prange

from ._jit import jit, jit_parallel
from .epoch import backward_pass, forward_pass
from .fpenv import flush_bits, restore, set_flush


@jit
def _exchange_range(shared, local, base, start, stop):
    for i in range(start, stop):
        v = shared[i] + (local[i] - base[i])
        shared[i] = v
        local[i] = v
        base[i] = v


@jit
def _exchange(shared, local, base, t, workers):
    """shared += local − base (unlocked), then local = base = shared, starting at worker
    ``t``'s own offset t·N/workers and wrapping around (module docstring)."""
    size = shared.shape[0]
    offset = t * size // workers
    _exchange_range(shared, local, base, offset, size)
    _exchange_range(shared, local, base, 0, offset)


@jit_parallel
def train_epoch_async(params, w_off, b_off, sizes, acts, act_params, cost, X, Y, order,
                      mini_batch_size, eta, decay, workers, sync_every, ident, ws_z, ws_a, ws_d,
                      local, base, steps):
    """One epoch of lock-free parallel SGD with ``workers`` threads (module docstring)."""
    n = order.shape[0]
    n_batches = (n + mini_batch_size - 1) // mini_batch_size
    L = acts.shape[0]
    private = workers > 1 and sync_every > 0
    flush = flush_bits()  # the caller's subnormal mode, for every worker (fpenv.py)
    for t in prange(workers):
        saved = set_flush(flush)
        no_drop = np.zeros(L)
        no_mask = steps[t, :0]
        first = t * n_batches // workers
        last = (t + 1) * n_batches // workers
        theta = params
        if private:
            theta = local[t]
            theta[:] = params
            base[t, :] = theta
        since = 0
        for b in range(first, last):
            start = b * mini_batch_size
            stop = min(start + mini_batch_size, n)
            rows = order[start:stop]
            forward_pass(theta, w_off, b_off, sizes, acts, act_params, no_drop, no_mask, X,
                         rows, ident, ws_z[t], ws_a[t])
            steps[t, 0] = -eta / (stop - start)
            steps[t, 1] = 1
            backward_pass(theta, w_off, b_off, sizes, acts, act_params, no_drop, no_mask,
                          cost, X, Y, rows, ident, ws_z[t], ws_a[t], ws_d[t], steps[t, 0],
                          decay, steps[t, 1], theta)
            if private:
                since += 1
                if since == sync_every or b == last - 1:
                    _exchange(params, theta, base[t], t, workers)
                    since = 0
        restore(saved)
