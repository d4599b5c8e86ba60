"""The dense layer: forward product, hidden δ recursion and the weight-gradient product.

Layout: weights ``W`` are ``(n_out, n_in)`` as in the book, biases ``b`` are ``(n_out,)``,
samples are rows. The layer input is ``A_in[rows[r]]`` for r in range(m): the first layer
reads the training array directly through the shuffle order (no gathered copy), later
layers read the previous layer's activations with ``rows = 0..m-1``.

The inner loops run over contiguous memory and are register-blocked (two neurons × four
samples) so that each load feeds two fused multiply-adds or more.
"""
from ._jit import ZERO, jit
from .activations import activate, multiply_by_derivative


@jit
def forward(W, b, A_in, rows, Z, A, act, param):
    """Z[r] = W a_in[r] + b and A[r] = g(Z[r]) for the m = len(rows) samples.

    Shapes: W (n_out, n_in), b (n_out,), A_in (N, n_in), rows (m,), Z and A (m, n_out).
    Blocked two neurons × four samples: each step loads two weights and four inputs for
    eight multiply-adds. An odd last neuron is computed as a pair with itself.
    """
    n_out, n_in = W.shape
    m = rows.shape[0]
    r = 0
    while r + 4 <= m:
        x0 = A_in[rows[r]]
        x1 = A_in[rows[r + 1]]
        x2 = A_in[rows[r + 2]]
        x3 = A_in[rows[r + 3]]
        for j in range(0, n_out, 2):
            j1 = min(j + 1, n_out - 1)
            w = W[j]
            v = W[j1]
            s0 = ZERO * w[0]
            s1 = s0
            s2 = s0
            s3 = s0
            t0 = s0
            t1 = s0
            t2 = s0
            t3 = s0
            for k in range(n_in):
                wk = w[k]
                vk = v[k]
                a = x0[k]
                s0 += wk * a
                t0 += vk * a
                a = x1[k]
                s1 += wk * a
                t1 += vk * a
                a = x2[k]
                s2 += wk * a
                t2 += vk * a
                a = x3[k]
                s3 += wk * a
                t3 += vk * a
            Z[r, j] = s0 + b[j]
            Z[r + 1, j] = s1 + b[j]
            Z[r + 2, j] = s2 + b[j]
            Z[r + 3, j] = s3 + b[j]
            Z[r, j1] = t0 + b[j1]
            Z[r + 1, j1] = t1 + b[j1]
            Z[r + 2, j1] = t2 + b[j1]
            Z[r + 3, j1] = t3 + b[j1]
        r += 4
    if r + 2 <= m:
        x0 = A_in[rows[r]]
        x1 = A_in[rows[r + 1]]
        for j in range(0, n_out, 2):
            j1 = min(j + 1, n_out - 1)
            w = W[j]
            v = W[j1]
            s0 = ZERO * w[0]
            s1 = s0
            t0 = s0
            t1 = s0
            for k in range(n_in):
                wk = w[k]
                vk = v[k]
                a = x0[k]
                s0 += wk * a
                t0 += vk * a
                a = x1[k]
                s1 += wk * a
                t1 += vk * a
            Z[r, j] = s0 + b[j]
            Z[r + 1, j] = s1 + b[j]
            Z[r, j1] = t0 + b[j1]
            Z[r + 1, j1] = t1 + b[j1]
        r += 2
    while r < m:
        x0 = A_in[rows[r]]
        for j in range(0, n_out, 2):
            j1 = min(j + 1, n_out - 1)
            w = W[j]
            v = W[j1]
            s0 = ZERO * w[0]
            t0 = s0
            for k in range(n_in):
                a = x0[k]
                s0 += w[k] * a
                t0 += v[k] * a
            Z[r, j] = s0 + b[j]
            Z[r, j1] = t0 + b[j1]
        r += 1
    activate(Z, A, act, param)


