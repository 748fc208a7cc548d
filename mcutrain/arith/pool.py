"""Plans of the spatial kinds without weights: ``maxpool`` (2x2, stride 2) and ``flatten``.

No weights, no draws, no update, no multiplications. The C is templates/layers/maxpool.c.j2 and
flatten.c.j2, the twin mcutrain/twin/pool.py (docs/arithmetic.md, section 11, "2x2 max-pool").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .counts import LayerCount
from .layers import LayerPlan, MemoryItem, PlanContext, PlanError, register_plan


def _no_mults(lp: LayerPlan) -> LayerCount:
    return LayerCount(lp.n_in, lp.n_out, 0, 0, 0, 0)


@register_plan
@dataclass(frozen=True)
class MaxPoolPlan(LayerPlan):
    kind: ClassVar[str] = "maxpool"
    float32_baseline: ClassVar[bool] = True
    height: int = 2
    width: int = 2
    channels: int = 1
    in_max: int = 0

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> MaxPoolPlan:
        h, w, c = spec.height, spec.width, spec.channels
        if h * w * c != ctx.n_in:
            raise PlanError(f"layers[{ctx.index}]: maxpool input {h}x{w}x{c} = {h * w * c} values, but the layer "
                            f"before gives {ctx.n_in}; set height, width and channels to the shape of that output")
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=(h // 2) * (w // 2) * c, relu=False,
                   height=h, width=w, channels=c, in_max=ctx.in_max)

    @property
    def out_height(self) -> int:
        return self.height // 2

    @property
    def out_width(self) -> int:
        return self.width // 2

    @property
    def mask_bytes(self) -> int:
        """One bit an input value: the window's winner (the backward pass routes the error there)."""
        return (self.n_in + 7) // 8

    def out_max(self, act_max: int) -> int:
        return self.in_max  # the maximum of values <= in_max

    def memory_items(self, plan: Any) -> list[MemoryItem]:
        return [MemoryItem("masks", f"l{self.index}_mask", self.mask_bytes)] if self.index > 0 else []

    def update_reads_input(self, plan: Any) -> bool:
        return False  # no update; the mask marks the winners that were non-zero

    def backward_reads_output(self, plan: Any) -> bool:
        return False

    def flash_bytes(self, plan: Any) -> int:
        return 384

    def template(self, plan: Any) -> str:
        return "layers/maxpool.c.j2"

    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        return [f"{L}_forward_train"] + ([f"{L}_backward"] if self.index > 0 else []), [f"{L}_infer"]

    def backward_calls(self, plan: Any, x: str, d: str, d_in: str | None) -> list[str]:
        return [f"l{self.index}_backward({d}, {d_in});"] if d_in is not None else []  # nothing to update

    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> LayerCount:
        return _no_mults(self)


@register_plan
@dataclass(frozen=True)
class FlattenPlan(LayerPlan):
    kind: ClassVar[str] = "flatten"
    float32_baseline: ClassVar[bool] = True
    in_max: int = 0

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> FlattenPlan:
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=ctx.n_in, relu=False, in_max=ctx.in_max)

    def out_max(self, act_max: int) -> int:
        return self.in_max

    def update_reads_input(self, plan: Any) -> bool:
        return False

    def backward_reads_output(self, plan: Any) -> bool:
        return False

    def input_mask(self, plan: Any) -> bool:
        return self.index > 0 and not plan.is_float  # l<k>_backward: the error passes where the input was non-zero

    def output_is_input(self, plan: Any) -> bool:
        return not plan.is_float  # the same words in the same order: the forward copy is in place

    def flash_bytes(self, plan: Any) -> int:
        return 128

    def template(self, plan: Any) -> str:
        return "layers/flatten.c.j2"

    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        return [f"{L}_forward_train"] + ([f"{L}_backward"] if self.index > 0 else []), [f"{L}_infer"]

    def backward_calls(self, plan: Any, x: str, d: str, d_in: str | None) -> list[str]:
        return [f"l{self.index}_backward({d}, {d_in});"] if d_in is not None else []

    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> LayerCount:
        return _no_mults(self)
