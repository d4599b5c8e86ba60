"""The dense layer: forward product, hidden δ recursion and the weight-gradient product.

Layout: weights ``W`` are ``(n_out, n_in)`` as in the book, biases ``b`` are ``(n_out,)``,
samples are rows. The layer input is ``A_in[rows[r]]`` for r in range(m): the first layer
reads the training array through the shuffle order (the forward product in place; the
weight-gradient product copies the mini-batch's rows into a buffer first, see there),
later layers read the previous layer's activations with ``rows = 0..m-1``.

The inner loops run over contiguous memory and are register-blocked (four neurons × five
samples in the forward product, two weight rows × five samples in the gradient) so that
each load feeds two fused multiply-adds or more.
"""
import numpy as np

from ._jit import ZERO, jit, jit_inline
from .activations import activate, multiply_by_derivative


@jit
def _forward_block(W, b, x0, x1, x2, x3, x4, r0, r1, r2, r3, r4, Z):
    """Z rows r0..r4 for five input rows, four neurons at a time.

    Each step of the inner loop loads four weights and five inputs for twenty
    multiply-adds (twenty accumulators fit AVX-512's 32 vector registers; with AVX2
    LLVM splits them). Callers may repeat a row (r3 == r4 == m - 1 at the end of a
    mini-batch) and the last neuron index is clamped the same way: a repeated row or
    neuron computes the same value again, so every write of it agrees.
    """
    n_out, n_in = W.shape
    for j in range(0, n_out, 4):
        j1 = min(j + 1, n_out - 1)
        j2 = min(j + 2, n_out - 1)
        j3 = min(j + 3, n_out - 1)
        w0 = W[j]
        w1 = W[j1]
        w2 = W[j2]
        w3 = W[j3]
        s00 = ZERO * w0[0]
        s01 = s00
        s02 = s00
        s03 = s00
        s04 = s00
        s10 = s00
        s11 = s00
        s12 = s00
        s13 = s00
        s14 = s00
        s20 = s00
        s21 = s00
        s22 = s00
        s23 = s00
        s24 = s00
        s30 = s00
        s31 = s00
        s32 = s00
        s33 = s00
        s34 = s00
        for k in range(n_in):
            a0 = x0[k]
            a1 = x1[k]
            a2 = x2[k]
            a3 = x3[k]
            a4 = x4[k]
            u = w0[k]
            s00 += u * a0
            s01 += u * a1
            s02 += u * a2
            s03 += u * a3
            s04 += u * a4
            u = w1[k]
            s10 += u * a0
            s11 += u * a1
            s12 += u * a2
            s13 += u * a3
            s14 += u * a4
            u = w2[k]
            s20 += u * a0
            s21 += u * a1
            s22 += u * a2
            s23 += u * a3
            s24 += u * a4
            u = w3[k]
            s30 += u * a0
            s31 += u * a1
            s32 += u * a2
            s33 += u * a3
            s34 += u * a4
        Z[r0, j] = s00 + b[j]
        Z[r1, j] = s01 + b[j]
        Z[r2, j] = s02 + b[j]
        Z[r3, j] = s03 + b[j]
        Z[r4, j] = s04 + b[j]
        Z[r0, j1] = s10 + b[j1]
        Z[r1, j1] = s11 + b[j1]
        Z[r2, j1] = s12 + b[j1]
        Z[r3, j1] = s13 + b[j1]
        Z[r4, j1] = s14 + b[j1]
        Z[r0, j2] = s20 + b[j2]
        Z[r1, j2] = s21 + b[j2]
        Z[r2, j2] = s22 + b[j2]
        Z[r3, j2] = s23 + b[j2]
        Z[r4, j2] = s24 + b[j2]
        Z[r0, j3] = s30 + b[j3]
        Z[r1, j3] = s31 + b[j3]
        Z[r2, j3] = s32 + b[j3]
        Z[r3, j3] = s33 + b[j3]
        Z[r4, j3] = s34 + b[j3]


