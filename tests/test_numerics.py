"""Numerical extremes: every kernel-level activation and cost against an exact oracle.

Sigmoid, tanh, softmax, log-softmax, the derivatives, the three costs and the output δ are
checked, in float32 and float64, at inputs of ±1e4, ±1e3, ±100, the exp overflow edges
(±88/±89 in float32, ±709/±710 in float64), the saturation region (±17 to ±40), tiny
inputs (±1e-30, ±0.0) and mixed rows (one huge entry, the others moderate), against an
oracle that shares no code with fastnn: Python's ``decimal`` at 60 significant digits, fed
the exact binary value of every input (``Decimal(float(x))`` is exact). Every result must
be finite and within a stated tolerance of the oracle; each tolerance says why it is what
it is. Then a tiny network whose output weighted inputs are pushed to ±1e4 is evaluated
and trained one step on the loop path and on the matrix path, and its costs, gradients and
updated parameters are checked against the same oracle.

``test_checks_reject_naive_formulas`` runs the same checks on the textbook formulas
(exp(z)/Σexp(z), log of the softmax, −ln a, ln(1 + e^z), ...) and on the log-softmax
fastnn had before this file (z − (max + ln Σ), which rounds max + ln Σ to the size of max)
and requires every one of them to fail: the checks can tell a wrong kernel from a right one.
"""
import decimal
from decimal import Decimal

import numpy as np
import pytest

import fastnn
from fastnn import reference as ref
from fastnn.kernels import activations as kact
from fastnn.kernels import costs as kcost

DTYPES = [np.float32, np.float64]

# ---------------------------------------------------------------- the oracle
# 60 significant digits; the exponent range holds e^(±2e4) with room to spare (inputs of
# ±1e30 are only ever exponentiated as e^(-|z|), which underflows quietly to 0).
CTX = decimal.Context(prec=60, Emax=10**8, Emin=-10**8,
                      traps=[decimal.InvalidOperation, decimal.DivisionByZero,
                             decimal.Overflow])
ONE = Decimal(1)


def _exact(fn):
    """Run an oracle function with every Decimal operation in CTX (the thread's default
    context has 28 digits: 1e30 + 0.3 would already be rounded)."""
    def run(*args):
        with decimal.localcontext(CTX):
            return fn(*args)
    run.__name__ = fn.__name__
    return run


def dec(x):
    """The exact value of the binary float x (a float32 is widened exactly first)."""
    return Decimal(float(x))


def _exp_neg_abs(d):
    """e^(-|d|) <= 1, so it never overflows (tiny values underflow to 0, harmlessly)."""
    return CTX.exp(-abs(d))


@_exact
def o_sigmoid(z):
    d = dec(z)
    e = _exp_neg_abs(d)
    return CTX.divide(ONE, ONE + e) if d >= 0 else CTX.divide(e, ONE + e)


@_exact
def o_sigmoid_prime(z):
    e = _exp_neg_abs(dec(z))           # σ(z) σ(-z) = e/(1 + e)^2 with e = e^(-|z|)
    return CTX.divide(e, CTX.power(ONE + e, 2))


@_exact
def o_tanh(z):
    d = dec(z)
    if abs(d) < Decimal("1e-12"):      # 1 - e^(-2|d|) would cancel: the series is exact here
        return d - d * d * d / 3
    e = CTX.exp(-2 * abs(d))
    t = CTX.divide(ONE - e, ONE + e)
    return t if d >= 0 else -t


@_exact
def o_tanh_prime(z):
    e = CTX.exp(-2 * abs(dec(z)))      # 1 - tanh^2 = 4e/(1 + e)^2 with e = e^(-2|z|)
    return CTX.divide(4 * e, CTX.power(ONE + e, 2))


@_exact
def _ln1p(r):
    """ln(1 + r) for 0 <= r: 1 + r would keep only 60 - 44 digits of r = 1e-44, so tiny r
    takes the series (its first omitted term, r^4/4 < 1e-40 r, is far below a float ulp)."""
    if r < Decimal("1e-10"):
        return r - r * r / 2 + r * r * r / 3
    return CTX.ln(ONE + r)


@_exact
def o_log_softmax(row):
    """(z_j − m) − ln(1 + Σ_{k≠argmax} e^(z_k − m)): the max's term is exactly 1, and the
    rest goes through _ln1p so that a tiny rest is not lost in 1 + rest."""
    ds = [dec(v) for v in row]
    k = ds.index(max(ds))
    m = ds[k]
    rest = sum((CTX.exp(d - m) for j, d in enumerate(ds) if j != k), Decimal(0))
    l = _ln1p(rest)
    return [(d - m) - l for d in ds]


