"""Activation names accepted by the API, and the kernel code each maps to."""
from .kernels import activations as _k

#: name -> kernel code, for hidden and output layers
ACTIVATIONS = {
    "sigmoid": _k.SIGMOID,
    "tanh": _k.TANH,
    "relu": _k.RELU,
    "identity": _k.IDENTITY,
    "softmax": _k.SOFTMAX,
}

#: activations allowed on hidden layers (softmax couples a layer's units: output only)
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")


def activation_code(name, argument="activation", hidden=False):
    """The kernel code of activation ``name``; ValueError naming ``argument`` otherwise."""
    allowed = HIDDEN_ACTIVATIONS if hidden else tuple(ACTIVATIONS)
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(
            f"{argument}={name!r} is not a known {'hidden ' if hidden else ''}activation; "
            f"expected one of {', '.join(allowed)}")
    return ACTIVATIONS[name]
