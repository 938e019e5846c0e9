"""microlith: compile trained neural networks into small, fast, verified C for
microcontrollers."""

from .api import bench, compile, inspect, load, profile, quantize, targets, validate
from .errors import MicrolithError
from .targets import get_target

__version__ = "0.1.0"
__all__ = ["MicrolithError", "bench", "compile", "get_target", "inspect", "load", "profile",
           "quantize", "targets", "validate", "__version__"]