@_exact
def o_softmax(row):
    return [CTX.exp(v) for v in o_log_softmax(row)]


@_exact
def o_softplus(x):
    d = dec(x)                         # ln(1 + e^x) = max(x, 0) + ln(1 + e^(-|x|))
    return max(d, Decimal(0)) + _ln1p(_exp_neg_abs(d))


@_exact
def o_cross_entropy(zs, ys):
    """Σ_j y_j ln(1 + e^(-z_j)) + (1 - y_j) ln(1 + e^(z_j)), i.e. −Σ[y ln σ + (1−y) ln(1−σ)]."""
    return sum((dec(y) * o_softplus(-z) + (ONE - dec(y)) * o_softplus(z)
                for z, y in zip(zs, ys)), Decimal(0))


@_exact
def o_log_likelihood(row, ys):
    return -sum((dec(y) * v for v, y in zip(o_log_softmax(row), ys)), Decimal(0))


@_exact
def o_quadratic(a_row, ys):
    return sum(((dec(a) - dec(y)) ** 2 for a, y in zip(a_row, ys)), Decimal(0)) / 2


def f64(d):
    """The oracle's value rounded once to float64 (0.0 where it underflows float64)."""
    return np.array([float(v) for v in d]) if isinstance(d, list) else float(d)


# ---------------------------------------------------------------- the inputs

# Scalars for the elementwise functions and the cross-entropy.
MAGNITUDES = [1e4, 1e3, 745.0, 710.0, 709.0, 104.0, 100.0, 89.0, 88.0, 87.0, 40.0, 36.7,
              35.0, 30.0, 20.0, 17.0, 5.0, 1.0, 0.5, 1e-8, 1e-30, 1e30]
SCALARS = [s * v for v in MAGNITUDES for s in (1.0, -1.0)] + [0.0, -0.0]

# Rows for softmax, log-softmax and the log-likelihood (any length; one call per row).
ROWS = [
    [1e4, -1e4, 0.0],
    [1e4, 1e4 - 1, 1e4 - 30, -1e4],        # confident, close runner-up
    [1e4, 1e4 - 0.25, 5.0],
    [-1e4, -1e4 + 1, -1e4 + 2],            # everything hugely negative
    [1e4, 1e4, 1e4, 1e4],                  # uniform at +1e4
    [-1e4, -1e4, -1e4],
    [1e4, 1e4, -5.0],                      # a tie for the maximum
    [5.0, 1e4, 3.0],                       # the huge entry not first
    [0.5, 0.25, -0.75, 1e4 - 0.25],
    [1e3, 0.0, -1e3],
    [100.0, 0.0, -100.0],
    [89.0, 88.0, 0.0, -89.0],
    [710.0, 709.0, 0.0, -710.0],
    [0.0, -10.0, -12.0],                   # ln(1 + tiny): log1p territory
    [0.0, -20.0, -30.0],
    [0.0, -40.0],
    [0.0, -103.0, -104.0, -745.0],         # terms that underflow float32 / float64
    [30.0, 35.0, 40.0, -36.7],
    [1e-30, 0.0, -0.0, -1e-30],
    [1e30, 0.0, -1e30],
    [7.0],                                 # a single output
]

# Targets for the cross-entropy (any value in [0, 1] is a valid target).
CE_TARGETS = [0.0, 1.0, 0.25]


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _tiny(dtype):
    # Smallest normal number. Results below it are subnormal (fewer significant bits) or
    # flushed to 0 (1/(1 + e^-z) once e^-z overflows: z < -88.7 in float32): absolute
    # errors up to this size are allowed wherever the true value is that small.
    return float(np.finfo(dtype).tiny)


def _check_close(got, want, tol, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), want.shape)
    assert np.isfinite(got).all(), f"{what}: non-finite results {got[~np.isfinite(got)]}"
    err = np.abs(got - want)
    bad = ~(err <= tol)
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.size} beyond tolerance; worst "
                           f"|got - exact| = {err[bad].max():.3g} (tolerance there "
                           f"{tol[bad][np.argmax(err[bad])]:.3g});\n got   {got[bad][:6]}"
                           f"\n exact {want[bad][:6]}")


# ---------------------------------------------------------------- the checks
# Each takes an implementation (a callable on arrays of ``dtype``) so that
# test_checks_reject_naive_formulas can hand it a wrong one.

