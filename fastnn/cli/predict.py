"""``fastnn predict``: classify the inputs in a file with a saved model."""
import argparse
import os
import sys
import zipfile

import numpy as np

from .. import _io
from ..data import DataError, read_idx
from ..data.stream import StreamedInputs
from ..network import load
from ._common import _check_folder

# ------------------------------------------------------------------ fastnn predict

PREDICT_FORMATS = (".npy", ".csv", ".txt")


def add_parser(commands):
    predict = commands.add_parser(
        "predict", help="classify inputs from a file with a saved model",
        description="Print the predicted class of every sample of DATA, one per line (or, "
                    "with --proba, the output activations, one row per sample), or write "
                    "them to --output. DATA is a .npy array (n, n_in), or (n, rows, cols) "
                    "images when rows x cols = n_in; a .npz file holding such an array named "
                    "X; or an IDX image file, raw or gzipped. uint8 values are pixels and "
                    "are scaled by 1/255 as fastnn's datasets are; other numbers are used as "
                    "they are.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    predict.add_argument("model", metavar="MODEL", help="the model file (.npz)")
    predict.add_argument("data", metavar="DATA", help="the inputs: .npy, .npz or IDX file")
    predict.add_argument("--output", default=None, metavar="PATH",
                         help="write to PATH instead of stdout, as .npy, .csv or .txt by its "
                              "extension")
    predict.add_argument("--proba", action="store_true",
                         help="output the output activations (n, n_out) instead of classes")


def run(args):
    kind = None
    if args.output:
        kind = os.path.splitext(args.output)[1].lower()
        if kind not in PREDICT_FORMATS:
            raise ValueError(f"--output={args.output!r} has an unknown extension "
                             f"{kind or '(none)'!r}; expected one of "
                             f"{', '.join(PREDICT_FORMATS)}")
        _check_folder("--output", args.output)
    net = load(args.model)
    X = _read_inputs(args.data, net.sizes[0], args.model)
    try:
        result = net.feedforward(X) if args.proba else net.predict(X)
    except ValueError as exc:  # a non-finite value: the message names its row and column
        raise ValueError(f"DATA={args.data!r}: {exc}") from None
    # enough digits to read the very numbers back (float32: 9, float64: 17)
    fmt = "%d" if not args.proba else ("%.9g" if result.dtype == np.float32 else "%.17g")
    if kind == ".npy":
        np.save(args.output, result)
    elif kind is not None:
        np.savetxt(args.output, result, fmt=fmt, delimiter="," if kind == ".csv" else " ")
    else:
        try:
            np.savetxt(sys.stdout, result, fmt=fmt, delimiter=" ")
            sys.stdout.flush()
        except BrokenPipeError:  # `fastnn predict ... | head`: the reader has had enough
            _silence_stdout()
        return 0
    what = "output activations" if args.proba else "predicted classes"
    print(f"{what} of {result.shape[0]} samples written to {args.output}")
    return 0


def _silence_stdout():
    """Point stdout at /dev/null, so that the flush at exit does not fail again on the
    closed pipe (the Python documentation's advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured)
        pass


def _mapped_npy(path):
    """A .npy DATA file, memory-mapped once its header has been checked against the file's
    size (a header claiming more, or fewer, bytes than the file holds is refused)."""
    where = f"DATA={path!r}"
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype, n_bytes = _io.read_npy_header(f, where, DataError)
            offset = f.tell()
        held = os.path.getsize(path) - offset
        if n_bytes != held:
            raise DataError(f"{where}: the .npy header claims {n_bytes:,} data bytes (shape "
                            f"{shape}, dtype {dtype}) but the file holds {held:,} after it; "
                            f"the file is truncated or corrupt")
        if n_bytes == 0:
            return np.empty(shape, dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    except DataError:
        raise
    except _io.ARCHIVE_ERRORS as exc:
        raise ValueError(f"{where}: not a readable .npy file ({type(exc).__name__}: "
                         f"{exc})") from None


def _read_inputs(path, n_in, model):
    """The samples of a predict DATA file as a StreamedInputs (n, n_in): a .npy file stays
    on disk (memory-mapped), uint8 pixels are read as pixel / 255 in the model's dtype."""
    expected = "a .npy file, a .npz file holding an array X, or an IDX image file (raw or .gz)"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise OSError(f"DATA={path!r}: cannot read it: {exc.strerror or exc}") from None
    if head.startswith(b"\x93NUMPY"):
        X = _mapped_npy(path)
    elif head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
                if "X" not in names:
                    raise DataError(f"DATA={path!r}: the .npz file holds "
                                    f"{', '.join(names) or 'no arrays'}; expected an array "
                                    f"named X")
                X = _io.read_member(z, "X", f"DATA={path!r}", os.path.getsize(path), DataError)
        except DataError:
            raise
        except (KeyError,) + _io.ARCHIVE_ERRORS as exc:  # a damaged archive or member
            raise ValueError(f"DATA={path!r}: not a readable .npz file "
                             f"({type(exc).__name__}: {exc})") from None
    else:
        try:
            X = read_idx(path)
        except DataError as exc:
            raise DataError(f"DATA: {exc}; expected {expected}") from None
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) \
            or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"DATA={path!r} holds an array of dtype {X.dtype}; expected real "
                         f"numbers")
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != n_in:
        raise ValueError(f"DATA={path!r} holds an array of shape {X.shape}, but MODEL={model!r} "
                         f"takes {n_in} inputs per sample; expected shape (n, {n_in}), or "
                         f"(n, rows, cols) images with rows x cols = {n_in}")
    if X.shape[0] == 0:
        raise ValueError(f"DATA={path!r} holds no samples (shape {X.shape}); expected at "
                         f"least one")
    X = X.reshape(X.shape[0], n_in)
    return StreamedInputs(X, divisor=255 if X.dtype == np.uint8 else None)
