"""Helpers the parity tests share: the reference twin of a network, targets, the error."""
import numpy as np

from fastnn.reference import ReferenceNetwork


def reference_of(net):
    """A ``ReferenceNetwork`` with ``net``'s activations, cost and (copied) parameters."""
    return ReferenceNetwork([w.copy() for w in net.weights], [b.copy() for b in net.biases],
                            list(net.activations[:-1]), net.activations[-1], net.cost)


def targets(rng, n, n_out, cost):
    """Random target rows: values in [0, 1) for the quadratic cost, counts for the
    Poisson deviance, one-hot otherwise."""
    if cost == "quadratic":
        return rng.random((n, n_out))
    if cost == "poisson":
        return rng.poisson(1.5, (n, n_out)).astype(np.float64)
    return np.eye(n_out)[rng.integers(0, n_out, n)]


def rel_err(a, b):
    """Largest absolute difference relative to the largest entry of b."""
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)
