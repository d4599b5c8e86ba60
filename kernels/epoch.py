"""Whole passes over the network: forward, backward, and the epoch loops.

Every function here takes the network as plain arrays:

* ``params``: the flat parameter buffer (all weights layer by layer, then all biases);
* ``sizes`` (L+1,), ``w_off`` (L,), ``b_off`` (L,): layer sizes and each layer's
  offset of weights and biases in ``params``;
* ``acts`` (L,): each layer's activation code (activations.py), ``act_params`` (L,) its
  α or β in the parameters' dtype, ``cost``: the cost code;
* ``drop_p`` (L,) float64: each layer's dropout probability (the output layer's is 0) and
  ``mask``: one multiplier per hidden unit (dropout.py), applied where p > 0;
* workspaces ``ws_z``, ``ws_a``, ``ws_d``: flat buffers of at least
  m_max × Σ sizes[1:] entries that hold z, a and δ of every layer for one block of rows,
  allocated once by the caller and reused by every mini-batch;
* ``ident``: ``arange(m_max)``, the row map of the hidden layers' inputs.
"""
import numpy as np

from ._jit import ONE, jit
from .activations import scale_columns
from .costs import clipped_loss_sum, output_delta, sum_of_squares
from .dense import forward, hidden_delta, weight_gradient
from .dropout import dropout_mask
from .optim import apply_step, clip_by_norm


@jit
def layer_weights(params, w_off, sizes, l):
    """View of layer l's weights, (sizes[l+1], sizes[l])."""
    n_out = sizes[l + 1]
    n_in = sizes[l]
    return params[w_off[l]:w_off[l] + n_out * n_in].reshape((n_out, n_in))


@jit
def layer_biases(params, b_off, sizes, l):
    """View of layer l's biases, (sizes[l+1],)."""
    return params[b_off[l]:b_off[l] + sizes[l + 1]]


@jit
def _block(ws, sizes, l, m):
    """Layer l's (m, sizes[l+1]) block of a workspace packed for m rows."""
    off = 0
    for k in range(l):
        off += m * sizes[k + 1]
    n = sizes[l + 1]
    return ws[off:off + m * n].reshape((m, n))


@jit
def _mask_of(mask, sizes, l):
    """Hidden layer l's slice of the dropout multipliers."""
    off = 0
    for k in range(l):
        off += sizes[k + 1]
    return mask[off:off + sizes[l + 1]]


@jit
def forward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, X, rows, ident,
                 ws_z, ws_a):
    """z and a of every layer for the samples X[rows], into the workspaces; a hidden
    layer with dropout stores its masked activations a ⊙ s (what the next layer sees)."""
    m = rows.shape[0]
    L = acts.shape[0]
    for l in range(L):
        Z = _block(ws_z, sizes, l, m)
        A = _block(ws_a, sizes, l, m)
        W = layer_weights(params, w_off, sizes, l)
        b = layer_biases(params, b_off, sizes, l)
        A_in = X
        r_in = rows
        if l > 0:
            A_in = _block(ws_a, sizes, l - 1, m)
            r_in = ident[:m]
        forward(W, b, A_in, r_in, Z, A, acts[l], act_params[l])
        if drop_p[l] > 0.0:
            scale_columns(A, _mask_of(mask, sizes, l))


@jit
def backward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, cost, X, Y, rows,
                  ident, ws_z, ws_a, ws_d, alpha, beta_w, beta_b, out):
    """δ of every layer, then out ← β out + α Σ δ a_inᵀ for every layer's weights and biases.

    ``out`` is a flat buffer with the layout of ``params``; it may be ``params`` itself
    (the fused update): every δ is computed from the old weights before any is written.
    With dropout, δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ s ⊙ g'(z^l).
    """
    m = rows.shape[0]
    L = acts.shape[0]
    output_delta(_block(ws_z, sizes, L - 1, m), _block(ws_a, sizes, L - 1, m), Y, rows,
                 cost, acts[L - 1], act_params[L - 1], _block(ws_d, sizes, L - 1, m))
    for l in range(L - 2, -1, -1):
        dropped = drop_p[l] > 0.0
        D = _block(ws_d, sizes, l, m)
        hidden_delta(layer_weights(params, w_off, sizes, l + 1), _block(ws_d, sizes, l + 1, m),
                     _block(ws_z, sizes, l, m), _block(ws_a, sizes, l, m), acts[l],
                     act_params[l], dropped, D)
        if dropped:
            scale_columns(D, _mask_of(mask, sizes, l))
    for l in range(L):  # one call site per kernel: a literal layer 0 would compile twice
        A_in = X
        r_in = rows
        if l > 0:
            A_in = _block(ws_a, sizes, l - 1, m)
            r_in = ident[:m]
        weight_gradient(_block(ws_d, sizes, l, m), A_in, r_in, alpha, beta_w, beta_b,
                        layer_weights(out, w_off, sizes, l), layer_biases(out, b_off, sizes, l))


