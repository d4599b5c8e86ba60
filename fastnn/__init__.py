"""fastnn: fast, trustworthy training of fully connected networks on the CPU.

``fastnn.Network`` is the array API; ``fastnn.network2`` is a drop-in for the book's
``network2.py``; ``fastnn.reference`` is the naive oracle the engine is tested against.
"""
from . import augment, optim, schedules
from ._io import ModelFileError
from .network import Network, TrainingDiverged, load
from .stream import StreamedInputs

__version__ = "0.1.0"
__all__ = ["Network", "TrainingDiverged", "ModelFileError", "load", "optim", "schedules",
           "augment", "StreamedInputs", "__version__"]
