"""Drop-in replacement for the book's ``mnist_loader`` module.

The public surface is that of ``mnist_loader.py`` from *Neural Networks and
Deep Learning* (Python 3 form): :func:`load_data`, :func:`load_data_wrapper`
and :func:`vectorized_result`. The data comes from :func:`fastnn.data.find_data`
unless a path is given: the full Fashion-MNIST when the Debian package
``dataset-fashion-mnist`` is installed (50,000 / 10,000 / 10,000 images), the
``FASTNN_DATA`` environment variable, or the small sample shipped with fastnn.
The book's own ``mnist.pkl.gz`` works too: pass its path.
"""

import numpy as np

from .data import load_dataset

__all__ = ["load_data", "load_data_wrapper", "vectorized_result"]


def load_data(path=None):
    """Return the data as ``(training_data, validation_data, test_data)``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        An ``mnist.pkl.gz`` file or a folder of IDX files; default: see
        :func:`fastnn.data.find_data`.

    Returns
    -------
    tuple
        ``(training_data, validation_data, test_data)``, each a tuple
        ``(images, labels)``: ``images`` a float32 array of shape ``(n, 784)``,
        one image per row, pixels in [0, 1]; ``labels`` an int64 array of
        shape ``(n,)``, digits (or clothing classes) 0..9.
    """
    dataset = load_dataset(path, dtype=np.float32)
    return dataset.train, dataset.validation, dataset.test


def load_data_wrapper(path=None):
    """Return the data in the form the book's ``network.py`` expects.

    Parameters
    ----------
    path : str or os.PathLike, optional
        As for :func:`load_data`.

    Returns
    -------
    tuple
        ``(training_data, validation_data, test_data)``, each a list of pairs
        ``(x, y)`` with ``x`` a float32 column vector of shape ``(784, 1)``.
        In ``training_data``, ``y`` is the one-hot float64 column vector
        ``vectorized_result(label)`` of shape ``(10, 1)``; in
        ``validation_data`` and ``test_data`` it is the label itself, a
        ``numpy.int64`` scalar.
    """
    tr_d, va_d, te_d = load_data(path)
    n_pixels = tr_d[0].shape[1]
    training_data = [(np.reshape(x, (n_pixels, 1)), vectorized_result(y))
                     for x, y in zip(*tr_d)]
    validation_data = [(np.reshape(x, (n_pixels, 1)), y) for x, y in zip(*va_d)]
    test_data = [(np.reshape(x, (n_pixels, 1)), y) for x, y in zip(*te_d)]
    return training_data, validation_data, test_data


def vectorized_result(j):
    """Return the float64 ``(10, 1)`` one-hot column vector with 1.0 at row ``j``."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e
