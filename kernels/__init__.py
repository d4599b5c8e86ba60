"""fastnn's Numba kernels: pure functions of arrays.

Installed as ``fastnn.kernels`` (never as a top-level ``kernels`` package). Nothing here
imports the Python API, data files or the command line.

Modules, each with its math in its docstring:

* ``activations``: g(z) and g'(z) per layer kind, softmax and log-softmax;
* ``costs``: the output-layer δ and the cost values for each cost/output pair;
* ``dense``: the dense forward product, the hidden δ recursion, the weight gradient
  (and, with α = −η/m and β = 1 − ηλ/n, the fused update);
* ``dropout``: per-mini-batch dropout masks from a counter-based hash;
* ``optim``: fused optimizer steps (SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam);
* ``epoch``: whole forward/backward passes and the one-call epoch loops;
* ``matrix``: the passes between the matrix path's BLAS products;
* ``hogwild``: the lock-free multi-threaded epoch;
* ``profile``: one phase of one layer looped over an epoch, for ``fastnn profile``;
* ``peak``: the core's multiply-add peak, measured (chains of FMAs), for the reports;
* ``simd``: a 512-bit vector type and its intrinsics (load, broadcast, FMA, store);
* ``gemm``: the engine's own register-blocked GEMM, built on ``simd``;
* ``augment``: image warping for expanded training data (bilinear resampling, Gaussian
  smoothing);
* ``fpenv``: the thread's floating-point control bits (flush-to-zero and
  denormals-are-zero), set around every engine call.

Private helpers: ``_jit`` (how every kernel is compiled) and ``_exp`` (the exp the
activations vectorize).
"""
from .activations import ELU, EXP, IDENTITY, LEAKY_RELU, RELU, SIGMOID, SOFTMAX, SWISH, TANH
from .costs import CROSS_ENTROPY, LOG_LIKELIHOOD, QUADRATIC
from .optim import ADAGRAD, ADAM, MOMENTUM, NESTEROV, RMSPROP, SGD

__all__ = [
    "SIGMOID", "TANH", "RELU", "IDENTITY", "SOFTMAX", "LEAKY_RELU", "ELU", "SWISH", "EXP",
    "QUADRATIC", "CROSS_ENTROPY", "LOG_LIKELIHOOD",
    "SGD", "MOMENTUM", "NESTEROV", "ADAGRAD", "RMSPROP", "ADAM",
]
