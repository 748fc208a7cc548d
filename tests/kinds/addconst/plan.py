"""The addconst kind's plan: no weights, no draws, no update; its C is addconst.c.j2, its twin twin.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mcutrain.arith.counts import LayerCount
from mcutrain.arith.layers import LayerPlan, PlanContext, register_plan


@register_plan
@dataclass(frozen=True)
class AddConstPlan(LayerPlan):
    kind: ClassVar[str] = "addconst"
    template_dir: ClassVar[Path | None] = Path(__file__).parent
    add: int = 0

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> AddConstPlan:
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=ctx.n_in, relu=True, add=spec.add)

    def template(self, plan: Any) -> str:
        return "addconst.c.j2"


    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        return [f"{L}_forward_train"] + ([f"{L}_backward"] if self.index > 0 else []), [f"{L}_infer"]

    def backward_calls(self, plan: Any, x: str, d: str, d_in: str | None) -> list[str]:
        return [f"l{self.index}_backward({d}, {d_in});"] if d_in is not None else []  # nothing to update

    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> LayerCount:
        return LayerCount(self.n_in, self.n_out, 0, 0, 0, 0)
