"""The fused optimizer kernels (fastnn.kernels.optim) on their own, in float32 and float64.

Every optimizer x {no regularization, L2, L1, L1 + L2} x dtype is run for a few steps on
random flat buffers of awkward lengths (shorter than one SIMD vector, not a multiple of
it, the weights/biases boundary anywhere) and compared with (a) the unfused form,
``regularize`` then the step with λ = λ₁ = 0, and (b) a NumPy transcription of the rules
in kernels/optim.py's docstring, computed in the same dtype. Then the edge cases the
fusion could get wrong (biases, ±inf and NaN, grad left alone), and a check that the
loops are still compiled to packed SIMD square roots and divisions.
"""
import platform
import re

import numba
import numpy as np
import pytest

from fastnn._engine import gemm as _gemm
from fastnn.kernels import optim as k
from fastnn.kernels._jit import FASTMATH

# (name, code, hyper (μ, β₁, β₂, ε, α, amsgrad), η)
OPTIMIZERS = [
    ("sgd", k.SGD, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0), 0.1),
    ("momentum", k.MOMENTUM, (0.8, 0.0, 0.0, 0.0, 0.0, 0.0), 0.1),
    ("nesterov", k.NESTEROV, (0.7, 0.0, 0.0, 0.0, 0.0, 0.0), 0.1),
    ("adagrad", k.ADAGRAD, (0.0, 0.0, 0.0, 1e-10, 0.0, 0.0), 0.05),
    ("rmsprop", k.RMSPROP, (0.0, 0.0, 0.0, 1e-8, 0.9, 0.0), 0.01),
    ("adam", k.ADAM, (0.0, 0.8, 0.95, 1e-8, 0.0, 0.0), 0.01),
    ("amsgrad", k.ADAM, (0.0, 0.9, 0.9, 1e-8, 0.0, 1.0), 0.01),
]
REGULARIZATION = {"none": (0.0, 0.0), "L2": (0.03, 0.0), "L1": (0.0, 0.02),
                  "L1+L2": (0.03, 0.02)}
DTYPES = [np.float32, np.float64]
# (n_params, n_weights): below one vector, odd lengths, boundary at 0, mid-vector, at n.
SHAPES = [(3, 2), (37, 30), (1001, 0), (1001, 1001), (2389, 2350)]
STEPS = 4


def _ulps(dtype):
    return 16 * np.finfo(dtype).eps


def _buffers(dtype, n, n_weights, seed):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(n).astype(dtype)
    params[:n_weights:7] = 0.0                       # sgn(0) = 0 entries among the weights
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(STEPS)]
    return params, grads


def _kernel_run(code, hyper, eta, l2, l1, dtype, params, grads, n_weights, fused=True):
    """STEPS steps of apply_step (fused), or of the regularization added to the gradient
    in NumPy then an unregularized step."""
    params = params.copy()
    state = np.zeros((3, params.shape[0]), dtype)
    step = np.zeros(1, np.int64)
    hyper = k.Hyper(*(dtype(h) for h in hyper), dtype(0))
    for g in grads:
        grad = g.copy()
        if fused:
            k.apply_step(params, grad, n_weights, code, hyper, dtype(eta), dtype(l2),
                         dtype(l1), state, step)
            np.testing.assert_array_equal(grad, g, err_msg="grad must be left unchanged")
        else:
            w = params[:n_weights]
            grad[:n_weights] += dtype(l2) * w + dtype(l1) * np.sign(w)
            k.apply_step(params, grad, n_weights, code, hyper, dtype(eta), dtype(0.0),
                         dtype(0.0), state, step)
    assert int(step[0]) == len(grads)
    return params, state


def _numpy_run(code, hyper, eta, l2, l1, dtype, params, grads, n_weights):
    """The module docstring's rules, in NumPy, every operation in ``dtype``."""
    c = dtype
    mu, beta1, beta2, eps, alpha, amsgrad = (c(h) for h in hyper)
    eta, l2, l1 = c(eta), c(l2), c(l1)
    theta = params.copy()
    s1, s2, s3 = (np.zeros_like(theta) for _ in range(3))
    for t, grad in enumerate(grads, start=1):
        g = grad.copy()
        w = theta[:n_weights]
        g[:n_weights] = g[:n_weights] + l2 * w + l1 * np.sign(w)
        if code == k.SGD:
            theta -= eta * g
        elif code == k.MOMENTUM:
            s1 = mu * s1 - eta * g
            theta += s1
        elif code == k.NESTEROV:
            s1 = mu * s1 - eta * g
            theta += mu * s1 - eta * g
        elif code == k.ADAGRAD:
            s1 = s1 + g * g
            theta -= eta * g / (np.sqrt(s1) + eps)
        elif code == k.RMSPROP:
            s1 = alpha * s1 + (c(1) - alpha) * g * g
            theta -= eta * g / (np.sqrt(s1) + eps)
        else:
            # The per-step coefficients as apply_step forms them: in float64, then cast.
            step = c(float(eta) / (1.0 - float(beta1) ** t))
            bc2_sqrt = c(np.sqrt(1.0 - float(beta2) ** t))
            s1 = beta1 * s1 + (c(1) - beta1) * g
            s2 = beta2 * s2 + (c(1) - beta2) * g * g
            if amsgrad:
                s3 = np.maximum(s3, s2)             # v_max: kept by AMSGrad only
            v = s3 if amsgrad else s2
            theta -= step * s1 / (np.sqrt(v) / bc2_sqrt + eps)
        assert theta.dtype == dtype
    return theta, np.stack([s1, s2, s3])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("reg", list(REGULARIZATION))
