"""kernels/_exp.py: the float32 exp that lets sigmoid, ELU, swish and softmax vectorize.

Oracle: the float64 exp, rounded to float32 (correctly rounded up to double
rounding). The float32 exp must stay within 1.01 ulp where e^x is a normal float32,
round subnormal results to within an ulp or so, and keep IEEE's special values; the
float64 exp_ must be the C library's exp bit for bit, as before (float64 results, the
network2 drop-in's, do not change).
"""
import math

import numba
import numpy as np
import pytest

from fastnn.kernels import activations as act
from fastnn.kernels._exp import exp_

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}  # the kernels' flags (kernels/_jit.py)


@numba.njit(fastmath=FASTMATH)
def _exp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_(x[i])


def _points(dtype):
    rng = np.random.default_rng(0)
    return np.concatenate([np.linspace(-110, 95, 2_000_001), np.linspace(-1, 1, 500_001),
                           rng.uniform(-104, 89, 500_000), rng.standard_normal(200_000)]
                          ).astype(dtype)


def test_float32_exp_within_one_ulp_where_normal():
    x = _points(np.float32)
    got = np.empty_like(x)
    _exp_loop(x, got)
    exact = np.exp(x.astype(np.float64))
    tiny, big = np.finfo(np.float32).tiny, float(np.finfo(np.float32).max)
    normal = (exact >= tiny) & (exact <= big)
    with np.errstate(over="ignore"):
        ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)
    err = np.abs(got[normal].astype(np.float64) - exact[normal]) / ulp
    assert err.max() <= 1.01, f"max {err.max():.3f} ulp at x = {x[normal][err.argmax()]!r}"
    assert err.mean() < 0.35
    # subnormal results: one rounding to the subnormal grid (2^-149) at the end
    sub = (exact < tiny) & (exact > 0)
    assert sub.sum() > 1000
    bound = 1.01 * 2.0 ** -149 + 1.01 * 2 ** -23 * exact[sub]
    assert np.all(np.abs(got[sub] - exact[sub]) <= bound)
    # beyond float32's range: inf above, 0 below, never a wrapped exponent
    assert np.all(np.isinf(got[exact > big])) and np.all(got[exact > big] > 0)
    assert np.all(got[x < -104] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 88.0, -87.0, 1e30, -1e30], dtype)
    got = np.empty_like(x)
    _exp_loop(x, got)
    assert np.isnan(got[0])
    assert got[1] == np.inf and got[2] == 0 and got[3] == 1 and got[4] == 1
    assert got[8] == np.inf and got[9] == 0
    np.testing.assert_allclose(got[5:8], np.exp(x[5:8].astype(np.float64)), rtol=2e-7)


def test_float64_exp_is_the_c_librarys_bit_for_bit():
    """Numba's np.exp of a float64 scalar calls the C library's exp, as Python's math.exp
    does (NumPy's own array exp is a different, SIMD implementation)."""
    x = _points(np.float64)[::37]
    got = np.empty_like(x)
    _exp_loop(x, got)
    want = np.array([math.exp(v) if v < 709 else math.inf for v in x.tolist()])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("code, param, g", [
    (act.SIGMOID, 0.0, lambda z, p: 1 / (1 + np.exp(-z))),
    (act.ELU, 0.7, lambda z, p: np.where(z > 0, z, p * np.expm1(np.minimum(z, 0)))),
    (act.SWISH, 1.3, lambda z, p: z / (1 + np.exp(-p * z))),
], ids=["sigmoid", "elu", "swish"])
def test_float32_activations_built_on_it(code, param, g):
    """The float32 layer activations against float64 (NumPy) on z in [−30, 30]: a few
    float32 ulps of the value (absolute, near ELU's and swish's zero crossing)."""
    z = np.linspace(-30, 30, 60_001).reshape(1, -1).astype(np.float32)
    a = np.empty_like(z)
    act.activate(z, a, code, np.float32(param))
    want = g(z.astype(np.float64), param)
    np.testing.assert_allclose(a, want, rtol=4 * 2 ** -23, atol=4 * 2 ** -23)
    # and the derivative from z (dropout layers' path): s(1 − s) on the float64 value
    if code == act.SIGMOID:
        d = np.ones_like(z)
        act.multiply_by_derivative(d, z, a, code, np.float32(param), True)
        s = want
        # (1 − s in float32 is off by up to half an ulp of 1, whatever computed s)
        np.testing.assert_allclose(d, s * (1 - s), rtol=8 * 2 ** -23, atol=2 ** -22)


def test_float32_sigmoid_and_softmax_keep_nan_and_limits():
    z = np.array([[np.nan, 200.0, -200.0, 0.0]], np.float32)
    a = np.empty_like(z)
    act.activate(z, a, act.SIGMOID, np.float32(0))
    assert np.isnan(a[0, 0]) and a[0, 1] == 1 and a[0, 2] == 0 and a[0, 3] == 0.5
    z = np.array([[1000.0, 0.0, -1000.0], [np.nan, 1.0, 2.0]], np.float32)
    act.activate(z, a := np.empty_like(z), act.SOFTMAX, np.float32(0))
    np.testing.assert_array_equal(a[0], [1, 0, 0])
    assert np.all(np.isnan(a[1]))
