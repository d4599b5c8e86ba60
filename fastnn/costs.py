"""Cost names accepted by the API, their kernel codes and valid output activations.

The pairs are those of the course material: the quadratic cost works with any output
activation; cross-entropy is defined for sigmoid outputs (each output a probability);
the log-likelihood is defined for a softmax output (the outputs a distribution); the
Poisson deviance for an exponential output (the outputs the means of counts).
"""
from .kernels import costs as _k

#: name -> kernel code
COSTS = {
    "quadratic": _k.QUADRATIC,
    "cross_entropy": _k.CROSS_ENTROPY,
    "log_likelihood": _k.LOG_LIKELIHOOD,
    "poisson": _k.POISSON,
}

#: cost name -> output activations it may be paired with
VALID_OUTPUTS = {
    "quadratic": ("sigmoid", "tanh", "relu", "identity", "softmax", "leaky_relu", "elu", "swish",
                  "exp"),
    "cross_entropy": ("sigmoid",),
    "log_likelihood": ("softmax",),
    "poisson": ("exp",),
}


def cost_code(name, output_activation):
    """The kernel code of cost ``name``; ValueError if unknown or not valid with the output."""
    if not isinstance(name, str) or name not in COSTS:
        raise ValueError(f"cost={name!r} is not a known cost; expected one of {', '.join(COSTS)}")
    if output_activation not in VALID_OUTPUTS[name]:
        raise ValueError(
            f"cost={name!r} cannot be paired with output_activation={output_activation!r}; "
            f"{name} expects output_activation in {', '.join(VALID_OUTPUTS[name])}")
    return COSTS[name]
