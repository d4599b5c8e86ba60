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
* ``update``: the book's update over the flat parameter buffer;
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
from .activations import ELU, IDENTITY, LEAKY_RELU, RELU, SIGMOID, SOFTMAX, SWISH, TANH
from .costs import CROSS_ENTROPY, LOG_LIKELIHOOD, QUADRATIC
from .optim import ADAGRAD, ADAM, MOMENTUM, NESTEROV, RMSPROP, SGD

__all__ = [
    "SIGMOID", "TANH", "RELU", "IDENTITY", "SOFTMAX", "LEAKY_RELU", "ELU", "SWISH",
    "QUADRATIC", "CROSS_ENTROPY", "LOG_LIKELIHOOD",
    "SGD", "MOMENTUM", "NESTEROV", "ADAGRAD", "RMSPROP", "ADAM",
]


def _invalidate_stale_cache():
    """Drop fastnn's cached compiled kernels when any kernel source changed.

    Numba's on-disk cache keys a function on its own file only, not on the kernels it
    calls from other modules: after editing ``optim.py``, a cached ``epoch.train_epoch_general``
    would keep running the old optimizer. One digest of every kernel source, stored beside
    the cache, catches that; a mismatch deletes this package's ``.nbi``/``.nbc`` files.
    """
    import hashlib
    import os

    from . import dropout, epoch

    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(here, name), "rb") as f:
                digest.update(f.read())
    digest = digest.hexdigest()
    modules = tuple(name[:-3] + "." for name in os.listdir(here) if name.endswith(".py"))
    folders = set()
    for dispatcher in (epoch.train_epoch, epoch.train_epoch_general, dropout.splitmix64):
        try:
            folders.add(dispatcher._cache._cache_path)
        except AttributeError:  # another Numba's internals: fall back to the in-tree cache
            folders.add(os.path.join(here, "__pycache__"))
    for folder in folders:
        stamp = os.path.join(folder, "fastnn-kernels.sha256")
        try:
            with open(stamp) as f:
                if f.read() == digest:
                    continue
        except OSError:
            pass
        try:
            for name in os.listdir(folder):
                if name.endswith((".nbi", ".nbc")) and name.startswith(modules):
                    os.unlink(os.path.join(folder, name))
            with open(stamp, "w") as f:
                f.write(digest)
        except OSError:  # a read-only or missing cache folder: nothing cached to go stale
            pass


_invalidate_stale_cache()
