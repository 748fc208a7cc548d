"""Float reference of the method, for accuracy comparisons (not bit-exact)."""

from .float_mlp import FloatMLP
from .paper_mlp import MLPConfig, PaperMLP

__all__ = ["FloatMLP", "MLPConfig", "PaperMLP"]
