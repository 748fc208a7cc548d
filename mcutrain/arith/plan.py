"""The arithmetic plan: every constant of the fixed-point contract, derived once.

The twin and the code generator both read these numbers, so the C and NumPy
cannot disagree about a shift. docs/arithmetic.md explains each one.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

ACC_LIMIT = (1 << 31) - 1


class PlanError(ValueError):
    """A model whose fixed-point ranges cannot be guaranteed (names the fix)."""


@dataclass(frozen=True)
class DensePlan:
    index: int
    n_in: int
    n_out: int
    relu: bool
    weight_shift: int        # W0 = 2^-weight_shift (Glorot W0 = h/2 rounded to a power of two)
    update_const: int        # C_l without the learning-rate exponent: -A - E + weight_shift + LW
    in_max: int              # largest input value (Q(A) integer) the layer can see
    w0_float: float = 0.0    # float32 mode: W0 = Glorot h/2 x 2^weight_scale_shift, rounded to float32

    @property
    def draws_per_row(self) -> int:
        return (self.n_out + 1) // 2


@dataclass(frozen=True)
class ArithPlan:
    act_frac: int            # A: activations and inputs are Q(A)
    err_frac: int            # E: errors are Q(E)
    latent_shift: int        # LW: latent weights are integers in [-2^LW, 2^LW - 1], 2^LW is W0
    act_max: int             # hidden activations saturate to [0, act_max]
    err_bits: int            # errors saturate to +-(2^err_bits - 1)
    weights: str             # "binary" (stochastic), "sign" (deterministic) or "float32" (the float baseline)
    qbp: bool
    ex_min: int              # quantized-x exponent range, in integer units of Q(A)
    ex_max: int
    lr_start: int            # learning-rate exponent
    lr_decay_shift: int
    lr_decay_every_epochs: int
    lr_min: int
    layers: tuple[DensePlan, ...]
    latent_bits: int = 16
    stochastic_update: bool = False  # round the shifted update stochastically (one 16-bit draw a weight)
    shared_update: bool = False      # "stochastic_shared": one stochastic rounding per (exponent, output) a step

    @property
    def update_bound(self) -> int:
        """The shared update vectors are saturated to [-update_bound, update_bound] = +-(2 W0 - 1):
        W - u then saturates to [-W0, W0 - 1] exactly as W - (the unsaturated u) would (section 5)."""
        return 2 * self.w0 - 1

    @property
    def is_float(self) -> bool:
        """The float32 baseline: conventional SGD with float multiplications (docs/arithmetic.md, section 9)."""
        return self.weights == "float32"

    @property
    def latent_bytes(self) -> int:
        """Bytes of one stored weight: int8, int16, or float (float32 mode)."""
        if self.is_float:
            return 4
        return 1 if self.latent_bits <= 8 else 2

    @property
    def latent_ctype(self) -> str:
        if self.is_float:
            return "float"
        return "int8_t" if self.latent_bytes == 1 else "int16_t"

    @property
    def latent_dtype(self) -> str:
        if self.is_float:
            return "<f4"
        return "<i1" if self.latent_bytes == 1 else "<i2"

    @property
    def one(self) -> int:
        return 1 << self.act_frac

    @property
    def w0(self) -> int:
        return 1 << self.latent_shift

    @property
    def err_max(self) -> int:
        return (1 << self.err_bits) - 1

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_out

    def update_shift_range(self, layer: DensePlan) -> tuple[int, int]:
        lo = self.lr_min + layer.update_const + self.ex_min
        top = layer.in_max.bit_length()  # x_q <= 2^(msb(x) + 1)
        hi = self.lr_start + layer.update_const + (min(self.ex_max, top) if self.qbp else top - 1)
        return lo, hi

    @property
    def act_bits(self) -> int:
        return self.act_max.bit_length()


WEIGHT_MODES = ("binary", "sign", "float32")
UPDATE_ROUNDINGS = ("nearest", "stochastic", "stochastic_shared")


def glorot_w0(n_in: int, n_out: int) -> float:
    """The paper's W0 = h/2 with Glorot's h = sqrt(6 / (n_in + n_out)) (float64)."""
    return math.sqrt(6.0 / (n_in + n_out)) / 2.0


def float32_value(x: float) -> float:
    """x rounded to the nearest IEEE single (round half to even), as a Python float."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def glorot_weight_shift(n_in: int, n_out: int) -> int:
    """-log2(W0) rounded, with W0 = sqrt(6 / (n_in + n_out)) / 2 as in the paper's code."""
    return max(0, round(-math.log2(glorot_w0(n_in, n_out))))