def _scalars(dtype):
    return np.array(SCALARS, dtype=dtype).reshape(1, -1)


def check_sigmoid(sigmoid, dtype):
    Z = _scalars(dtype)
    want = f64([o_sigmoid(z) for z in Z[0]])
    # exp, one addition and one division: 2.5 ulps at most in round-to-nearest; 4 eps
    # relative leaves a little room for the libm exp. float32 1e-6 would be 8 eps.
    _check_close(sigmoid(Z)[0], want, 4 * _eps(dtype) * np.abs(want) + _tiny(dtype),
                 f"sigmoid {np.dtype(dtype).name}")


def check_sigmoid_prime(prime, dtype):
    """``prime(Z) -> σ'(Z)``."""
    Z = _scalars(dtype)
    a = f64([o_sigmoid(z) for z in Z[0]])
    want = f64([o_sigmoid_prime(z) for z in Z[0]])
    # Computed as a (1 - a) from the stored (or recomputed) a = σ(z), which carries a's
    # error of up to 4 eps * a: relative precision where a is small (z <= 0), but where
    # a -> 1 the factor 1 - a is exact and carries a's absolute error, so σ'(30) = 9e-14
    # comes out with ~1e-3 relative error in float64 and σ'(40) as 0. That is the
    # engine's design (no second exp in backprop); the bound 8 eps * a + tiny holds it.
    _check_close(prime(Z)[0], want, 8 * _eps(dtype) * a + _tiny(dtype),
                 f"sigmoid' {np.dtype(dtype).name}")


def check_tanh(tanh, dtype):
    Z = _scalars(dtype)
    want = f64([o_tanh(z) for z in Z[0]])
    # libm tanh is within 2 ulps; tanh(±1e-30) = ±1e-30 is a normal number in both dtypes.
    _check_close(tanh(Z)[0], want, 4 * _eps(dtype) * np.abs(want) + _tiny(dtype),
                 f"tanh {np.dtype(dtype).name}")


def check_tanh_prime(prime, dtype):
    Z = _scalars(dtype)
    t = f64([o_tanh(z) for z in Z[0]])
    want = f64([o_tanh_prime(z) for z in Z[0]])
    # 1 - a^2 from the stored a: a^2 carries 2 * (4 eps) relative, 1 - a^2 adds ½ ulp.
    _check_close(prime(Z)[0], want, 8 * _eps(dtype) * t * t + _eps(dtype) * want + _tiny(dtype),
                 f"tanh' {np.dtype(dtype).name}")


def _softmax_tol(row, dtype, want):
    """Relative tolerance per entry of a softmax row computed in ``dtype``."""
    z = np.asarray(row, dtype=np.float64)
    # exp's argument z_j - max is rounded to the dtype (eps/2 relative, so e^(z_j - max)
    # is off by |z_j - max| eps/2: exp's condition number); exp itself 1 ulp; the sum of
    # n terms n ulps; the division ½ ulp. Entries below the smallest normal: absolute.
    rel = (np.abs(z - z.max()) / 2 + len(row) + 2) * _eps(dtype)
    return rel * np.abs(want) + _tiny(dtype)


def check_softmax(softmax, dtype):
    for row in ROWS:
        Z = np.array([row], dtype=dtype)
        want = f64(o_softmax(Z[0]))
        got = softmax(Z)[0]
        _check_close(got, want, _softmax_tol(Z[0], dtype, want),
                     f"softmax {np.dtype(dtype).name} {row}")


def check_log_softmax(log_softmax, dtype):
    for row in ROWS:
        Z = np.array([row], dtype=dtype)
        want = f64(o_log_softmax(Z[0]))
        # (z_j - max) - ln(1 + Σ others) sums two numbers <= 0, so nothing cancels: a few
        # ulps relative (4 eps), however large |z| is. The absolute tiny term only matters
        # where the exact value underflows (-ln(1 + e^-2e4) for the max of [1e4, -1e4]).
        _check_close(log_softmax(Z)[0], want, 4 * _eps(dtype) * np.abs(want) + _tiny(dtype),
                     f"log-softmax {np.dtype(dtype).name} {row}")


# Cost values are computed in float64 from the stored z (exact in both dtypes), so the
# tolerance is a few float64 ulps of the total whatever the dtype: 16 eps64 = 3.6e-15.
COST_RTOL = 16 * np.finfo(np.float64).eps


