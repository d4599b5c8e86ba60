"""Output-layer δ = ∂C/∂z^L and cost values for each cost/output-activation pair.

================  ==========  =======================================================
cost              output      δ^L
================  ==========  =======================================================
QUADRATIC         elementwise (a - y) ⊙ g'(z)
QUADRATIC         SOFTMAX     Jᵀ(a - y) with J = diag(a) - a aᵀ, i.e. a ⊙ (e - (e·a)), e = a - y
CROSS_ENTROPY     SIGMOID     a - y          (the σ'(z) factor cancels)
LOG_LIKELIHOOD    SOFTMAX     a Σ_j y_j - y  (a - y when the row sums to 1)
POISSON           EXP         a - y          (the e^z factor cancels)
================  ==========  =======================================================

The log-likelihood's δ: ∂/∂z_k of −Σ_j y_j ln a_j, with ∂ ln a_j/∂z_k = [j = k] − a_k, is
a_k Σ_j y_j − y_k. The book's a − y is the case Σ_j y_j = 1 (one-hot rows, soft labels);
targets that sum to something else (several classes marked, unnormalized weights) get
their true gradient. A one-hot row sums to exactly 1, and a·1 − y rounds as a − y did.

Per-sample cost values, computed from z so they are finite for any finite z:

* QUADRATIC: ½‖a - y‖²
* CROSS_ENTROPY: Σ_j y_j softplus(-z_j) + (1 - y_j) softplus(z_j), which equals
  -Σ_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] with a = σ(z)
* LOG_LIKELIHOOD: -Σ_j y_j log_softmax(z)_j (= -ln a_label for one-hot y)
* POISSON: Σ_j e^{z_j} − y_j z_j + y_j ln y_j − y_j, half the Poisson deviance
  Σ_j y_j ln(y_j / a_j) − y_j + a_j with a = e^z (counts y ≥ 0; y ln y = 0 at y = 0)

Both are evaluated in float64 from the stored z (float32 networks too), so they are exact
to a few float64 ulps of the true value for any finite z (tests/test_numerics.py).

Arrays: ``Z``, ``A``, ``D`` are ``(m, n_out)``; ``Y`` is the full target array
``(N, n_out)`` and ``rows`` picks the mini-batch's rows of it.
"""
import numpy as np

from ._jit import ONE, ZERO, jit, jit_inline, jit_ordered
from .activations import SOFTMAX, log_softmax_at, multiply_by_derivative, row_log_softmax_parts

QUADRATIC = 0
CROSS_ENTROPY = 1
LOG_LIKELIHOOD = 2
POISSON = 3


@jit_inline
def output_delta(Z, A, Y, rows, cost, act, param, D):
    """D = δ^L for the mini-batch rows; see the module table."""
    m, n = A.shape
    for i in range(m):
        y = Y[rows[i]]
        total = ONE + ZERO * y[0]  # Σ_j y_j for the log-likelihood, else 1: δ = a − y
        if cost == LOG_LIKELIHOOD:
            total = ZERO * y[0]
            for j in range(n):
                total += y[j]
        for j in range(n):
            D[i, j] = A[i, j] * total - y[j]
    if cost == QUADRATIC:
        if act == SOFTMAX:
            for i in range(m):
                dot = ZERO * D[i, 0]
                for j in range(n):
                    dot += D[i, j] * A[i, j]
                for j in range(n):
                    D[i, j] = A[i, j] * (D[i, j] - dot)
        else:
            from_z = act < 0  # False, typed bool: a literal False compiles a second copy
            multiply_by_derivative(D, Z, A, act, param, from_z)


@jit
def _softplus(x):
    """ln(1 + e^x) without overflow."""
    if x > ZERO:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@jit_ordered
def cross_entropy_term(z, y):
    """y softplus(−z) + (1 − y) softplus(z) in float64 for one output. Without ``reassoc``:
    with it, LLVM rewrites the sum as softplus(z) + y (softplus(−z) − softplus(z)), which
    cancels a confident right answer's cost to 0 (z = 104, y = 1: e^-104 = 6.8e-46)."""
    zz = np.float64(z)
    yy = np.float64(y)
    return yy * _softplus(-zz) + (1.0 - yy) * _softplus(zz)


@jit
def quadratic_sum(Z, A, Y, rows):
    """Σ over the rows of ½‖a − y‖² (float64 accumulator)."""
    m, n = A.shape
    total = 0.0
    for i in range(m):
        y = Y[rows[i]]
        s = 0.0
        for j in range(n):
            e = np.float64(A[i, j]) - np.float64(y[j])
            s += e * e
        total += 0.5 * s
    return total