def make_plan(
    sizes: list[int],
    *,
    weights: str = "binary",
    qbp: bool = True,
    qbp_range: tuple[int, int] = (-8, 7),
    act_frac: int = 8,
    err_frac: int = 12,
    latent_bits: int = 16,
    lr_start: int = -6,
    lr_decay_shift: int = 1,
    lr_decay_every_epochs: int = 1,
    lr_min: int = -12,
    err_bits: int = 20,
    input_max: int = 256,
    weight_scale_shift: int = 0,
    update_rounding: str = "nearest",
) -> ArithPlan:
    if weights not in WEIGHT_MODES:
        raise PlanError(f"weight mode {weights!r} is not implemented on the device; use binary, sign or float32")
    if weights == "float32":
        # Conventional float SGD: no quantized back-propagation, no fixed-point update rounding.
        qbp, update_rounding = False, "nearest"
    if update_rounding not in UPDATE_ROUNDINGS:
        raise PlanError(f"update_rounding {update_rounding!r} is unknown; use one of {', '.join(UPDATE_ROUNDINGS)}")
    if update_rounding != "nearest" and not qbp:
        raise PlanError(f"update_rounding = {update_rounding} needs quantized_backprop = true; use nearest")
    latent_shift = latent_bits - 2
    act_max = (1 << 15) - 1
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        ws = max(0, glorot_weight_shift(n_in, n_out) - weight_scale_shift)
        layers.append(DensePlan(
            index=k, n_in=n_in, n_out=n_out, relu=k < len(sizes) - 2, weight_shift=ws,
            in_max=input_max if k == 0 else act_max,
            update_const=-act_frac - err_frac + ws + latent_shift,
            w0_float=float32_value(glorot_w0(n_in, n_out) * 2.0**weight_scale_shift),
        ))
    ex_min = max(0, qbp_range[0] + act_frac)
    ex_max = min(act_max.bit_length(), qbp_range[1] + act_frac)
    plan = ArithPlan(
        act_frac=act_frac, err_frac=err_frac, latent_shift=latent_shift, act_max=act_max,
        err_bits=err_bits, weights=weights, qbp=qbp, ex_min=ex_min, ex_max=ex_max,
        lr_start=lr_start, lr_decay_shift=lr_decay_shift,
        lr_decay_every_epochs=lr_decay_every_epochs, lr_min=lr_min, layers=tuple(layers),
        latent_bits=latent_bits, stochastic_update=update_rounding == "stochastic",
        shared_update=update_rounding == "stochastic_shared",
    )
    if not plan.is_float:
        check_ranges(plan)  # the float32 baseline has no fixed-point ranges to prove
    return plan


def check_ranges(plan: ArithPlan) -> None:
    """Prove the int32 accumulators cannot overflow; raise PlanError naming the layer otherwise."""
    if plan.ex_min > plan.ex_max:
        raise PlanError("qbp_exponent_range lies outside the activation range; widen it")
    for layer in plan.layers:
        in_max = layer.in_max
        if layer.n_in * in_max > ACC_LIMIT:
            raise PlanError(
                f"layers[{layer.index}]: {layer.n_in} inputs x {in_max} (max activation) overflows the "
                f"int32 forward accumulator; use at most {ACC_LIMIT // in_max} inputs")
        if layer.n_out * plan.err_max > ACC_LIMIT:
            raise PlanError(
                f"layers[{layer.index}]: {layer.n_out} units x {plan.err_max} (max error) overflows the "
                f"int32 backward accumulator; use at most {ACC_LIMIT // plan.err_max} units")
        lo, hi = plan.update_shift_range(layer)
        if -lo > 30:
            raise PlanError(
                f"layers[{layer.index}]: the weight update shifts an error right by up to {-lo} bits (more than 30); "
                f"raise lr_min or error_frac_bits")
        if hi > 0 and plan.err_max << hi > ACC_LIMIT:
            raise PlanError(
                f"layers[{layer.index}]: the weight update shifts an error left by up to {hi} bits, which "
                f"overflows int32; lower learning_rate or error_frac_bits")
    if plan.layers[-1].n_out * 2 * plan.one > ACC_LIMIT:
        raise PlanError("too many classes for the hinge-loss statistic")


def input_max(encoding: str, act_frac: int) -> int:
    """Largest decoded input value of an encoding, Q(act_frac)."""
    if encoding == "bits":
        return 1 << act_frac
    if encoding == "u4":
        return 15 << (act_frac - 4)
    return 255 << (act_frac - 8)


def plan_from_spec(spec: object) -> ArithPlan:
    """The arithmetic plan of a validated ModelSpec (mcutrain.model)."""
    t = spec.training  # type: ignore[attr-defined]
    a = spec.arithmetic  # type: ignore[attr-defined]
    return make_plan(
        spec.layer_sizes(),  # type: ignore[attr-defined]
        weights=t.weights, qbp=t.quantized_backprop, qbp_range=tuple(t.qbp_exponent_range),
        act_frac=a.activation_frac_bits, err_frac=a.error_frac_bits, latent_bits=a.latent_bits,
        lr_start=t.learning_rate, lr_decay_shift=t.lr_decay_shift,
        lr_decay_every_epochs=t.lr_decay_every_epochs, lr_min=t.lr_min,
        input_max=input_max(spec.data.encoding, a.activation_frac_bits),  # type: ignore[attr-defined]
        weight_scale_shift=a.weight_scale_shift, update_rounding=a.update_rounding,
    )
