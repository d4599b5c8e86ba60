"""Expanded training data: seeded geometric augmentation of 28 × 28 images.

Images are rows of ``X``, shape ``(n, 784)`` (row-major 28 × 28, as everywhere in
fastnn) or ``(n, 28, 28)``, float32 or float64, pixels in [0, 1]. Every function returns
a new array of the same shape and dtype; the input is never modified, and labels are
never touched.

Conventions
-----------
Pixel ``(r, c)`` is row ``r`` counted **down** from the top and column ``c`` counted
**right**, as the image is displayed (``plt.imshow``); ``x = c`` and ``y = r``. All
transforms act about the image centre ``(cy, cx) = (13.5, 13.5)``. Content outside the
source image reads as 0 (background). Each output pixel is a bilinear interpolation of
the source, so values stay in [0, 1].

* ``translate(X, dx, dy)``: content moves **right** by ``dx`` and **down** by ``dy``
  pixels: ``out(r, c) = X(r − dy, c − dx)``. Fractions allowed.
* ``rotate(X, degrees)``: content turns **counter-clockwise as displayed** (row 0 at the
  top) by ``degrees`` about the centre: a feature right of the centre moves up, one above
  the centre moves left. Multiples of 90° use exact cosines and sines, so they map pixels
  onto pixels with no interpolation at all.
* ``skew(X, s)``: horizontal shear, content at ``(x, y)`` moves to
  ``(x + s·(y − cy), y)``: rows below the centre move right for ``s > 0``, rows above
  move left; the centre row stays.
* ``elastic(X, alpha, sigma, seed)``: Simard, Steinkraus and Platt (2003): two fields of
  independent uniform(−1, 1) numbers per image, each smoothed by a Gaussian of standard
  deviation ``sigma`` pixels (truncated at 3σ, zero padding at the borders) and scaled by
  ``alpha``, give a displacement per pixel: ``out(r, c) = X(r + Δy(r, c), c + Δx(r, c))``.
  Small sigma gives noise-like jitter, large sigma a near-rigid drift of small amplitude;
  the paper's values are about ``alpha = 34, sigma = 4``. ``alpha = 0`` is the identity.

:class:`Augmenter` draws a random rotation, translation and shear per image, composes
them into one affine map (shear first, then rotation, then translation, in the forward
direction), adds an elastic field when ``elastic_alpha > 0`` and resamples each image
**once** (affine and elastic composed as continuous maps, so one interpolation blur, not
two). It is deterministic given ``(seed, epoch)``: call it once per epoch for on-the-fly
augmentation, or use :meth:`Augmenter.expand` for the book's precomputed expanded
training set.

Cost
----
One bilinear pass per image (affine and elastic parts together): 784 samples of about
ten flops and four loads each, about 0.4 s for 50,000 images on one core of the 2-core
development machine. Elastic distortions add two random fields per image and their
smoothing, ``4 (2R + 1)`` multiply-adds per pixel with ``R = ceil(3σ)`` (about 80,000 per
image at σ = 4): about 3 s more per 50,000 images at σ = 4, so on-the-fly elastic
augmentation costs more than an epoch of a small network; :meth:`Augmenter.expand` pays
it once. The kernels run on one thread (they release the GIL). Work is done in chunks of
1,024 images, so scratch memory stays small beside the output.
"""
import numbers

import numpy as np

from ._checks import check_non_negative, check_positive
from .kernels import augment as _k

__all__ = ["Augmenter", "elastic", "elastic_fields", "rotate", "skew", "translate"]

SIDE = 28
N_PIXELS = SIDE * SIDE
_CHUNK = 1024


# ----------------------------------------------------------------------------- checks

