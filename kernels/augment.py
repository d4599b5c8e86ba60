"""Image-warping kernels for data augmentation: bilinear resampling and Gaussian smoothing.

Images are ``(n, h, w)`` stacks, C-contiguous, float32 or float64. Pixel ``(r, c)`` is
row ``r`` (counted downwards from the top) and column ``c`` (counted rightwards); its
value is the image's value at the integer point ``(r, c)``. The image centre is

    (cy, cx) = ((h - 1) / 2, (w - 1) / 2)        (13.5, 13.5) for 28 × 28.

Every warp here is an *inverse map*: for each output pixel it computes the point of the
source image to read, and reads it by bilinear interpolation of the four surrounding
pixels. A point outside the image reads 0 (the background), pixel by pixel: a neighbour
outside ``[0, h) × [0, w)`` counts as 0, so the image fades to 0 over the one pixel past
its border and the result is continuous in the sample point. At an integer sample point
the interpolation returns the pixel itself, exactly (the interpolation weights are then
exactly 0 and 1), so identity maps are exact identities.

Coordinates and weights are computed in float64 whatever the image dtype; the output is
stored in the output array's dtype. Each output pixel is a convex combination of source
pixels, so outputs stay within the range of the inputs and 0 (up to one rounding).

Kernels:

* ``warp_affine(src, out, matrices)``: affine map about the centre;
* ``warp_displacement(src, out, dy, dx)``: per-pixel displacement field;
* ``warp_affine_displacement(src, out, matrices, dy, dx)``: both in one resampling pass;
* ``gaussian_blur(field, sigma, out)``: separable Gaussian smoothing with zero padding.

One bilinear sample is about ten floating-point operations and four loads; a warp costs
one sample per output pixel. The blur costs ``2 (2R + 1)`` multiply-adds per pixel with
``R = ceil(3σ)``, which for the elastic distortions (two fields per image) dominates the
warp itself once σ is more than a pixel or so.

All kernels loop over images and pixels serially and release the GIL.
"""
import math

import numpy as np

from ._jit import jit


@jit
def _pixel(img, r, c):
    """img[r, c], or 0 outside the image."""
    h, w = img.shape
    if r < 0 or r >= h or c < 0 or c >= w:
        return 0.0
    return img[r, c] * 1.0


@jit
def sample_bilinear(img, y, x):
    """Bilinear interpolation of the 2-D image ``img`` at the point (row y, column x).

    With r0 = floor(y), c0 = floor(x), fy = y − r0, fx = x − c0 and v(r, c) the pixel or
    0 outside the image::

        top    = v(r0, c0)     + fx (v(r0, c0 + 1)     − v(r0, c0))
        bottom = v(r0 + 1, c0) + fx (v(r0 + 1, c0 + 1) − v(r0 + 1, c0))
        value  = top + fy (bottom − top)

    Points with y ≤ −1, y ≥ h, x ≤ −1, x ≥ w (and NaN) read 0. Returns float64.
    """
    h, w = img.shape
    if not (y > -1.0 and y < h and x > -1.0 and x < w):
        return 0.0
    yf = math.floor(y)
    xf = math.floor(x)
    fy = y - yf
    fx = x - xf
    r0 = int(yf)
    c0 = int(xf)
    if r0 >= 0 and r0 + 1 < h and c0 >= 0 and c0 + 1 < w:   # all four inside
        v00 = img[r0, c0] * 1.0
        v01 = img[r0, c0 + 1] * 1.0
        v10 = img[r0 + 1, c0] * 1.0
        v11 = img[r0 + 1, c0 + 1] * 1.0
    else:
        v00 = _pixel(img, r0, c0)
        v01 = _pixel(img, r0, c0 + 1)
        v10 = _pixel(img, r0 + 1, c0)
        v11 = _pixel(img, r0 + 1, c0 + 1)
    top = v00 + fx * (v01 - v00)
    bottom = v10 + fx * (v11 - v10)
    return top + fy * (bottom - top)


@jit
def warp_affine(src, out, matrices):
    """Resample each image through an affine map about the image centre.

    Shapes: src and out (n, h, w), same dtype; matrices (n, 2, 3). With
    ``M = matrices[i]``, ``A = M[:, :2]`` and ``t = M[:, 2]``, output pixel (r, c) reads
    the source at the point (row r', column c')::

        (r', c') = A · (r − cy, c − cx) + (cy, cx) + t,    (cy, cx) = ((h−1)/2, (w−1)/2)

    (vectors in (row, column) order) by bilinear interpolation, 0 outside the image.
    This is the inverse map: to move content forward by an invertible ``F`` about the
    centre and then by ``s``, pass ``A = F⁻¹`` and ``t = −F⁻¹ s``. ``A = I, t = 0`` is the
    identity exactly. ``out`` must not overlap ``src``.
    """
    n, h, w = src.shape
    cy = (h - 1) / 2.0
    cx = (w - 1) / 2.0
    for i in range(n):
        a00 = matrices[i, 0, 0] * 1.0
        a01 = matrices[i, 0, 1] * 1.0
        t0 = matrices[i, 0, 2] * 1.0
        a10 = matrices[i, 1, 0] * 1.0
        a11 = matrices[i, 1, 1] * 1.0
        t1 = matrices[i, 1, 2] * 1.0
        img = src[i]
        for r in range(h):
            dr = r - cy
            for c in range(w):
                dc = c - cx
                y = (a00 * dr + a01 * dc) + (cy + t0)
                x = (a10 * dr + a11 * dc) + (cx + t1)
                out[i, r, c] = sample_bilinear(img, y, x)


