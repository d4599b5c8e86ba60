"""``fastnn plot``: draw the learning curves of a saved history."""
import argparse
import os

from .. import plot as _plots
from ._common import _check_folder

# --------------------------------------------------------------------- fastnn plot

def add_parser(commands):
    plot = commands.add_parser(
        "plot", help="draw learning curves from a history saved by fastnn train --history",
        description="Write a PNG of the learning curves in HISTORY (the JSON file fastnn train "
                    "--history writes): the cost per epoch and the accuracy per epoch, for "
                    "the validation data and, when trained with --monitor-training, the "
                    "training data. Needs matplotlib (pip install \"fastnn[plot]\").",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    plot.add_argument("history", metavar="HISTORY", help="the history JSON file")
    plot.add_argument("-o", "--output", default=None, metavar="PNG",
                      help="the PNG to write (default: HISTORY with .png for .json)")
    plot.add_argument("--title", default=None,
                      help="the figure's title (default: the layer sizes and test accuracy)")


def run(args):
    output = args.output or os.path.splitext(args.history)[0] + ".png"
    _check_folder("--output", output)
    _plots.plot_history(args.history, output, title=args.title)
    print(f"learning curves written to {output}")
    return 0