def check_cross_entropy(cost, dtype):
    """``cost(Z, Y) -> Σ over the rows`` for sigmoid outputs."""
    for y in CE_TARGETS:
        Z = _scalars(dtype).reshape(-1, 1)
        Y = np.full_like(Z, y)
        for i in range(Z.shape[0]):             # one sample at a time: no cancellation hides
            want = f64(o_cross_entropy(Z[i], Y[i]))
            got = cost(Z[i:i + 1], Y[i:i + 1])
            _check_close(got, want, COST_RTOL * abs(want) + 1e-300,
                         f"cross-entropy {np.dtype(dtype).name} z={Z[i, 0]!r} y={y}")


def check_log_likelihood(cost, dtype):
    """``cost(Z, Y) -> Σ over the rows`` for softmax outputs; every label of every row."""
    for row in ROWS:
        Z = np.array([row], dtype=dtype)
        for label in range(len(row)):
            Y = np.zeros_like(Z)
            Y[0, label] = 1
            want = f64(o_log_likelihood(Z[0], Y[0]))
            _check_close(cost(Z, Y), want, COST_RTOL * abs(want) + 1e-300,
                         f"log-likelihood {np.dtype(dtype).name} {row} label {label}")


# ---------------------------------------------------------------- the kernels

def _activate(code):
    def run(Z):
        A = np.empty_like(Z)
        kact.activate(Z, A, code, Z.dtype.type(0))
        return A
    return run


def _derivative(code, from_z):
    def run(Z):
        A = _activate(code)(Z)
        D = np.ones_like(Z)
        kact.multiply_by_derivative(D, Z, A, code, Z.dtype.type(0), from_z)
        return D
    return run


def _log_softmax_kernel(Z):
    out = np.empty_like(Z)
    kact.log_softmax_rows(Z, out)
    return out


