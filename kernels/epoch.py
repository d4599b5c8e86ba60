"""Whole passes over the network: forward, backward, and the epoch loop.

Every function here takes the network as plain arrays:

* ``params``: the flat parameter buffer (all weights layer by layer, then all biases);
* ``sizes`` (L+1,), ``w_off`` (L,), ``b_off`` (L,): layer sizes and each layer's
  offset of weights and biases in ``params``;
* ``acts`` (L,): each layer's activation code (activations.py), ``cost``: the cost code;
* workspaces ``ws_z``, ``ws_a``, ``ws_d``: flat buffers of at least
  m_max × Σ sizes[1:] entries that hold z, a and δ of every layer for one block of rows,
  allocated once by the caller and reused by every mini-batch;
* ``ident``: ``arange(m_max)``, the row map of the hidden layers' inputs.
"""
from ._jit import ONE, jit
from .costs import output_delta
from .dense import forward, hidden_delta, weight_gradient


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
def forward_pass(params, w_off, b_off, sizes, acts, X, rows, ident, ws_z, ws_a):
    """z and a of every layer for the samples X[rows], into the workspaces."""
    m = rows.shape[0]
    forward(layer_weights(params, w_off, sizes, 0), layer_biases(params, b_off, sizes, 0),
            X, rows, _block(ws_z, sizes, 0, m), _block(ws_a, sizes, 0, m), acts[0])
    for l in range(1, acts.shape[0]):
        forward(layer_weights(params, w_off, sizes, l), layer_biases(params, b_off, sizes, l),
                _block(ws_a, sizes, l - 1, m), ident[:m],
                _block(ws_z, sizes, l, m), _block(ws_a, sizes, l, m), acts[l])


@jit
def backward_pass(params, w_off, b_off, sizes, acts, cost, X, Y, rows, ident,
                  ws_z, ws_a, ws_d, alpha, beta_w, beta_b, out):
    """δ of every layer, then out ← β out + α Σ δ a_inᵀ for every layer's weights and biases.

    ``out`` is a flat buffer with the layout of ``params``; it may be ``params`` itself
    (the fused update): every δ is computed from the old weights before any is written.
    """
    m = rows.shape[0]
    L = acts.shape[0]
    output_delta(_block(ws_z, sizes, L - 1, m), _block(ws_a, sizes, L - 1, m), Y, rows,
                 cost, acts[L - 1], _block(ws_d, sizes, L - 1, m))
    for l in range(L - 2, -1, -1):
        hidden_delta(layer_weights(params, w_off, sizes, l + 1), _block(ws_d, sizes, l + 1, m),
                     _block(ws_z, sizes, l, m), _block(ws_a, sizes, l, m), acts[l],
                     _block(ws_d, sizes, l, m))
    weight_gradient(_block(ws_d, sizes, 0, m), X, rows, alpha, beta_w, beta_b,
                    layer_weights(out, w_off, sizes, 0), layer_biases(out, b_off, sizes, 0))
    for l in range(1, L):
        weight_gradient(_block(ws_d, sizes, l, m), _block(ws_a, sizes, l - 1, m), ident[:m],
                        alpha, beta_w, beta_b,
                        layer_weights(out, w_off, sizes, l), layer_biases(out, b_off, sizes, l))


@jit
def train_epoch(params, w_off, b_off, sizes, acts, cost, X, Y, order, mini_batch_size,
                eta, decay, ident, ws_z, ws_a, ws_d, scratch):
    """One epoch of mini-batch SGD with the book's L2 decay, in one call.

    For k = 0, m, 2m, ... the mini-batch is X[order[k:k+m]] (the last one may be
    shorter, and then uses its own size m'), and every layer is updated in place by
        w ← decay·w − (η/m') Σ_x δ_x a_xᵀ,    b ← b − (η/m') Σ_x δ_x
    with decay = 1 − ηλ/n. ``scratch`` is a 2-entry array of the parameters' dtype
    (it casts the per-batch step to that dtype).
    """
    n = order.shape[0]
    for start in range(0, n, mini_batch_size):
        stop = min(start + mini_batch_size, n)
        rows = order[start:stop]
        forward_pass(params, w_off, b_off, sizes, acts, X, rows, ident, ws_z, ws_a)
        scratch[0] = -eta / (stop - start)
        scratch[1] = ONE
        backward_pass(params, w_off, b_off, sizes, acts, cost, X, Y, rows, ident,
                      ws_z, ws_a, ws_d, scratch[0], decay, scratch[1], params)


@jit
def mean_gradient(params, w_off, b_off, sizes, acts, cost, X, Y, rows, ident,
                  ws_z, ws_a, ws_d, scratch, grad):
    """grad ← (1/m) Σ_x ∇C_x over the samples X[rows] (unregularized), layout of params."""
    forward_pass(params, w_off, b_off, sizes, acts, X, rows, ident, ws_z, ws_a)
    scratch[0] = ONE / rows.shape[0]
    scratch[1] = 0
    backward_pass(params, w_off, b_off, sizes, acts, cost, X, Y, rows, ident,
                  ws_z, ws_a, ws_d, scratch[0], scratch[1], scratch[1], grad)


@jit
def forward_all(params, w_off, b_off, sizes, acts, X, rows, ident, ws_z, ws_a, Z_out, A_out):
    """Output-layer z and a for every sample X[rows[i]], in blocks of len(ident) rows.

    Z_out and A_out are (len(rows), sizes[-1]).
    """
    L = acts.shape[0]
    chunk = ident.shape[0]
    n = rows.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        forward_pass(params, w_off, b_off, sizes, acts, X, rows[start:stop], ident, ws_z, ws_a)
        Z_out[start:stop] = _block(ws_z, sizes, L - 1, m)
        A_out[start:stop] = _block(ws_a, sizes, L - 1, m)
