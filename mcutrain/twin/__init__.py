"""The bit-exact twins of the generated C (docs/arithmetic.md): integer (binary, sign) and float32."""

from __future__ import annotations

from typing import Any

from .float32 import Float32Twin
from .network import TwinNetwork


def make_twin(plan: Any) -> TwinNetwork | Float32Twin:
    """The twin of a plan's weight mode. Both have start(seed, samples_per_epoch), train_step(x, label),
    infer(X), state_bytes(), digest(), prng_state and last_hinge (Q(A), uint32)."""
    return Float32Twin(plan) if plan.is_float else TwinNetwork(plan)


__all__ = ["Float32Twin", "TwinNetwork", "make_twin"]
