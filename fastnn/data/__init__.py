"""Datasets: IDX and pickled-MNIST readers, dataset discovery and loading.

Three sources are understood:

* a folder of IDX files with the standard MNIST / Fashion-MNIST names
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or
  ``.gz``), such as the Debian package ``dataset-fashion-mnist`` installs in
  ``/usr/share/datasets/fashion-mnist``;
* the book's ``mnist.pkl.gz`` (a gzipped Python-2 pickle of
  ``(training, validation, test)``), read with a restricted unpickler that
  admits nothing but numpy arrays;
* the small Fashion-MNIST sample shipped in ``fastnn/sample_data``.

Every problem with a file raises :class:`DataError`, whose message names the
file, the value found and the value expected.

The package: ``idx`` (the IDX reader and writer), ``pickled`` (the restricted unpickler),
``stream`` (inputs larger than memory) and, here, dataset discovery and loading. It
imports only numpy, the standard library and ``fastnn._io`` (which imports only those).
"""
import os
from dataclasses import dataclass

import numpy as np

from .idx import DataError, read_idx, write_idx
from .pickled import _N_CLASSES, _check_labels, load_mnist_pickle

__all__ = [
    "DEFAULT_DATA_DIRS",
    "DataError",
    "Dataset",
    "IDX_NAMES",
    "find_data",
    "load_dataset",
    "load_mnist_pickle",
    "read_idx",
    "write_idx",
]

#: Folders searched, in order, for a full dataset in IDX form.
DEFAULT_DATA_DIRS = ("/usr/share/datasets/fashion-mnist",)

#: The four IDX files of an MNIST-style folder, by role (each may end in .gz).
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "sample_data")
_SAMPLE_HOW = ("the small Fashion-MNIST sample shipped with fastnn (2,500 training "
               "images); install dataset-fashion-mnist for the full set")
_ENV_VAR = "FASTNN_DATA"

# ---------------------------------------------------------------- discovery


def _has_idx_files(folder):
    """True if ``folder`` holds all four IDX files (raw or .gz)."""
    return all(os.path.isfile(os.path.join(folder, name))
               or os.path.isfile(os.path.join(folder, name + ".gz"))
               for name in IDX_NAMES.values())


def _given_path(value, origin):
    """Resolve a user-given data path, or raise DataError if it does not exist."""
    path = os.path.abspath(os.path.expanduser(os.fspath(value)))
    if not os.path.exists(path):
        raise DataError(f"{path}: data path given by {origin} does not exist; expected "
                        f"a folder of MNIST-style IDX files or an mnist.pkl.gz file")
    kind = "IDX files in" if os.path.isdir(path) else "pickled MNIST-style data from"
    return path, f"{kind} {path} (from {origin})"


def find_data(data=None):
    """Find the dataset to use.

    The first of these wins: the ``data`` argument; the ``FASTNN_DATA``
    environment variable; the first folder of :data:`DEFAULT_DATA_DIRS` that
    holds the four IDX files (the Debian package ``dataset-fashion-mnist``);
    the small sample shipped in ``fastnn/sample_data``.

    Parameters
    ----------
    data : str or os.PathLike, optional
        A folder of IDX files or an ``mnist.pkl.gz`` file.

    Returns
    -------
    path : str
        The folder or pickle file.
    how : str
        A short human description of what was found, for messages.

    Raises
    ------
    DataError
        If ``data`` or ``FASTNN_DATA`` is given but does not exist.
    """
    if data is not None:
        return _given_path(data, "the data argument")
    env = os.environ.get(_ENV_VAR)
    if env:
        return _given_path(env, f"the {_ENV_VAR} environment variable")
    for folder in DEFAULT_DATA_DIRS:
        if _has_idx_files(folder):
            return folder, f"full Fashion-MNIST from {folder}"
    return _SAMPLE_DIR, _SAMPLE_HOW


# ------------------------------------------------------------------ loading


@dataclass(frozen=True, repr=False)
class Dataset:
    """Training, validation and test sets as rows of C-contiguous arrays.

    Attributes
    ----------
    train, validation, test : tuple of (numpy.ndarray, numpy.ndarray)
        ``(X, y)``: ``X`` of shape ``(n, 784)``, float32 or float64, pixels
        scaled to [0, 1]; ``y`` of shape ``(n,)``, int64 labels in 0..9.
    source : str
        The folder or file the data came from.
    description : str
        Where the data came from and how it was split, for messages.
    n_classes : int
        Number of classes (10).
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    description: str
    n_classes: int = _N_CLASSES

    def __repr__(self):
        sizes = ", ".join(f"{name}={len(part[1]):,}" for name, part in
                          (("train", self.train), ("validation", self.validation),
                           ("test", self.test)))
        return (f"Dataset({sizes}, n_features={self.train[0].shape[1]}, "
                f"dtype={self.train[0].dtype}, source={self.source!r})")


def _idx_path(folder, name):
    """Path of IDX file ``name`` (raw or .gz) in ``folder``, or DataError."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    expected = ", ".join(IDX_NAMES.values())
    raise DataError(f"{folder}: missing {name} (or {name}.gz); expected the four "
                    f"MNIST-style IDX files {expected}")


