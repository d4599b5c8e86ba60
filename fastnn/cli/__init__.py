"""The ``fastnn`` command line: ``fastnn train`` trains on the default dataset.

``fastnn train`` trains and saves a model, ``evaluate`` scores a saved model on a split of
a dataset, ``predict`` classifies inputs from a file, ``plot`` draws learning curves from
a saved history, ``bench`` and ``profile`` time the engine, ``calibrate`` shows or redoes
the choices measured on this machine, ``tune`` searches hyperparameters (docs/cli.md
shows each).

Each subcommand is a module of this package with ``add_parser(commands)``, which builds
its parser, and ``run(args)``, which runs it; ``SUBCOMMANDS`` lists them in ``--help``'s
order. Run ``fastnn COMMAND --help`` for the options. Errors in the arguments or the data
are reported on one line, naming the argument or file, with exit status 2.
"""
import argparse
import sys

from .. import __version__
from .._io import ModelFileError
from ..checkpoint import CheckpointError
from ..data import DataError
from ..network import TrainingDiverged
from . import bench, calibrate, evaluate, plot, predict, profile, train, tune

#: the subcommands, in the order ``fastnn --help`` lists them
SUBCOMMANDS = {"train": train, "evaluate": evaluate, "predict": predict, "plot": plot,
               "calibrate": calibrate, "bench": bench, "profile": profile, "tune": tune}


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Fast training of fully connected networks on the CPU.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        module.add_parser(commands)
    return parser


def main(argv=None):
    """Entry point of the ``fastnn`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return SUBCOMMANDS[args.command].run(args)
    except (ValueError, DataError, ModelFileError, CheckpointError, TrainingDiverged, OSError,
            ImportError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
