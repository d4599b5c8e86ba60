"""What the subcommands share: network arguments, the threads option, folder checks."""
import argparse
import os

from .. import activations as _activations
from .. import costs as _costs
from .._engine import threads as _threads


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    return sizes


# the API's own tables: an activation or cost the library accepts is accepted here too
HIDDEN_CHOICES = list(_activations.HIDDEN_ACTIVATIONS)


OUTPUT_CHOICES = list(_activations.ACTIVATIONS)


COST_CHOICES = list(_costs.COSTS)


def _network_arguments(parser, sizes):
    """--sizes, --cost, --hidden-activation and --output-activation, as train and profile
    share them."""
    parser.add_argument("--sizes", type=_sizes, default=sizes,
                        help="layer sizes, input first, comma-separated")
    parser.add_argument("--cost", default="cross_entropy", choices=COST_CHOICES,
                        help="cost function")
    parser.add_argument("--hidden-activation", default="sigmoid", choices=HIDDEN_CHOICES,
                        help="hidden layers' activation (leaky_relu α 0.01, elu α 1, swish β 1)")
    parser.add_argument("--output-activation", default=None, choices=OUTPUT_CHOICES,
                        help="output activation (default: softmax for log_likelihood, else "
                             "sigmoid)")


def _threads_option(value):
    """--threads as a count of threads or "all" (every core), checked."""
    if value == "all":
        return value
    try:
        return _threads.resolve(int(value) if value.isdigit() else value)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def _check_folder(option, path):
    """ValueError unless the folder ``path`` would be written into exists."""
    if path:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"{option}={path!r} is invalid: the folder {folder!r} does not "
                             f"exist; expected a path in an existing folder")