@jit
def cross_entropy_sum(Z, A, Y, rows):
    """Σ over the rows of the cross-entropy, from z (float64 accumulator)."""
    m, n = A.shape
    total = 0.0
    for i in range(m):
        y = Y[rows[i]]
        for j in range(n):
            total += cross_entropy_term(Z[i, j], y[j])
    return total


@jit
def log_likelihood_sum(Z, A, Y, rows):
    """Σ over the rows of −Σ_j y_j ln softmax(z)_j (float64 accumulator).

    −ln softmax(z)_j = l + |z_j − max|: two non-negative terms, no cancellation, and max
    is never added to l first (``row_log_softmax_parts`` says why)."""
    m, n = A.shape
    total = 0.0
    for i in range(m):
        y = Y[rows[i]]
        z = Z[i]
        zmax, l = row_log_softmax_parts(z)
        for j in range(n):
            if y[j] != ZERO:
                total -= np.float64(y[j]) * log_softmax_at(z[j], zmax, l)
    return total


@jit
def poisson_sum(Z, A, Y, rows):
    """Σ over the rows of Σ_j e^{z_j} − y_j z_j + y_j ln y_j − y_j (float64 accumulator):
    from z, so that a is not rounded before its logarithm."""
    m, n = A.shape
    total = 0.0
    for i in range(m):
        y = Y[rows[i]]
        for j in range(n):
            yj = np.float64(y[j])
            zj = np.float64(Z[i, j])
            total += np.exp(zj) - yj * zj
            if yj > 0.0:
                total += yj * np.log(yj) - yj
    return total


#: the per-sample cost sums, indexed by cost code (the engine calls the one it needs, so
#: evaluation compiles one cost, not four)
COST_SUMS = (quadratic_sum, cross_entropy_sum, log_likelihood_sum, poisson_sum)

#: scikit-learn's losses, measured on the output activations a (not z), with a clipped to
#: [eps, 1 − eps] in the log losses as scikit-learn clips them (``clipped_loss_sum``)
LOSS_LOG = 1        # −Σ_j y_j ln a_j                      (softmax outputs)
LOSS_BINARY = 2     # −Σ_j y_j ln a_j + (1 − y_j) ln(1 − a_j)  (logistic outputs)
LOSS_SQUARED = 3    # ½ Σ_j (y_j − a_j)² / n_out             (identity outputs)
LOSS_POISSON = 4    # Σ_j y_j ln(y_j / a_j) − y_j + a_j      (exponential outputs, unclipped)


@jit
def sample_loss(a, y, kind, eps):
    """One sample's loss (see LOSS_*) from its output activations ``a`` and target ``y``,
    in float64. A term with y_j = 0 contributes 0, as scipy's xlogy does."""
    n = a.shape[0]
    total = 0.0
    for j in range(n):
        yj = np.float64(y[j])
        aj = np.float64(a[j])
        if kind == LOSS_SQUARED:
            total += 0.5 * (yj - aj) * (yj - aj) / n
            continue
        if kind == LOSS_POISSON:
            total += aj - yj
            if yj != 0.0:
                total += yj * np.log(yj / aj)
            continue
        aj = min(max(aj, eps), 1.0 - eps)
        if yj != 0.0:
            total -= yj * np.log(aj)
        if kind == LOSS_BINARY and yj != 1.0:
            total -= (1.0 - yj) * np.log(1.0 - aj)
    return total


@jit
def clipped_loss_sum(A, Y, rows, kind, eps):
    """Σ over the mini-batch's rows of one of scikit-learn's per-sample losses (see
    LOSS_*), in float64; divided by the rows it is scikit-learn's loss of the mini-batch
    before its L2 term."""
    total = 0.0
    for i in range(A.shape[0]):
        total += sample_loss(A[i], Y[rows[i]], kind, eps)
    return total


@jit
def weighted_loss_sum(A, Y, rows, kind, eps, weights):
    """Σ_i w_i ℓ_i over the mini-batch's rows, w_i = ``weights[rows[i]]`` (scikit-learn's
    ``sample_weight``); divided by Σ_i w_i it is scikit-learn's weighted loss."""
    total = 0.0
    for i in range(A.shape[0]):
        total += np.float64(weights[rows[i]]) * sample_loss(A[i], Y[rows[i]], kind, eps)
    return total


@jit
def sum_of_squares(v):
    """Σ v_i² in float64 (the L2 term's Σ‖W‖² over a buffer of weights)."""
    total = 0.0
    for i in range(v.shape[0]):
        x = np.float64(v[i])
        total += x * x
    return total
