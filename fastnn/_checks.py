"""Input validation at the API edge: every error names the argument, the value and what
was expected."""
import numbers
import os

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    """np.float32 or np.float64 from a dtype-like; ValueError otherwise."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; expected 'float32' or 'float64'")
    return DTYPES[name]


def check_sizes(sizes):
    """Layer sizes as a tuple of at least two positive ints."""
    try:
        out = tuple(sizes)
    except TypeError:
        raise ValueError(f"sizes={sizes!r} must be a sequence of layer sizes such as [784, 30, 10]")
    if len(out) < 2:
        raise ValueError(f"sizes={sizes!r} must list at least an input and an output layer")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"sizes={sizes!r}: every layer size must be a positive integer, "
                             f"got {s!r}")
    return tuple(int(s) for s in out)


def check_positive(name, value, integer=False):
    """A positive finite number (an int when ``integer``)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value) \
            or value <= 0:
        what = "a positive integer" if integer else "a positive finite number"
        raise ValueError(f"{name}={value!r} is invalid; expected {what}")
    return int(value) if integer else float(value)


def check_non_negative(name, value):
    """A finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name}={value!r} is invalid; expected a finite number >= 0")
    return float(value)


def check_inputs(name, X, n_in, dtype, finite=True):
    """X as a C-contiguous (n, n_in) array of ``dtype``, non-empty and (unless ``finite``
    is False: the caller then checks with ``non_finite`` where it must) finite."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.ndim == 1 and n_in == arr.shape[0]:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected a 2-D array (n_samples, {n_in}) with one "
            f"sample per row (use X.reshape(1, -1) for a single sample)")
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise ValueError(f"{name} has shape {arr.shape}; expected (n_samples, {n_in})")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); expected at least one sample")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} has dtype {arr.dtype}; expected numbers")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite:
        error = non_finite(name, arr)
        if error is not None:
            raise error
    return arr


def non_finite(name, arr):
    """The ValueError naming the first non-finite value of the 2-D ``arr`` (its row and
    column), or None when every value is finite."""
    if np.isfinite(arr).all():
        return None
    bad = np.argwhere(~np.isfinite(arr))[0]
    value = float(arr[tuple(bad)])
    return ValueError(f"{name} holds a non-finite value {value!r} at row {bad[0]}, "
                      f"column {bad[1]}; expected finite numbers")


def check_targets(name, y, n, n_out, dtype, one_hot=True):
    """Targets as an (n, n_out) array of ``dtype``: int class labels become one-hot rows.

    Returns ``(Y, labels)`` where ``labels`` is the int label array, or None when the
    targets were given as rows (then the label of a row is its argmax). With ``one_hot``
    False, labels are checked but not expanded (Y is None).
    """
    arr = np.asarray(y)
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1 and n_out > 1):
        arr = arr.reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} labels for {n} samples; expected {n}")
        if not np.issubdtype(arr.dtype, np.integer):
            if np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() \
                    and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise ValueError(f"{name} has dtype {arr.dtype}; expected integer class labels "
                                 f"0..{n_out - 1} or an ({n}, {n_out}) target array")
        bad = np.flatnonzero((arr < 0) | (arr >= n_out))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]} is out of range; expected class "
                             f"labels 0..{n_out - 1} for a network with {n_out} outputs")
        labels = arr.astype(np.int64)
        if not one_hot:
            return None, labels
        Y = np.zeros((n, n_out), dtype=dtype)
        Y[np.arange(n), labels] = 1
        return Y, labels
    if arr.ndim != 2 or arr.shape != (n, n_out):
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n},) class labels or "
                         f"({n}, {n_out}) targets")
    Y = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} holds non-finite values; expected finite targets")
    return Y, None


def env_choice(name, choices):
    """The setting in environment variable ``name``, lower-cased: the first of
    ``choices`` when it is unset or empty; ValueError naming the variable and its value
    when it is none of them (fastnn's settings are read on every path, so a typo is never
    silently ignored)."""
    value = os.environ.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ValueError(f"environment variable {name}={os.environ[name]!r} is invalid; "
                         f"expected one of {', '.join(choices)}")
    return value