@jit
def warp_displacement(src, out, dy, dx):
    """Resample each image through a displacement field.

    Shapes: src, out, dy, dx all (n, h, w). Output pixel (r, c) of image i is the
    bilinear sample of ``src[i]`` at (r + dy[i, r, c], c + dx[i, r, c]), 0 outside the
    image. Zero fields give the identity exactly. ``out`` must not overlap ``src``.
    """
    n, h, w = src.shape
    for i in range(n):
        img = src[i]
        for r in range(h):
            for c in range(w):
                out[i, r, c] = sample_bilinear(img, r + dy[i, r, c] * 1.0,
                                               c + dx[i, r, c] * 1.0)


@jit
def warp_affine_displacement(src, out, matrices, dy, dx):
    """An affine warp followed by a displacement warp, in one resampling pass.

    Output pixel (r, c) reads the source at ``A · (p − centre) + centre + t`` with
    ``p = (r + dy[i, r, c], c + dx[i, r, c])`` and A, t, centre as in
    :func:`warp_affine`. This is the exact composition of the two continuous maps:
    ``warp_displacement`` applied to the output of ``warp_affine``, but interpolated once
    instead of twice (less blur, half the cost).
    """
    n, h, w = src.shape
    cy = (h - 1) / 2.0
    cx = (w - 1) / 2.0
    for i in range(n):
        a00 = matrices[i, 0, 0] * 1.0
        a01 = matrices[i, 0, 1] * 1.0
        t0 = matrices[i, 0, 2] * 1.0
        a10 = matrices[i, 1, 0] * 1.0
        a11 = matrices[i, 1, 1] * 1.0
        t1 = matrices[i, 1, 2] * 1.0
        img = src[i]
        for r in range(h):
            for c in range(w):
                dr = (r - cy) + dy[i, r, c]
                dc = (c - cx) + dx[i, r, c]
                y = (a00 * dr + a01 * dc) + (cy + t0)
                x = (a10 * dr + a11 * dc) + (cx + t1)
                out[i, r, c] = sample_bilinear(img, y, x)


@jit
def gaussian_kernel(sigma):
    """The normalised 1-D Gaussian taps exp(−k²/(2σ²)) / Σ, k = −R..R, R = ceil(3σ)."""
    if not sigma > 0.0:
        raise ValueError("gaussian_kernel: sigma must be > 0")
    radius = int(math.ceil(3.0 * sigma))
    taps = np.empty(2 * radius + 1, dtype=np.float64)
    total = 0.0
    for k in range(-radius, radius + 1):
        v = math.exp(-0.5 * (k / sigma) ** 2)
        taps[k + radius] = v
        total += v
    for k in range(2 * radius + 1):
        taps[k] /= total
    return taps


@jit
def gaussian_blur(field, sigma, out):
    """Separable Gaussian smoothing of each (h, w) slice of ``field`` into ``out``.

    Shapes: field and out (n, h, w). The kernel is the normalised sampled Gaussian of
    standard deviation ``sigma`` (> 0) in pixels, truncated at radius R = ceil(3σ) (see
    :func:`gaussian_kernel`), applied along rows and then along columns. Borders are
    zero-padded: values outside the slice count as 0, so a field is damped within R of
    its border and a delta there loses the mass that falls outside (this matches
    ``scipy.ndimage.gaussian_filter(..., mode="constant", truncate=3)``, the common
    implementation of Simard et al.'s elastic fields). Accumulation is in float64.
    ``out`` may be ``field`` itself (the row pass goes to a scratch slice first).
    """
    n, h, w = field.shape
    taps = gaussian_kernel(sigma)
    radius = (taps.shape[0] - 1) // 2
    tmp = np.empty((h, w), dtype=np.float64)
    acc = np.empty(w, dtype=np.float64)
    for i in range(n):
        # Row pass, tap by tap so the inner loop runs over contiguous columns.
        for r in range(h):
            row = field[i, r]
            for c in range(w):
                acc[c] = 0.0
            for k in range(-radius, radius + 1):
                tk = taps[k + radius]
                for c in range(max(0, -k), min(w, w - k)):
                    acc[c] += tk * row[c + k]
            for c in range(w):
                tmp[r, c] = acc[c]
        # Column pass over whole rows of the scratch slice.
        for r in range(h):
            for c in range(w):
                acc[c] = 0.0
            for k in range(max(-radius, -r), min(radius, h - 1 - r) + 1):
                tk = taps[k + radius]
                src_row = tmp[r + k]
                for c in range(w):
                    acc[c] += tk * src_row[c]
            for c in range(w):
                out[i, r, c] = acc[c]
