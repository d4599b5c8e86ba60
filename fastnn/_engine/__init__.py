"""The engine: the layer that runs the kernels (``fastnn.kernels``) for the network layer.

Its front door is ``Engine`` (engine.py): a network's layout (sizes, activation and cost
codes, dtype, offsets into the flat parameter buffer) and the calls that train and
evaluate it — the fused SGD epoch, the general epoch (any optimizer, L1, dropout,
clipping), Hogwild, the forward pass, gradients, and the choice of path for each call.

Behind it, one module per machine-dependent decision, each public to the rest of fastnn
under the name below (the leading underscore of ``_engine`` says "not a user API"; the
names inside it are the layer's interface to the other layers):

=============  ===========================================================================
engine         ``Engine``
matrix         the matrix path: whole mini-batches through GEMM, its plan and thread watch
gemm           which GEMM (the engine's or BLAS's) a product runs, and the CPU's features
blas           the BLAS's own GEMM, bound through ctypes for the β term
threads        one thread count for Numba and BLAS together
calibrate      measured choices kept per machine (the calibration file)
width          the loops' vector width, measured where the CPU has AVX-512
peak           the machine's measured FMA and GEMM peaks
fpenv          subnormals flushed to zero on every thread that runs a kernel
coldstart      a cold first epoch compiles on two cores
=============  ===========================================================================

Importing this package applies the measured loop width before any kernel exists: Numba
fixes the target's features when it builds its code generator, which the first kernel
decoration does (width.py).
"""
from . import width

width.apply()

from . import calibrate, fpenv, gemm, peak, threads  # noqa: E402
from .engine import Engine  # noqa: E402

__all__ = ["Engine", "calibrate", "fpenv", "gemm", "peak", "threads", "width"]
