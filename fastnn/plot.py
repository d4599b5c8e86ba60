"""Learning curves: cost and accuracy per epoch, as in the book's chapter-3 figures.

:func:`plot_history` draws a PNG with two panels, the cost per epoch and the accuracy per
epoch, each with a curve for the training data and one for the evaluation (validation)
data, whichever the history holds. It reads three forms of a history:

* the dict ``Network.fit`` returns (``epoch``, ``seconds``, ``eta``, and when monitored
  ``training_cost``, ``training_accuracy``, ``evaluation_cost``, ``evaluation_accuracy``,
  accuracies as fractions; ``best_epoch`` is marked when present);
* the JSON file ``fastnn train --history`` writes (that dict, plus ``test_accuracy``,
  ``data``, ``sizes`` and ``evaluation_data``, the name of the evaluation data), given
  as the dict or as its path;
* the four lists ``fastnn.network2.Network.SGD`` returns, ``(evaluation_cost,
  evaluation_accuracy, training_cost, training_accuracy)``, accuracies as counts of
  correct classifications.

matplotlib is imported only when a figure is drawn (``pip install "fastnn[plot]"``), and
only its Agg canvas is used: no display, no pyplot, no change to the global backend.
"""
import json
import math
import numbers
import os

__all__ = ["check_png_path", "learning_curves", "load_history", "plot_history",
           "require_matplotlib"]

PLOT_HINT = 'pip install "fastnn[plot]"'

#: (data, quantity) for the four per-epoch lists a history may hold, in the order
#: network2.Network.SGD returns them.
CURVES = (("evaluation", "cost"), ("evaluation", "accuracy"),
          ("training", "cost"), ("training", "accuracy"))

_KEYS = ", ".join(f"{data}_{quantity}" for data, quantity in CURVES)
_FORMS = (f"expected the dict Network.fit returns (with any of {_KEYS}), the JSON file "
          f"'fastnn train --history' writes, or the 4 lists network2.Network.SGD returns")


