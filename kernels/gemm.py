"""The engine's own GEMM: C ← A B + β C with a register-blocked micro-kernel.

For cores whose BLAS runs narrower vectors than the core has (an AVX-512 core with
OpenBLAS held to its AVX2 kernels: fastnn/_engine/gemm.py decides when this runs). Shapes:
A (M, K), B (K, N), C (M, N); A and B any strides (transposed views included), C
contiguous along its rows.

Blocking, after BLIS (Van Zee & van de Geijn) with one operand left in place:

* K is cut into blocks of ``KC`` and N into blocks of ``NC``; each (K, N) block of B is
  packed into panels ``NR`` wide, k-major and zero-padded (``pack_b``), so the
  micro-kernel reads B as a contiguous stream whatever its layout.
* A is read where it is: for MR rows the micro-kernel broadcasts A[i + r, k] straight
  from A's own strides. Packing A costs a copy of A per product, which measured as
  large as the product itself for the matrix path's shapes (N = 128 samples: each
  element of A is used only 128 times).
* The micro-kernel (``micro_kernel``) keeps an MR × NR block of C in MR·NV vector
  registers (6 × 4 = 24 of AVX-512's 32) for the whole k loop: per k, NV loads of B,
  MR broadcasts of A and MR·NV fused multiply-adds, the block of C read and written
  once per K block; when β ≠ 0 the block of C is prefetched before the k loop, so its
  read at the end does not wait on memory (layer 1's update of config C, whose W₁ was
  last touched by the forward pass: 134-149 against 160-180 GFLOP/s without and with,
  after a 16 MB sweep or another product). MR = 6 rows: 12 rows of a 1,024-wide
  float32 matrix are 4 KiB apart and fight for the same L1 cache sets (measured: 126
  against 192 GFLOP/s when the rows were padded); 6 rows × 4 vectors ran at 199 on
  that matrix.
* Rows of C are split across threads in blocks of MR (``gemm_parallel``).

The first K block applies β (C ← AB + βC; β = 0 writes C without reading it, as BLAS
does); later blocks add (β = 1). A block of fewer than MR rows reads A's last row again
for the missing ones and stores only its own; a panel of fewer than NR columns goes
through a scratch block of C. B is packed with vector copies, or with transposes in
registers when its columns are contiguous (``pack_b``).
"""
import numpy as np
from numba import prange

from ._jit import jit, jit_parallel
from .fpenv import flush_bits, restore, set_flush
from .simd import lanes, prefetch, vbroadcast, vfma, vload, vstore_scaled, vtranspose, vzero

#: rows of C per micro-kernel call
MR = 6
#: vectors of C per row per micro-kernel call (NR = NV · lanes columns)
NV = 4
#: the K block: a panel of B (KC × NR) stays in the L1/L2 caches for a whole row block
KC = 256
#: the N block: columns of B packed at once (a multiple of NR for float32 and float64)
NC = 256
#: rows of a block of B one thread packs in ``gemm_parallel`` (a multiple of the lanes)
PACK_ROWS = 32