@jit
def hidden_delta(W_next, D_next, Z, A, act, param, from_z, D):
    """δ^l = g'(z^l) ⊙ (W^{l+1})ᵀ δ^{l+1}, one row per sample (see activations.py for ``from_z``).

    Shapes: W_next (n_next, n), D_next (m, n_next), Z, A and D (m, n).
    """
    n_next, n = W_next.shape
    m = D_next.shape[0]
    for r in range(m):
        d = D[r]
        for j in range(n):
            d[j] = ZERO
        for k in range(n_next):
            c = D_next[r, k]
            w = W_next[k]
            for j in range(n):
                d[j] += c * w[j]
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
def _accumulate_pair(D, A_in, rows, alpha, j, w, v):
    """w += α Σ_r D[r, j] a_in[r] and v += α Σ_r D[r, j+1] a_in[r], four samples a step."""
    m = rows.shape[0]
    n_in = w.shape[0]
    r = 0
    while r + 4 <= m:
        c0 = alpha * D[r, j]
        c1 = alpha * D[r + 1, j]
        c2 = alpha * D[r + 2, j]
        c3 = alpha * D[r + 3, j]
        e0 = alpha * D[r, j + 1]
        e1 = alpha * D[r + 1, j + 1]
        e2 = alpha * D[r + 2, j + 1]
        e3 = alpha * D[r + 3, j + 1]
        x0 = A_in[rows[r]]
        x1 = A_in[rows[r + 1]]
        x2 = A_in[rows[r + 2]]
        x3 = A_in[rows[r + 3]]
        for k in range(n_in):
            a0 = x0[k]
            a1 = x1[k]
            a2 = x2[k]
            a3 = x3[k]
            w[k] += c0 * a0 + c1 * a1 + c2 * a2 + c3 * a3
            v[k] += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3
        r += 4
    if r + 2 <= m:
        c0 = alpha * D[r, j]
        c1 = alpha * D[r + 1, j]
        e0 = alpha * D[r, j + 1]
        e1 = alpha * D[r + 1, j + 1]
        x0 = A_in[rows[r]]
        x1 = A_in[rows[r + 1]]
        for k in range(n_in):
            a0 = x0[k]
            a1 = x1[k]
            w[k] += c0 * a0 + c1 * a1
            v[k] += e0 * a0 + e1 * a1
        r += 2
    while r < m:
        c0 = alpha * D[r, j]
        e0 = alpha * D[r, j + 1]
        x0 = A_in[rows[r]]
        for k in range(n_in):
            a0 = x0[k]
            w[k] += c0 * a0
            v[k] += e0 * a0
        r += 1


@jit
def _accumulate_one(D, A_in, rows, alpha, j, w):
    """w += α Σ_r D[r, j] a_in[r], four samples a step."""
    m = rows.shape[0]
    n_in = w.shape[0]
    r = 0
    while r + 4 <= m:
        c0 = alpha * D[r, j]
        c1 = alpha * D[r + 1, j]
        c2 = alpha * D[r + 2, j]
        c3 = alpha * D[r + 3, j]
        x0 = A_in[rows[r]]
        x1 = A_in[rows[r + 1]]
        x2 = A_in[rows[r + 2]]
        x3 = A_in[rows[r + 3]]
        for k in range(n_in):
            w[k] += c0 * x0[k] + c1 * x1[k] + c2 * x2[k] + c3 * x3[k]
        r += 4
    while r < m:
        c0 = alpha * D[r, j]
        x0 = A_in[rows[r]]
        for k in range(n_in):
            w[k] += c0 * x0[k]
        r += 1


@jit
def weight_gradient(D, A_in, rows, alpha, beta_w, beta_b, W_out, b_out):
    """W_out ← β_w W_out + α Σ_r δ[r] a_in[r]ᵀ and b_out ← β_b b_out + α Σ_r δ[r].

    With α = 1/m and β = 0 this is the mean gradient of the mini-batch; with
    α = -η/m, β_w = 1 - ηλ/n and β_b = 1, applied to the parameters themselves, it is
    the book's whole update for the layer in one pass, with no gradient buffer.
    A zero β overwrites (so the output buffer may hold garbage). Blocked two weight rows
    × four samples.

    Shapes: D (m, n_out), A_in (N, n_in), rows (m,), W_out (n_out, n_in), b_out (n_out,).
    """
    n_out = W_out.shape[0]
    m = rows.shape[0]
    for pair in range(n_out // 2):
        j = 2 * pair
        w = W_out[j]
        v = W_out[j + 1]
        _scale_row(w, beta_w)
        _scale_row(v, beta_w)
        _accumulate_pair(D, A_in, rows, alpha, j, w, v)
    if n_out % 2:
        j = n_out - 1
        w = W_out[j]
        _scale_row(w, beta_w)
        _accumulate_one(D, A_in, rows, alpha, j, w)
    for j in range(n_out):
        s = ZERO * alpha
        for r in range(m):
            s += D[r, j]
        if beta_b == ZERO:
            b_out[j] = alpha * s
        else:
            b_out[j] = beta_b * b_out[j] + alpha * s
