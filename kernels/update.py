"""Parameter updates over the flat parameter buffer.

The buffer holds every layer's weights first (layer by layer, each ``(n_out, n_in)``
row-major) and then every layer's biases, so "decay the weights, not the biases" is one
contiguous split at ``n_weights``.
"""
from ._jit import jit


@jit
def sgd_update(params, grad, n_weights, decay, step):
    """The book's update in one pass over the flat buffer.

    w ← decay·w − step·∇w for the first ``n_weights`` entries (decay = 1 − ηλ/n,
    step = η for a mean gradient, or η/m for a summed one); b ← b − step·∇b for the rest.
    """
    for i in range(n_weights):
        params[i] = decay * params[i] - step * grad[i]
    for i in range(n_weights, params.shape[0]):
        params[i] -= step * grad[i]
