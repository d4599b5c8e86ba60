"""fastnn: fast, trustworthy training of fully connected networks on the CPU.

``fastnn.Network`` is the array API; ``fastnn.network2`` is a drop-in for the book's
``network2.py``; ``fastnn.reference`` is the naive oracle the engine is tested against.
"""
__version__ = "0.1.0"

# Before anything imports the kernels: the engine applies the loops' measured vector width
# while no kernel exists yet (fastnn/_engine/__init__.py says why).
from . import (  # noqa: E402
           _engine,  # noqa: E402, F401
           augment,
           optim,
           schedules,
)
from ._io import ModelFileError  # noqa: E402
from .data.stream import StreamedInputs  # noqa: E402
from .network import Network, TrainingDiverged, load  # noqa: E402

__all__ = ["Network", "TrainingDiverged", "ModelFileError", "load", "optim", "schedules",
           "augment", "StreamedInputs", "__version__"]
