"""The engine's own GEMM (kernels/gemm.py, kernels/simd.py) and the choice of GEMM
(fastnn/_engine/gemm.py).

The kernel is checked against NumPy in float64 on shapes that hit every edge (rows
short of MR, columns short of a panel, K over several KC blocks, empty K), every layout
the matrix path passes (C-ordered, transposed views, strided slices), β = 0 (C not
read: NaN there must not leak), 0.5 and 1, serial and threaded. With small-integer
inputs every product and sum is exact in float32, so those results must be equal,
not close. Then the matrix path running it is compared with the naive reference.
"""
import itertools

import numba
import numpy as np
import pytest
from _oracle import reference_of, rel_err, targets

import fastnn
from fastnn._engine import gemm as _gemm
from fastnn._engine import threads as _threads
from fastnn.kernels import gemm as K
from fastnn.kernels import simd

SHAPES = [(1, 1, 1), (5, 3, 7), (6, 1, 64), (12, 40, 80), (13, 300, 129), (37, 513, 70),
          (64, 17, 300), (100, 0, 70)]
DTYPES = [np.float32, np.float64]


def operand(rng, shape, layout, dtype, integers=False):
    """A (rows, cols) array laid out as C-ordered, F-ordered (a transposed view's
    layout) or a strided slice of a bigger array."""
    rows, cols = shape
    make = ((lambda s: rng.integers(-3, 4, s)) if integers else rng.standard_normal)
    if layout == "C":
        return np.ascontiguousarray(make((rows, cols)), dtype)
    if layout == "F":
        return np.ascontiguousarray(make((cols, rows)), dtype).T
    return np.ascontiguousarray(make((2 * rows + 1, 3 * cols + 2)), dtype)[1::2, 2::3]


def run(kernel, A, B, C, beta):
    _gemm._entry(kernel, C.dtype)(A, B, C, C.dtype.type(beta))


