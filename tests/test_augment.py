"""Augmentation: geometric facts on synthetic blobs and on the shipped sample images,
parity of the Numba warps with a slow NumPy bilinear sampler, Augmenter determinism and
bad input.

Conventions under test: rows point down, columns right; the centre is (13.5, 13.5);
translate(X, dx, dy) moves content right by dx and down by dy; rotate turns content
counter-clockwise as displayed (np.rot90's direction); skew moves content at row y by
s·(y − 13.5) to the right.
"""
import os

import numpy as np
import pytest

import fastnn
from fastnn import augment
from fastnn.data import load_dataset
from fastnn.kernels import augment as K

C = 13.5  # centre of a 28 x 28 image
RR, CC = np.mgrid[0:28, 0:28].astype(np.float64)


def blob(r0, c0, width=1.5, dtype=np.float64):
    """A Gaussian spot of peak 1 centred at (row r0, column c0), as a (1, 784) row."""
    img = np.exp(-((RR - r0) ** 2 + (CC - c0) ** 2) / (2 * width ** 2))
    return img.reshape(1, 784).astype(dtype)


def com(X):
    """Centre of mass (row, column) of each image of X, shape (n, 2)."""
    imgs = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28)
    mass = imgs.sum(axis=(1, 2))
    return np.stack([(imgs * RR).sum(axis=(1, 2)) / mass,
                     (imgs * CC).sum(axis=(1, 2)) / mass], axis=1)


@pytest.fixture(scope="module")
def real():
    data = load_dataset(os.path.join(os.path.dirname(fastnn.__file__), "sample_data"))
    return data.train[0][:64], data.train[1][:64]


# ------------------------------------------------------------------------ translation

@pytest.mark.parametrize("dx, dy", [(3, -2), (-4, 5), (0, 1), (6, 0)])
def test_integer_translation_moves_centre_of_mass_exactly(dx, dy):
    X = blob(13.0, 13.3, width=1.2)          # well inside: tails below 1e-7 at the border
    moved = augment.translate(X, dx, dy)
    np.testing.assert_allclose(com(moved) - com(X), [[dy, dx]], atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(0.3, -1.7), (-2.25, 0.5), (1.9, 2.6)])
def test_fractional_translation_moves_centre_of_mass(dx, dy):
    X = blob(13.0, 14.0, width=1.2)
    moved = augment.translate(X, dx, dy)
    np.testing.assert_allclose(com(moved) - com(X), [[dy, dx]], atol=1e-3)


def test_translation_by_zero_is_identity_and_integer_shift_moves_pixels(real):
    X, _ = real
    assert np.array_equal(augment.translate(X, 0, 0), X)
    assert np.array_equal(augment.translate(X, 0.0, np.zeros(len(X))), X)
    imgs = X.reshape(-1, 28, 28)
    expected = np.zeros_like(imgs)
    expected[:, 2:, :25] = imgs[:, :26, 3:]          # left by 3, down by 2
    got = augment.translate(X, -3, 2).reshape(-1, 28, 28)
    assert np.array_equal(got, expected)


def test_per_image_shifts():
    X = np.concatenate([blob(13.0, 13.0)] * 3)
    dx = np.array([1.0, -2.0, 0.5])
    dy = np.array([0.0, 3.0, -1.5])
    np.testing.assert_allclose(com(augment.translate(X, dx, dy)) - com(X),
                               np.stack([dy, dx], axis=1), atol=1e-6)


# --------------------------------------------------------------------------- rotation

def test_rotation_by_zero_and_full_turn_is_identity(real):
    X, _ = real
    assert np.array_equal(augment.rotate(X, 0), X)
    assert np.array_equal(augment.rotate(X, 360), X)


def test_rotation_by_90_moves_a_point_counter_clockwise_as_displayed():
    # right of the centre -> above it; above -> left; left -> below (row 0 at the top)
    for (r, c), (r2, c2) in [((C, C + 5), (C - 5, C)), ((C - 5, C), (C, C - 5)),
                             ((C, C - 4), (C + 4, C)), ((C - 3, C + 2), (C - 2, C - 3))]:
        moved = augment.rotate(blob(r, c, width=0.8), 90)
        np.testing.assert_allclose(com(moved), com(blob(r2, c2, width=0.8)), atol=1e-9)
        back = augment.rotate(blob(r, c, width=0.8), -90)
        np.testing.assert_allclose(augment.rotate(back, 180), moved, atol=1e-12)