def load_history(path):
    """The history dict in a JSON file written by ``fastnn train --history``.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If it is not JSON or does not hold a JSON object.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
    except OSError as exc:
        raise OSError(f"{path}: cannot read the history: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON history ({exc}); expected the file "
                         f"'fastnn train --history' writes") from None
    if not isinstance(history, dict):
        raise ValueError(f"{path}: holds a JSON {type(history).__name__}, expected an object "
                         f"with per-epoch lists such as {_KEYS}")
    return history


def learning_curves(history):
    """The per-epoch curves of a history, checked.

    Parameters
    ----------
    history : dict, tuple of 4 lists, str or os.PathLike
        See the module docstring.

    Returns
    -------
    dict
        ``epochs`` (1-based epoch numbers, one per recorded epoch), ``curves`` (a dict
        ``{(data, quantity): list of float}`` holding only the non-empty lists),
        ``accuracy_unit`` (``"fraction"`` or ``"count"``), ``best_epoch`` (1-based, or
        None) and ``meta`` (``sizes``, ``test_accuracy``, ``data`` when the history has
        them).

    Raises
    ------
    ValueError
        If the history has an unknown form, holds no epochs, or its lists differ in
        length or hold something other than numbers.
    """
    if isinstance(history, (str, os.PathLike)):
        path = os.fspath(history)
        try:
            return learning_curves(load_history(path))
        except ValueError as exc:
            message = str(exc)
            raise ValueError(message if message.startswith(path) else f"{path}: {message}") \
                from None
    if isinstance(history, dict):
        if not history:
            raise ValueError(f"history is empty (an empty dict); {_FORMS}")
        present = [c for c in CURVES if f"{c[0]}_{c[1]}" in history]
        if not present:
            keys = ", ".join(sorted(map(str, history)))
            raise ValueError(f"history has no per-epoch cost or accuracy (its keys: "
                             f"{keys:.200}); {_FORMS}. Monitor some: fit(..., evaluation_data="
                             f"(X_val, y_val)) or monitor_training=True")
        lists = {c: history[f"{c[0]}_{c[1]}"] for c in present}
        unit = "fraction"
        epochs = history.get("epoch")
        meta = {k: history[k] for k in ("sizes", "test_accuracy", "data", "evaluation_data")
                if k in history}
        best = history.get("best_epoch")
    elif isinstance(history, (tuple, list)) and len(history) == 4 \
            and all(isinstance(part, (tuple, list)) for part in history):
        lists, unit, epochs, meta, best = dict(zip(CURVES, history)), "count", None, {}, None
    else:
        raise ValueError(f"history={_describe(history)} is not a learning history; {_FORMS}")

    for (data, quantity), values in lists.items():
        name = f"{data}_{quantity}"
        if not isinstance(values, (list, tuple)) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise ValueError(f"history[{name!r}] is {_describe(values)}; expected a list of "
                             f"numbers, one per epoch")
    curves = {c: [float(v) for v in values] for c, values in lists.items() if len(values)}
    if not curves:
        raise ValueError(f"history holds no epochs: {', '.join(f'{d}_{q}' for d, q in lists)} "
                         f"{'is' if len(lists) == 1 else 'are'} empty; expected at least one "
                         f"epoch of cost or accuracy")
    lengths = {f"{d}_{q}": len(v) for (d, q), v in curves.items()}
    n = max(lengths.values())
    if len(set(lengths.values())) > 1:
        raise ValueError(f"history's lists differ in length ({lengths}); expected one entry "
                         f"per epoch in each")
    if epochs is None:
        epochs = list(range(n))
    elif not isinstance(epochs, (list, tuple)) or len(epochs) != n or not all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in epochs):
        raise ValueError(f"history['epoch'] is {_describe(epochs)}; expected {n} epoch "
                         f"numbers, one per entry of {', '.join(lengths)}")
    if not (isinstance(best, numbers.Integral) and not isinstance(best, bool)):
        best = None
    return {"epochs": [int(e) + 1 for e in epochs], "curves": curves, "accuracy_unit": unit,
            "best_epoch": None if best is None else int(best) + 1, "meta": meta}


def plot_history(history, path, title=None):
    """Write a PNG of the learning curves: cost per epoch and accuracy per epoch.

    Parameters
    ----------
    history : dict, tuple of 4 lists, str or os.PathLike
        A ``Network.fit`` history, the path of (or the dict in) a ``fastnn train
        --history`` JSON file, or the 4 lists ``network2.Network.SGD`` returns.
    path : str or os.PathLike
        The PNG to write (its name must end in ``.png``).
    title : str or None
        The figure's title; by default the layer sizes and test accuracy when the
        history records them.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        If the history is empty or of an unknown form, or ``path`` does not end in .png.
    ImportError
        If matplotlib is not installed (``pip install "fastnn[plot]"``).
    """
    path = check_png_path(path, "path")
    curves = learning_curves(history)
    Figure, FigureCanvasAgg = _matplotlib()
    x = curves["epochs"]
    quantities = [q for q in ("cost", "accuracy") if any(k[1] == q for k in curves["curves"])]
    fig = Figure(figsize=(5.5 * len(quantities), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    marker = "o" if len(x) <= 40 else None
    styles = {"training": {"color": "tab:blue", "label": "training data"},
              "evaluation": {"color": "tab:orange", "label": "evaluation data"}}
    evaluation = curves["meta"].get("evaluation_data")
    if isinstance(evaluation, str) and evaluation:  # fastnn train writes "validation"
        styles["evaluation"]["label"] = f"{evaluation:.30} data"
    for ax, quantity in zip(axes, quantities):
        for data in ("training", "evaluation"):
            ys = curves["curves"].get((data, quantity))
            if ys is not None:
                ax.plot(x, ys, marker=marker, markersize=3, **styles[data])
        if quantity == "accuracy" and curves["best_epoch"] is not None:
            best_of = styles["evaluation"]["label"].replace(" data", "")
            ax.axvline(curves["best_epoch"], color="gray", linestyle=":", linewidth=1,
                       label=f"best {best_of} accuracy: epoch {curves['best_epoch']}")
        ylabel = quantity if quantity == "cost" or curves["accuracy_unit"] == "fraction" \
            else "correct classifications"
        ax.set(xlabel="epoch", ylabel=ylabel,
               title=f"{quantity.capitalize()} per epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title is None:
        title = _default_title(curves["meta"])
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100, format="png")
    return path


def check_png_path(path, name):
    """``path`` as a str, or ValueError unless it ends in .png (a figure is always PNG)."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() != ".png":
        raise ValueError(f"{name}={path!r} is invalid; expected a file name ending in .png")
    return path


def figure(**kwargs):
    """A matplotlib ``Figure`` drawn by the Agg canvas (``kwargs`` as ``Figure``'s), or
    ImportError saying how to install matplotlib. Every figure fastnn writes is made
    here: no pyplot, no process-wide backend chosen for the user's program; write it with
    ``fig.savefig(path)``."""
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def require_matplotlib():
    """ImportError saying how to install matplotlib unless it can be imported (a command
    checks this before hours of training, not after)."""
    _matplotlib()


def _matplotlib():
    """matplotlib's Figure and Agg canvas, or ImportError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"learning-curve plots need matplotlib, which is not installed: "
                          f"{PLOT_HINT}") from None
    return Figure, FigureCanvasAgg


def _default_title(meta):
    parts = []
    if isinstance(meta.get("sizes"), list):
        parts.append(f"fastnn {meta['sizes']}")
    acc = meta.get("test_accuracy")
    if isinstance(acc, numbers.Real) and math.isfinite(acc):
        parts.append(f"test accuracy {acc:.4f}")
    return ", ".join(parts) or "Learning curves"


def _describe(obj):
    if isinstance(obj, (list, tuple, dict)):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"{obj!r:.60}" if isinstance(obj, (str, numbers.Number)) or obj is None \
        else f"a {type(obj).__name__}"
