"""fastnn's Numba kernels: pure functions of arrays.

Installed as ``fastnn.kernels`` (never as a top-level ``kernels`` package). Nothing here
imports the Python API, data files or the command line.

Modules, each with its math in its docstring:

* ``activations``: g(z) and g'(z) per layer kind, softmax and log-softmax;
* ``costs``: the output-layer δ and the cost values for each cost/output pair;
* ``dense``: the dense forward product, the hidden δ recursion, the weight gradient
  (and, with α = −η/m and β = 1 − ηλ/n, the fused update);
* ``update``: updates over the flat parameter buffer;
* ``epoch``: whole forward/backward passes and the one-call epoch loop.
"""
from .activations import IDENTITY, RELU, SIGMOID, SOFTMAX, TANH
from .costs import CROSS_ENTROPY, LOG_LIKELIHOOD, QUADRATIC

__all__ = [
    "SIGMOID", "TANH", "RELU", "IDENTITY", "SOFTMAX",
    "QUADRATIC", "CROSS_ENTROPY", "LOG_LIKELIHOOD",
]