def _cost_kernel(code, act):
    def run(Z, Y):
        A = _activate(act)(Z)
        return kcost.COST_SUMS[code](Z, A, Y, np.arange(Z.shape[0], dtype=np.int64))
    return run


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
class TestKernels:
    def test_sigmoid(self, dtype):
        check_sigmoid(_activate(kact.SIGMOID), dtype)

    @pytest.mark.parametrize("from_z", [False, True], ids=["from_a", "from_z"])
    def test_sigmoid_prime(self, dtype, from_z):
        check_sigmoid_prime(_derivative(kact.SIGMOID, from_z), dtype)

    def test_tanh(self, dtype):
        check_tanh(_activate(kact.TANH), dtype)

    @pytest.mark.parametrize("from_z", [False, True], ids=["from_a", "from_z"])
    def test_tanh_prime(self, dtype, from_z):
        check_tanh_prime(_derivative(kact.TANH, from_z), dtype)

    def test_softmax_rows(self, dtype):
        check_softmax(_activate(kact.SOFTMAX), dtype)

    def test_log_softmax_rows(self, dtype):
        check_log_softmax(_log_softmax_kernel, dtype)

    def test_cross_entropy_cost(self, dtype):
        check_cross_entropy(_cost_kernel(kcost.CROSS_ENTROPY, kact.SIGMOID), dtype)

    def test_log_likelihood_cost(self, dtype):
        check_log_likelihood(_cost_kernel(kcost.LOG_LIKELIHOOD, kact.SOFTMAX), dtype)

    def test_named_extremes(self, dtype):
        """The issue's own examples, spelled out."""
        ce = _cost_kernel(kcost.CROSS_ENTROPY, kact.SIGMOID)
        ll = _cost_kernel(kcost.LOG_LIKELIHOOD, kact.SOFTMAX)
        one = np.array([[1.0]], dtype)
        zero = np.array([[0.0]], dtype)
        # a confident wrong answer at z = ±1e4 costs 1e4, a confident right one 0
        assert ce(np.array([[1e4]], dtype), zero) == 1e4
        assert ce(np.array([[-1e4]], dtype), one) == 1e4
        assert ce(np.array([[1e4]], dtype), one) == 0.0
        # z_correct = -1e4 with another z = 1e4: -ln softmax = 2e4 (+ ln(1 + e^-2e4 ...))
        Z = np.array([[-1e4, 1e4, 0.0]], dtype)
        assert ll(Z, np.array([[1.0, 0.0, 0.0]], dtype)) == 2e4
        assert ll(Z, np.array([[0.0, 0.0, 1.0]], dtype)) == 1e4
        # right answer by a margin of 20: cost e^-20 (2.06e-9), not 0 (ln(1 + 2e-9) in
        # float32 would be 0)
        got = ll(np.array([[0.0, -20.0]], dtype), np.array([[1.0, 0.0]], dtype))
        assert got == pytest.approx(f64(CTX.ln(ONE + CTX.exp(Decimal(-20)))), rel=1e-14)
        assert got == pytest.approx(2.06e-9, rel=1e-3)

    def test_quadratic_cost(self, dtype):
        # ½‖a − y‖² of the a it is given, in float64: exact to a few float64 ulps.
        for act, cases in ((kact.SIGMOID, [[z] for z in SCALARS]), (kact.SOFTMAX, ROWS),
                           (kact.TANH, [[z] for z in SCALARS])):
            for row in cases:
                Z = np.array([row], dtype)
                A = _activate(act)(Z)
                for y in (0.0, 1.0):
                    Y = np.full_like(Z, y)
                    got = kcost.COST_SUMS[kcost.QUADRATIC](Z, A, Y, np.zeros(1, np.int64))
                    want = f64(o_quadratic(A[0], Y[0]))
                    _check_close(got, want, COST_RTOL * want + 1e-300,
                                 f"quadratic {np.dtype(dtype).name} act {act} {row} y={y}")

    @pytest.mark.parametrize("cost,act", [
        (kcost.CROSS_ENTROPY, kact.SIGMOID), (kcost.LOG_LIKELIHOOD, kact.SOFTMAX),
        (kcost.QUADRATIC, kact.SIGMOID), (kcost.QUADRATIC, kact.TANH),
        (kcost.QUADRATIC, kact.SOFTMAX)], ids=["ce-sigmoid", "ll-softmax", "quad-sigmoid",
                                                "quad-tanh", "quad-softmax"])
    def test_output_delta(self, dtype, cost, act):
        eps, tiny = _eps(dtype), _tiny(dtype)
        rows = ROWS if act == kact.SOFTMAX else [[z] for z in SCALARS]
        for row in rows:
            Z = np.array([row], dtype)
            A = _activate(act)(Z)
            for label in range(len(row)):
                for y_value in ((0.0, 1.0) if act != kact.SOFTMAX else (1.0,)):
                    Y = np.zeros_like(Z)
                    Y[0, label] = y_value
                    D = np.empty_like(Z)
                    kcost.output_delta(Z, A, Y, np.zeros(1, np.int64), cost, act, dtype(0), D)
                    y = Y[0].astype(np.float64)
                    if act == kact.SIGMOID:
                        a = f64([o_sigmoid(z) for z in Z[0]])
                        g = f64([o_sigmoid_prime(z) for z in Z[0]])
                        rel_a = 4 * eps * a
                    elif act == kact.TANH:
                        a = f64([o_tanh(z) for z in Z[0]])
                        g = f64([o_tanh_prime(z) for z in Z[0]])
                        rel_a = 4 * eps * np.abs(a)
                    else:
                        a = f64(o_softmax(Z[0]))
                        rel_a = _softmax_tol(Z[0], dtype, a) - tiny
                    e = a - y
                    if cost != kcost.QUADRATIC:
                        # δ = a − y from the stored a: a's error (rel_a) plus ½ ulp of δ
                        want, tol = e, rel_a + eps * np.abs(e) + tiny
                    elif act != kact.SOFTMAX:
                        # δ = (a − y) g'(z), g' from the stored a: |a − y| <= 2 and
                        # |g'| <= 1, so δ is off by at most 2 * (a's error) + 2 * (g's
                        # error, itself <= 2 * a's error) plus ½ ulp
                        want = e * g
                        tol = 6 * rel_a + eps * np.abs(want) + tiny
                    else:
                        # δ = a ⊙ (e − e·a): the dot product carries Σ|e_j| * (a_j's error)
                        # <= 2 max rel_a; times a_j, plus a_j's own error on |e_j − dot|
                        dot = float(e @ a)
                        want = a * (e - dot)
                        tol = (a * 4 * rel_a.max() + 2 * rel_a + eps * np.abs(want) + tiny)
                    _check_close(D[0], want, tol,
                                 f"output δ {np.dtype(dtype).name} cost {cost} act {act} "
                                 f"{row} y={Y[0].tolist()}")


# ---------------------------------------------------------------- the reference network
# fastnn/reference.py is the float64 oracle of the parity tests: it must be exact too.

