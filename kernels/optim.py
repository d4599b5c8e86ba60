"""Fused optimizer steps: one pass over the flat parameter buffer per mini-batch.

``params`` holds every layer's weights (the first ``n_weights`` entries) then the biases;
``grad`` is the mean gradient of the unregularized cost over the mini-batch, same layout.
Each step first forms the regularized gradient, on weights only (biases never):

    g = ∇C₀ + (λ/n) w + (λ₁/n) sgn(w)         (sgn(0) = 0: no L1 pull at w = 0)

which is PyTorch's weight-decay convention (weight_decay = λ/n added to the gradient) and,
for plain SGD, exactly the book's w ← (1 − ηλ/n) w − (η/m) Σ∇C_x − (ηλ₁/n) sgn(w).
Then, per entry, with state arrays s1, s2, s3 of the buffer's shape starting at 0 and the
step count t starting at 1:

==========  ===========================================================================
SGD         θ ← θ − η g
MOMENTUM    v ← μ v − η g;  θ ← θ + v                     (the seeds' form; s1 = v)
NESTEROV    v ← μ v − η g;  θ ← θ + μ v − η g             (s1 = v)
ADAGRAD     G ← G + g²;  θ ← θ − η g / (√G + ε)           (PyTorch Adagrad; s1 = G)
RMSPROP     r ← α r + (1 − α) g²;  θ ← θ − η g / (√r + ε) (PyTorch RMSprop; s1 = r)
ADAM        m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
            θ ← θ − (η / (1 − β₁ᵗ)) m / (√v / √(1 − β₂ᵗ) + ε)
            with AMSGrad, v_max ← max(v_max, v) replaces v in the step, as PyTorch's
            implementation does (s1 = m, s2 = v, s3 = v_max); with eps_hat, the
            form of the Adam paper's section 2 that scikit-learn uses:
            θ ← θ − (η √(1 − β₂ᵗ) / (1 − β₁ᵗ)) m / (√v + ε)
==========  ===========================================================================

With constant η, the seeds' momentum equals PyTorch's b ← μ b + g, θ ← θ − η b (v = −η b).
``hyper`` is a ``Hyper`` (μ, β₁, β₂, ε, α, amsgrad) and ``coef`` a ``StepCoefficients``
(η, λ/n, λ₁/n, η/(1 − β₁ᵗ), √(1 − β₂ᵗ)), both named tuples of the parameters' dtype;
``apply_step`` forms the coefficients of each step.

How the steps are written, so that LLVM vectorizes them (bench/optim_speed.py measures it):

* one loop per optimizer, chosen outside the loop, with the regularization fused into
  it (one pass over params, grad and state; ``grad`` is only read): run once over the
  weights with reg = (λ/n, λ₁/n) (or None without λ and λ₁), once over the biases with
  reg = None, for which Numba compiles a separate loop with no regularization in it;
  the biases are that second loop whatever λ is, so their arithmetic never depends on λ;
* divisions are ``np.divide``, not ``/``: Numba's ``/`` checks for a zero divisor to
  raise ZeroDivisionError, and that branch keeps a loop scalar; ``np.divide`` is the
  plain IEEE division (x/0 = ±inf, 0/0 = NaN), the same values wherever ``/`` returned;
* every scalar is of the parameters' dtype (the float32 ONE/ZERO of _jit.py promote
  exactly in float64 kernels), so float32 steps stay float32.
"""
from collections import namedtuple

import numpy as np

from ._jit import ONE, ZERO, jit

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAGRAD = 3
RMSPROP = 4
ADAM = 5

#: an optimizer's hyperparameters, each of the parameters' dtype (``fastnn.optim`` builds
#: them): momentum μ, Adam's β₁ and β₂, ε, RMSProp's α, amsgrad (1 on, 0 off) and eps_hat
#: (1: Adam's ε is added to √v before the bias correction, 0: after it; see ADAM above)
Hyper = namedtuple("Hyper", ["mu", "beta1", "beta2", "eps", "alpha", "amsgrad", "eps_hat"])
#: one step's coefficients, each of the parameters' dtype (``apply_step`` forms them):
#: η, λ/n, λ₁/n, Adam's bias-corrected step η/(1 − β₁ᵗ) and √(1 − β₂ᵗ)
StepCoefficients = namedtuple("StepCoefficients", ["eta", "l2", "l1", "adam_step", "bc2_sqrt"])


@jit
def _regularized(w, g, reg):
    """g + (λ/n) w + (λ₁/n) sgn(w) for reg = (λ/n, λ₁/n) (sgn(0) = 0); g when reg is None."""
    if reg is None:
        return g
    l2, l1 = reg
    sign = (ONE if w > ZERO else ZERO) - (ONE if w < ZERO else ZERO)
    return g + l2 * w + l1 * sign


