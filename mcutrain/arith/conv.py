"""The conv2d layer kind's plan (docs/arithmetic.md, section 11): geometry, constants, ranges, buffers.

This first version trains with the integer weight modes (binary, sign, ternary, ternary_det), quantized
back-propagation on, nearest update rounding, batch size 1, no bias or batch norm; every other choice is
a PlanError naming the layer and what to use. The C is templates/layers/conv2d.c.j2, the twin
mcutrain/twin/conv.py (built on mcutrain/twin/conv_ops.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .checks import check_update_shifts, glorot_weight_shift
from .counts import LayerCount
from .layers import ACC_LIMIT, LayerPlan, MemoryItem, PlanContext, PlanError, register_plan

CONV_WEIGHT_MODES = ("binary", "sign", "ternary", "ternary_det")


@register_plan
@dataclass(frozen=True)
class Conv2dPlan(LayerPlan):
    kind: ClassVar[str] = "conv2d"
    height: int = 1
    width: int = 1
    channels: int = 1
    filters: int = 1
    kernel: int = 1
    stride: int = 1
    padding: str = "valid"
    out_height: int = 1
    out_width: int = 1
    pad_top: int = 0
    pad_left: int = 0
    weight_shift: int = 0
    update_const: int = 0
    in_max: int = 0

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> Conv2dPlan:
        from ..twin.conv_ops import out_size, pads  # noqa: PLC0415 (the twin package imports this one)

        h, w, c, f, k, s = spec.height, spec.width, spec.channels, spec.filters, spec.kernel, spec.stride
        where = f"layers[{ctx.index}]"
        if ctx.last:
            raise PlanError(f"{where}: a conv2d layer cannot be the last layer; end the network with flatten and a "
                            "dense layer")
        if spec.padding == "valid" and k > min(h, w):
            raise PlanError(f"{where}: conv2d kernel {k}x{k} is larger than its {h}x{w} input with valid padding; "
                            "use a smaller kernel or padding = \"same\"")
        if h * w * c != ctx.n_in:
            raise PlanError(f"{where}: conv2d input {h}x{w}x{c} = {h * w * c} values, but the layer before gives "
                            f"{ctx.n_in}; set height, width and channels to the shape of that output")
        ho, wo = out_size(h, k, s, spec.padding), out_size(w, k, s, spec.padding)
        ws = max(0, glorot_weight_shift(k * k * c, k * k * f) - ctx.weight_scale_shift)
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=ho * wo * f, relu=True, height=h, width=w, channels=c,
                   filters=f, kernel=k, stride=s, padding=spec.padding, out_height=ho, out_width=wo,
                   pad_top=pads(h, k, s, spec.padding)[0], pad_left=pads(w, k, s, spec.padding)[0],
                   weight_shift=ws, update_const=-ctx.act_frac - ctx.err_frac + ws + ctx.latent_shift,
                   in_max=ctx.in_max)

    @property
    def n_weights(self) -> int:
        return self.kernel * self.kernel * self.channels * self.filters

    @property
    def fan_in(self) -> int:
        return self.kernel * self.kernel * self.channels

    @property
    def positions(self) -> int:
        return self.out_height * self.out_width

    @property
    def cover(self) -> int:
        """At most this many windows cover one input pixel: ceil(k / S)^2."""
        return (-(-self.kernel // self.stride)) ** 2

    def tap_range(self, kk: int, vertical: bool) -> tuple[int, int]:
        """The outputs [lo, hi) along one axis whose window tap ``kk`` falls inside the input (generated
        constant loop bounds: no bounds check, no index product in the update)."""
        n, n_out, pad = (self.height, self.out_height, self.pad_top) if vertical else \
            (self.width, self.out_width, self.pad_left)
        ok = [o for o in range(n_out) if 0 <= o * self.stride + kk - pad < n]
        return (ok[0], ok[-1] + 1) if ok else (0, 0)

    def check(self, plan: Any) -> None:
        where = f"layers[{self.index}]"
        if plan.weights not in CONV_WEIGHT_MODES:
            raise PlanError(f"{where}: conv2d trains with weights = {', '.join(map(repr, CONV_WEIGHT_MODES))} in "
                            f"this version, not {plan.weights!r}; use one of those")
        if not plan.qbp:
            raise PlanError(f"{where}: conv2d needs quantized back-propagation (qbp = true) in this version")
        if plan.stochastic_update or plan.shared_update:
            raise PlanError(f"{where}: conv2d rounds its updates to nearest in this version; use "
                            "update_rounding = \"nearest\"")
        if plan.batch_shift:
            raise PlanError(f"{where}: conv2d trains at batch_size = 1 in this version")
        if self.ex_max - self.ex_min > 14:
            raise PlanError(f"{where}: quantized inputs with exponents {self.ex_min}..{self.ex_max} need more than "
                            "4 bits; narrow qbp_exponent_range (of the layer, or of [training])")
        if self.fan_in * self.in_max > ACC_LIMIT:
            raise PlanError(f"{where}: a {self.kernel}x{self.kernel}x{self.channels} window x {self.in_max} (max "
                            f"input) overflows the int32 forward accumulator; use fewer input channels")
        if self.cover * self.filters * plan.err_max > ACC_LIMIT:
            raise PlanError(f"{where}: {self.filters} channels x {self.cover} covering windows x {plan.err_max} "
                            f"(max error) overflow the int32 backward accumulator; use at most "
                            f"{ACC_LIMIT // (self.cover * plan.err_max)} filters")
        lo = plan.lr_min + self.update_const + self.ex_min
        hi = plan.lr_start + self.update_const + self.ex_min
        check_update_shifts(plan, self, "weight", lo, 0, " or error_frac_bits")
        if self.positions * plan.err_max << (self.ex_max - self.ex_min + max(hi, 0)) >= 1 << 62:
            raise PlanError(f"{where}: the weight gradient over {self.positions} positions (shifted left by up "
                            f"to {max(hi, 0)} bits) overflows int64; use a smaller input, a narrower "
                            "qbp_exponent_range or a lower learning_rate")

    def memory_items(self, plan: Any) -> list[MemoryItem]:
        k = self.index
        return [
            MemoryItem("latent_weights", f"L{k}_W", plan.latent_bytes * self.n_weights),
            MemoryItem("sign_bits", f"l{k}_t", (self.n_weights + 3) & ~3),  # the step's weights, a byte each
            MemoryItem("qbp_codes", f"l{k}_codes", (self.n_in + 3) & ~3),
            MemoryItem("update_buffers", f"l{k}_g", 8 * self.filters),
            MemoryItem("activations", f"a{k + 1}", 4 * self.n_out),
            MemoryItem("errors", f"d{k + 1}", 4 * self.n_out),
        ]

    def flash_bytes(self, plan: Any) -> int:
        """Measured (arm-none-eabi-nm, 3x3, Cortex-M4): the update's block a kernel tap about 380 bytes, the
        other kernels about 1 KB."""
        return 1100 + 400 * self.kernel * self.kernel

    def template(self, plan: Any) -> str:
        return "layers/conv2d.c.j2"

    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        sample = [f"{L}_sample"] if plan.weights in ("binary", "ternary") else []
        return ([f"{L}_forward_train", f"{L}_conv", f"{L}_weights_det", *sample]
                + ([f"{L}_backward"] if self.index > 0 else []) + [f"{L}_update"],
                [f"{L}_infer", f"{L}_conv", f"{L}_weights_det"])

    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> LayerCount:
        """Weights -1/0/+1 and QBP: none (the dense rule, once per position)."""
        n = self.n_weights * self.positions
        fwd = 0 if quantized_weights else n
        bwd = 0 if quantized_weights or self.index == 0 else n
        upd = 0 if qbp else n
        return LayerCount(self.n_in, self.n_out, fwd, bwd, upd, 0)
