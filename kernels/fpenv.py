"""A thread's floating-point mode: flush-to-zero and denormals-are-zero (x86-64 MXCSR).

Subnormal floats (below 1.2e-38 in float32, 2.2e-308 in float64) cost Intel cores a
microcode assist on every operation that reads or makes one, 10-100x its normal time; AMD's
penalty is far smaller. Training lets them appear: weights decayed by L2 for many steps,
Adam's second moments of tiny gradients (g² of 1e-20 is 1e-40), dropped units' gradients.
Measured on an Intel Xeon (issue 18): a float32 Adam run went from 1.6-2.2 s per epoch to
31-40 s once 140,679 of its 535,818 parameters had become subnormal.

Two bits of MXCSR, per thread, remove the cliff:

* FTZ (bit 15, 0x8000): a result that would be subnormal is 0 (of its sign);
* DAZ (bit 6, 0x0040): a subnormal input is read as 0.

``set_flush(bits)`` sets them (``FLUSH`` or 0) and returns the whole previous MXCSR, which
``restore`` puts back; the other bits (rounding, exception masks) are kept. They hold for
everything the thread runs, NumPy included, so callers scope them (fastnn/_engine/fpenv.py). A
parallel kernel runs its loop bodies on other threads: it reads the caller's bits with
``flush_bits()`` before its ``prange`` and sets and restores them in each body, so every
thread it uses runs in the caller's mode and is left as it was.

A new thread starts with the bits of the thread that made it, and Numba makes its pool at
its first parallel loop: fastnn/_engine/fpenv.py starts the pool (``threads_bits``) before it
first sets the bits, so that no thread of the pool is born flushing.

On other machines than x86-64 these compile to nothing (``flush_bits()`` is 0).
"""
import platform

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

from ._jit import jit, jit_parallel

#: FTZ | DAZ
FLUSH = np.uint32(0x8040)
_X86 = platform.machine().lower() in ("x86_64", "amd64", "x86", "i686")


@intrinsic
def _mxcsr_exchange(typingctx, new, write):
    """(old MXCSR); MXCSR ← ``new`` when ``write`` (both uint32; stmxcsr/ldmxcsr)."""
    sig = types.uint32(types.uint32, types.boolean)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        if not _X86:
            return ir.Constant(i32, 0)
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p])
        store = builder.module.declare_intrinsic("llvm.x86.sse.stmxcsr", fnty=fnty)
        load = builder.module.declare_intrinsic("llvm.x86.sse.ldmxcsr", fnty=fnty)
        slot = builder.alloca(i32)
        pointer = builder.bitcast(slot, i8p)
        builder.call(store, [pointer])
        old = builder.load(slot)
        with builder.if_then(args[1]):
            builder.store(args[0], slot)
            builder.call(load, [pointer])
        return old
    return sig, codegen


@jit
def flush_bits():
    """This thread's FTZ and DAZ bits (``FLUSH``, 0, or one of them)."""
    return _mxcsr_exchange(np.uint32(0), False) & FLUSH


@jit
def set_flush(bits):
    """Set this thread's FTZ and DAZ bits to ``bits`` (``FLUSH`` or 0); return the whole
    MXCSR from before, for ``restore``."""
    old = _mxcsr_exchange(np.uint32(0), False)
    want = np.uint32(bits) & FLUSH
    if (old & FLUSH) != want:
        _mxcsr_exchange((old & ~FLUSH) | want, True)
    return old


@jit
def restore(old):
    """Put back the FTZ and DAZ bits of an MXCSR returned by ``set_flush``."""
    set_flush(np.uint32(old) & FLUSH)


@jit_parallel
def threads_bits(out):
    """out[i] = the FTZ and DAZ bits of the thread that ran iteration i (a parallel loop
    over Numba's threads: running it starts them, as any parallel kernel's first run does;
    a thread starts with the bits of the thread that started it)."""
    for i in prange(out.shape[0]):
        out[i] = flush_bits()
