"""Activation names accepted by the API, their parameters, and the kernel code of each.

An activation is given as a name, or as ``(name, parameter)`` for the parametrized ones:
``("leaky_relu", α)`` (default α = 0.01), ``("elu", α)`` (default 1.0) and
``("swish", β)`` (default 1.0).
"""
import math
import numbers

from .kernels import activations as _k

#: name -> kernel code, for hidden and output layers
ACTIVATIONS = {
    "sigmoid": _k.SIGMOID,
    "tanh": _k.TANH,
    "relu": _k.RELU,
    "identity": _k.IDENTITY,
    "softmax": _k.SOFTMAX,
    "leaky_relu": _k.LEAKY_RELU,
    "elu": _k.ELU,
    "swish": _k.SWISH,
    "exp": _k.EXP,
}

#: name -> (default parameter, smallest allowed, whether the bound is exclusive)
PARAMETERS = {"leaky_relu": (0.01, 0.0, False), "elu": (1.0, 0.0, False),
              "swish": (1.0, 0.0, True)}

#: activations allowed on hidden layers (softmax couples a layer's units, and exp, the
#: Poisson mean, grows without bound: output only)
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name not in ("softmax", "exp"))


def parse_activation(spec, argument="activation", hidden=False):
    """``(name, parameter)`` from a name or a (name, parameter) pair; ValueError naming
    ``argument`` otherwise. ``parameter`` is None for activations without one."""
    name, param = (spec, None) if isinstance(spec, str) else (None, None)
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        name, param = spec
    allowed = HIDDEN_ACTIVATIONS if hidden else tuple(ACTIVATIONS)
    if name not in allowed:
        raise ValueError(
            f"{argument}={spec!r} is not a known {'hidden ' if hidden else ''}activation; "
            f"expected one of {', '.join(allowed)} (or (name, parameter) for "
            f"{', '.join(PARAMETERS)})")
    if name not in PARAMETERS:
        if param is not None:
            raise ValueError(f"{argument}={spec!r}: {name} takes no parameter")
        return name, None
    default, low, exclusive = PARAMETERS[name]
    if param is None:
        return name, default
    if isinstance(param, bool) or not isinstance(param, numbers.Real) or not math.isfinite(param) \
            or param < low or (exclusive and param == low):
        bound = f"> {low}" if exclusive else f">= {low}"
        raise ValueError(f"{argument}={spec!r}: the parameter of {name} must be a finite "
                         f"number {bound}, got {param!r}")
    return name, float(param)


def activation_code(name):
    """The kernel code of a (parsed) activation name."""
    return ACTIVATIONS[name]
