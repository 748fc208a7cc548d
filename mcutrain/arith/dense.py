"""The dense layer kind's plan: its constants, ranges, buffers, template, twin and multiplications.

docs/arithmetic.md explains each constant; templates/layers/dense.c.j2 (dense_float.c.j2 in
float32 mode) is its C, mcutrain/twin/dense.py (twin/float32.py) its twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .checks import check_bn_ranges, check_update_shifts, float32_value, glorot_w0, glorot_weight_shift
from .counts import LayerCount
from .layers import ACC_LIMIT, LayerPlan, MemoryItem, PlanContext, PlanError, register_plan

if TYPE_CHECKING:
    from .plan import ArithPlan


def _align4(n: int) -> int:
    return (n + 3) & ~3


@register_plan
@dataclass(frozen=True)
class DensePlan(LayerPlan):
    kind: ClassVar[str] = "dense"
    float32_baseline: ClassVar[bool] = True
    weight_shift: int = 0    # W0 = 2^-weight_shift (Glorot W0 = h/2 rounded to a power of two)
    update_const: int = 0    # C_l without the learning-rate exponent: -A - E + weight_shift + LW
    in_max: int = 0          # largest input value (Q(A) integer) the layer can see
    w0_float: float = 0.0    # float32 mode: W0 = Glorot h/2 x 2^weight_scale_shift, rounded to float32
    bias: bool = False       # an int32 bias per unit, in accumulator units (Q(A) x 2^weight_shift)
    bias_const: int = 0      # bias update shift without the learning-rate exponent: A + weight_shift - E
    bias_max: int = 0        # biases saturate to [-bias_max, bias_max] = ACT_MAX in accumulator units
    bn: bool = False         # batch normalization without multiplications (docs/arithmetic.md, section 5.8)
    trainable: bool = True   # false: frozen; its weights are packed signs in flash (mcutrain/arith/packed.py)

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> DensePlan:
        n_in, n_out = ctx.n_in, spec.units
        ws = max(0, glorot_weight_shift(n_in, n_out) - ctx.weight_scale_shift)
        return cls(
            index=ctx.index, n_in=n_in, n_out=n_out, relu=not ctx.last, weight_shift=ws, in_max=ctx.in_max,
            update_const=-ctx.act_frac - ctx.err_frac + ws + ctx.latent_shift,
            w0_float=float32_value(glorot_w0(n_in, n_out) * 2.0**ctx.weight_scale_shift),
            bias=spec.bias, bias_const=ctx.act_frac + ws - ctx.err_frac,
            bias_max=(ctx.act_max << ws) if spec.bias else 0, bn=spec.batch_norm,
            trainable=bool(getattr(spec, "trainable", True)),
        )

    # -- sizes and state -------------------------------------------------------------------
    @property
    def n_weights(self) -> int:
        """Latent weights in the state block: none for a frozen layer (its packed signs are in flash)."""
        return self.n_in * self.n_out if self.trainable else 0

    @property
    def n_biases(self) -> int:
        """int32 biases in the state block: a frozen layer's are constants in flash."""
        return self.n_out if self.bias and self.trainable else 0

    @property
    def n_bn_words(self) -> int:
        """Mean, deviation and beta of every unit."""
        return 3 * self.n_out if self.bn else 0

    @property
    def draws_per_row(self) -> int:
        return (self.n_out + 1) // 2

    # -- ranges ----------------------------------------------------------------------------
    def check(self, plan: ArithPlan) -> None:
        in_max = self.in_max
        if self.bias and plan.batch_size * 2 * self.bias_max > ACC_LIMIT:
            raise PlanError(
                f"layers[{self.index}]: the sum of {plan.batch_size} bias updates of up to {2 * self.bias_max} "
                f"overflows the int32 batch accumulator; use a smaller batch_size or no bias")
        if self.n_in * in_max > ACC_LIMIT:
            raise PlanError(
                f"layers[{self.index}]: {self.n_in} inputs x {in_max} (max activation) overflows the "
                f"int32 forward accumulator; use at most {ACC_LIMIT // in_max} inputs")
        if self.n_out * plan.err_max > ACC_LIMIT:
            raise PlanError(
                f"layers[{self.index}]: {self.n_out} units x {plan.err_max} (max error) overflows the "
                f"int32 backward accumulator; use at most {ACC_LIMIT // plan.err_max} units")
        if self.bias:
            if self.n_in * in_max + self.bias_max > ACC_LIMIT:
                raise PlanError(
                    f"layers[{self.index}]: {self.n_in} inputs x {in_max} plus the bias ({self.bias_max} at most) "
                    f"overflows the int32 forward accumulator; use fewer inputs or no bias")
            check_update_shifts(plan, self, "bias", plan.lr_min + self.bias_const,
                                plan.lr_start + self.bias_const, "")
        if self.bn:
            check_bn_ranges(plan, self)
        check_update_shifts(plan, self, "weight", *plan.update_shift_range(self), " or error_frac_bits")

    # -- memory ----------------------------------------------------------------------------
    def memory_items(self, plan: ArithPlan) -> list[MemoryItem]:
        k = self.index
        if plan.is_float:
            # templates/layers/dense_float.c.j2: float weights (4 bytes each; kind latent_weights, the
            # stored weights of every mode); no sign bits, no row index (its float activations and errors are
            # the skeleton's, mcutrain/codegen/buffers.py).
            return [
                MemoryItem("latent_weights", f"L{k}_W", 4 * self.n_in * self.n_out),
            ]
        if not self.trainable:
            return self.frozen_memory_items(plan)
        words = (self.n_out + 31) // 32
        keep_signs = k > plan.first_trainable and plan.samples_weights  # the backward pass reads the sampled weights
        keep_nonzero = keep_signs and plan.is_ternary  # ternary: a second bit a weight, non-zero or not
        return [
            MemoryItem("latent_weights", f"L{k}_W", plan.latent_bytes * self.n_in * self.n_out),
            MemoryItem("sign_bits", f"l{k}_signs", 4 * self.n_in * words if keep_signs else 0),
            MemoryItem("sign_bits", f"l{k}_nonzero", 4 * self.n_in * words if keep_nonzero else 0),
            MemoryItem("row_index", f"l{k}_active", _align4(2 * self.n_in)),
            MemoryItem("row_index", f"l{k}_rows", 4 * self.n_in),
            MemoryItem("biases", f"L{k}_B", 4 * self.n_out if self.bias else 0),
            # batch norm: mean, deviation, beta (state) and the scale exponents of the last forward pass
            MemoryItem("batch_norm", f"L{k}_MU/DEV/BETA, l{k}_bn_t", 16 * self.n_out if self.bn else 0),
            # mini-batches: the summed updates of every weight (int16 or int32, as the proof allows) and bias
            MemoryItem("batch_accumulators", f"l{k}_G",
                       _align4(plan.batch_acc_bytes * self.n_in * self.n_out) if plan.batch_shift else 0),
            MemoryItem("batch_accumulators", f"l{k}_GB", 4 * self.n_out if plan.batch_shift and self.bias else 0),
            *self.shared_update_items(plan),
        ]

    def frozen_memory_items(self, plan: ArithPlan) -> list[MemoryItem]:
        """A frozen layer (``trainable = false``; frozen layers come first, so no error reaches it): in RAM
        only its activations; no latent weights, sign bits in RAM, row index, errors, batch accumulators or
        update buffers. Its weights are packed signs in flash (:meth:`packed_sign_bytes`), its biases
        constants in flash too (templates/layers/dense_frozen.c.j2). Its output is the skeleton's."""
        return []

    def update_reads_input(self, plan: ArithPlan) -> bool:
        """The update adds the quantized input to every weight of its row: x is read (a frozen layer: no update)."""
        return self.trainable

    def backward_reads_output(self, plan: ArithPlan) -> bool:
        return False

    def packed_sign_bytes(self, plan: ArithPlan) -> int:
        """Flash bytes of a frozen layer's weights: 1 bit a weight (binary), 2 (ternary), rows padded to 4 bytes."""
        from .packed import packed_row_bytes

        return self.n_in * packed_row_bytes(self.n_out, plan.is_ternary) if not self.trainable else 0

    def shared_update_items(self, plan: ArithPlan) -> list[MemoryItem]:
        """update_rounding = "stochastic_shared" (templates/layers/dense_update_shared.c.j2): the rows chained by
        exponent (a byte a row below 255 inputs, else two) and one update vector of the layer's outputs."""
        if not (plan.qbp and plan.shared_update):
            return []
        k = self.index
        return [
            MemoryItem("update_buffers", f"l{k}_next", _align4(self.n_in * (1 if self.n_in < 255 else 2))),
            MemoryItem("update_buffers", f"l{k}_u", _align4(self.n_out * plan.latent_bytes)),
        ]

    def flash_bytes(self, plan: ArithPlan) -> int:
        # the four kernels, measured (mcutrain/codegen/memory.py); a frozen layer: one kernel, its packed
        # signs and its constant biases
        if not self.trainable:
            return 384 + self.packed_sign_bytes(plan) + (4 * self.n_out if self.bias else 0)
        return 1536

    # -- code and twin ---------------------------------------------------------------------
    def template(self, plan: ArithPlan) -> str:
        if not self.trainable:
            return "layers/dense_frozen.c.j2"
        return "layers/dense_float.c.j2" if plan.is_float else "layers/dense.c.j2"


    def functions(self, plan: ArithPlan) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        if not self.trainable:  # one kernel, the same in training and inference: the packed signs
            return [f"{L}_forward_frozen"], [f"{L}_forward_frozen"]
        train = [f"{L}_forward_train"]
        if self.bn:
            train += [f"{L}_bn_train", f"{L}_bn_backward"]
        if self.index > plan.first_trainable:
            train.append(f"{L}_backward")
        train.append(f"{L}_update")
        if plan.batch_shift:
            train.append(f"{L}_apply_batch")
        return train, [f"{L}_infer"] + ([f"{L}_bn_infer"] if self.bn else [])

    def forward_calls(self, plan: ArithPlan, x: str, y: str) -> list[str]:
        L = f"l{self.index}"
        if not self.trainable:
            return [f"{L}_forward_frozen({x}, {y});"]
        return [f"{L}_forward_train({x}, {y});"] + ([f"{L}_bn_train({y});"] if self.bn else [])

    def backward_calls(self, plan: ArithPlan, x: str, d: str, d_in: str | None) -> list[str]:
        L = f"l{self.index}"
        if not self.trainable:
            return []  # back-propagation stopped at the first trainable layer
        return (([f"{L}_bn_backward({d}, lr_exp);"] if self.bn else [])
                + ([f"{L}_backward({d}, {d_in});"] if d_in is not None else [])
                + [f"{L}_update({x}, {d}, lr_exp);"])

    def infer_calls(self, plan: ArithPlan, x: str, y: str) -> list[str]:
        L = f"l{self.index}"
        if not self.trainable:
            return [f"{L}_forward_frozen({x}, {y});"]
        return [f"{L}_infer({x}, {y});"] + ([f"{L}_bn_infer({y});"] if self.bn else [])

    def batch_calls(self, plan: ArithPlan) -> list[str]:
        return [f"l{self.index}_apply_batch();"] if plan.batch_shift and self.trainable else []

    def start_calls(self, plan: ArithPlan) -> list[str]:
        return [f"l{self.index}_start();"] if self.trainable and (self.bn or plan.batch_shift) else []

    def sched_load_calls(self, plan: ArithPlan) -> list[str]:
        return [f"l{self.index}_clear_batch();"] if plan.batch_shift and self.trainable else []

    # -- multiplications -------------------------------------------------------------------
    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> Any:
        """Per the module docstring of mcutrain/multiplications.py (``batch_norm``: the whole network's)."""
        a, b = self.n_in, self.n_out
        n = a * b
        fwd = 0 if quantized_weights else n
        bwd = 0 if quantized_weights or (self.index == 0 and not conv.backward_first_layer) else n
        upd = 0 if qbp else n + (a if conv.update_lr_per_input else 0)
        bn = conv.bn_per_unit * b if batch_norm else 0
        return LayerCount(a, b, fwd, bwd, upd, bn)