@jit
def micro_kernel(kc, A, a0, sa_row, sa_k, Bp, b0, C, c0, ldc, beta, h):
    """C[r, c] ← Σ_k A[r, k] Bp[k, c] + β C[r, c] for the first ``h`` (1 to MR) rows of an
    MR × NR block.

    ``A`` at flat offset ``a0 + r·sa_row + k·sa_k``; ``Bp`` a packed panel at ``b0``,
    k-major (NR values per k); ``C`` at ``c0 + r·ldc + c``. With h < MR the rows past
    the last are computed from A's last row again and not stored, so an edge block of
    rows needs no copy. Flat offsets, no bounds checks: the caller passes whole
    blocks."""
    L = lanes(Bp)
    nr = NV * L
    c00 = vzero(Bp); c01 = vzero(Bp); c02 = vzero(Bp); c03 = vzero(Bp)  # noqa: E702
    c10 = vzero(Bp); c11 = vzero(Bp); c12 = vzero(Bp); c13 = vzero(Bp)  # noqa: E702
    c20 = vzero(Bp); c21 = vzero(Bp); c22 = vzero(Bp); c23 = vzero(Bp)  # noqa: E702
    c30 = vzero(Bp); c31 = vzero(Bp); c32 = vzero(Bp); c33 = vzero(Bp)  # noqa: E702
    c40 = vzero(Bp); c41 = vzero(Bp); c42 = vzero(Bp); c43 = vzero(Bp)  # noqa: E702
    c50 = vzero(Bp); c51 = vzero(Bp); c52 = vzero(Bp); c53 = vzero(Bp)  # noqa: E702
    if beta != 0:  # C is read at the end: fetch it while the k loop runs
        for r in range(MR):
            for v in range(NV):
                prefetch(C, c0 + r * ldc + v * L)
    p0 = a0
    p1 = p0 + min(1, h - 1) * sa_row
    p2 = p0 + min(2, h - 1) * sa_row
    p3 = p0 + min(3, h - 1) * sa_row
    p4 = p0 + min(4, h - 1) * sa_row
    p5 = p0 + min(5, h - 1) * sa_row
    for k in range(kc):
        pb = b0 + k * nr
        b0v = vload(Bp, pb)
        b1v = vload(Bp, pb + L)
        b2v = vload(Bp, pb + 2 * L)
        b3v = vload(Bp, pb + 3 * L)
        pk = k * sa_k
        a = vbroadcast(A, p0 + pk)
        c00 = vfma(a, b0v, c00); c01 = vfma(a, b1v, c01); c02 = vfma(a, b2v, c02); c03 = vfma(a, b3v, c03)  # noqa: E501,E702
        a = vbroadcast(A, p1 + pk)
        c10 = vfma(a, b0v, c10); c11 = vfma(a, b1v, c11); c12 = vfma(a, b2v, c12); c13 = vfma(a, b3v, c13)  # noqa: E501,E702
        a = vbroadcast(A, p2 + pk)
        c20 = vfma(a, b0v, c20); c21 = vfma(a, b1v, c21); c22 = vfma(a, b2v, c22); c23 = vfma(a, b3v, c23)  # noqa: E501,E702
        a = vbroadcast(A, p3 + pk)
        c30 = vfma(a, b0v, c30); c31 = vfma(a, b1v, c31); c32 = vfma(a, b2v, c32); c33 = vfma(a, b3v, c33)  # noqa: E501,E702
        a = vbroadcast(A, p4 + pk)
        c40 = vfma(a, b0v, c40); c41 = vfma(a, b1v, c41); c42 = vfma(a, b2v, c42); c43 = vfma(a, b3v, c43)  # noqa: E501,E702
        a = vbroadcast(A, p5 + pk)
        c50 = vfma(a, b0v, c50); c51 = vfma(a, b1v, c51); c52 = vfma(a, b2v, c52); c53 = vfma(a, b3v, c53)  # noqa: E501,E702
    q = c0
    vstore_scaled(C, q, c00, beta); vstore_scaled(C, q + L, c01, beta)  # noqa: E702
    vstore_scaled(C, q + 2 * L, c02, beta); vstore_scaled(C, q + 3 * L, c03, beta)  # noqa: E702
    if h > 1:
        q += ldc
        vstore_scaled(C, q, c10, beta); vstore_scaled(C, q + L, c11, beta)  # noqa: E702
        vstore_scaled(C, q + 2 * L, c12, beta); vstore_scaled(C, q + 3 * L, c13, beta)  # noqa: E702,E501
    if h > 2:
        q += ldc
        vstore_scaled(C, q, c20, beta); vstore_scaled(C, q + L, c21, beta)  # noqa: E702
        vstore_scaled(C, q + 2 * L, c22, beta); vstore_scaled(C, q + 3 * L, c23, beta)  # noqa: E702,E501
    if h > 3:
        q += ldc
        vstore_scaled(C, q, c30, beta); vstore_scaled(C, q + L, c31, beta)  # noqa: E702
        vstore_scaled(C, q + 2 * L, c32, beta); vstore_scaled(C, q + 3 * L, c33, beta)  # noqa: E702,E501
    if h > 4:
        q += ldc
        vstore_scaled(C, q, c40, beta); vstore_scaled(C, q + L, c41, beta)  # noqa: E702
        vstore_scaled(C, q + 2 * L, c42, beta); vstore_scaled(C, q + 3 * L, c43, beta)  # noqa: E702,E501
    if h > 5:
        q += ldc
        vstore_scaled(C, q, c50, beta); vstore_scaled(C, q + L, c51, beta)  # noqa: E702
        vstore_scaled(C, q + 2 * L, c52, beta); vstore_scaled(C, q + 3 * L, c53, beta)  # noqa: E702,E501