@jit
def _step(params, grad, reg, code, hyper, coef, s1, s2, s3):
    """Optimizer ``code``'s step over whole (sliced) buffers, with ``_regularized``'s reg.

    Every loop starts at index 0, which Numba knows is non-negative: it emits no
    wraparound for negative indices, and the loop stays vectorizable. The loops sit in
    one function so that a step compiles once per dtype and reg, not once per optimizer."""
    n = params.shape[0]
    eta = coef.eta
    if code == SGD:
        for i in range(n):
            w = params[i]
            g = _regularized(w, grad[i], reg)
            params[i] = w - eta * g
    elif code == MOMENTUM:
        mu = hyper.mu
        for i in range(n):
            w = params[i]
            g = _regularized(w, grad[i], reg)
            v = mu * s1[i] - eta * g
            s1[i] = v
            params[i] = w + v
    elif code == NESTEROV:
        mu = hyper.mu
        for i in range(n):
            w = params[i]
            g = _regularized(w, grad[i], reg)
            v = mu * s1[i] - eta * g
            s1[i] = v
            params[i] = w + (mu * v - eta * g)
    elif code == ADAGRAD:
        eps = hyper.eps
        for i in range(n):
            w = params[i]
            g = _regularized(w, grad[i], reg)
            G = s1[i] + g * g
            s1[i] = G
            params[i] = w - np.divide(eta * g, np.sqrt(G) + eps)
    elif code == RMSPROP:
        eps = hyper.eps
        alpha = hyper.alpha
        one_minus_alpha = ONE - alpha
        for i in range(n):
            w = params[i]
            g = _regularized(w, grad[i], reg)
            r = alpha * s1[i] + one_minus_alpha * g * g
            s1[i] = r
            params[i] = w - np.divide(eta * g, np.sqrt(r) + eps)
    elif code == ADAM:
        beta1 = hyper.beta1
        beta2 = hyper.beta2
        eps = hyper.eps
        step = coef.adam_step
        bc2_sqrt = coef.bc2_sqrt
        one_minus_beta1 = ONE - beta1
        one_minus_beta2 = ONE - beta2
        if hyper.amsgrad != ZERO:
            for i in range(n):
                w = params[i]
                g = _regularized(w, grad[i], reg)
                mi = beta1 * s1[i] + one_minus_beta1 * g
                vi = beta2 * s2[i] + one_minus_beta2 * g * g
                s1[i] = mi
                s2[i] = vi
                vmax = max(s3[i], vi)
                s3[i] = vmax
                params[i] = w - np.divide(step * mi, np.divide(np.sqrt(vmax), bc2_sqrt) + eps)
        else:
            for i in range(n):
                w = params[i]
                g = _regularized(w, grad[i], reg)
                mi = beta1 * s1[i] + one_minus_beta1 * g
                vi = beta2 * s2[i] + one_minus_beta2 * g * g
                s1[i] = mi
                s2[i] = vi
                params[i] = w - np.divide(step * mi, np.divide(np.sqrt(vi), bc2_sqrt) + eps)


@jit
def optimizer_step(params, grad, n_weights, code, hyper, coef, s1, s2, s3):
    """One step of optimizer ``code`` over the flat buffer (see the module table), with
    the regularization fused in: one pass over params, grad and state. ``grad`` (the
    unregularized mean gradient) is only read."""
    l2 = coef.l2
    l1 = coef.l1
    k = n_weights
    if l2 != ZERO or l1 != ZERO:
        _step(params[:k], grad[:k], (l2, l1), code, hyper, coef, s1[:k], s2[:k], s3[:k])
    else:  # nothing regularized: g = ∇C₀ exactly, even where w is ±inf
        _step(params[:k], grad[:k], None, code, hyper, coef, s1[:k], s2[:k], s3[:k])
    # The biases are always their own loop over the same slice, λ or not: how a loop's
    # elements fall between its vector body and its remainder changes their rounding on
    # some targets (one ulp of a float64 AMSGrad step, under LLVM's sapphirerapids and
    # znver4 tuning), so a bias must never share a loop with the weights.
    _step(params[k:], grad[k:], None, code, hyper, coef, s1[k:], s2[k:], s3[k:])


@jit
def apply_step(params, grad, n_weights, code, hyper, eta, l2, l1, state, step):
    """Count the step (``step[0]`` += 1), form this step's ``StepCoefficients`` (in float64,
    then rounded to the parameters' dtype) and apply ``optimizer_step``; ``state`` is
    (3, n_params)."""
    step[0] += 1
    t = step[0]
    dt = params.dtype.type
    beta1 = np.float64(hyper.beta1)
    beta2 = np.float64(hyper.beta2)
    if hyper.eps_hat != ZERO:  # the whole correction in the step, ε on √v as it is
        coef = StepCoefficients(dt(eta), dt(l2), dt(l1),
                                dt(eta * np.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)),
                                dt(1.0))
    else:
        coef = StepCoefficients(dt(eta), dt(l2), dt(l1),
                                dt(eta / (1.0 - beta1 ** t)) if beta1 < 1.0 else dt(eta),
                                dt(np.sqrt(1.0 - beta2 ** t)) if beta2 < 1.0 else dt(1.0))
    optimizer_step(params, grad, n_weights, code, hyper, coef, state[0], state[1], state[2])


@jit
def clip_by_norm(grad, max_norm):
    """Scale ``grad`` in place so that its Euclidean norm (over every layer's weights and
    biases together, summed in float64) is at most ``max_norm``; return the norm it had.
    A gradient already within the bound is left exactly as it was."""
    total = 0.0
    for i in range(grad.shape[0]):
        g = np.float64(grad[i])
        total += g * g
    norm = np.sqrt(total)
    if norm > max_norm:
        scale = grad.dtype.type(max_norm / norm)
        for i in range(grad.shape[0]):
            grad[i] *= scale
    return norm
