"""Plans of the spatial kinds without weights: ``maxpool`` (2x2, stride 2), ``global_avg_pool`` and ``flatten``.

No weights, no draws, no update, no multiplications. The C is templates/layers/maxpool.c.j2,
global_avg_pool.c.j2 and flatten.c.j2, the twin mcutrain/twin/pool.py (docs/arithmetic.md, section 11,
"2x2 max-pool", "Global average pooling").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .counts import LayerCount
from .layers import ACC_LIMIT, LayerPlan, MemoryItem, PlanContext, PlanError, register_plan


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
class GlobalAvgPoolPlan(LayerPlan):
    """(H, W, C) -> C, the mean of each channel over its ``A = H W`` positions, rounded half up:
    ``y[c] = shift_round(sum_p x[p][c], -g)`` when ``A = 2^g``, else ``floor((2 sum + A) / (2 A))`` by binary long
    division (shifts and subtractions); backward the same rounding of ``d[c] / A`` to every position of the channel,
    0 where the input was 0 (the ReLU mask below). docs/arithmetic.md, section 11."""

    kind: ClassVar[str] = "global_avg_pool"
    float32_baseline: ClassVar[bool] = True
    height: int = 1
    width: int = 1
    channels: int = 1
    in_max: int = 0

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> GlobalAvgPoolPlan:
        h, w, c = spec.height, spec.width, spec.channels
        where = f"layers[{ctx.index}]: global_avg_pool"
        if h * w * c != ctx.n_in:
            raise PlanError(f"{where} input {h}x{w}x{c} = {h * w * c} values, but the layer before gives "
                            f"{ctx.n_in}; set height, width and channels to the shape of that output")
        area = h * w
        if area * (2 * ctx.in_max + 1) > ACC_LIMIT:
            raise PlanError(f"{where}: the sum of {area} inputs up to {ctx.in_max} (doubled, for the rounding) "
                            "overflows int32; pool a smaller map (a 2x2 maxpool or a stride-2 conv before it)")
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=c, relu=False, height=h, width=w, channels=c,
                   in_max=ctx.in_max)

    @property
    def positions(self) -> int:
        return self.height * self.width

    @property
    def pow2(self) -> bool:
        """The area is 2^g: the mean is a shift."""
        return self.positions & (self.positions - 1) == 0

    @property
    def log_positions(self) -> int:
        """g with H W = 2^g (the shift of a power-of-two area)."""
        return self.positions.bit_length() - 1

    @property
    def divisor(self) -> int:
        """D = 2 A: the mean rounded half up is floor((2 v + A) / D)."""
        return 2 * self.positions

    @property
    def div_steps(self) -> int:
        """K: the long division tries D << K, ..., D << 0, enough for any dividend below 2^31 (D 2^(K+1) >= 2^31)."""
        return 31 - self.divisor.bit_length()

    def check(self, plan: Any) -> None:
        if not self.pow2 and 2 * plan.err_max + 2 * self.positions > ACC_LIMIT:
            raise PlanError(f"layers[{self.index}]: global_avg_pool: twice an error up to {plan.err_max} plus "
                            f"{2 * self.positions} overflows int32; use fewer error bits")

    def out_max(self, act_max: int) -> int:
        return self.in_max  # a mean of values in [0, in_max], rounded: at most in_max

    def update_reads_input(self, plan: Any) -> bool:
        return bool(plan.is_float)  # the float32 baseline reads a<k>; the integer backward reads m<k>

    def backward_reads_output(self, plan: Any) -> bool:
        return False

    def input_mask(self, plan: Any) -> bool:
        return self.index > 0 and not plan.is_float  # l<k>_backward: the error spreads where the input was non-zero

    def flash_bytes(self, plan: Any) -> int:
        return 256 if self.pow2 else 384

    def template(self, plan: Any) -> str:
        return "layers/global_avg_pool.c.j2"

    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        div = [f"{L}_div"] if not self.pow2 and not plan.is_float else []
        return [f"{L}_forward_train"] + ([f"{L}_backward"] if self.index > 0 else []) + div, [f"{L}_infer"] + div

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