@jit
def panel_width(C):
    """NR: the columns of C one micro-kernel call covers (NV vectors of C's dtype)."""
    return NV * lanes(C)


@jit
def pack_b(B, pc, kc, jc, nc, Bp, k_lo, k_hi):
    """Rows k_lo : k_hi (k_lo a multiple of the lanes) of the block B[pc : pc + kc,
    jc : jc + nc] into ``Bp`` as panels of NR columns, each k-major (NR values per k),
    the last panel zero-padded to NR. ``gemm`` packs the whole block (0, kc);
    ``gemm_parallel`` splits its rows across threads (``PACK_ROWS`` each).

    Rows of B contiguous: NV vector copies per k. Columns contiguous (a transposed view):
    square blocks of lanes × lanes transposed in registers (``vtranspose``). Measured
    on one core, float32, a 1,024 × 128 block: 16 µs and 36-41 µs against 88 and 80 µs
    element by element, which was 6-7% of a config-C mini-batch. Other strides, and the
    edges, element by element."""
    nr = panel_width(Bp)
    L = lanes(Bp)
    zero = 0  # vstore_scaled with β = 0: a plain store
    isz = B.itemsize
    sk = B.strides[0] // isz
    sj = B.strides[1] // isz
    for p in range((nc + nr - 1) // nr):
        base = p * kc * nr
        j0 = jc + p * nr
        w = min(nr, jc + nc - j0)
        if sj == 1 and w == nr:
            s = (pc + k_lo) * sk + j0
            o = base + k_lo * nr
            for k in range(k_lo, k_hi):
                vstore_scaled(Bp, o, vload(B, s), zero)
                vstore_scaled(Bp, o + L, vload(B, s + L), zero)
                vstore_scaled(Bp, o + 2 * L, vload(B, s + 2 * L), zero)
                vstore_scaled(Bp, o + 3 * L, vload(B, s + 3 * L), zero)
                s += sk
                o += nr
            continue
        c_full = w - w % L
        if sj == 1:  # the last, partial panel of a row-major B
            for k in range(k_lo, k_hi):
                o = base + k * nr
                s = (pc + k) * sk + j0
                for c0 in range(0, c_full, L):
                    vstore_scaled(Bp, o + c0, vload(B, s + c0), zero)
                for c in range(c_full, w):
                    Bp[o + c] = B[pc + k, j0 + c]
                for c in range(w, nr):
                    Bp[o + c] = 0
            continue
        k_full = k_lo + (k_hi - k_lo) // L * L if sk == 1 else k_lo
        for k0 in range(k_lo, k_full, L):
            for c0 in range(0, c_full, L):
                vtranspose(B, pc + k0 + (j0 + c0) * sj, sj, Bp, base + k0 * nr + c0, nr)
        for k in range(k_lo, k_hi):
            o = base + k * nr
            c_start = c_full if k < k_full else 0
            for c in range(c_start, w):
                Bp[o + c] = B[pc + k, j0 + c]
            for c in range(w, nr):
                Bp[o + c] = 0


@jit
def row_block(A, i, pc, kc, Bp, jc, nc, C, beta):
    """Rows i : i + MR of C (fewer at the end), columns jc : jc + nc, from the packed B
    block ``Bp``. A partial panel of columns goes through a scratch block."""
    M = A.shape[0]
    N = C.shape[1]
    nr = panel_width(Bp)
    itemsize = A.itemsize
    ldc = C.strides[0] // C.itemsize
    h = min(MR, M - i)
    a0 = (i * A.strides[0] + pc * A.strides[1]) // itemsize
    sa_row = A.strides[0] // itemsize
    sa_k = A.strides[1] // itemsize
    zero = beta * 0
    n_panels = (nc + nr - 1) // nr
    full = n_panels if jc + n_panels * nr <= N else n_panels - 1
    for p in range(full):
        micro_kernel(kc, A, a0, sa_row, sa_k, Bp, p * kc * nr, C, i * ldc + jc + p * nr, ldc,
                     beta, h)
    if full < n_panels:
        j0 = jc + full * nr
        w = N - j0
        T = np.empty((MR, nr), C.dtype)
        micro_kernel(kc, A, a0, sa_row, sa_k, Bp, full * kc * nr, T, 0, nr, zero, h)
        for r in range(h):
            if beta == 0:
                for c in range(w):
                    C[i + r, j0 + c] = T[r, c]
            else:
                for c in range(w):
                    C[i + r, j0 + c] = T[r, c] + beta * C[i + r, j0 + c]


@jit
def scale(C, beta):
    """C ← β C (β = 0: zeros, without reading C): the product of an empty K."""
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            C[i, j] = 0 if beta == 0 else beta * C[i, j]


@jit
def gemm(A, B, C, beta):
    """C ← A B + β C on the calling thread (shapes and layouts: the module docstring)."""
    M, K = A.shape
    N = B.shape[1]
    if K == 0:
        scale(C, beta)
        return
    nr = panel_width(C)
    Bp = np.empty(KC * (NC + nr), B.dtype)
    one = beta * 0 + 1
    for pc in range(0, K, KC):
        kc = min(KC, K - pc)
        b = beta if pc == 0 else one
        for jc in range(0, N, NC):
            nc = min(NC, N - jc)
            pack_b(B, pc, kc, jc, nc, Bp, 0, kc)
            for t in range((M + MR - 1) // MR):
                row_block(A, t * MR, pc, kc, Bp, jc, nc, C, b)


@jit_parallel
def gemm_parallel(A, B, C, beta):
    """``gemm`` with the row blocks of C split across Numba's threads (``prange``).

    A copy of ``gemm``'s body rather than the same function compiled twice: Numba's
    on-disk cache names its entries after the Python function, not the ``parallel``
    flag, so two dispatchers of one function would share (and overwrite) entries."""
    M, K = A.shape
    N = B.shape[1]
    if K == 0:
        scale(C, beta)
        return
    nr = panel_width(C)
    Bp = np.empty(KC * (NC + nr), B.dtype)
    one = beta * 0 + 1
    flush = flush_bits()  # the caller's subnormal mode, for every thread (fpenv.py)
    for pc in range(0, K, KC):
        kc = min(KC, K - pc)
        b = beta if pc == 0 else one
        for jc in range(0, N, NC):
            nc = min(NC, N - jc)
            for q in prange((kc + PACK_ROWS - 1) // PACK_ROWS):
                pack_b(B, pc, kc, jc, nc, Bp, q * PACK_ROWS, min(kc, (q + 1) * PACK_ROWS))
            for t in prange((M + MR - 1) // MR):
                saved = set_flush(flush)
                row_block(A, t * MR, pc, kc, Bp, jc, nc, C, b)
                restore(saved)
