"""Optimizers: small value objects naming a fused kernel (``fastnn.kernels.optim``) and
its hyperparameters. The exact update rules are in that module's docstring.

Every optimizer sees the same regularized gradient g = ∇C₀ + (λ/n) w + (λ₁/n) sgn(w) on
the weights (biases are never regularized): PyTorch's weight-decay convention with
weight_decay = λ/n, and for ``SGD`` exactly the book's update.

>>> net.fit(X, y, eta=0.001, optimizer=fastnn.optim.Adam())
>>> net.fit(X, y, eta=0.5, optimizer="momentum")          # by name, default settings
"""
import math
from dataclasses import dataclass, fields

import numpy as np

from .kernels import optim as _k


def _check(name, value, low, high, low_open=False, high_open=True):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and \
        (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name}={value!r} is invalid; expected a number in {lo}{low}, {high}{hi}")


def _hyper(**given):
    """The kernels' ``Hyper`` with the given fields and 0 for the others."""
    return _k.Hyper(**{name: float(given.get(name, 0.0)) for name in _k.Hyper._fields})


@dataclass(frozen=True)
class SGD:
    """Plain SGD: θ ← θ − η g (with λ, the book's update)."""
    code = _k.SGD

    def hyper(self):
        return _hyper()


@dataclass(frozen=True)
class Momentum:
    """Momentum as in the seeds: v ← μ v − η g; θ ← θ + v."""
    mu: float = 0.9
    code = _k.MOMENTUM

    def __post_init__(self):
        _check("mu", self.mu, 0.0, 1.0)

    def hyper(self):
        return _hyper(mu=self.mu)


@dataclass(frozen=True)
class Nesterov:
    """Nesterov momentum: v ← μ v − η g; θ ← θ + μ v − η g."""
    mu: float = 0.9
    code = _k.NESTEROV

    def __post_init__(self):
        _check("mu", self.mu, 0.0, 1.0)

    def hyper(self):
        return _hyper(mu=self.mu)


@dataclass(frozen=True)
class AdaGrad:
    """AdaGrad as PyTorch: G ← G + g²; θ ← θ − η g / (√G + ε)."""
    eps: float = 1e-10
    code = _k.ADAGRAD

    def __post_init__(self):
        _check("eps", self.eps, 0.0, 1.0, low_open=True)

    def hyper(self):
        return _hyper(eps=self.eps)


@dataclass(frozen=True)
class RMSProp:
    """RMSProp as PyTorch: r ← α r + (1 − α) g²; θ ← θ − η g / (√r + ε)."""
    alpha: float = 0.99
    eps: float = 1e-8
    code = _k.RMSPROP

    def __post_init__(self):
        _check("alpha", self.alpha, 0.0, 1.0)
        _check("eps", self.eps, 0.0, 1.0, low_open=True)

    def hyper(self):
        return _hyper(eps=self.eps, alpha=self.alpha)


@dataclass(frozen=True)
class Adam:
    """Adam as PyTorch, bias-corrected, optionally AMSGrad (see fastnn.kernels.optim).

    ``eps_hat=True`` takes the form of the Adam paper's section 2, which scikit-learn's
    MLP uses: the bias corrections folded into the step size, η √(1 − β₂ᵗ) / (1 − β₁ᵗ),
    and ε added to √v as it is (PyTorch adds ε to the corrected √v̂); the two differ only
    while √v is near ε."""
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    amsgrad: bool = False
    eps_hat: bool = False
    code = _k.ADAM

    def __post_init__(self):
        _check("beta1", self.beta1, 0.0, 1.0)
        _check("beta2", self.beta2, 0.0, 1.0)
        _check("eps", self.eps, 0.0, 1.0, low_open=True)
        for name in ("amsgrad", "eps_hat"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; expected True "
                                 f"or False")

    def hyper(self):
        return _hyper(beta1=self.beta1, beta2=self.beta2, eps=self.eps, amsgrad=self.amsgrad,
                      eps_hat=self.eps_hat)


def kernel_hyper(optimizer, dtype):
    """``optimizer.hyper()`` (a ``fastnn.kernels.optim.Hyper``, each field named) with every
    field of ``dtype``, as the kernels take it."""
    return _k.Hyper(*(dtype(v) for v in optimizer.hyper()))


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSProp, "adam": Adam, "amsgrad": lambda: Adam(amsgrad=True)}


def get_optimizer(spec):
    """An optimizer object from a name in OPTIMIZERS, an optimizer object, or None (SGD)."""
    if spec is None:
        return SGD()
    if isinstance(spec, str):
        if spec not in OPTIMIZERS:
            raise ValueError(f"optimizer={spec!r} is not known; expected one of "
                             f"{', '.join(OPTIMIZERS)} or an object from fastnn.optim")
        return OPTIMIZERS[spec]()
    if isinstance(spec, (SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam)):
        return spec
    raise ValueError(f"optimizer={spec!r} is not an optimizer; expected a name "
                     f"({', '.join(OPTIMIZERS)}) or an object from fastnn.optim")


def describe(optimizer):
    """A short text like ``Adam(beta1=0.9, beta2=0.999, eps=1e-08, amsgrad=False)``."""
    args = ", ".join(f"{f.name}={getattr(optimizer, f.name)!r}" for f in fields(optimizer))
    return f"{type(optimizer).__name__}({args})"


class OptimizerState:
    """An optimizer's state for one parameter buffer: three state arrays of its shape
    (velocity, moments, as the optimizer needs), the step count and a gradient buffer.

    ``Network.train_epoch`` returns one and takes it back to go on with the same moments;
    ``buffers`` (3, n_params), ``step`` (1,) int64 and ``grad`` (n_params,) are updated in
    place by the engine's epochs."""

    def __init__(self, optimizer, n_params, dtype):
        self.optimizer = optimizer
        self.buffers = np.zeros((3, n_params), dtype=dtype)
        self.step = np.zeros(1, dtype=np.int64)
        self.grad = np.empty(n_params, dtype=dtype)

    def __repr__(self):
        return f"OptimizerState({self.optimizer!r}, step={int(self.step[0])})"
