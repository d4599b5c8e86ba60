"""Explicit SIMD vectors for Numba kernels: one 512-bit register as a value.

Numba's auto-vectorized loops keep their running sums in memory when the loop nest is
a matrix product: LLVM cannot keep a block of C in registers across the k loop. A GEMM
micro-kernel (kernels/gemm.py) needs exactly that, so this module gives Numba a vector
type whose LLVM form is ``<lanes x float>``: a local variable of it is one register,
and the intrinsics below compile to one instruction each (a load, a broadcast, a fused
multiply-add, a store).

A vector is ``VECTOR_BYTES`` (64) wide: 16 float32 or 8 float64 lanes, one AVX-512
register. On a CPU with narrower registers LLVM splits every operation into two or
four, which is correct but spills registers (kernels/gemm.py is chosen only where it
is faster: fastnn/_engine/gemm.py).

Offsets are in elements from the array's data pointer, with no bounds check (as in C):
the caller guarantees ``i + lanes ≤`` the array's extent. Loads and stores need no
alignment beyond the element's.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

#: bytes per vector: one AVX-512 register
VECTOR_BYTES = 64


class Vector(types.Type):
    """``lanes`` values of ``dtype`` in one register."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vector({dtype} x {lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _vector_of(arr):
    """The Vector type for an array's dtype (None when it is not a float array)."""
    if not isinstance(arr, types.Array) or not isinstance(arr.dtype, types.Float):
        return None
    return Vector(arr.dtype, VECTOR_BYTES * 8 // arr.dtype.bitwidth)


def _pointer(context, builder, arrty, arr, i, vt):
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [i]), vt.as_pointer())


def _splat(builder, x, vt):
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vt.count), [0] * vt.count)
    return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), zeros)


def _fma(builder, a, b, c):
    vt = a.type
    name = f"llvm.fma.v{vt.count}{vt.element.intrinsic_name}"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]), name)
    return builder.call(fn, [a, b, c])


@intrinsic
def lanes(typingctx, arr):
    """The number of lanes of a vector of ``arr``'s dtype (a compile-time constant)."""
    vty = _vector_of(arr)
    if vty is None:
        return None

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, vty.lanes)
    return types.intp(arr), codegen


@intrinsic
def vzero(typingctx, arr):
    """A vector of zeros of ``arr``'s dtype."""
    vty = _vector_of(arr)
    if vty is None:
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vty), None)
    return vty(arr), codegen


@intrinsic
def vload(typingctx, arr, i):
    """``arr[i : i + lanes]`` (flat offset from the data pointer) as a vector."""
    vty = _vector_of(arr)
    if vty is None or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vt = context.get_value_type(vty)
        p = _pointer(context, builder, sig.args[0], args[0], args[1], vt)
        return builder.load(p, align=vty.dtype.bitwidth // 8)
    return vty(arr, i), codegen


@intrinsic
def vbroadcast(typingctx, arr, i):
    """The element at flat offset ``i`` of ``arr`` in every lane."""
    vty = _vector_of(arr)
    if vty is None or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return _splat(builder, builder.load(builder.gep(data, [args[1]])),
                      context.get_value_type(vty))
    return vty(arr, i), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """a·b + c lane by lane, one rounding (LLVM's ``fma``)."""
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        return _fma(builder, *args)
    return a(a, b, c), codegen


@intrinsic
def vstore_scaled(typingctx, arr, i, v, beta):
    """``arr[i : i + lanes] ← v + β·arr[i : i + lanes]``; with β = 0 the old values are
    not read (BLAS's rule: C may hold NaN or garbage when β is 0)."""
    vty = _vector_of(arr)
    if vty is None or v != vty or not isinstance(beta, (types.Float, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        vt = context.get_value_type(vty)
        align = vty.dtype.bitwidth // 8
        p = _pointer(context, builder, sig.args[0], args[0], args[1], vt)
        b = context.cast(builder, args[3], sig.args[3], vty.dtype)
        is_zero = builder.fcmp_ordered("==", b, ir.Constant(b.type, 0))
        with builder.if_else(is_zero) as (overwrite, scale):
            with overwrite:
                builder.store(args[2], p, align=align)
            with scale:
                old = builder.load(p, align=align)
                builder.store(_fma(builder, _splat(builder, b, vt), old, args[2]), p, align=align)
        return context.get_dummy_value()
    return types.none(arr, i, v, beta), codegen


@intrinsic
def prefetch(typingctx, arr, i):
    """Ask for the cache line holding ``arr``'s element at flat offset ``i`` (for writing,
    into every cache level): a hint, no effect on results."""
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        p = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [p.type, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(fn, [p, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(arr, i), codegen


def _transpose_rows(builder, rows):
    """The rows of a square block of vectors, transposed: log₂(n) rounds of two-vector
    shuffles, round b swapping bit b of the row index with bit b of the column index
    (the off-diagonal b × b blocks of every 2b × 2b block trade places)."""
    n = len(rows)
    i32 = ir.IntType(32)
    b = n // 2
    while b:
        out = list(rows)
        for i in range(n):
            if i & b:
                continue
            p = i | b
            keep = ir.Constant(ir.VectorType(i32, n),
                               [j if not j & b else n + j - b for j in range(n)])
            swap = ir.Constant(ir.VectorType(i32, n),
                               [n + j if j & b else j + b for j in range(n)])
            out[i] = builder.shuffle_vector(rows[i], rows[p], keep)
            out[p] = builder.shuffle_vector(rows[i], rows[p], swap)
        rows = out
        b //= 2
    return rows


@intrinsic
def vtranspose(typingctx, src, s0, lds, dst, d0, ldd):
    """A square block of ``lanes`` × ``lanes`` values, transposed from ``src`` into
    ``dst``: ``dst[d0 + c·ldd + r] ← src[s0 + r·lds + c]`` for r, c < lanes (flat
    offsets; one load and one store per row, the rest in registers)."""
    vty = _vector_of(src)
    if vty is None or _vector_of(dst) != vty or not all(
            isinstance(t, types.Integer) for t in (s0, lds, d0, ldd)):
        return None

    def codegen(context, builder, sig, args):
        vt = context.get_value_type(vty)
        align = vty.dtype.bitwidth // 8
        a_src, v_s0, v_lds, a_dst, v_d0, v_ldd = args
        t_src, t_s0, t_lds, t_dst, t_d0, t_ldd = sig.args
        s0v = context.cast(builder, v_s0, t_s0, types.intp)
        lds_v = context.cast(builder, v_lds, t_lds, types.intp)
        d0v = context.cast(builder, v_d0, t_d0, types.intp)
        ldd_v = context.cast(builder, v_ldd, t_ldd, types.intp)
        rows = []
        for r in range(vty.lanes):
            i = builder.add(s0v, builder.mul(lds_v, ir.Constant(lds_v.type, r)))
            rows.append(builder.load(_pointer(context, builder, t_src, a_src, i, vt),
                                     align=align))
        for c, v in enumerate(_transpose_rows(builder, rows)):
            i = builder.add(d0v, builder.mul(ldd_v, ir.Constant(ldd_v.type, c)))
            builder.store(v, _pointer(context, builder, t_dst, a_dst, i, vt), align=align)
        return context.get_dummy_value()
    return types.none(src, s0, lds, dst, d0, ldd), codegen