@jit
def train_epoch(params, w_off, b_off, sizes, acts, act_params, cost, X, Y, order,
                mini_batch_size, eta, decay, ident, ws_z, ws_a, ws_d, scratch, n_weights,
                loss_kind, loss_eps, losses):
    """One epoch of the book's mini-batch SGD with L2 decay, fused, in one call.

    For k = 0, m, 2m, ... the mini-batch is X[order[k:k+m]] (the last one may be
    shorter, and then uses its own size m'), and every layer is updated in place by
        w ← decay·w − (η/m') Σ_x δ_x a_xᵀ,    b ← b − (η/m') Σ_x δ_x
    with decay = 1 − ηλ/n: no gradient buffer, one pass over each layer's weights.
    ``scratch`` is an array of the parameters' dtype (it casts the per-batch step).
    ``losses`` (None, or an array: then with ``loss_kind`` > 0) records each mini-batch's
    loss and Σ w² before its step, as in ``train_epoch_general`` (the first ``n_weights``
    parameters are weights). None compiles the epoch without that code, which the book's
    SGD never runs (a cold first epoch compiles 0.8 s less).
    """
    n = order.shape[0]
    no_drop = np.zeros(acts.shape[0])
    no_mask = scratch[:0]
    for start in range(0, n, mini_batch_size):
        stop = min(start + mini_batch_size, n)
        rows = order[start:stop]
        forward_pass(params, w_off, b_off, sizes, acts, act_params, no_drop, no_mask, X, rows,
                     ident, ws_z, ws_a)
        if losses is not None:   # pruned at compile time when None: no loss code
            _record_loss(params, n_weights, sizes, ws_a, Y, rows, loss_kind, loss_eps,
                         losses[start // mini_batch_size])
        scratch[0] = -eta / (stop - start)
        scratch[1] = ONE
        backward_pass(params, w_off, b_off, sizes, acts, act_params, no_drop, no_mask, cost, X,
                      Y, rows, ident, ws_z, ws_a, ws_d, scratch[0], decay, scratch[1], params)


@jit
def _record_loss(params, n_weights, sizes, ws_a, Y, rows, kind, eps, out):
    """out[0] = the mini-batch's loss summed over its rows (costs.clipped_loss_sum on the
    output activations the forward pass left in ``ws_a``), out[1] = Σ w² over the
    weights. Its own function, called only when asked, so that the epoch's loop stays
    as it was without it."""
    L = sizes.shape[0] - 1
    out[0] = clipped_loss_sum(_block(ws_a, sizes, L - 1, rows.shape[0]), Y, rows, kind, eps)
    out[1] = sum_of_squares(params[:n_weights])


@jit
def train_epoch_general(params, w_off, b_off, sizes, acts, act_params, cost, X, Y, order,
                        mini_batch_size, n_weights, opt_code, hyper, eta, l2, l1, state, step,
                        drop_p, key, epoch, ident, ws_z, ws_a, ws_d, mask, grad, clip,
                        batch0, n_batches, loss_kind, loss_eps, losses):
    """One epoch of mini-batch training with any optimizer, L1/L2 and dropout, in one call.

    Per mini-batch: a fresh dropout mask (dropout.py), the forward pass, the mean gradient
    of the unregularized cost into ``grad`` (scaled to norm at most ``clip`` when
    ``clip`` > 0), then one fused optimizer step (optim.py) with l2 = λ/n and l1 = λ₁/n.
    ``state`` is (3, n_params) optimizer state; ``step`` a 1-entry int64 array holding
    the optimizer's step count t (updated); ``hyper`` the optimizer's ``optim.Hyper``.
    The mini-batches are
    numbers ``batch0``, ``batch0`` + 1, ... of an epoch of ``n_batches`` (the dropout
    masks depend on them): 0 and ⌈len(order)/m⌉ for a whole epoch, other values for one
    block of a streamed epoch.

    With ``losses`` (None compiles the epoch without this) and ``loss_kind`` > 0
    (costs.py's LOSS_*), mini-batch k of this call also records,
    before its step, ``losses[k, 0]``: the loss summed over its rows
    (``costs.clipped_loss_sum``, a clipped at ``loss_eps``), and ``losses[k, 1]``: Σ w² over
    the weights, both float64 (scikit-learn's loss curve is made of these).
    """
    n = order.shape[0]
    b = batch0
    for start in range(0, n, mini_batch_size):
        stop = min(start + mini_batch_size, n)
        rows = order[start:stop]
        if mask.shape[0] > 0:
            dropout_mask(key, epoch, b, n_batches, sizes, drop_p, mask)
        forward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, X, rows, ident,
                     ws_z, ws_a)
        if losses is not None:   # pruned at compile time when None
            _record_loss(params, n_weights, sizes, ws_a, Y, rows, loss_kind, loss_eps,
                         losses[b - batch0])
        scale = params.dtype.type(ONE / (stop - start))
        zero = params.dtype.type(0)
        backward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, cost, X, Y,
                      rows, ident, ws_z, ws_a, ws_d, scale, zero, zero, grad)
        if clip > 0:
            clip_by_norm(grad, clip)
        apply_step(params, grad, n_weights, opt_code, hyper, eta, l2, l1, state, step)
        b += 1


@jit
def mean_gradient(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, cost, X, Y, rows,
                  ident, ws_z, ws_a, ws_d, scratch, grad):
    """grad ← (1/m) Σ_x ∇C_x over the samples X[rows] (unregularized), layout of params;
    with the dropout multipliers ``mask`` applied where drop_p > 0."""
    forward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, X, rows, ident,
                 ws_z, ws_a)
    scratch[0] = ONE / rows.shape[0]
    scratch[1] = 0
    backward_pass(params, w_off, b_off, sizes, acts, act_params, drop_p, mask, cost, X, Y, rows,
                  ident, ws_z, ws_a, ws_d, scratch[0], scratch[1], scratch[1], grad)
