"""Small helpers shared by the example scripts (not part of the fastnn API).

The scripts run from anywhere (``python examples/overfitting.py``): Python puts the
script's folder on ``sys.path``, so ``import _common`` finds this file.
"""
import argparse

import numpy as np

PLOT_HINT = "pip install fastnn[plot]  (or: pip install matplotlib)"


def parser(doc):
    """An ArgumentParser whose description is the first paragraph of ``doc``."""
    first = doc.strip().split("\n\n")[0]
    return argparse.ArgumentParser(description=first,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_data_args(p, n_train, epochs):
    """The options every Fashion-MNIST example has."""
    p.add_argument("--data", default=None, metavar="PATH",
                   help="folder of IDX files or mnist.pkl.gz (default: the full Fashion-MNIST "
                        "when installed, else fastnn's shipped 2,000-image sample)")
    p.add_argument("--n-train", type=int, default=n_train, metavar="N",
                   help="train on the first N training images (default %(default)s; "
                        "0 = all)")
    p.add_argument("--n-eval", type=int, default=0, metavar="N",
                   help="evaluate on the first N evaluation images (default: all)")
    p.add_argument("--epochs", type=int, default=epochs,
                   help="training epochs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="network seed (default %(default)s)")
    p.add_argument("--plot", default=None, metavar="PATH", help="save a PNG figure to PATH")


def load(args, evaluation="test"):
    """(X_train, y_train, X_eval, y_eval, description) cut to --n-train / --n-eval."""
    from fastnn.data import load_dataset
    data = load_dataset(args.data)
    X, y = data.train
    X_eval, y_eval = getattr(data, evaluation)
    if args.n_train:
        X, y = X[:args.n_train], y[:args.n_train]
    if args.n_eval:
        X_eval, y_eval = X_eval[:args.n_eval], y_eval[:args.n_eval]
    print(f"data: {data.description}")
    print(f"training on {len(y):,} images, evaluating on {len(y_eval):,} {evaluation} images")
    return X, y, X_eval, y_eval, data.description


def figure(nrows=1, ncols=1, size=(10, 4)):
    """A matplotlib Figure and its axes, without pyplot (no GUI backend needed).

    matplotlib is imported here, not at the top of the scripts, so the examples run
    without it; only ``--plot`` needs it.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SystemExit(f"--plot needs matplotlib, which is not installed: {PLOT_HINT}") \
            from None
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False).ravel()


def save(fig, path):
    fig.savefig(path, dpi=100, format="png")
    print(f"figure saved to {path}")


def rounded(values, digits=4):
    """A list of floats rounded for printing and returning."""
    return [round(float(v), digits) for v in np.asarray(values).ravel()]
