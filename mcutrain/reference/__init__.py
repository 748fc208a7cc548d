"""Float reference of the method, for accuracy comparisons (not bit-exact)."""

from .float_mlp import FloatMLP

__all__ = ["FloatMLP"]
