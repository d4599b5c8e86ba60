"""Activation functions and their derivatives, applied per layer.

A layer's activation is a small integer code chosen once per layer, so dispatch happens
per layer, never per element. Forward and derivative of each kind sit side by side.

============  ==========================  ===============================
code          g(z)                        g'(z)
============  ==========================  ===============================
SIGMOID       1 / (1 + exp(-z))           a (1 - a), with a = g(z)
TANH          tanh(z)                     1 - a^2
RELU          max(z, 0)                   1 if z > 0 else 0
IDENTITY      z                           1
SOFTMAX       exp(z_j) / sum_k exp(z_k)   (not elementwise: see costs.py)
LEAKY_RELU    z if z > 0 else α z         1 if z > 0 else α
ELU           z if z > 0 else α(e^z - 1)  1 if z > 0 else α e^z
SWISH         z σ(β z)                    σ(βz) + β z σ(βz)(1 - σ(βz))
EXP           e^z  (output only)          e^z
============  ==========================  ===============================

``exp`` is ``_exp.exp_``: the C library's in float64, and in float32 a polynomial that
LLVM vectorizes (within 1.01 ulp; a sigmoid layer 4-5× faster), and divisions are
``np.divide`` (Numba's ``/`` checks for a zero divisor, which keeps a loop scalar).

α and β are the layer's ``param``. Sigmoid and tanh derivatives are computed from the
stored activations (no second ``exp``) unless ``from_z`` is set: dropout scales the stored
activations, so its layers take the derivative from z.

Arrays are ``(m, n)`` blocks: one row per sample of the mini-batch.
"""
import numpy as np

from ._exp import exp_
from ._jit import ONE, ZERO, jit, jit_ordered

SIGMOID = 0
TANH = 1
RELU = 2
IDENTITY = 3
SOFTMAX = 4
LEAKY_RELU = 5
ELU = 6
SWISH = 7
EXP = 8


@jit
def row_max(z):
    """The largest entry of the 1-D array z."""
    zmax = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > zmax:
            zmax = z[j]
    return zmax


@jit_ordered
def log_softmax_at(zj, m, l):
    """(z_j − m) − l in float64, in that order (``row_log_softmax_parts`` gives m and l).

    With ``reassoc``, LLVM hoists the loop-invariant m + l out of the callers' loops and
    computes z_j − (m + l), which rounds m + l to the size of m first (measured: 3e-12
    relative error at m = 1e4 in float64)."""
    return (np.float64(zj) - m) - l


@jit
def row_log_softmax_parts(z):
    """(m, l) in float64 for the 1-D z, with m = max_j z_j and l = ln Σ_j exp(z_j − m):
    ln softmax(z)_j = (z_j − m) − l and logsumexp(z) = m + l.

    Exact to a few float64 ulps for any finite z, float32 included: the maximum's own
    term (exactly 1) is kept out of the sum and put back by ``log1p``, so l keeps its
    relative precision when every other term is tiny (z = (0, −20) in float32: ln(1 + 2e-9)
    would round to 0); and callers subtract m and l separately (``log_softmax_at``),
    since m + l rounded to the size of m loses ulp(m) / 2 (5e-4 at m = 1e4 in float32)
    before anything is subtracted from it. Evaluation only: training's softmax is
    ``softmax_rows``."""
    n = z.shape[0]
    k = 0
    for j in range(1, n):
        if z[j] > z[k]:
            k = j
    m = np.float64(z[k])
    rest = 0.0
    for j in range(n):
        if j != k:
            rest += np.exp(np.float64(z[j]) - m)
    return m, np.log1p(rest)


@jit
def row_logsumexp(z):
    """log Σ_j exp(z_j) in float64, stably (``row_log_softmax_parts``): finite for any finite z."""
    m, l = row_log_softmax_parts(z)
    return m + l


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
            e = exp_(z[j] - zmax)
            a[j] = e
            total += e
        inv = ONE / total
        for j in range(n):
            a[j] *= inv


@jit
def log_softmax_rows(Z, out):
    """out[i] = log(softmax(Z[i])) = (Z[i] − max) − ln Σ exp(Z[i] − max), computed in float64
    (``row_log_softmax_parts``) and rounded once: within an ulp or two of the exact value
    for any finite Z (both terms are ≤ 0, so nothing cancels)."""
    m, n = Z.shape
    for i in range(m):
        zmax, l = row_log_softmax_parts(Z[i])
        for j in range(n):
            out[i, j] = log_softmax_at(Z[i, j], zmax, l)


@jit
def activate(Z, A, code, param):
    """A = g(Z) for the layer's activation ``code`` (and parameter α or β); Z, A are ``(m, n)``."""
    m, n = Z.shape
    if code == SIGMOID:
        for i in range(m):
            for j in range(n):
                A[i, j] = np.divide(ONE, ONE + exp_(-Z[i, j]))
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
    elif code == LEAKY_RELU:
        for i in range(m):
            for j in range(n):
                z = Z[i, j]
                A[i, j] = z if z > ZERO else param * z
    elif code == ELU:
        for i in range(m):
            for j in range(n):
                z = Z[i, j]
                A[i, j] = z if z > ZERO else param * (exp_(z) - ONE)
    elif code == SWISH:
        for i in range(m):
            for j in range(n):
                z = Z[i, j]
                A[i, j] = np.divide(z, ONE + exp_(-param * z))
    elif code == EXP:
        for i in range(m):
            for j in range(n):
                A[i, j] = exp_(Z[i, j])


@jit
def _prime_from_z(z, code, param):
    """g'(z) for an elementwise activation, from z alone."""
    if code == SIGMOID:
        s = np.divide(ONE, ONE + exp_(-z))
        return s * (ONE - s)
    if code == TANH:
        t = np.tanh(z)
        return ONE - t * t
    if code == RELU:
        return ONE if z > ZERO else ZERO
    if code == LEAKY_RELU:
        return ONE if z > ZERO else param
    if code == ELU:
        return ONE if z > ZERO else param * exp_(z)
    if code == SWISH:
        s = np.divide(ONE, ONE + exp_(-param * z))
        return s + param * z * s * (ONE - s)
    if code == EXP:
        return exp_(z)
    return ONE + ZERO * z  # IDENTITY


@jit
def multiply_by_derivative(D, Z, A, code, param, from_z):
    """D *= g'(Z) elementwise; sigmoid and tanh use A = g(Z) unless ``from_z``.

    Not defined for SOFTMAX, whose Jacobian is not diagonal (the output-layer δ of
    costs.py handles it).
    """
    m, n = D.shape
    if code == IDENTITY:
        return
    if code == SIGMOID and not from_z:
        for i in range(m):
            for j in range(n):
                a = A[i, j]
                D[i, j] *= a * (ONE - a)
    elif code == TANH and not from_z:
        for i in range(m):
            for j in range(n):
                a = A[i, j]
                D[i, j] *= ONE - a * a
    elif code == RELU:
        for i in range(m):
            for j in range(n):
                if not Z[i, j] > ZERO:
                    D[i, j] = ZERO
    else:
        for i in range(m):
            for j in range(n):
                D[i, j] *= _prime_from_z(Z[i, j], code, param)


@jit
def scale_columns(A, s):
    """A[:, j] *= s[j]: applies a dropout mask (s_j = 0 or 1/(1 - p)) to a block of rows."""
    m, n = A.shape
    for i in range(m):
        for j in range(n):
            A[i, j] *= s[j]