@jit
def _forward_one(W, b, x0, r0, Z):
    """Z row r0 for one input row, four neurons at a time (the last index clamped)."""
    n_out, n_in = W.shape
    for j in range(0, n_out, 4):
        j1 = min(j + 1, n_out - 1)
        j2 = min(j + 2, n_out - 1)
        j3 = min(j + 3, n_out - 1)
        w0 = W[j]
        w1 = W[j1]
        w2 = W[j2]
        w3 = W[j3]
        s0 = ZERO * w0[0]
        s1 = s0
        s2 = s0
        s3 = s0
        for k in range(n_in):
            a = x0[k]
            s0 += w0[k] * a
            s1 += w1[k] * a
            s2 += w2[k] * a
            s3 += w3[k] * a
        Z[r0, j] = s0 + b[j]
        Z[r0, j1] = s1 + b[j1]
        Z[r0, j2] = s2 + b[j2]
        Z[r0, j3] = s3 + b[j3]


@jit
def forward_product(W, b, A_in, rows, Z):
    """Z[r] = W a_in[r] + b for the m = len(rows) samples (the forward product, no activation).

    Shapes: W (n_out, n_in), b (n_out,), A_in (N, n_in), rows (m,), Z (m, n_out).
    Blocked four neurons × five samples (``_forward_block``). A last group of three or
    four samples runs as a block with its last row repeated; one or two left over run
    one at a time, so online learning (m = 1) does no repeated work.
    """
    m = rows.shape[0]
    r = m - m  # not the literal 0: Numba would compile _forward_block once more for it
    while m - r >= 3:
        r1 = r + 1
        r2 = r + 2
        r3 = min(r + 3, m - 1)
        r4 = min(r + 4, m - 1)
        _forward_block(W, b, A_in[rows[r]], A_in[rows[r1]], A_in[rows[r2]],
                       A_in[rows[r3]], A_in[rows[r4]], r, r1, r2, r3, r4, Z)
        r += 5
    while r < m:
        _forward_one(W, b, A_in[rows[r]], r, Z)
        r += 1


@jit
def forward_product_uniform(W, b, A_in, rows, Z):
    """``forward_product`` with every row through one and the same code, for inference.

    Every group of five samples, the last one too, runs as ``_forward_block`` (a short
    group repeats its last row), so a row's z is computed by the same instructions in
    the same order however many rows come with it: ``predict(X[i:i + 1])`` is
    ``predict(X)[i]`` bit for bit, on any CPU. ``forward_product`` runs a last one or two
    rows alone (``_forward_one``, whose sums LLVM vectorizes and so rounds differently),
    which keeps online learning (m = 1) free of repeated work.
    """
    m = rows.shape[0]
    r = m - m  # not the literal 0: Numba would compile _forward_block once more for it
    last = m - 1
    while r < m:
        r1 = min(r + 1, last)
        r2 = min(r + 2, last)
        r3 = min(r + 3, last)
        r4 = min(r + 4, last)
        _forward_block(W, b, A_in[rows[r]], A_in[rows[r1]], A_in[rows[r2]],
                       A_in[rows[r3]], A_in[rows[r4]], r, r1, r2, r3, r4, Z)
        r += 5


@jit_inline
def forward(W, b, A_in, rows, Z, A, act, param):
    """Z[r] = W a_in[r] + b and A[r] = g(Z[r]) for the m = len(rows) samples:
    ``forward_product`` then the activation (activations.py)."""
    forward_product(W, b, A_in, rows, Z)
    activate(Z, A, act, param)


@jit
def _delta_two(W_next, D_next, r, d, e):
    """d = D_next[r] W_next and e = D_next[r + 1] W_next, four rows of W_next a step: each
    step loads four weights for eight multiply-adds and stores two results."""
    n_next, n = W_next.shape
    for j in range(n):
        d[j] = ZERO
        e[j] = ZERO
    k = 0
    while k + 4 <= n_next:
        c0 = D_next[r, k]
        c1 = D_next[r, k + 1]
        c2 = D_next[r, k + 2]
        c3 = D_next[r, k + 3]
        f0 = D_next[r + 1, k]
        f1 = D_next[r + 1, k + 1]
        f2 = D_next[r + 1, k + 2]
        f3 = D_next[r + 1, k + 3]
        w0 = W_next[k]
        w1 = W_next[k + 1]
        w2 = W_next[k + 2]
        w3 = W_next[k + 3]
        for j in range(n):
            a0 = w0[j]
            a1 = w1[j]
            a2 = w2[j]
            a3 = w3[j]
            d[j] += c0 * a0 + c1 * a1 + c2 * a2 + c3 * a3
            e[j] += f0 * a0 + f1 * a1 + f2 * a2 + f3 * a3
        k += 4
    while k < n_next:
        c0 = D_next[r, k]
        f0 = D_next[r + 1, k]
        w0 = W_next[k]
        for j in range(n):
            d[j] += c0 * w0[j]
            e[j] += f0 * w0[j]
        k += 1


