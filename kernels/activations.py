"""Activation functions and their derivatives, applied per layer.

A layer's activation is a small integer code chosen once per layer, so dispatch happens
per layer, never per element. Forward and derivative of each kind sit side by side.

==========  ==========================  ===============================
code        g(z)                        g'(z), written with a = g(z)
==========  ==========================  ===============================
SIGMOID     1 / (1 + exp(-z))           a (1 - a)
TANH        tanh(z)                     1 - a^2
RELU        max(z, 0)                   1 if z > 0 else 0
IDENTITY    z                           1
SOFTMAX     exp(z_j) / sum_k exp(z_k)   (not elementwise: see costs.py)
==========  ==========================  ===============================

Arrays are ``(m, n)`` blocks: one row per sample of the mini-batch.
"""
import numpy as np

from ._jit import ONE, ZERO, jit

SIGMOID = 0
TANH = 1
RELU = 2
IDENTITY = 3
SOFTMAX = 4


@jit
def row_max(z):
    """The largest entry of the 1-D array z."""
    zmax = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > zmax:
            zmax = z[j]
    return zmax


@jit
def row_logsumexp(z):
    """log Σ_j exp(z_j), stably: max + log Σ exp(z_j − max), finite for any finite z."""
    zmax = row_max(z)
    total = ZERO * zmax
    for j in range(z.shape[0]):
        total += np.exp(z[j] - zmax)
    return zmax + np.log(total)


@jit
def softmax_rows(Z, A):
    """A[i] = softmax(Z[i]), stably: the row maximum is subtracted before ``exp``."""
    m, n = Z.shape
    for i in range(m):
        z = Z[i]
        a = A[i]
        zmax = row_max(z)
        total = ZERO * zmax
        for j in range(n):
            e = np.exp(z[j] - zmax)
            a[j] = e
            total += e
        inv = ONE / total
        for j in range(n):
            a[j] *= inv


@jit
def log_softmax_rows(Z, out):
    """out[i] = log(softmax(Z[i])) = Z[i] − logsumexp(Z[i]), finite for any finite Z."""
    m, n = Z.shape
    for i in range(m):
        shift = row_logsumexp(Z[i])
        for j in range(n):
            out[i, j] = Z[i, j] - shift


@jit
def activate(Z, A, code):
    """A = g(Z) for the layer's activation ``code``; Z and A are ``(m, n)``."""
    m, n = Z.shape
    if code == SIGMOID:
        for i in range(m):
            for j in range(n):
                A[i, j] = ONE / (ONE + np.exp(-Z[i, j]))
    elif code == TANH:
        for i in range(m):
            for j in range(n):
                A[i, j] = np.tanh(Z[i, j])
    elif code == RELU:
        for i in range(m):
            for j in range(n):
                z = Z[i, j]
                A[i, j] = z if z > ZERO else ZERO
    elif code == IDENTITY:
        for i in range(m):
            for j in range(n):
                A[i, j] = Z[i, j]
    elif code == SOFTMAX:
        softmax_rows(Z, A)


@jit
def multiply_by_derivative(D, Z, A, code):
    """D *= g'(Z) elementwise, using the stored activations A = g(Z) where cheaper.

    Not defined for SOFTMAX, whose Jacobian is not diagonal (the output-layer δ of
    costs.py handles it).
    """
    m, n = D.shape
    if code == SIGMOID:
        for i in range(m):
            for j in range(n):
                a = A[i, j]
                D[i, j] *= a * (ONE - a)
    elif code == TANH:
        for i in range(m):
            for j in range(n):
                a = A[i, j]
                D[i, j] *= ONE - a * a
    elif code == RELU:
        for i in range(m):
            for j in range(n):
                if not Z[i, j] > ZERO:
                    D[i, j] = ZERO
    # IDENTITY: g' = 1, nothing to do.