def _ref_columns(fn):
    def run(Z):
        return np.vstack([fn(np.asarray(z, np.float64).reshape(-1, 1)).ravel() for z in Z])
    return run


def _ref_elementwise(name, derivative=False):
    def run(Z):
        z = Z.astype(np.float64)
        a = ref._FORWARD[name](z, None)
        return ref._DERIVATIVE[name](z, a, None) if derivative else a
    return run


def _ref_cost(cost, output):
    def run(Z, Y):
        total = 0.0
        for z, y in zip(Z, Y):
            zc = np.asarray(z, np.float64).reshape(-1, 1)
            a = ref._FORWARD[output](zc, None)
            total += ref._cost_value(cost, output, zc, a, np.asarray(y, np.float64).reshape(-1, 1))
        return total
    return run


def test_reference_functions_are_exact_at_the_extremes():
    f = np.float64
    check_sigmoid(_ref_elementwise("sigmoid"), f)
    check_sigmoid_prime(_ref_elementwise("sigmoid", True), f)
    check_tanh(_ref_elementwise("tanh"), f)
    check_tanh_prime(_ref_elementwise("tanh", True), f)
    check_softmax(_ref_columns(ref._softmax), f)
    check_log_softmax(_ref_columns(ref._log_softmax), f)
    check_cross_entropy(_ref_cost("cross_entropy", "sigmoid"), f)
    check_log_likelihood(_ref_cost("log_likelihood", "softmax"), f)
    # the output δ of the two matched pairs is a − y
    z = np.array([[1e4], [-1e4], [30.0], [0.0]])
    y = np.array([[0.0], [1.0], [1.0], [1.0]])
    a = ref._sigmoid(z)
    delta = ref._output_delta("cross_entropy", "sigmoid", None, z, a, y).ravel()
    np.testing.assert_allclose(delta, [1.0, -1.0, -f64(o_sigmoid(-30.0)), -0.5],
                               rtol=0, atol=4 * np.finfo(f).eps)


# ---------------------------------------------------------------- the naive formulas fail

def _np(fn):
    """A NumPy implementation run with its overflow warnings silenced."""
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return run


def _old_log_softmax(Z):
    # fastnn's kernel before this file: z − (max + ln Σ e^(z − max)), in the input dtype
    m = Z.max(axis=1, keepdims=True)
    return Z - (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))


def _naive_ce(Z, Y):
    A = 1 / (1 + np.exp(-Z))
    return float(np.sum(-(Y * np.log(A) + (1 - Y) * np.log(1 - A))))


def _naive_softplus_ce(Z, Y):
    return float(np.sum(Y * np.log(1 + np.exp(-Z)) + (1 - Y) * np.log(1 + np.exp(Z))))


