"""Elementwise passes of the matrix (BLAS) path: everything between two GEMMs.

For large layers the engine does the three products of each layer -- Z = A_in Wᵀ,
δ_in = δ W and ∇W = δᵀ A_in -- with BLAS GEMM (NumPy's ``matmul`` into preallocated
outputs, called from Python, never from inside a Numba kernel), and these kernels do the
cheap passes between them, each one sweep over its arrays:

* ``add_bias`` / ``add_bias_t``: Z += b (then the layer's activation kernel,
  activations.activate, called from Python);
* ``scale``: D *= α (the output δ is scaled by the step once, so every δ and every
  product built from it carries the step, and no later pass is needed to scale ∇W);
* ``decay_add``: W ← β W + G (the book's weight decay and update in one pass);
* ``bias_update_t``: b ← β b + Σ over the samples of δ (summed first, then added:
  adding each sample's δ to b in turn would round m times at the size of b);
* ``scale_rows``: a dropout mask on hidden activations or δ;
* ``gather_rows`` / ``gather_rows_parallel``: the mini-batch's rows of X into a block
  (measured, 128 random rows of a 60,000 × 784 float32 array: 28 µs against 44 µs for
  ``np.take`` on one core, 19-25 µs on two threads);
* ``add_bias_from_t``: Z ← Zᵀ's transpose + b, for an output layer whose product the
  engine's GEMM ran feature-major (fastnn/_engine/matrix.py).

Hidden layers' blocks are feature-major, ``(n, m)``: one row per unit and one column per
sample (the ``_t`` kernels), because the products then run as W·Aᵀ (n_out × n_in times
n_in × m), the shape BLAS runs fastest (measured: 96 vs 80 GFLOP/s for A·Wᵀ on one core,
190 vs 140 on two, at m = 128, n = 1024). The output layer stays sample-major ``(m, n)``
so that softmax and the costs' kernels apply unchanged.
"""
from numba import prange

from ._jit import ZERO, jit, jit_parallel


@jit
def add_bias(Z, b):
    """Z[i] += b for every row (then the layer's activation, activations.activate)."""
    m, n = Z.shape
    for i in range(m):
        z = Z[i]
        for j in range(n):
            z[j] += b[j]


@jit
def scale(D, alpha):
    """D *= α."""
    m, n = D.shape
    for i in range(m):
        d = D[i]
        for j in range(n):
            d[j] *= alpha


@jit
def decay_add(W, G, beta):
    """W ← β W + G (β = 1 adds; β = 0 copies)."""
    n_out, n_in = W.shape
    if beta == ZERO:
        for j in range(n_out):
            w = W[j]
            g = G[j]
            for k in range(n_in):
                w[k] = g[k]
    elif beta == 1:
        for j in range(n_out):
            w = W[j]
            g = G[j]
            for k in range(n_in):
                w[k] += g[k]
    else:
        for j in range(n_out):
            w = W[j]
            g = G[j]
            for k in range(n_in):
                w[k] = beta * w[k] + g[k]


@jit
def add_bias_t(ZT, b):
    """Feature-major block ``(n, m)``: ZT[j] += b[j] for every unit j (then an elementwise
    activation; softmax is row-wise and stays sample-major)."""
    n, m = ZT.shape
    for j in range(n):
        z = ZT[j]
        bj = b[j]
        for i in range(m):
            z[i] += bj


@jit
def bias_update_t(b, DT, beta):
    """Feature-major δ ``(n, m)``: b ← β b + Σ_i DT[:, i] (β = 0 overwrites)."""
    n, m = DT.shape
    for j in range(n):
        d = DT[j]
        s = ZERO * d[0]
        for i in range(m):
            s += d[i]
        if beta == ZERO:
            b[j] = s
        else:
            b[j] = beta * b[j] + s


@jit
def scale_rows(AT, s):
    """AT[j] *= s[j]: a dropout mask on a feature-major block ``(n, m)``."""
    n, m = AT.shape
    for j in range(n):
        sj = s[j]
        a = AT[j]
        for i in range(m):
            a[i] *= sj


@jit
def add_bias_from_t(ZT, b, Z):
    """Z[i, j] ← ZT[j, i] + b[j]: a feature-major product ``(n, m)`` into the
    sample-major output block ``(m, n)``, bias added."""
    n, m = ZT.shape
    for i in range(m):
        z = Z[i]
        for j in range(n):
            z[j] = ZT[j, i] + b[j]


@jit
def _check_rows(n, rows):
    for i in range(rows.shape[0]):
        if rows[i] < 0 or rows[i] >= n:
            raise IndexError("gather_rows: a row index is out of range")


@jit
def _copy_row(x, o):
    for j in range(x.shape[0]):
        o[j] = x[j]


@jit
def gather_rows(X, rows, out):
    """out[i] ← X[rows[i]] (IndexError for a row outside X)."""
    _check_rows(X.shape[0], rows)
    for i in range(rows.shape[0]):
        _copy_row(X[rows[i]], out[i])


@jit_parallel
def gather_rows_parallel(X, rows, out):
    """``gather_rows`` with the rows split across Numba's threads: each row is a wait on
    memory (a random row of the training set), so two threads keep twice as many
    misses in flight. (A function of its own, not ``gather_rows`` compiled twice:
    Numba's cache names its entries after the function, not the ``parallel`` flag.)"""
    _check_rows(X.shape[0], rows)
    for i in prange(rows.shape[0]):
        _copy_row(X[rows[i]], out[i])
