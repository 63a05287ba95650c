"""Layer kinds. Importing this package registers every kind in :mod:`.registry`."""

from . import activation, attention, conv, linear, norm, pool, recurrent, tensor  # noqa: F401  (registration)
from .base import Arg, Context, Layer
from .registry import REGISTRY, lookup

__all__ = ["Arg", "Context", "Layer", "REGISTRY", "lookup"]