def _naive_ll(Z, Y):
    A = np.exp(Z - Z.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    return float(-np.sum(Y * np.log(A)))


def _float32_shift_ll(Z, Y):
    # stable but evaluated in float32 with max + ln Σ rounded first (the old cost kernel)
    return float(-np.sum(Y * _old_log_softmax(Z)))


NAIVE = [
    ("softmax exp(z)/Σexp(z)", check_softmax, _np(lambda Z: np.exp(Z) / np.exp(Z).sum(1)[:, None])),
    ("log(softmax(z))", check_log_softmax,
     _np(lambda Z: np.log(np.exp(Z - Z.max(1)[:, None])
                          / np.exp(Z - Z.max(1)[:, None]).sum(1)[:, None]))),
    ("log-softmax z − (max + ln Σ)", check_log_softmax, _np(_old_log_softmax)),
    ("logsumexp without the max", check_log_softmax,
     _np(lambda Z: Z - np.log(np.exp(Z).sum(1))[:, None])),
    ("sigmoid 0.5 (1 + tanh(z/2))", check_sigmoid, _np(lambda Z: 0.5 * (1 + np.tanh(Z / 2)))),
    ("sigmoid' e^-z/(1 + e^-z)^2", check_sigmoid_prime,
     _np(lambda Z: np.exp(-Z) / (1 + np.exp(-Z)) ** 2)),
    ("tanh (e^2z − 1)/(e^2z + 1)", check_tanh,
     _np(lambda Z: (np.exp(2 * Z) - 1) / (np.exp(2 * Z) + 1))),
    ("cross-entropy −[y ln a + (1−y) ln(1−a)]", check_cross_entropy, _np(_naive_ce)),
    ("cross-entropy ln(1 + e^z)", check_cross_entropy, _np(_naive_softplus_ce)),
    ("log-likelihood −ln a_y", check_log_likelihood, _np(_naive_ll)),
    ("log-likelihood with max + ln Σ rounded", check_log_likelihood, _np(_float32_shift_ll)),
]


@pytest.mark.parametrize("name,check,impl", NAIVE, ids=[n for n, _, _ in NAIVE])
def test_checks_reject_naive_formulas(name, check, impl):
    with pytest.raises(AssertionError):
        check(impl, np.float32)


# ---------------------------------------------------------------- end to end
# A [2, 3, 4] network built so that every number the engine forms on the way to the
# output is exact: hidden units 0 and 1 are pushed to ±1e4 x (σ = exactly 1 or 0 in
# either dtype), unit 2 has z = 0 (σ = ½ exactly, σ' = ¼), and the output weights and
# biases are small halves and integers around ±1e4, so z^L is exact too (float32 holds
# 10002.5 exactly). The oracle then starts from the same exact z and every difference is
# the engine's own rounding.

X_PATTERNS = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [0.5, -2.0], [-0.25, 0.75]])
W1 = np.array([[1e4, 0.0], [0.0, -1e4], [0.0, 0.0]])
B1 = np.zeros(3)
OUTPUT = {
    # sigmoid + cross-entropy: z^L up to ±1e4 (confident right and wrong), ±40, 0.5
    "cross_entropy": ("sigmoid", np.array([[2.0, -3.0, 1.0], [0.5, 1.0, -2.0],
                                           [40.0, -45.0, 4.0], [-9.0, 8.0, 2.0]]),
                      np.array([1e4, -1e4, 0.0, -30.0])),
    # softmax + log-likelihood: two leaders 1 apart near 1e4, one at -1e4, one near 0
    "log_likelihood": ("softmax", np.array([[2.0, -3.0, 1.0], [1.0, 0.5, -2.0],
                                            [3.0, 1.0, 0.5], [-9.0, 8.0, 2.0]]),
                       np.array([1e4, 1e4 - 1.0, -1e4, 0.0])),
}
LABELS = np.array([1, 0, 2, 3, 1])      # label 1 on pattern 0: confident and wrong


def _exact_pass(W1, b1, W2, b2, output, X, labels):
    """Mean cost, the mean gradients (gW1, gb1, gW2, gb2) and the outputs a^L, exactly."""
    n = len(X)
    gW1 = [[Decimal(0)] * 2 for _ in range(3)]
    gb1 = [Decimal(0)] * 3
    gW2 = [[Decimal(0)] * 3 for _ in range(4)]
    gb2 = [Decimal(0)] * 4
    cost = Decimal(0)
    outs = []
    with decimal.localcontext(CTX):
        for x, label in zip(X, labels):
            x = [dec(v) for v in x]
            z1 = [sum((dec(W1[j, k]) * x[k] for k in range(2)), dec(b1[j])) for j in range(3)]
            # σ(z1) is ½ or within e^-2500 of 0 or 1: at 60 digits the products below
            # then round to exactly what the engine forms from its stored 0, ½ and 1
            assert all(z == 0 or abs(z) >= 2500 for z in z1)
            a1 = [o_sigmoid(float(z)) for z in z1]
            z2 = [sum((dec(W2[j, k]) * a1[k] for k in range(3)), dec(b2[j])) for j in range(4)]
            assert all(dec(float(z)) == z for z in z2), "z^L is not exact: the test is broken"
            y = [Decimal(int(j == label)) for j in range(4)]
            z2f = [float(z) for z in z2]
            if output == "sigmoid":
                a2 = [o_sigmoid(z) for z in z2f]
                cost += o_cross_entropy(z2f, y)
            else:
                a2 = o_softmax(z2f)
                cost += o_log_likelihood(z2f, y)
            outs.append(a2)
            d2 = [a - t for a, t in zip(a2, y)]
            # σ'(z1) = ¼ at z1 = 0 and e^(-|z1|) (below 1e-1000) at |z1| >= 2500
            d1 = [sum((dec(W2[j, k]) * d2[j] for j in range(4)), Decimal(0))
                  * o_sigmoid_prime(float(z1[k])) for k in range(3)]
            for j in range(4):
                gb2[j] += d2[j] / n
                for k in range(3):
                    gW2[j][k] += d2[j] * a1[k] / n
            for j in range(3):
                gb1[j] += d1[j] / n
                for k in range(2):
                    gW1[j][k] += d1[j] * x[k] / n
        return cost / n, (gW1, gb1, gW2, gb2), outs