@pytest.mark.parametrize("kernel", [K.gemm, K.gemm_parallel], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M, Kd, N", SHAPES, ids=str)
def test_gemm_matches_numpy(kernel, dtype, M, Kd, N):
    rng = np.random.default_rng(M * 1000 + Kd + N)
    tol = 2e-6 if dtype == np.float32 else 1e-14
    for la, lb, beta in itertools.product("CFS", "CFS", (0.0, 0.5, 1.0)):
        A = operand(rng, (M, Kd), la, dtype)
        B = operand(rng, (Kd, N), lb, dtype)
        C0 = rng.standard_normal((M, N)).astype(dtype)
        C = C0.copy()
        if beta == 0:
            C[:] = np.nan  # BLAS's rule: with β = 0, C is written, never read
        with _threads.limit(2 if kernel is K.gemm_parallel else 1):
            run(kernel, A, B, C, beta)
        expected = A.astype(np.float64) @ B.astype(np.float64) + beta * C0
        scale = np.sqrt(max(Kd, 1)) + np.abs(expected).max(initial=1.0)
        err = np.abs(C - expected).max(initial=0.0) / scale
        assert err < tol, f"A {la}, B {lb}, beta {beta}: error {err:.3g}"


@pytest.mark.parametrize("kernel", [K.gemm, K.gemm_parallel], ids=["serial", "parallel"])
def test_gemm_is_exact_on_small_integers(kernel):
    """Integers in [-3, 3], K = 700: every partial sum is an integer below 2^24, exact
    in float32, so whatever the order of the sums the result equals NumPy's int64."""
    rng = np.random.default_rng(8)
    A = operand(rng, (31, 700), "F", np.float32, integers=True)
    B = operand(rng, (700, 200), "C", np.float32, integers=True)
    C = rng.integers(-5, 6, (31, 200)).astype(np.float32)
    expected = A.astype(np.int64) @ B.astype(np.int64) + 2 * C.astype(np.int64)
    with _threads.limit(2 if kernel is K.gemm_parallel else 1):
        run(kernel, A, B, C, 2.0)
    np.testing.assert_array_equal(C, expected.astype(np.float32))


def test_gemm_leaves_the_rest_of_a_strided_output_alone():
    """C a block of rows and columns of a bigger array: only that block changes."""
    rng = np.random.default_rng(2)
    big = rng.standard_normal((40, 300)).astype(np.float32)
    before = big.copy()
    C = big[3:33, 10:210]
    A = rng.standard_normal((30, 50)).astype(np.float32)
    B = rng.standard_normal((50, 200)).astype(np.float32)
    expected = A.astype(np.float64) @ B + 0.5 * before[3:33, 10:210]
    _gemm.engine_gemm(A, B, C, 0.5)
    np.testing.assert_allclose(C, expected, rtol=1e-5, atol=1e-4)
    outside = np.ones(big.shape, bool)
    outside[3:33, 10:210] = False
    np.testing.assert_array_equal(big[outside], before[outside])


@pytest.mark.parametrize("rows", [1, 4, 11])
def test_gemm_edge_rows_write_only_their_rows(rows):
    """Rows short of MR are computed from A's last row again and not stored: the rows
    of a bigger array below the output block keep their values."""
    rng = np.random.default_rng(rows)
    big = rng.standard_normal((rows + 7, 130)).astype(np.float32)
    before = big.copy()
    A = rng.standard_normal((rows, 40)).astype(np.float32)
    B = rng.standard_normal((40, 128)).astype(np.float32)
    C = big[:rows, :128]
    _gemm.engine_gemm(A, B, C, 1.0)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B + before[:rows, :128], rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_array_equal(big[rows:], before[rows:])
    np.testing.assert_array_equal(big[:, 128:], before[:, 128:])


def _packed(B, pc, kc, jc, nc, nr):
    """pack_b's layout, by NumPy: panels of nr columns, k-major, zero-padded."""
    out = []
    for j0 in range(jc, jc + nc, nr):
        panel = np.zeros((kc, nr), B.dtype)
        w = min(nr, jc + nc - j0)
        panel[:, :w] = B[pc:pc + kc, j0:j0 + w]
        out.append(panel.ravel())
    return np.concatenate(out)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", "CFS")
@pytest.mark.parametrize("K_, N_", [(256, 256), (128, 200), (37, 301), (300, 64), (5, 3)],
                         ids=str)
def test_pack_b_matches_numpy(dtype, layout, K_, N_):
    """Every block of B packed as NumPy lays it out, whole or in pieces of rows: vector
    copies (rows contiguous), register transposes (columns contiguous, with rows and
    columns left over), element by element (other strides), and the padding zeros,
    whatever the buffer held."""
    rng = np.random.default_rng(K_ + N_)
    B = operand(rng, (K_, N_), layout, dtype)
    nr = K.NV * 64 // np.dtype(dtype).itemsize
    Bp = np.full(K.KC * (K.NC + nr), np.nan, dtype)
    for pc in range(0, K_, K.KC):
        kc = min(K.KC, K_ - pc)
        for jc in range(0, N_, K.NC):
            nc = min(K.NC, N_ - jc)
            expected = _packed(B, pc, kc, jc, nc, nr)
            K.pack_b(B, pc, kc, jc, nc, Bp, 0, kc)
            np.testing.assert_array_equal(Bp[:expected.size], expected)
            Bp[:] = np.nan  # again in pieces of rows, as gemm_parallel's threads do
            for k_lo in range(0, kc, K.PACK_ROWS):
                K.pack_b(B, pc, kc, jc, nc, Bp, k_lo, min(kc, k_lo + K.PACK_ROWS))
            np.testing.assert_array_equal(Bp[:expected.size], expected)


def test_engine_gemm_rejects_mismatched_shapes():
    A = np.ones((8, 5), np.float32)
    B = np.ones((6, 70), np.float32)
    C = np.zeros((8, 70), np.float32)
    with pytest.raises(ValueError, match=r"\(8, 5\) @ \(6, 70\) -> \(8, 70\)"):
        _gemm.engine_gemm(A, B, C)
    with pytest.raises(ValueError, match="do not match"):
        _gemm.engine_gemm(A, np.ones((5, 70), np.float32), np.zeros((8, 71), np.float32))


@pytest.mark.parametrize("A, B, C, message", [
    (np.ones((8, 5), np.int64), np.ones((5, 70)), np.zeros((8, 70)),
     r"dtypes int64 @ float64 -> float64: expected one of float32 or float64"),
    (np.ones((8, 5)), np.ones((5, 70)), np.zeros((8, 70), order="F"),
     r"output strides \(8, 64\): expected a writable C contiguous along its rows"),
])
def test_engine_gemm_names_bad_operands(A, B, C, message):
    with pytest.raises(ValueError, match=message):
        _gemm.engine_gemm(A, B, C)


def test_gemm_if_fits_runs_only_what_fits():
    """The matrix path's call: the product when it fits, else False and C untouched."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 5)).astype(np.float32)
    B = rng.standard_normal((5, 64)).astype(np.float32)
    C = np.ones((8, 64), np.float32)
    assert _gemm.gemm_if_fits(A, B, C, 0.5)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B + 0.5, rtol=1e-5, atol=1e-5)
    narrow = np.ones((8, 63), np.float32)
    assert not _gemm.gemm_if_fits(A, B[:, :63], narrow)
    assert not _gemm.gemm_if_fits(A, B, np.ones((8, 65), np.float32))  # shapes disagree
    np.testing.assert_array_equal(narrow, 1)


def test_fits_only_wide_float_products():
    f = np.float32
    A, B = np.ones((8, 5), f), np.ones((5, 64), f)
    assert _gemm.fits(A, B, np.zeros((8, 64), f))
    assert not _gemm.fits(A, B[:, :63], np.zeros((8, 63), f))       # narrower than a panel
    assert not _gemm.fits(A[:5], B, np.zeros((5, 64), f))            # fewer than MR rows
    assert not _gemm.fits(A.astype(np.float64), B, np.zeros((8, 64), f))
    assert not _gemm.fits(A, B, np.zeros((8, 64), f, order="F"))     # C not row-contiguous
    assert _gemm.fits(A.astype(np.float64), B[:, :32].astype(np.float64), np.zeros((8, 32)))
    assert not _gemm.fits(A, B, np.zeros((8, 65), f))                # shapes disagree


# -- the vector intrinsics ------------------------------------------------------

@numba.njit
def _simd_ops(x, y, out, beta):
    """out[0:L] ← x[1:1+L]·y[2] + out[0:L]·β, then out[L:2L] ← x[0:L] + y[0:L]·0 + 0."""
    simd.prefetch(out, 0)  # a hint: it must compile and change nothing
    v = simd.vfma(simd.vload(x, 1), simd.vbroadcast(y, 2), simd.vzero(x))
    simd.vstore_scaled(out, 0, v, beta)
    L = simd.lanes(x)
    simd.vstore_scaled(out, L, simd.vload(x, 0), 0.0)
    return L


@numba.njit
def _transpose(src, s0, lds, dst, d0, ldd):
    simd.vtranspose(src, s0, lds, dst, d0, ldd)


@pytest.mark.parametrize("dtype, lanes", [(np.float32, 16), (np.float64, 8)])
def test_vtranspose(dtype, lanes):
    """A lanes × lanes block from flat offsets and row strides, transposed, and nothing
    else in the destination touched."""
    src = np.arange(40 * 50, dtype=dtype)
    dst = np.full(60 * 70, -1, dtype)
    _transpose(src, 7, 50, dst, 11, 70)
    block = src[7:7 + lanes * 50].reshape(lanes, 50)[:, :lanes]
    written = dst[11:11 + lanes * 70].reshape(lanes, 70)[:, :lanes]
    np.testing.assert_array_equal(written, block.T)
    assert (dst == -1).sum() == dst.size - lanes * lanes


@pytest.mark.parametrize("dtype, lanes", [(np.float32, 16), (np.float64, 8)])
def test_vector_intrinsics(dtype, lanes):
    x = np.arange(2 * lanes, dtype=dtype)
    y = np.array([5, 6, 3], dtype)
    out = np.full(2 * lanes + 1, 2, dtype)
    assert _simd_ops(x, y, out, 0.5) == lanes
    np.testing.assert_array_equal(out[:lanes], x[1:1 + lanes] * 3 + 1)
    np.testing.assert_array_equal(out[lanes:2 * lanes], x[:lanes])
    assert out[-1] == 2  # nothing past 2·lanes written
    out[:] = np.nan
    _simd_ops(x, y, out, 0.0)  # β = 0: the NaN already there is not read
    np.testing.assert_array_equal(out[:lanes], x[1:1 + lanes] * 3)


# -- the choice -------------------------------------------------------------

@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.setattr(_gemm, "_state", {})
    return monkeypatch


def test_env_setting_forces_the_choice(fresh_choice):
    fresh_choice.setenv(_gemm.ENV, "blas")
    assert _gemm.use_engine() == (False, "FASTNN_GEMM=blas")
    fresh_choice.setattr(_gemm, "_state", {})
    fresh_choice.setenv(_gemm.ENV, "Engine")
    assert _gemm.use_engine() == (True, "FASTNN_GEMM=engine")
    assert _gemm.describe().startswith("engine (6x4 vectors of 512 bits)")


def test_bad_env_setting_is_named(fresh_choice):
    fresh_choice.setenv(_gemm.ENV, "mkl")
    with pytest.raises(ValueError, match=r"FASTNN_GEMM='mkl' is invalid; expected one of "
                                         r"auto, engine, blas"):
        _gemm.use_engine()


@pytest.mark.parametrize("features, blas, engine, why", [
    ("+avx2,+avx512f,+fma", {"internal_api": "openblas", "architecture": "Haswell"}, True,
     "AVX-512 core, OpenBLAS runs its Haswell kernel"),
    ("+avx2,+avx512f", {"internal_api": "openblas", "architecture": "SkylakeX"}, False,
     "OpenBLAS runs its 512-bit SkylakeX kernel"),
    ("+avx2,-avx512f", {"internal_api": "openblas", "architecture": "Haswell"}, False,
     "the CPU has no AVX-512"),
    ("+avx512f", {"internal_api": "mkl", "architecture": None}, False, "NumPy's BLAS is mkl"),
    ("+avx512f", None, False, "NumPy's BLAS is unknown"),
])
def test_auto_rule(fresh_choice, features, blas, engine, why):
    """The decision table, on the CPU features and BLAS record the rule reads."""
    fresh_choice.delenv(_gemm.ENV, raising=False)
    fresh_choice.setattr(_gemm, "cpu_features", lambda: features)
    fresh_choice.setattr(_gemm._blas, "numpy_blas_infos", lambda: [blas] if blas else [])
    assert _gemm.use_engine() == (engine, why)


def test_the_features_are_those_numba_compiles_for(fresh_choice):
    """Numba compiles for NUMBA_CPU_FEATURES when set (``generic`` sets them empty, the
    baseline x86-64: no AVX-512, so BLAS), else for the host's features, also under
    another NUMBA_CPU_NAME (a tuning, not an instruction set)."""
    import llvmlite.binding as llvm
    fresh_choice.delenv(_gemm.ENV, raising=False)
    fresh_choice.setattr(numba.config, "CPU_NAME", "generic")
    fresh_choice.setattr(numba.config, "CPU_FEATURES", "")
    assert _gemm.cpu_features() == ""
    assert _gemm.use_engine() == (False, "the CPU has no AVX-512")
    fresh_choice.setattr(numba.config, "CPU_FEATURES", "+avx2,+avx512f")
    assert "+avx512f" in _gemm.cpu_features().split(",")
    fresh_choice.setattr(numba.config, "CPU_NAME", "sapphirerapids")
    fresh_choice.setattr(numba.config, "CPU_FEATURES", None)
    host = set(llvm.get_host_cpu_features().flatten().split(","))
    assert set(_gemm.cpu_features().split(",")) == host


def test_auto_rule_reads_this_machine(fresh_choice):
    """Unpatched, the rule agrees with what llvmlite and threadpoolctl report here."""
    fresh_choice.delenv(_gemm.ENV, raising=False)
    engine, why = _gemm.use_engine()
    import llvmlite.binding as llvm
    from threadpoolctl import threadpool_info
    avx512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
    archs = {str(i.get("architecture")).lower() for i in threadpool_info()
             if i.get("internal_api") == "openblas"}
    if engine:
        assert avx512 and archs - set(_gemm._OPENBLAS_AVX512)
    elif not avx512:
        assert why == "the CPU has no AVX-512"


# -- the matrix path running it ----------------------------------------------------

def wide_matrix_net(*args, **kwargs):
    """A network on the matrix path with the engine's GEMM forced on (where it fits)."""
    net = fastnn.Network(*args, **kwargs)
    net._engine.matrix = True
    net._engine.gemm = "engine"
    return net


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("hidden, out, cost", [
    ("sigmoid", "sigmoid", "cross_entropy"), ("relu", "softmax", "log_likelihood"),
    (("elu", 0.7), "identity", "quadratic")], ids=str)
def test_sgd_epoch_with_engine_gemm_matches_reference(monkeypatch, threads, hidden, out, cost):
    """Layers of 70 and 130 units and mini-batches of 96 rows (one short): every product
    of the full mini-batches goes through the engine's GEMM (counted), and two epochs
    match the reference to 1e-9 in float64."""
    calls = []
    real = _gemm._run  # where every launch of the engine's GEMM goes through
    monkeypatch.setattr(_gemm, "_run", lambda *a: calls.append(a[2].shape) or real(*a))
    rng = np.random.default_rng(7)
    sizes = [100, 70, 130, 10]
    net = wide_matrix_net(sizes, hidden, out, cost, dtype="float64", seed=3, threads=threads)
    ref = reference_of(net)
    X = rng.standard_normal((250, 100))
    Y = targets(rng, 250, 10, cost)
    for epoch in range(2):
        order = rng.permutation(250)
        net.train_epoch(X, Y, order, 96, 0.05, lmbda=0.8)
        ref.train_epoch(X, Y, order, 96, 0.05, lmbda=0.8)
        for l, (a, b) in enumerate(zip(net.weights + net.biases,
                                       ref.weights + [b.ravel() for b in ref.biases])):
            assert rel_err(a, b) < 1e-9, f"epoch {epoch} block {l}: {rel_err(a, b):.3g}"
    # the forward and δ products of the full mini-batches, and every weight product;
    # the output layer's forward product as Zᵀ = W Aᵀ, 96 columns wide (as Z = A Wᵀ
    # its 10 columns are too narrow)
    assert (70, 96) in calls and (130, 96) in calls and (130, 70) in calls
    assert (70, 100) in calls and (10, 130) in calls and (10, 96) in calls


def test_general_epoch_with_engine_gemm_matches_reference():
    """Adam with L1 and dropout through the engine's GEMM, against the reference."""
    from fastnn.reference import ReferenceOptimizer
    rng = np.random.default_rng(12)
    net = wide_matrix_net([80, 96, 72, 5], "tanh", "softmax", "log_likelihood",
                          dtype="float64", seed=2)
    ref = reference_of(net)
    X = rng.standard_normal((150, 80))
    Y = targets(rng, 150, 5, "log_likelihood")
    state = None
    ref_opt = ReferenceOptimizer("adam")
    for epoch in range(2):
        order = rng.permutation(150)
        state = net.train_epoch(X, Y, order, 64, 0.01, lmbda=0.5, l1=1.0,
                                optimizer=fastnn.optim.Adam(), dropout=[0.3, 0.2],
                                dropout_seed=9, epoch=epoch, state=state)
        ref.train_epoch(X, Y, order, 64, 0.01, lmbda=0.5, l1=1.0,
                        optimizer=ref_opt, dropout=[0.3, 0.2], seed=9,
                        epoch=epoch)
        for a, b in zip(net.weights, ref.weights):
            assert rel_err(a, b) < 1e-9


@pytest.mark.parametrize("dtype, tol", [("float32", 3e-5), ("float64", 1e-12)])
def test_engine_gemm_and_blas_train_alike(dtype, tol):
    """Config C's shape on 512 samples: the engine's GEMM and BLAS give the same network
    up to rounding, and the same predictions."""
    rng = np.random.default_rng(4)
    X = rng.random((512, 784)).astype(dtype)
    y = rng.integers(0, 10, 512)
    results = []
    for engine in (False, True):
        net = fastnn.Network([784, 1024, 1024, 10], "relu", "softmax", "log_likelihood",
                             dtype=dtype, seed=1, threads=1)
        assert net._engine.uses_matrix(128)
        net._engine.gemm = "engine" if engine else "blas"
        net.fit(X, y, epochs=1, mini_batch_size=128, eta=0.05, lmbda=1.0)
        results.append((net.params.copy(), net.feedforward(X[:200])))
    (p0, a0), (p1, a1) = results
    assert rel_err(p1, p0) < tol
    assert rel_err(a1, a0) < tol


def test_two_networks_train_at_once_from_two_python_threads():
    """Each network's result is exactly what it gives alone, with the threaded engine
    GEMM launched from both Python threads (serialized under Numba's workqueue layer,
    which would otherwise end the process)."""
    import threading
    rng = np.random.default_rng(0)
    X = rng.random((512, 300)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    threads = min(2, _threads.available())

    def make(seed):
        net = wide_matrix_net([300, 256, 10], "relu", "softmax", "log_likelihood", seed=seed,
                              threads=threads)
        return net
    kwargs = dict(epochs=2, mini_batch_size=128, eta=0.05)
    alone = []
    for seed in (1, 2):
        net = make(seed)
        net.fit(X, y, **kwargs)
        alone.append(net.params.copy())
    nets = [make(1), make(2)]
    workers = [threading.Thread(target=n.fit, args=(X, y), kwargs=kwargs) for n in nets]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for net, params in zip(nets, alone):
        np.testing.assert_array_equal(net.params, params)
