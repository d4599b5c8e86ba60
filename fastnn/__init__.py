"""fastnn: fast, trustworthy training of fully connected networks on the CPU.

``fastnn.Network`` is the array API; ``fastnn.network2`` is a drop-in for the book's
``network2.py``; ``fastnn.reference`` is the naive oracle the engine is tested against.
"""
__version__ = "0.1.0"

# Before anything imports the kernels: Numba fixes the target's features when it builds
# its code generator, and the loops' measured vector width is one (fastnn/_width.py).
from . import _width  # noqa: E402

_width.apply()

from . import augment, optim, schedules  # noqa: E402
from ._io import ModelFileError  # noqa: E402
from .network import Network, TrainingDiverged, load  # noqa: E402
from .stream import StreamedInputs  # noqa: E402

__all__ = ["Network", "TrainingDiverged", "ModelFileError", "load", "optim", "schedules",
           "augment", "StreamedInputs", "__version__"]
