"""Dropout masks from a counter-based hash: deterministic, stateless, thread-safe.

One mask per mini-batch, shared by all its samples (inverted dropout): hidden unit h is
kept with probability 1 − p and then multiplies its activation by s_h = 1/(1 − p);
a dropped unit has s_h = 0. Evaluation uses the full network unchanged, which has the
same expectation.

The uniform number of unit h in mini-batch b of epoch e is, with all arithmetic in
uint64 modulo 2⁶⁴ (``^`` is exclusive or):

    key = splitmix64(seed)
    c   = (e · n_batches + b) · H + h        H = number of hidden units, all layers
    u   = (splitmix64(key ^ c) >> 11) · 2⁻⁵³

and the unit is kept iff u ≥ p. ``fastnn.reference`` implements the same in NumPy.
"""
import numpy as np

from ._jit import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 2.0 ** -53


@jit
def splitmix64(x):
    """The splitmix64 finalizer of x + golden ratio (uint64 in, uint64 out)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit
def dropout_mask(key, epoch, batch, n_batches, sizes, drop_p, mask):
    """mask[h] ← s_h for every hidden unit h of mini-batch ``batch`` of ``epoch``.

    ``key`` = splitmix64(seed) (uint64); ``drop_p`` (L,) float64 holds each layer's p
    (the output layer's is 0); ``mask`` has one entry per hidden unit, layer 1 first.
    Layers with p = 0 get s = 1.
    """
    H = np.uint64(mask.shape[0])
    base = (np.uint64(epoch) * np.uint64(n_batches) + np.uint64(batch)) * H
    h = 0
    for l in range(drop_p.shape[0] - 1):
        p = drop_p[l]
        n = sizes[l + 1]
        if p > 0.0:
            keep = 1.0 / (1.0 - p)
            for j in range(n):
                u = np.float64(splitmix64(key ^ (base + np.uint64(h + j))) >> _S11) * _TWO_M53
                mask[h + j] = keep if u >= p else 0.0
        else:
            for j in range(n):
                mask[h + j] = 1.0
        h += n