def test_rotation_by_90_is_numpy_rot90(real):
    X, _ = real
    imgs = X.reshape(-1, 28, 28)
    assert np.array_equal(augment.rotate(imgs, 90), np.rot90(imgs, 1, axes=(1, 2)))
    assert np.array_equal(augment.rotate(imgs, 180), imgs[:, ::-1, ::-1])


def test_four_quarter_turns_give_back_the_image(real):
    X, _ = real
    out = X
    for _ in range(4):
        out = augment.rotate(out, 90)
    np.testing.assert_allclose(out, X, atol=1e-6)
    Xr = np.random.default_rng(0).random((5, 784))
    out = Xr
    for _ in range(4):
        out = augment.rotate(out, 90.0)
    np.testing.assert_allclose(out, Xr, atol=1e-6)


@pytest.mark.parametrize("degrees", [17.0, 30.0, 45.0, -73.0])
def test_rotation_keeps_the_centre_of_mass_of_a_centred_blob(degrees):
    X = blob(C, C, width=2.0)
    np.testing.assert_allclose(com(augment.rotate(X, degrees)), [[C, C]], atol=1e-6)


@pytest.mark.parametrize("degrees", [20.0, -35.0])
def test_rotation_of_an_off_centre_blob(degrees):
    r, c = C + 2.0, C + 5.0
    th = np.deg2rad(degrees)
    # counter-clockwise as displayed: with y up = -(row), x = column
    x, y = c - C, -(r - C)
    x2, y2 = np.cos(th) * x - np.sin(th) * y, np.sin(th) * x + np.cos(th) * y
    expected = [[C - y2, C + x2]]
    np.testing.assert_allclose(com(augment.rotate(blob(r, c), degrees)), expected, atol=0.02)


# ------------------------------------------------------------------------------- skew

@pytest.mark.parametrize("s, d", [(0.3, 4.0), (-0.25, 5.0), (0.4, -3.0), (0.5, 0.0)])
def test_skew_moves_a_blob_horizontally_by_s_times_row_offset(s, d):
    X = blob(C + d, 12.0)
    moved = augment.skew(X, s)
    np.testing.assert_allclose(com(moved) - com(X), [[0.0, s * d]], atol=1e-6)


def test_skew_zero_is_identity(real):
    X, _ = real
    assert np.array_equal(augment.skew(X, 0.0), X)


# ---------------------------------------------------------------------------- elastic

def test_elastic_alpha_zero_is_identity(real):
    X, _ = real
    assert np.array_equal(augment.elastic(X, 0.0, 4.0, seed=1), X)
    assert np.array_equal(augment.elastic(X.reshape(-1, 28, 28), 0, 2.0, seed=5),
                          X.reshape(-1, 28, 28))


def test_elastic_changes_images_but_keeps_intensity_and_range(real):
    X, _ = real
    out = augment.elastic(X, 8.0, 4.0, seed=3)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert np.abs(out - X).max() > 0.1
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    ratio = out.sum(axis=1) / X.sum(axis=1)
    assert np.all((ratio > 0.75) & (ratio < 1.25)), ratio
    assert np.array_equal(augment.elastic(X, 8.0, 4.0, seed=3), out)
    assert not np.array_equal(augment.elastic(X, 8.0, 4.0, seed=4), out)


def test_elastic_applies_its_fields():
    X = np.random.default_rng(1).random((3, 784))
    dy, dx = augment.elastic_fields(3, 5.0, 3.0, seed=7)
    out = np.empty((3, 28, 28))
    K.warp_displacement(X.reshape(3, 28, 28), out, dy, dx)
    assert np.array_equal(augment.elastic(X, 5.0, 3.0, seed=7), out.reshape(3, 784))