@jit
def _delta_one(W_next, D_next, r, d):
    """d = D_next[r] W_next, four rows of W_next a step."""
    n_next, n = W_next.shape
    for j in range(n):
        d[j] = ZERO
    k = 0
    while k + 4 <= n_next:
        c0 = D_next[r, k]
        c1 = D_next[r, k + 1]
        c2 = D_next[r, k + 2]
        c3 = D_next[r, k + 3]
        w0 = W_next[k]
        w1 = W_next[k + 1]
        w2 = W_next[k + 2]
        w3 = W_next[k + 3]
        for j in range(n):
            d[j] += c0 * w0[j] + c1 * w1[j] + c2 * w2[j] + c3 * w3[j]
        k += 4
    while k < n_next:
        c0 = D_next[r, k]
        w0 = W_next[k]
        for j in range(n):
            d[j] += c0 * w0[j]
        k += 1


@jit
def delta_product(W_next, D_next, D):
    """D = D_next W_next, i.e. D[r] = (W^{l+1})ᵀ δ^{l+1}[r] (the hidden δ product, before g').

    Shapes: W_next (n_next, n), D_next (m, n_next), D (m, n). Blocked two samples × four
    rows of W_next; an odd last sample runs alone.
    """
    m = D_next.shape[0]
    r = m - m  # not the literal 0: Numba would compile _delta_two once more for it
    while r + 2 <= m:
        _delta_two(W_next, D_next, r, D[r], D[r + 1])
        r += 2
    if r < m:
        _delta_one(W_next, D_next, r, D[r])


@jit_inline
def hidden_delta(W_next, D_next, Z, A, act, param, from_z, D):
    """δ^l = g'(z^l) ⊙ (W^{l+1})ᵀ δ^{l+1}, one row per sample (see activations.py for ``from_z``).

    Shapes: W_next (n_next, n), D_next (m, n_next), Z, A and D (m, n).
    """
    delta_product(W_next, D_next, D)
    multiply_by_derivative(D, Z, A, act, param, from_z)


@jit
def _scale_row(w, beta):
    if beta == ZERO:
        for k in range(w.shape[0]):
            w[k] = ZERO
    elif beta != 1:
        for k in range(w.shape[0]):
            w[k] *= beta


