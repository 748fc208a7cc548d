"""The state bytes of a model (mcutrain.fleet.layout.StateLayout, the one description of them), refused
with a state-file message for the float32 baseline."""

from __future__ import annotations

from typing import Any

from ..fleet.layout import LayoutError, StateLayout


def state_layout(spec: Any) -> StateLayout:
    """The state layout of ``spec``'s arithmetic plan."""
    from ..arith.plan import plan_from_spec

    plan = plan_from_spec(spec)
    if plan.is_float:
        raise LayoutError("state files hold the integer state of the integer weight modes (binary, sign, "
                          "ternary, ternary_det); the float32 baseline has none: pick another [training] weights")
    return StateLayout.from_plan(plan)