def test_smoothed_field_amplitude_falls_as_sigma_grows_and_scales_with_alpha():
    amplitude = []
    for sigma in (0.5, 1.0, 2.0, 4.0, 8.0):
        dy, dx = augment.elastic_fields(20, 1.0, sigma, seed=0)
        amplitude.append(np.sqrt(np.mean(dy ** 2 + dx ** 2)))
    assert all(a > b for a, b in zip(amplitude, amplitude[1:])), amplitude
    dy1, _ = augment.elastic_fields(4, 1.0, 4.0, seed=2)
    dy3, _ = augment.elastic_fields(4, 3.0, 4.0, seed=2)
    np.testing.assert_allclose(dy3, 3.0 * dy1, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------- the blur

@pytest.mark.parametrize("sigma", [0.7, 2.0, 3.3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blur_of_a_delta_is_a_normalised_gaussian(sigma, dtype):
    size = 41
    field = np.zeros((1, size, size), dtype=dtype)
    field[0, 20, 20] = 1
    out = np.empty_like(field)
    K.gaussian_blur(field, sigma, out)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    g = out[0].astype(np.float64)
    assert abs(g.sum() - 1.0) < tol
    radius = int(np.ceil(3 * sigma))
    k = np.arange(-radius, radius + 1)
    taps = np.exp(-k ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    expected = np.zeros((size, size))
    expected[20 - radius:21 + radius, 20 - radius:21 + radius] = np.outer(taps, taps)
    np.testing.assert_allclose(g, expected, atol=tol)
    idx = np.arange(size) - 20.0
    var_r = (g.sum(axis=1) * idx ** 2).sum()
    var_c = (g.sum(axis=0) * idx ** 2).sum()
    discrete = (taps * k ** 2).sum()
    np.testing.assert_allclose([var_r, var_c], [discrete, discrete], rtol=1e-6)
    np.testing.assert_allclose([var_r, var_c], [sigma ** 2] * 2, rtol=0.03)  # truncated at 3σ


def test_blur_zero_pads_the_border_and_may_work_in_place():
    field = np.zeros((1, 28, 28))
    field[0, 0, 0] = 1.0
    blurred = np.empty_like(field)
    K.gaussian_blur(field, 2.0, blurred)
    taps = np.exp(-np.arange(0, 7) ** 2 / 8.0)
    inside = taps.sum() / (2 * taps.sum() - 1)      # the taps k = 0..6 of k = -6..6
    assert abs(blurred.sum() - inside ** 2) < 1e-12  # the rest fell off the zero border
    rng = np.random.default_rng(3)
    f = rng.random((2, 28, 28))
    expected = np.empty_like(f)
    K.gaussian_blur(f, 1.5, expected)
    K.gaussian_blur(f, 1.5, f)
    np.testing.assert_array_equal(f, expected)
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian_blur(f, 0.0, expected)


# ----------------------------------------------------------- parity with slow NumPy

def slow_sample(img, y, x):
    """Bilinear interpolation of img at (y, x), 0 outside: a plain, obvious version."""
    h, w = img.shape
    r0, c0 = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - r0, x - c0
    total = 0.0
    for rr, wr in ((r0, 1 - fy), (r0 + 1, fy)):
        for cc, wc in ((c0, 1 - fx), (c0 + 1, fx)):
            if 0 <= rr < h and 0 <= cc < w:
                total += wr * wc * img[rr, cc]
    return total


def slow_warp(src, matrices=None, dy=None, dx=None):
    n, h, w = src.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    out = np.zeros((n, h, w))
    for i in range(n):
        for r in range(h):
            for c in range(w):
                y, x = float(r), float(c)
                if dy is not None:
                    y, x = y + dy[i, r, c], x + dx[i, r, c]
                if matrices is not None:
                    A, t = matrices[i, :, :2], matrices[i, :, 2]
                    y, x = A @ np.array([y - cy, x - cx]) + np.array([cy, cx]) + t
                out[i, r, c] = slow_sample(src[i], y, x)
    return out


def random_case(rng, n, h, w):
    src = rng.random((n, h, w))
    matrices = np.empty((n, 2, 3))
    matrices[:, :, :2] = np.eye(2) + rng.normal(0, 0.4, (n, 2, 2))
    matrices[:, :, 2] = rng.normal(0, 4, (n, 2))
    dy = rng.normal(0, 2.5, (n, h, w))
    dx = rng.normal(0, 2.5, (n, h, w))
    return src, matrices, dy, dx


@pytest.mark.parametrize("h, w", [(28, 28), (11, 17)])
def test_warp_kernels_match_slow_numpy(h, w):
    rng = np.random.default_rng(42 + h)
    src, matrices, dy, dx = random_case(rng, 3, h, w)
    out = np.empty_like(src)
    K.warp_affine(src, out, matrices)
    np.testing.assert_allclose(out, slow_warp(src, matrices=matrices), rtol=0, atol=1e-12)
    K.warp_displacement(src, out, dy, dx)
    np.testing.assert_allclose(out, slow_warp(src, dy=dy, dx=dx), rtol=0, atol=1e-12)
    K.warp_affine_displacement(src, out, matrices, dy, dx)
    np.testing.assert_allclose(out, slow_warp(src, matrices, dy, dx), rtol=0, atol=1e-12)


def test_warp_kernels_float32():
    rng = np.random.default_rng(7)
    src, matrices, dy, dx = random_case(rng, 2, 28, 28)
    src32 = src.astype(np.float32)
    out = np.empty_like(src32)
    K.warp_affine(src32, out, matrices)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, slow_warp(src32.astype(np.float64), matrices=matrices),
                               atol=1e-6)


def test_samples_outside_the_image_read_zero():
    src = np.ones((1, 28, 28))
    matrices = np.zeros((1, 2, 3))
    matrices[0, :, :2] = np.eye(2)
    matrices[0, 1, 2] = 40.0                  # every sample 40 columns to the right
    out = np.full_like(src, 7.0)
    K.warp_affine(src, out, matrices)
    assert np.array_equal(out, np.zeros_like(src))
    matrices[0, 1, 2] = np.nan
    K.warp_affine(src, out, matrices)
    assert np.array_equal(out, np.zeros_like(src))


# -------------------------------------------------------------------------- Augmenter

def test_augmenter_is_deterministic_per_seed_and_epoch(real):
    X, _ = real
    aug = augment.Augmenter(rotation=10, translation=2, skew=0.2, elastic_alpha=8,
                            elastic_sigma=4, seed=1)
    a = aug(X, 0)
    assert np.array_equal(aug(X, 0), a)
    assert np.array_equal(augment.Augmenter(10, 2, 0.2, 8, 4, seed=1)(X, 0), a)
    assert not np.allclose(aug(X, 1), a)
    assert not np.allclose(augment.Augmenter(10, 2, 0.2, 8, 4, seed=2)(X, 0), a)
    assert np.array_equal(X, real[0])                    # input untouched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 784), (64, 28, 28)])
def test_augmenter_keeps_shape_dtype_and_range(real, dtype, shape):
    X = real[0].astype(dtype).reshape(shape)
    aug = augment.Augmenter(rotation=15, translation=3, skew=0.3, elastic_alpha=10, seed=4)
    out = aug(X, 3)
    assert out.shape == shape and out.dtype == dtype
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    assert 0.7 < out.sum() / X.sum() < 1.1


def test_augmenter_dtypes_agree(real):
    X = real[0]
    aug = augment.Augmenter(rotation=15, translation=3, skew=0.3, elastic_alpha=10, seed=4)
    np.testing.assert_allclose(aug(X.astype(np.float32), 2), aug(X.astype(np.float64), 2),
                               atol=1e-5)


def test_augmenter_with_nothing_on_is_identity(real):
    X, _ = real
    assert np.array_equal(augment.Augmenter()(X, 5), X)


def test_augmenter_composes_skew_rotation_translation():
    """The centre of mass of a blob goes where the forward map sends it:
    p' = R S (p − centre) + centre + shift, in (row, column) coordinates."""
    n = 12
    r, c = C + 3.0, C - 2.0
    X = np.repeat(blob(r, c, width=1.2), n, axis=0)
    aug = augment.Augmenter(rotation=25, translation=2.5, skew=0.2, seed=9)
    got = com(aug(X, 4))
    u = np.random.default_rng([9, 4]).uniform(-1, 1, (n, 4))   # the documented draws
    th, sx, sy, s = np.deg2rad(25 * u[:, 0]), 2.5 * u[:, 1], 2.5 * u[:, 2], 0.2 * u[:, 3]
    p0 = com(X)[0] - C
    row, col = p0[0], p0[1] + s * p0[0]                      # shear: x += s·y
    row, col = np.cos(th) * row - np.sin(th) * col, np.sin(th) * row + np.cos(th) * col
    expected = np.stack([row + C + sy, col + C + sx], axis=1)
    np.testing.assert_allclose(got, expected, atol=0.02)
    assert np.ptp(got, axis=0).min() > 1.0                   # the images really differ


def test_expand_keeps_labels_aligned(real):
    X, y = real
    aug = augment.Augmenter(rotation=8, translation=1.5, elastic_alpha=6, seed=2)
    Xe, ye = aug.expand(X, y, copies=2)
    n = len(X)
    assert Xe.shape == (3 * n, 784) and Xe.dtype == X.dtype and ye.shape == (3 * n,)
    assert np.array_equal(Xe[:n], X)
    assert np.array_equal(Xe[n:2 * n], aug(X, 0))
    assert np.array_equal(Xe[2 * n:], aug(X, 1))
    assert np.array_equal(ye, np.concatenate([y, y, y]))
    onehot = np.eye(10)[y]
    X3 = X.reshape(-1, 28, 28)
    Xe3, ye3 = aug.expand(X3, onehot, copies=1)
    assert Xe3.shape == (2 * n, 28, 28) and ye3.shape == (2 * n, 10)
    assert np.array_equal(ye3[n:].argmax(axis=1), y)
    Xe0, ye0 = aug.expand(X, y, copies=0)
    assert np.array_equal(Xe0, X) and np.array_equal(ye0, y)


def test_repr_shows_settings():
    text = repr(augment.Augmenter(rotation=10, translation=2, elastic_alpha=34, seed=7))
    assert text == ("Augmenter(rotation=10.0, translation=2.0, skew=0.0, elastic_alpha=34.0, "
                    "elastic_sigma=4.0, seed=7)")


# -------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, words", [
    (lambda X: augment.translate(X[:, :100], 1, 1), ["X", "(4, 100)", "784"]),
    (lambda X: augment.translate(X[0], 1, 1), ["X", "(784,)", "reshape(1, -1)"]),
    (lambda X: augment.rotate((X * 255).astype(np.uint8), 5), ["X", "uint8", "float32"]),
    (lambda X: augment.rotate(np.where(X > 0.5, np.nan, X), 5), ["X", "nan"]),
    (lambda X: augment.translate(X, [1, 2], 0), ["dx", "(2,)", "(4,)"]),
    (lambda X: augment.translate(X, 0, float("nan")), ["dy=nan"]),
    (lambda X: augment.rotate(X, "ten"), ["degrees='ten'"]),
    (lambda X: augment.skew(X, np.inf), ["s=inf"]),
    (lambda X: augment.elastic(X, -1.0, 4.0), ["alpha=-1.0"]),
    (lambda X: augment.elastic(X, 1.0, 0.0), ["sigma=0.0"]),
    (lambda X: augment.elastic(X, float("nan"), 4.0), ["alpha=nan"]),
    (lambda X: augment.elastic(X, 1.0, 4.0, seed=-3), ["seed=-3"]),
    (lambda X: augment.Augmenter(rotation=-5), ["rotation=-5"]),
    (lambda X: augment.Augmenter(translation=float("nan")), ["translation=nan"]),
    (lambda X: augment.Augmenter(skew=-0.1), ["skew=-0.1"]),
    (lambda X: augment.Augmenter(elastic_alpha=-2), ["elastic_alpha=-2"]),
    (lambda X: augment.Augmenter(elastic_sigma=0), ["elastic_sigma=0"]),
    (lambda X: augment.Augmenter(seed=1.5), ["seed=1.5"]),
    (lambda X: augment.Augmenter()(X, -1), ["epoch=-1"]),
    (lambda X: augment.Augmenter().expand(X, np.zeros(4, int), copies=-1), ["copies=-1"]),
    (lambda X: augment.Augmenter().expand(X, np.zeros(3, int), 1), ["y", "(3,)", "4"]),
])
def test_bad_input_names_argument_and_value(call, words):
    X = np.random.default_rng(0).random((4, 784))
    with pytest.raises(ValueError) as info:
        call(X)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
