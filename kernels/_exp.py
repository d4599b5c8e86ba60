"""``exp`` that vectorizes in float32 kernels.

``np.exp`` compiles to a call of the C library's scalar ``expf``/``exp``: a loop that
calls it cannot be vectorized (Numba's vectorized SVML math needs a patched LLVM the
llvmlite wheels do not ship), so the sigmoid layer of configs A and B ran at about 3 ns
per element, 6% of B's epoch. :func:`exp_` is ``np.exp`` in float64 (unchanged results)
and, in float32, exp32 (``_exp32_impl``): plain arithmetic LLVM vectorizes, at 0.6 ns
per sigmoid.

exp32(x), the classic single-precision scheme (Cody and Waite's range reduction and a
degree-6 minimax polynomial, the coefficients of Cephes' ``expf``):

1. n = round(x / ln 2), r = x − n ln 2 with ln 2 split in a short high part (exact times
   any n in range) and a low part, so |r| ≤ ln 2 / 2 to within float32 rounding;
2. e^r ≈ 1 + r + r²·P(r), P of degree 5;
3. e^x = e^r · 2^n, with 2^n built from its bits as 2^⌊n/2⌋ · 2^(n − ⌊n/2⌋), so that both
   factors are normal numbers over the whole range: results that are subnormal round
   once at the end, results beyond float32 are ±inf (x is first clamped to [−104, 89],
   outside which e^x is 0 or inf in float32 anyway; ±inf give inf and 0). NaN stays NaN.

Measured over 4 million points of [−110, 95] (tests/test_activations_exp.py checks it):
at most 1.01 ulp from the correctly rounded value where e^x is a normal float32 (libm's
``expf``: 0.5). It is compiled without the ``reassoc`` fast-math flag (the overload's
``jit_options``, like _jit.py's ``jit_ordered``):
reassociating step 1 would fold the two parts of ln 2 back into one and lose the
reduction's precision. The flags are per instruction, so this holds after LLVM inlines it
into a kernel compiled with ``reassoc``.
"""
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from ._jit import FASTMATH

_F = np.float32
_ONE = _F(1.0)
_LO, _HI = _F(-104.0), _F(89.0)
_LOG2E = _F(1.44269504088896341)
_LN2_HI = _F(0.693359375)        # 8 significant bits: n · _LN2_HI is exact for |n| < 2^16
_LN2_LO = _F(-2.12194440e-4)     # ln 2 − _LN2_HI
_P0, _P1, _P2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_P3, _P4, _P5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
_I127, _I23, _I1 = np.int32(127), np.int32(23), np.int32(1)


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits`` (a register bitcast)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))
    return sig, codegen


def _exp32_impl(x):
    x = _LO if x < _LO else x   # written as compares so that a NaN x passes through
    x = _HI if x > _HI else x
    n = np.floor(x * _LOG2E + np.float32(0.5))
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    p = _P0
    p = p * r + _P1
    p = p * r + _P2
    p = p * r + _P3
    p = p * r + _P4
    p = p * r + _P5
    p = p * r * r + r + _ONE
    k = np.int32(n)
    k1 = k >> _I1
    k2 = k - k1
    return (p * _bits_as_float32((k1 + _I127) << _I23)) * _bits_as_float32((k2 + _I127) << _I23)


def exp_(x):
    """e^x: ``np.exp`` for float64, exp32 for float32 (inside kernels)."""
    return np.exp(x)


@overload(exp_, jit_options={"fastmath": set(FASTMATH) - {"reassoc"}})
def _exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _exp32_impl
    return lambda x: np.exp(x)