def _read_idx_pair(folder, images_name, labels_name):
    """Read and check an images/labels pair; return ``(uint8 (n, d), labels, paths)``."""
    images_path = _idx_path(folder, images_name)
    labels_path = _idx_path(folder, labels_name)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8:
        raise DataError(f"{images_path}: images have dtype {images.dtype}, expected "
                        f"uint8 pixels (IDX type code 0x08)")
    if images.ndim < 2:
        raise DataError(f"{images_path}: images have shape {images.shape}, expected "
                        f"(n, rows, cols) such as (n, 28, 28)")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels have shape {labels.shape}, expected (n,)")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels have dtype {labels.dtype}, expected "
                        f"integers (IDX type code 0x08)")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels):,} labels, expected {len(images):,} "
                        f"(one per image in {images_path})")
    _check_labels(labels_path, labels)
    return images.reshape(len(images), -1), labels.astype(np.int64), images_path


def _scale(pixels, dtype):
    """uint8 pixels -> C-contiguous ``dtype`` array in [0, 1]."""
    X = np.empty(pixels.shape, dtype=dtype)
    np.divide(pixels, dtype.type(255), out=X)
    return X


def _check_dtype(dtype):
    """Validate the ``dtype`` argument: float32 or float64."""
    try:
        checked = None if dtype is None else np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or checked.type not in (np.float32, np.float64):
        raise ValueError(f"dtype={dtype!r}: expected numpy.float32 or numpy.float64")
    return checked


def load_dataset(data=None, dtype=np.float32, n_validation=10000):
    """Load a dataset as rows of C-contiguous arrays.

    With IDX files, the last ``n_validation`` training images are held out
    for validation and the t10k files are the test set (full Fashion-MNIST:
    50,000 / 10,000 / 10,000). A training set smaller than
    ``2 * n_validation`` (the shipped sample of 2,500 images) holds out one
    fifth instead, which the description says. With an ``mnist.pkl.gz`` file,
    its three parts are used as they are and ``n_validation`` is ignored.

    Parameters
    ----------
    data : str or os.PathLike, optional
        Folder of IDX files or ``.pkl.gz`` file; default: see :func:`find_data`.
    dtype : {numpy.float32, numpy.float64}
        Dtype of the image arrays.
    n_validation : int
        Number of training images held out for validation.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        If the data is missing or malformed.
    ValueError
        If ``dtype`` or ``n_validation`` is invalid.
    """
    dtype = _check_dtype(dtype)
    if isinstance(n_validation, bool) or not isinstance(n_validation, (int, np.integer)) \
            or n_validation < 0:
        raise ValueError(f"n_validation={n_validation!r}: expected an integer >= 0")
    n_validation = int(n_validation)
    source, how = find_data(data)
    if os.path.isfile(source):
        parts = load_mnist_pickle(source)
        train, validation, test = (
            (np.ascontiguousarray(x, dtype=dtype), np.ascontiguousarray(y, dtype=np.int64))
            for x, y in parts)
        for name, (x, _) in (("training", train), ("validation", validation),
                             ("test", test)):
            _check_unit_range(source, name, x)
        return Dataset(train, validation, test, source, how)

    train_pixels, train_labels, train_path = _read_idx_pair(
        source, IDX_NAMES["train_images"], IDX_NAMES["train_labels"])
    test_pixels, test_labels, test_path = _read_idx_pair(
        source, IDX_NAMES["test_images"], IDX_NAMES["test_labels"])
    if test_pixels.shape[1] != train_pixels.shape[1]:
        raise DataError(f"{test_path}: {test_pixels.shape[1]} pixels per image, expected "
                        f"{train_pixels.shape[1]} as in {train_path}")
    n_train = len(train_labels)
    if n_train < 2 * n_validation:
        how += (f"; the last {n_train // 5:,} of its {n_train:,} training images (one "
                f"fifth, as {n_train:,} < 2 x n_validation={n_validation:,}) are held "
                f"out for validation")
        n_validation = n_train // 5
    n_fit = n_train - n_validation
    X = _scale(train_pixels, dtype)
    train = (X[:n_fit], train_labels[:n_fit])
    validation = (X[n_fit:], train_labels[n_fit:])
    test = (_scale(test_pixels, dtype), test_labels)
    return Dataset(train, validation, test, source, how)


def _check_unit_range(path, part_name, X):
    """Raise DataError unless every pixel of ``X`` is a number in [0, 1]."""
    if X.size and not (np.all(np.isfinite(X)) and X.min() >= 0 and X.max() <= 1):
        raise DataError(f"{path}: {part_name} images hold values from {X.min()} to "
                        f"{X.max()}, expected pixels scaled to [0, 1]")