def _flat(blocks):
    out = []
    for b in blocks:
        for row in b:
            out.extend(row if isinstance(row, list) else [row])
    return out


def _network(cost, dtype, matrix):
    output, W2, b2 = OUTPUT[cost]
    net = fastnn.Network([2, 3, 4], "sigmoid", output, cost, dtype=np.dtype(dtype).name, seed=0)
    net.weights[0][...] = W1
    net.biases[0][...] = B1
    net.weights[1][...] = W2
    net.biases[1][...] = b2
    net._engine.matrix = matrix
    return net, output, W2, b2


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cost", ["cross_entropy", "log_likelihood"])
@pytest.mark.parametrize("path,copies", [("loop", 1), ("matrix", 8)])
def test_network_at_the_extremes(dtype, cost, path, copies):
    """evaluate, feedforward, gradients and one SGD step, with z^L at ±1e4, vs the oracle."""
    eps = _eps(dtype)
    net, output, W2, b2 = _network(cost, dtype, matrix=(path == "matrix"))
    X = np.tile(X_PATTERNS, (copies, 1)).astype(dtype)
    labels = np.tile(LABELS, copies)
    n = len(X)                                   # 5 (loop) or 40 (matrix: >= MIN_ROWS)
    assert net._engine.uses_matrix(n) == (path == "matrix")
    exact_cost, grads, outs = _exact_pass(W1, B1, W2, b2, output, X, labels)

    # the reported cost: float64 from the exact z^L, so a few float64 ulps
    got = net.evaluate(X, labels)["cost"]
    want = float(exact_cost)
    assert np.isfinite(got) and want > 2000     # the 1e4-sized terms are in there
    assert abs(got - want) <= COST_RTOL * want, f"{path} evaluate cost {got!r} vs exact {want!r}"

    # the outputs: the activation's own tolerance (float32 1 − σ(−1e4) etc. are exact)
    A = net.feedforward(X).astype(np.float64)
    want_a = np.array([[float(v) for v in row] for row in outs])
    assert np.isfinite(A).all()
    assert np.all(np.abs(A - want_a) <= 8 * eps * want_a + _tiny(dtype)), \
        f"{path} feedforward vs exact: worst {np.abs(A - want_a).max():.3g}"

    # gradients: each is a mean of δ (absolute error <= 4 eps, from the stored a^L) times
    # a^1 (<= 1) or, for layer 1, times Σ|W2| (<= 57) * ¼ * |x| (<= 2), so 16 eps times
    # that scale covers them; the loop path exposes them (mean_gradient)
    g_want = np.array([float(v) for v in _flat(grads)])
    scale = np.concatenate([np.full(6, 57 * 0.25 * 2), np.full(3, 57 * 0.25), np.ones(16)])
    gw, gb = net.gradients(X, labels)
    g_got = np.concatenate([gw[0].ravel(), gb[0], gw[1].ravel(), gb[1]]).astype(np.float64)
    assert np.isfinite(g_got).all()
    err = np.abs(g_got - g_want)
    assert np.all(err <= 16 * eps * scale), f"gradients vs exact: worst {err.max():.3g}"
    assert np.abs(g_want).max() > 0.1            # a real gradient, not all zeros

    # one SGD step of the whole batch on the chosen path: p ← p − η g. Each new parameter
    # may be off by the gradient's error times η plus one rounding of p itself (½ ulp of
    # |p| <= 1e4: 5e-4 in float32), so compare against the exact p − η g.
    eta = 0.5
    before = np.concatenate([W1.ravel(), B1, W2.ravel(), b2])
    net.train_epoch(X, labels, np.arange(n), n, eta)
    after = np.concatenate([net.weights[0].ravel(), net.biases[0], net.weights[1].ravel(),
                            net.biases[1]]).astype(np.float64)
    exact = np.array([float(dec(p) - Decimal(eta) * g)
                      for p, g in zip(before, _flat(grads))])
    assert np.isfinite(after).all(), f"{path}: non-finite parameters after one step"
    tol = eta * 16 * eps * scale + np.abs(exact) * eps
    err = np.abs(after - exact)
    assert np.all(err <= tol), (f"{path} {np.dtype(dtype).name} {cost}: parameters after one "
                                f"step vs exact p − ηg: worst {err.max():.3g} at "
                                f"{np.argmax(err / tol)}")
    assert np.abs(after - before).max() > 0.01   # the step did move the parameters
