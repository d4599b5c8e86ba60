"""Phase loops for ``fastnn profile``: one epoch of one phase of one layer, in one call.

Each function runs one of the loop path's kernels (dense.py, activations.py, costs.py)
once per mini-batch of an epoch over ``order`` with mini-batches of ``m`` rows (the last
one shorter), on the same buffers every time, exactly as ``epoch.train_epoch`` calls it
but with nothing else in between. Timing one call gives that phase's share of an epoch
without a Python call or a clock read per mini-batch (for config A a mini-batch's whole
forward product takes about 10 µs; a clock read costs about 0.1 µs and a Python call of
a compiled function about 1 µs).

Inputs of the first layer are read through the epoch's shuffled ``order`` as in
training; later layers read the previous layer's block of activations (``ident`` rows).
The values in the buffers come from one real forward and backward pass (fastnn/perf/profile.py
fills them): the kernels' speed does not depend on them, but exp of a garbage value
could be a denormal or a NaN and change it.
"""
from ._jit import jit
from .activations import activate
from .costs import output_delta
from .dense import (
    bias_gradient,
    delta_product,
    forward_product,
    hidden_delta,
    scale_weights,
    weight_product,
)
from .epoch import _block, layer_biases, layer_weights


@jit
def _rows(order, ident, start, stop, first):
    if first:
        return order[start:stop]
    return ident[:stop - start]


@jit
def loop_forward_product(W, b, A_in, order, ident, first, m, Z):
    """``forward_product`` per mini-batch; ``first``: A_in is the data, read through order."""
    n = order.shape[0]
    for start in range(0, n, m):
        stop = min(start + m, n)
        forward_product(W, b, A_in, _rows(order, ident, start, stop, first), Z[:stop - start])


@jit
def loop_activation(Z, A, act, param, n, m):
    """``activate`` per mini-batch."""
    for start in range(0, n, m):
        k = min(m, n - start)
        activate(Z[:k], A[:k], act, param)


@jit
def loop_output_delta(Z, A, Y, order, cost, act, param, m, D):
    """``output_delta`` per mini-batch (targets read through order)."""
    n = order.shape[0]
    for start in range(0, n, m):
        stop = min(start + m, n)
        k = stop - start
        output_delta(Z[:k], A[:k], Y, order[start:stop], cost, act, param, D[:k])


@jit
def loop_delta_product(W_next, D_next, n, m, D):
    """``delta_product`` (Wᵀδ) per mini-batch."""
    for start in range(0, n, m):
        k = min(m, n - start)
        delta_product(W_next, D_next[:k], D[:k])


@jit
def loop_hidden_delta(W_next, D_next, Z, A, act, param, n, m, D):
    """``hidden_delta`` (Wᵀδ, then ⊙ g') per mini-batch. The derivative alone cannot be
    looped on one buffer: multiplying the same δ by σ' ≤ 1/4 again and again reaches
    denormal numbers within a hundred calls, and those are slow. fastnn/perf/profile.py takes
    the derivative's time as this loop's minus ``loop_delta_product``'s."""
    for start in range(0, n, m):
        k = min(m, n - start)
        hidden_delta(W_next, D_next[:k], Z[:k], A[:k], act, param, False, D[:k])


@jit
def loop_weight_product(D, A_in, order, ident, first, alpha, m, W):
    """``weight_product`` with β = 1 (the accumulation into W; the decay is timed apart)."""
    n = order.shape[0]
    one = alpha - alpha + 1
    for start in range(0, n, m):
        stop = min(start + m, n)
        weight_product(D[:stop - start], A_in, _rows(order, ident, start, stop, first), alpha,
                       one, W)


@jit
def loop_bias_gradient(D, alpha, n, m, b):
    """``bias_gradient`` with β = 1, per mini-batch."""
    one = alpha - alpha + 1
    for start in range(0, n, m):
        k = min(m, n - start)
        bias_gradient(D[:k], alpha, one, b)


@jit
def loop_decay(W, beta, n, m):
    """``scale_weights`` (the fused update's weight decay, β = 1 − ηλ/n) per mini-batch."""
    for start in range(0, n, m):
        scale_weights(W, beta)


@jit
def loop_skeleton(params, w_off, b_off, sizes, order, ident, m, ws_z, ws_a, ws_d):
    """The epoch loop with every kernel left out: slicing the order, and every layer's
    views of the parameters and the workspaces, as ``epoch.train_epoch`` makes them.
    Returns a checksum of the views' shapes so the compiler cannot drop them."""
    n = order.shape[0]
    L = sizes.shape[0] - 1
    total = 0
    for start in range(0, n, m):
        stop = min(start + m, n)
        rows = order[start:stop]
        k = stop - start
        total += rows.shape[0]
        for l in range(L):
            W = layer_weights(params, w_off, sizes, l)
            b = layer_biases(params, b_off, sizes, l)
            Z = _block(ws_z, sizes, l, k)
            A = _block(ws_a, sizes, l, k)
            D = _block(ws_d, sizes, l, k)
            total += W.shape[0] + b.shape[0] + Z.shape[1] + A.shape[0] + D.shape[1]
            if l > 0:
                total += ident[:k].shape[0]
    return total