def _check_images(X, name="X"):
    """(images as a C-contiguous (n, 28, 28) array, the input shape)."""
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except Exception as exc:
            raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if X.dtype not in (np.float32, np.float64):
        hint = (" (for uint8 pixels use X.astype(np.float32) / 255)"
                if np.issubdtype(X.dtype, np.integer) else "")
        raise ValueError(f"{name} has dtype {X.dtype}; expected float32 or float64 pixels "
                         f"in [0, 1]{hint}")
    shape = X.shape
    if X.ndim == 1 and shape[0] == N_PIXELS:
        raise ValueError(f"{name} has shape {shape}; expected (n, {N_PIXELS}) or "
                         f"(n, {SIDE}, {SIDE}) (use X.reshape(1, -1) for a single image)")
    if not ((X.ndim == 2 and shape[1] == N_PIXELS) or
            (X.ndim == 3 and shape[1:] == (SIDE, SIDE))):
        raise ValueError(f"{name} has shape {shape}; expected (n, {N_PIXELS}) or "
                         f"(n, {SIDE}, {SIDE}): {SIDE} x {SIDE} images, one per row")
    images = np.ascontiguousarray(X.reshape(shape[0], SIDE, SIDE))
    finite = np.isfinite(images)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(f"{name} holds a non-finite value {images[tuple(bad)]!r} in image "
                         f"{bad[0]} at row {bad[1]}, column {bad[2]}; expected finite pixels")
    return images, shape


def _per_image(name, value, n):
    """A finite scalar or (n,) array as a float64 (n,) array."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is invalid; expected a number or an array of "
                         f"{n} numbers (one per image)") from None
    if isinstance(value, bool) or arr.dtype == np.bool_:
        raise ValueError(f"{name}={value!r} is invalid; expected a number, not a bool")
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}; expected a scalar or shape ({n},), "
                         f"one value per image")
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        what = f"{name}={value!r}" if np.ndim(value) == 0 else f"{name}[{i}] = {arr[i]!r}"
        raise ValueError(f"{what} is invalid; expected finite numbers")
    return arr


def _check_seed(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}={value!r} is invalid; expected an integer >= 0")
    return int(value)


# ------------------------------------------------------------------------ the maps

def _cos_sin(degrees):
    """cos and sin of angles in degrees, exact for multiples of 90°."""
    rad = np.deg2rad(degrees)
    cos, sin = np.cos(rad), np.sin(rad)
    quarter = degrees / 90.0
    exact = quarter == np.round(quarter)
    if exact.any():
        k = np.mod(np.round(quarter[exact]), 4).astype(np.int64)
        cos[exact] = np.array([1.0, 0.0, -1.0, 0.0])[k]
        sin[exact] = np.array([0.0, 1.0, 0.0, -1.0])[k]
    return cos, sin


def _affine_matrices(degrees, shift_x, shift_y, shear):
    """Inverse maps (n, 2, 3) for: shear, then rotate, then translate (forward order).

    In (row, column) coordinates about the centre the forward map is
    ``p' = R S p + (shift_y, shift_x)`` with ``S = [[1, 0], [shear, 1]]`` (x' = x + s·y)
    and ``R = [[cos, −sin], [sin, cos]]`` (counter-clockwise as displayed, since rows
    point down). The kernel wants ``A = (R S)⁻¹ = S⁻¹ Rᵀ`` and
    ``t = −A (shift_y, shift_x)``.
    """
    n = degrees.shape[0]
    cos, sin = _cos_sin(degrees)
    A = np.empty((n, 2, 2))
    # Rᵀ = [[cos, sin], [−sin, cos]]; S⁻¹ = [[1, 0], [−s, 1]].
    A[:, 0, 0] = cos
    A[:, 0, 1] = sin
    A[:, 1, 0] = -sin - shear * cos
    A[:, 1, 1] = cos - shear * sin
    M = np.empty((n, 2, 3))
    M[:, :, :2] = A
    M[:, 0, 2] = -(A[:, 0, 0] * shift_y + A[:, 0, 1] * shift_x)
    M[:, 1, 2] = -(A[:, 1, 0] * shift_y + A[:, 1, 1] * shift_x)
    return M


def _warp(images, matrices):
    out = np.empty_like(images)
    _k.warp_affine(images, out, matrices)
    return out


def _field_chunks(rng, n, alpha, sigma):
    """Yield (start, stop, dy, dx) elastic fields for images start..stop-1, in order."""
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        fields = rng.uniform(-1.0, 1.0, size=(2 * (stop - start), SIDE, SIDE))
        _k.gaussian_blur(fields, sigma, fields)
        fields *= alpha
        yield start, stop, fields[0::2], fields[1::2]


# ------------------------------------------------------------------- the functions

def translate(X, dx, dy):
    """Shift images right by ``dx`` and down by ``dy`` pixels: out(r, c) = X(r − dy, c − dx).

    ``dx`` and ``dy`` are numbers or arrays of one value per image; fractional shifts are
    interpolated bilinearly; content shifted in from outside is 0. ``dx = dy = 0`` is the
    identity exactly, integer shifts move pixels exactly.
    """
    images, shape = _check_images(X)
    n = images.shape[0]
    dx = _per_image("dx", dx, n)
    dy = _per_image("dy", dy, n)
    zero = np.zeros(n)
    return _warp(images, _affine_matrices(zero, dx, dy, zero)).reshape(shape)


def rotate(X, degrees):
    """Rotate images counter-clockwise as displayed (row 0 at the top) about the centre.

    ``degrees`` is a number or an array of one value per image; negative turns clockwise.
    A feature right of the centre moves up: by 90° the pixel at (row 13.5, column 13.5 + d)
    goes to (row 13.5 − d, column 13.5). Multiples of 90° are exact pixel permutations.
    """
    images, shape = _check_images(X)
    n = images.shape[0]
    degrees = _per_image("degrees", degrees, n)
    zero = np.zeros(n)
    return _warp(images, _affine_matrices(degrees, zero, zero, zero)).reshape(shape)


def skew(X, s):
    """Shear images horizontally: content at (x, y) moves to (x + s·(y − 13.5), y).

    ``y`` is the row (down), so for ``s > 0`` rows below the centre move right and rows
    above move left. ``s`` is a number or an array of one value per image.
    """
    images, shape = _check_images(X)
    n = images.shape[0]
    s = _per_image("s", s, n)
    zero = np.zeros(n)
    return _warp(images, _affine_matrices(zero, zero, zero, s)).reshape(shape)


def elastic_fields(n, alpha, sigma=4.0, seed=0):
    """The displacement fields ``(dy, dx)``, each (n, 28, 28) float64, that
    ``elastic(X, alpha, sigma, seed)`` applies to ``n`` images: uniform(−1, 1) per pixel,
    smoothed by a Gaussian of standard deviation ``sigma``, times ``alpha``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n={n!r} is invalid; expected an integer >= 0")
    alpha = check_non_negative("alpha", alpha)
    sigma = check_positive("sigma", sigma)
    rng = np.random.default_rng(_check_seed("seed", seed))
    dy = np.empty((int(n), SIDE, SIDE))
    dx = np.empty((int(n), SIDE, SIDE))
    for start, stop, fy, fx in _field_chunks(rng, int(n), alpha, sigma):
        dy[start:stop] = fy
        dx[start:stop] = fx
    return dy, dx


