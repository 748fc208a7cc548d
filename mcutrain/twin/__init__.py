"""The bit-exact integer twin of the generated C (docs/arithmetic.md)."""

from .network import TwinNetwork

__all__ = ["TwinNetwork"]