@jit
def weight_product(D, A_in, rows, alpha, beta_w, W_out):
    """W_out ← β_w W_out + α Σ_r δ[r] a_in[r]ᵀ (the weight-gradient product; with β_w ≠ 0, 1
    each row is first scaled by β_w, which is the fused update's weight decay).

    A zero β overwrites (so the output buffer may hold garbage). The mini-batch's inputs
    are first copied into a buffer allocated here: LLVM then knows that the rows of W it
    stores do not overlap the inputs it loads, and vectorizes a block of two weight rows
    × five samples (ten broadcast δ's, five input loads and two stores for ten
    multiply-adds). Reading the inputs in place through ``rows``, blocks wider than two
    rows × four samples needed more run-time overlap checks than LLVM makes, and ran
    scalar. A buffer passed in (a workspace) was measured 4-9% slower than this one
    allocated per call: LLVM knows only a fresh allocation cannot overlap W.
    Shapes: D (m, n_out), A_in (N, n_in), rows (m,), W_out (n_out, n_in).
    """
    m = rows.shape[0]
    n_out, n_in = W_out.shape
    X = np.empty((m, n_in), dtype=W_out.dtype)
    for r in range(m):
        src = A_in[rows[r]]
        for k in range(n_in):
            X[r, k] = src[k]
    for pair in range(n_out // 2):
        j = 2 * pair
        w = W_out[j]
        v = W_out[j + 1]
        _scale_row(w, beta_w)
        _scale_row(v, beta_w)
        r = 0
        while r + 5 <= m:
            c0 = alpha * D[r, j]
            c1 = alpha * D[r + 1, j]
            c2 = alpha * D[r + 2, j]
            c3 = alpha * D[r + 3, j]
            c4 = alpha * D[r + 4, j]
            e0 = alpha * D[r, j + 1]
            e1 = alpha * D[r + 1, j + 1]
            e2 = alpha * D[r + 2, j + 1]
            e3 = alpha * D[r + 3, j + 1]
            e4 = alpha * D[r + 4, j + 1]
            x0 = X[r]
            x1 = X[r + 1]
            x2 = X[r + 2]
            x3 = X[r + 3]
            x4 = X[r + 4]
            for k in range(n_in):
                a0 = x0[k]
                a1 = x1[k]
                a2 = x2[k]
                a3 = x3[k]
                a4 = x4[k]
                w[k] += c0 * a0 + c1 * a1 + c2 * a2 + c3 * a3 + c4 * a4
                v[k] += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3 + e4 * a4
            r += 5
        if r + 2 <= m:
            c0 = alpha * D[r, j]
            c1 = alpha * D[r + 1, j]
            e0 = alpha * D[r, j + 1]
            e1 = alpha * D[r + 1, j + 1]
            x0 = X[r]
            x1 = X[r + 1]
            for k in range(n_in):
                a0 = x0[k]
                a1 = x1[k]
                w[k] += c0 * a0 + c1 * a1
                v[k] += e0 * a0 + e1 * a1
            r += 2
        while r < m:
            c0 = alpha * D[r, j]
            e0 = alpha * D[r, j + 1]
            x0 = X[r]
            for k in range(n_in):
                a0 = x0[k]
                w[k] += c0 * a0
                v[k] += e0 * a0
            r += 1
    if n_out % 2:
        j = n_out - 1
        w = W_out[j]
        _scale_row(w, beta_w)
        r = 0
        while r + 5 <= m:
            c0 = alpha * D[r, j]
            c1 = alpha * D[r + 1, j]
            c2 = alpha * D[r + 2, j]
            c3 = alpha * D[r + 3, j]
            c4 = alpha * D[r + 4, j]
            x0 = X[r]
            x1 = X[r + 1]
            x2 = X[r + 2]
            x3 = X[r + 3]
            x4 = X[r + 4]
            for k in range(n_in):
                w[k] += c0 * x0[k] + c1 * x1[k] + c2 * x2[k] + c3 * x3[k] + c4 * x4[k]
            r += 5
        while r < m:
            c0 = alpha * D[r, j]
            x0 = X[r]
            for k in range(n_in):
                w[k] += c0 * x0[k]
            r += 1


@jit
def bias_gradient(D, alpha, beta_b, b_out):
    """b_out ← β_b b_out + α Σ_r δ[r] (a zero β overwrites).
    Shapes: D (m, n_out), b_out (n_out,)."""
    m, n_out = D.shape
    for j in range(n_out):
        s = ZERO * alpha
        for r in range(m):
            s += D[r, j]
        if beta_b == ZERO:
            b_out[j] = alpha * s
        else:
            b_out[j] = beta_b * b_out[j] + alpha * s


@jit
def scale_weights(W, beta):
    """W ← β W row by row (what ``weight_product`` does first when β ≠ 0, 1)."""
    for j in range(W.shape[0]):
        _scale_row(W[j], beta)


@jit_inline
def weight_gradient(D, A_in, rows, alpha, beta_w, beta_b, W_out, b_out):
    """W_out ← β_w W_out + α Σ_r δ[r] a_in[r]ᵀ and b_out ← β_b b_out + α Σ_r δ[r].

    With α = 1/m and β = 0 this is the mean gradient of the mini-batch; with
    α = -η/m, β_w = 1 - ηλ/n and β_b = 1, applied to the parameters themselves, it is
    the book's whole update for the layer in one pass, with no gradient buffer.
    A zero β overwrites (so the output buffer may hold garbage).

    Shapes: D (m, n_out), A_in (N, n_in), rows (m,), W_out (n_out, n_in), b_out (n_out,).
    """
    weight_product(D, A_in, rows, alpha, beta_w, W_out)
    bias_gradient(D, alpha, beta_b, b_out)