@pytest.mark.parametrize("name, code, hyper, eta", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_fused_step_equals_regularize_then_step_and_numpy(name, code, hyper, eta, reg, dtype):
    l2, l1 = REGULARIZATION[reg]
    for seed, (n, n_weights) in enumerate(SHAPES):
        params, grads = _buffers(dtype, n, n_weights, seed)
        fused, fused_state = _kernel_run(code, hyper, eta, l2, l1, dtype, params, grads,
                                         n_weights)
        unfused, unfused_state = _kernel_run(code, hyper, eta, l2, l1, dtype, params, grads,
                                             n_weights, fused=False)
        want, want_state = _numpy_run(code, hyper, eta, l2, l1, dtype, params, grads,
                                      n_weights)
        assert fused.dtype == dtype and fused_state.dtype == dtype
        scale = np.abs(params).max()
        where = f"{name} {reg} {dtype.__name__} n={n} n_weights={n_weights}"
        np.testing.assert_allclose(
            fused, unfused, rtol=_ulps(dtype), atol=_ulps(dtype) * scale,
            err_msg=f"{where}: fused (ACTUAL) vs regularize + step (DESIRED)")
        np.testing.assert_allclose(
            fused, want, rtol=_ulps(dtype), atol=_ulps(dtype) * scale,
            err_msg=f"{where}: kernel (ACTUAL) vs NumPy in {dtype.__name__} (DESIRED)")
        for s in range(3):
            np.testing.assert_allclose(
                fused_state[s], unfused_state[s], rtol=_ulps(dtype),
                atol=_ulps(dtype) * np.abs(unfused_state[s]).max(),
                err_msg=f"{where}: state {s + 1}, fused vs unfused")
            np.testing.assert_allclose(
                fused_state[s], want_state[s], rtol=_ulps(dtype),
                atol=_ulps(dtype) * np.abs(want_state[s]).max(),
                err_msg=f"{where}: state {s + 1}, kernel vs NumPy")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_one_sgd_step_by_hand(dtype):
    """Weights [0.5, -2, 0] and biases [1, 1]: g_w = ∇ + λ w + λ₁ sgn(w), g_b = ∇."""
    params = np.array([0.5, -2.0, 0.0, 1.0, 1.0], dtype)
    grad = np.array([1.0, 1.0, 1.0, 1.0, -1.0], dtype)
    k.apply_step(params, grad, 3, k.SGD, k.Hyper(*[dtype(0)] * 7), dtype(0.5), dtype(0.25),
                 dtype(0.125), np.zeros((3, 5), dtype), np.zeros(1, np.int64))
    # g = [1 + 0.125 + 0.125, 1 - 0.5 - 0.125, 1 + 0 + 0, 1, -1]; θ − 0.5 g, all exact.
    np.testing.assert_array_equal(params, np.array([-0.125, -2.1875, -0.5, 0.5, 1.5], dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, code, hyper, eta", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_biases_are_never_regularized(name, code, hyper, eta, dtype):
    """Biases follow the unregularized rule however large λ and λ₁ are."""
    n, n_weights = 45, 40
    params, grads = _buffers(dtype, n, n_weights, 7)
    big, _ = _kernel_run(code, hyper, eta, 50.0, 30.0, dtype, params, grads, n_weights)
    none, _ = _kernel_run(code, hyper, eta, 0.0, 0.0, dtype, params, grads, n_weights)
    np.testing.assert_array_equal(big[n_weights:], none[n_weights:])
    assert np.all(np.abs(big[:n_weights] - none[:n_weights]) > 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, code, hyper, eta", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_inf_and_nan_stay_visible(name, code, hyper, eta, dtype):
    """A NaN gradient makes its parameter NaN (and nothing else); without λ and λ₁ an
    infinite weight is not turned into NaN by a 0·∞ regularization term."""
    n, n_weights = 40, 30
    params, grads = _buffers(dtype, n, n_weights, 3)
    grads = [g.copy() for g in grads]
    grads[0][5] = np.nan
    got, _ = _kernel_run(code, hyper, eta, 0.01, 0.01, dtype, params, grads, n_weights)
    assert np.isnan(got[5])
    assert np.isfinite(np.delete(got, 5)).all()

    params[3] = np.inf
    got, _ = _kernel_run(code, hyper, eta, 0.0, 0.0, dtype, params, grads[1:], n_weights)
    assert got[3] == np.inf
    assert np.isfinite(np.delete(got, 3)).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("reg", ["weights", "biases"])
def test_step_loops_compile_to_packed_sqrt_and_division(dtype, reg):
    """The loops must vectorize. A `/` brings back Numba's zero-divisor check (and its
    "division by zero" error path), which keeps a loop scalar; a float64 constant in a
    float32 loop shows up as a conversion. ``_step`` is compiled here without the cache,
    with the kernels' flags, so that its code can be read; its four adaptive loops
    (AdaGrad, RMSProp, Adam, AMSGrad) need at least one packed square root and one
    packed division each."""
    n = 64
    a = np.ones(n, dtype)
    f = numba.njit(nogil=True, fastmath=set(FASTMATH))(k._step.py_func)
    f(a, a.copy(), (dtype(0.5), dtype(0.5)) if reg == "weights" else None, k.ADAM,
      k.Hyper(*[dtype(0.5)] * 6, dtype(0)), k.StepCoefficients(*[dtype(0.5)] * 5), a.copy(),
      a.copy(), a.copy())
    sig = f.signatures[0]
    assert "division by zero" not in f.inspect_llvm(sig), "a `/` with a zero check"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the instruction names below are x86-64's")
    target = _gemm.cpu_features().split(",")
    if "+avx2" not in target:
        # NUMBA_CPU_NAME=generic: the baseline x86-64 (SSE2), where LLVM's cost model
        # keeps the regularized float32 loop scalar; speed is asserted where it is sought
        pytest.skip(f"Numba compiles for {_gemm.cpu_name()} without AVX2")
    asm = f.inspect_asm(sig)
    p = "s" if dtype == np.float32 else "d"
    assert len(re.findall(rf"\bv?sqrtp{p}\b", asm)) >= 4, "an adaptive loop without packed sqrt"
    assert len(re.findall(rf"\bv?divp{p}\b", asm)) >= 4, "an adaptive loop without packed div"
    if dtype == np.float32:
        assert not re.search(r"\bv?cvtss2sd\b|\bv?cvtps2pd\b", asm), "float32 promoted"


@pytest.mark.parametrize("case", ["adam eps_hat", "momentum", "nesterov"])
def test_steps_equal_scikit_learns_optimizers(case):
    """Adam with ``eps_hat`` is scikit-learn's AdamOptimizer, and momentum and Nesterov are
    its SGDOptimizer (velocity v ← μ v − η g; θ += v, or += μ v − η g), step for step, in
    float64, with the weights' L2 term as scikit-learn adds it to the gradient."""
    sk = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    from fastnn import optim
    rng = np.random.default_rng(5)
    n, n_weights, eta, l2 = 257, 200, 0.01, 0.003
    params = rng.standard_normal(n)
    grads = [rng.standard_normal(n) * 10.0 ** -rng.integers(0, 9) for _ in range(12)]
    if case == "adam eps_hat":
        opt = optim.Adam(beta1=0.8, beta2=0.95, eps=1e-6, eps_hat=True)
        theirs = sk.AdamOptimizer([params[:n_weights].copy(), params[n_weights:].copy()],
                                  eta, 0.8, 0.95, 1e-6)
    else:
        opt = (optim.Momentum if case == "momentum" else optim.Nesterov)(mu=0.7)
        theirs = sk.SGDOptimizer([params[:n_weights].copy(), params[n_weights:].copy()], eta,
                                 "constant", 0.7, case == "nesterov")
    theirs_params = [params[:n_weights].copy(), params[n_weights:].copy()]
    mine = params.copy()
    state = np.zeros((3, n))
    step = np.zeros(1, np.int64)
    hyper = optim.kernel_hyper(opt, np.float64)
    for g in grads:
        k.apply_step(mine, g, n_weights, opt.code, hyper, eta, l2, 0.0, state, step)
        w, b = theirs_params
        theirs.update_params(theirs_params, [g[:n_weights] + l2 * w, g[n_weights:]])
    np.testing.assert_allclose(mine, np.concatenate(theirs_params), rtol=1e-12, atol=1e-14,
                               err_msg=f"{case}: fastnn (ACTUAL) vs scikit-learn (DESIRED)")
    if case == "adam eps_hat":  # the two forms differ where √v is near ε: tiny gradients
        pytorch_form = params.copy()
        plain = optim.kernel_hyper(optim.Adam(beta1=0.8, beta2=0.95, eps=1e-6), np.float64)
        state[...] = 0
        step[...] = 0
        for g in grads:
            k.apply_step(pytorch_form, g, n_weights, opt.code, plain, eta, l2, 0.0, state,
                         step)
        assert not np.allclose(pytorch_form, mine, rtol=1e-9, atol=0)