def elastic(X, alpha, sigma=4.0, seed=0):
    """Elastic distortion (Simard et al. 2003): out(r, c) = X(r + Δy(r, c), c + Δx(r, c)).

    Per image, Δy and Δx are fields of uniform(−1, 1) numbers smoothed by a Gaussian of
    standard deviation ``sigma`` pixels (zero-padded borders) and scaled by ``alpha``;
    see :func:`elastic_fields`. ``alpha = 0`` is the identity exactly. ``seed`` (an int
    >= 0) fixes the fields.
    """
    images, shape = _check_images(X)
    alpha = check_non_negative("alpha", alpha)
    sigma = check_positive("sigma", sigma)
    rng = np.random.default_rng(_check_seed("seed", seed))
    out = np.empty_like(images)
    for start, stop, dy, dx in _field_chunks(rng, images.shape[0], alpha, sigma):
        _k.warp_displacement(images[start:stop], out[start:stop], dy, dx)
    return out.reshape(shape)


# ------------------------------------------------------------------- the augmenter

class Augmenter:
    """Random affine + elastic distortions, seeded per epoch.

    Each parameter is a maximum; per image are drawn, independently and uniformly, an
    angle in [−rotation, rotation] degrees, shifts in [−translation, translation] pixels
    in x and in y, a shear in [−skew, skew] and, when ``elastic_alpha > 0``, an elastic
    field with ``elastic_alpha`` and ``elastic_sigma``. See the module docstring for the
    conventions and the order of composition. Everything 0 (the default) is the identity.

    ``augmenter(X, epoch)`` returns an augmented copy of X, the same for the same
    ``(seed, epoch)`` (random numbers from ``np.random.default_rng([seed, epoch])``) and
    different across epochs. ``augmenter.expand(X, y, copies)`` precomputes an expanded
    training set.
    """

    def __init__(self, rotation=0.0, translation=0.0, skew=0.0, elastic_alpha=0.0,
                 elastic_sigma=4.0, seed=0):
        self.rotation = check_non_negative("rotation", rotation)
        self.translation = check_non_negative("translation", translation)
        self.skew = check_non_negative("skew", skew)
        self.elastic_alpha = check_non_negative("elastic_alpha", elastic_alpha)
        self.elastic_sigma = check_positive("elastic_sigma", elastic_sigma)
        self.seed = _check_seed("seed", seed)

    def __repr__(self):
        return (f"Augmenter(rotation={self.rotation!r}, translation={self.translation!r}, "
                f"skew={self.skew!r}, elastic_alpha={self.elastic_alpha!r}, "
                f"elastic_sigma={self.elastic_sigma!r}, seed={self.seed!r})")

    def __call__(self, X, epoch=0):
        """An augmented copy of ``X`` (same shape and dtype) for this ``epoch`` (int >= 0)."""
        images, shape = _check_images(X)
        epoch = _check_seed("epoch", epoch)
        return self._augment(images, epoch).reshape(shape)

    def _augment(self, images, epoch, out=None):
        n = images.shape[0]
        rng = np.random.default_rng([self.seed, epoch])
        # Always the same draws, in the same order, whatever is switched on.
        u = rng.uniform(-1.0, 1.0, size=(n, 4))
        matrices = _affine_matrices(u[:, 0] * self.rotation, u[:, 1] * self.translation,
                                    u[:, 2] * self.translation, u[:, 3] * self.skew)
        if out is None:
            out = np.empty_like(images)
        if self.elastic_alpha > 0:
            for start, stop, dy, dx in _field_chunks(rng, n, self.elastic_alpha,
                                                     self.elastic_sigma):
                _k.warp_affine_displacement(images[start:stop], out[start:stop],
                                            matrices[start:stop], dy, dx)
        else:
            _k.warp_affine(images, out, matrices)
        return out

    def expand(self, X, y, copies=1):
        """The originals followed by ``copies`` augmented copies, with labels to match.

        Copy ``j`` (``j = 0 .. copies − 1``) is ``self(X, epoch=j)``. ``y`` (int labels
        ``(n,)`` or one-hot ``(n, k)``) is repeated ``copies + 1`` times along its first
        axis, so row ``j·n + i`` of the result is a version of image ``i`` with label
        ``y[i]``. Returns ``(X_expanded, y_expanded)`` with X's shape (``n·(copies + 1)``
        rows) and dtype.
        """
        images, shape = _check_images(X)
        n = images.shape[0]
        if isinstance(copies, bool) or not isinstance(copies, numbers.Integral) or copies < 0:
            raise ValueError(f"copies={copies!r} is invalid; expected an integer >= 0")
        copies = int(copies)
        labels = np.asarray(y)
        if labels.ndim == 0 or labels.shape[0] != n:
            raise ValueError(f"y has shape {labels.shape}; expected {n} labels along its first "
                             f"axis, one per image of X")
        out = np.empty((copies + 1,) + images.shape, dtype=images.dtype)
        out[0] = images
        for j in range(copies):
            self._augment(images, j, out[j + 1])
        X_expanded = out.reshape((n * (copies + 1),) + shape[1:])
        y_expanded = np.concatenate([labels] * (copies + 1), axis=0)
        return X_expanded, y_expanded
