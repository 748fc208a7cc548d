"""The arithmetic plan: every constant of the fixed-point contract, derived once.

The twin and the code generator both read these numbers, so the C and NumPy
cannot disagree about a shift. docs/arithmetic.md explains each one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import conv, pool  # noqa: F401  (registers the conv2d, maxpool and flatten kinds)
from .checks import (  # noqa: F401 (re-exported: the plan module is where callers look for them)
    check_bn_ranges,
    check_update_shifts,
    float32_value,
    glorot_w0,
    glorot_weight_shift,
)
from .dense import DensePlan
from .layers import ACC_LIMIT, LayerPlan, PlanContext, PlanError, plan_class

__all__ = ["ACC_LIMIT", "ArithPlan", "DensePlan", "LayerPlan", "PlanError", "make_dense_plan", "make_plan"]


@dataclass(frozen=True)
class ArithPlan:
    act_frac: int            # A: activations and inputs are Q(A)
    err_frac: int            # E: errors are Q(E)
    latent_shift: int        # LW: latent weights are integers in [-2^LW, 2^LW - 1], 2^LW is W0
    act_max: int             # hidden activations saturate to [0, act_max]
    err_bits: int            # errors saturate to +-(2^err_bits - 1)
    weights: str             # "binary" / "sign" (stochastic / deterministic binary connect), "ternary" /
    #                          "ternary_det" (stochastic / deterministic ternary connect), "float32" (float baseline)
    qbp: bool
    ex_min: int              # quantized-x exponent range, in integer units of Q(A)
    ex_max: int
    lr_start: int            # learning-rate exponent
    lr_decay_shift: int
    lr_decay_every_epochs: int
    lr_min: int
    layers: tuple[LayerPlan, ...]
    latent_bits: int = 16
    stochastic_update: bool = False  # round the shifted update stochastically (one 16-bit draw a weight)
    shared_update: bool = False      # "stochastic_shared": one stochastic rounding per (exponent, output) a step

    @property
    def update_bound(self) -> int:
        """The shared update vectors are saturated to [-update_bound, update_bound] = +-(2 W0 - 1):
        W - u then saturates to [-W0, W0 - 1] exactly as W - (the unsaturated u) would (section 5)."""
        return 2 * self.w0 - 1
    batch_shift: int = 0     # mini-batches of 2^batch_shift samples (0: every sample updates the weights)

    # batch normalization (docs/arithmetic.md, section 5.8): statistics in Q(A + BN_FRAC)
    bn_frac: int = 8         # R: fraction bits of the running statistics and beta beyond Q(A)
    bn_momentum_shift: int = 10  # M: running averages move by 2^-M of the difference each sample

    @property
    def bn_dev_init(self) -> int:
        """Initial running deviation: 1.0 (so the first samples pass unscaled)."""
        return 1 << (self.act_frac + self.bn_frac)

    @property
    def bn_dev_min(self) -> int:
        """The running deviation never drops below one Q(A) unit: the scale exponent t is at most A."""
        return 1 << self.bn_frac

    @property
    def bn_c_max(self) -> int:
        """The centred value is saturated to +-bn_c_max, so that shifting it left by t <= A stays below 2^30."""
        return (1 << (30 - self.act_frac)) - 1

    @property
    def has_bn(self) -> bool:
        return any(layer.n_bn_words for layer in self.layers)

    @property
    def batch_size(self) -> int:
        return 1 << self.batch_shift

    @property
    def update_max(self) -> int:
        """Mini-batches: each sample's weight update is clamped to +-2 W0 before it is accumulated (a larger
        one saturates any latent weight, so at batch size 1 the clamp changes nothing)."""
        return 2 * self.w0

    @property
    def batch_acc_ctype(self) -> str:
        """Type of the per-weight batch accumulator: int16 when batch_size x 2 W0 fits, else int32."""
        return "int16_t" if self.batch_size * self.update_max <= (1 << 15) - 1 else "int32_t"

    @property
    def batch_acc_bytes(self) -> int:
        return 2 if self.batch_acc_ctype == "int16_t" else 4

    @property
    def is_float(self) -> bool:
        """The float32 baseline: conventional SGD with float multiplications (docs/arithmetic.md, section 9)."""
        return self.weights == "float32"

    @property
    def is_ternary(self) -> bool:
        """Ternary connect: sampled weights in {-W0, 0, +W0} (docs/arithmetic.md, section 4)."""
        return self.weights in TERNARY_MODES

    @property
    def samples_weights(self) -> bool:
        """Stochastic weight sampling (binary, ternary): the forward pass draws, and layers after the
        first keep the sampled weights for their backward pass."""
        return self.weights in ("binary", "ternary")

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

    def update_shift_range(self, layer: Any) -> tuple[int, int]:
        lo = self.lr_min + layer.update_const + layer.ex_min
        top = layer.in_max.bit_length()  # x_q <= 2^(msb(x) + 1)
        hi = self.lr_start + layer.update_const + (min(layer.ex_max, top) if self.qbp else top - 1)
        return lo, hi

    @property
    def has_biases(self) -> bool:
        return any(layer.n_biases for layer in self.layers)

    @property
    def n_weights(self) -> int:
        return sum(layer.n_weights for layer in self.layers)

    @property
    def first_trainable(self) -> int:
        """The first layer that learns: ``trainable = false`` layers (frozen, packed signs in flash) come
        first; back-propagation stops at this layer (no error of its input is computed)."""
        return next((k for k, lp in enumerate(self.layers) if getattr(lp, "trainable", True)), 0)

    @property
    def state_pad(self) -> int:
        """Zero bytes between the weights and the int32 state (biases, batch norm), to align it."""
        return -(self.latent_bytes * self.n_weights) % 4 if self.has_biases or self.has_bn else 0

    @property
    def n_bn_words(self) -> int:
        """int32 words of batch-norm state: mean, deviation and beta of every unit of every BN layer."""
        return sum(layer.n_bn_words for layer in self.layers)

    @property
    def state_bytes(self) -> int:
        """The state (docs/arithmetic.md, section 7): weights, padding, every layer's biases (int32), then
        every batch-norm layer's mean, deviation and beta (int32)."""
        n_bias = sum(layer.n_biases for layer in self.layers)
        return self.latent_bytes * self.n_weights + self.state_pad + 4 * n_bias + 4 * self.n_bn_words

    @property
    def act_bits(self) -> int:
        return self.act_max.bit_length()


def unfrozen_plan(plan: ArithPlan) -> ArithPlan:
    """The same network with every layer learning (``trainable = false`` removed): the layout of a state
    file of a model with frozen layers (every layer's latents), and the planner's comparison."""
    if all(getattr(lp, "trainable", True) for lp in plan.layers):
        return plan
    return dataclasses.replace(plan, layers=tuple(
        dataclasses.replace(lp, trainable=True) if not getattr(lp, "trainable", True) else lp  # type: ignore[call-arg]
        for lp in plan.layers))


from .modes import TERNARY_MODES, UPDATE_ROUNDINGS, WEIGHT_MODES  # noqa: E402 (the names, defined once)


def make_plan(
    n_inputs: int,
    layer_specs: Sequence[Any],
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
    batch_size: int = 1,
) -> ArithPlan:
    """The plan of a network: ``n_inputs`` inputs, then the model file's layers (LayerSpec objects, each
    planned by the plan class registered for its kind, mcutrain/arith/layers.py)."""
    if weights not in WEIGHT_MODES:
        raise PlanError(f"weight mode {weights!r} is not implemented on the device; "
                        f"use one of {', '.join(WEIGHT_MODES)}")
    if weights == "float32":
        # Conventional float SGD: no quantized back-propagation, no fixed-point update rounding.
        qbp, update_rounding = False, "nearest"
    if update_rounding not in UPDATE_ROUNDINGS:
        raise PlanError(f"update_rounding {update_rounding!r} is unknown; use one of {', '.join(UPDATE_ROUNDINGS)}")
    if update_rounding != "nearest" and not qbp:
        raise PlanError(f"update_rounding = {update_rounding} needs quantized_backprop = true; use nearest")
    if update_rounding == "stochastic_shared" and batch_size != 1:
        raise PlanError("update_rounding = stochastic_shared rounds each sample's update as it is applied; "
                        "use batch_size = 1 or update_rounding = stochastic")
    if not layer_specs:
        raise PlanError("a network needs at least one layer")
    latent_shift = latent_bits - 2
    act_max = (1 << 15) - 1
    layers: list[LayerPlan] = []
    n_in, in_max = n_inputs, input_max
    for k, spec in enumerate(layer_specs):
        ctx = PlanContext(index=k, n_in=n_in, last=k == len(layer_specs) - 1, in_max=in_max, act_frac=act_frac,
                          err_frac=err_frac, latent_shift=latent_shift, act_max=act_max,
                          weight_scale_shift=weight_scale_shift)
        lp = plan_class(spec.kind, k).from_spec(spec, ctx)
        lo, hi = getattr(spec, "qbp_exponent_range", None) or qbp_range  # the layer's own, else the model's
        lp = dataclasses.replace(lp, ex_min=max(0, lo + act_frac), ex_max=min(act_max.bit_length(), hi + act_frac))
        layers.append(lp)
        n_in, in_max = lp.n_out, lp.out_max(act_max)
    n_layers = len(layers)
    # mt_model_float.c.j2 includes each kind's float32 template: a kind without one has no float32 build
    no_float = [la for la in layers if weights == "float32" and not la.float32_baseline]
    if no_float:
        raise PlanError(f"layers[{no_float[0].index}]: {no_float[0].kind} has no float32 baseline in this version; "
                        f"use an integer weight mode ({', '.join(w for w in WEIGHT_MODES if w != 'float32')})")
    if any(la.bn for la in layers):
        if weights == "float32":
            raise PlanError("batch normalization is implemented for the integer weight modes only, not float32")
        if batch_size != 1:
            raise PlanError("batch normalization with mini-batches is not implemented: use batch_size = 1 "
                            "(the statistics are running averages over the stream)")
        both = [k for k in range(n_layers) if layers[k].bn and layers[k].bias]
        if both:
            raise PlanError(f"layers[{both[0]}]: batch_norm has its own learned shift (beta); remove bias = true")
    if batch_size < 1 or batch_size & (batch_size - 1):
        raise PlanError(f"batch_size {batch_size} is not a power of two; the batch mean is a shift")
    if weights == "float32" and batch_size != 1:
        raise PlanError("mini-batches are implemented for the integer weight modes only; float32 needs batch_size = 1")
    if weights == "float32" and any(la.bias for la in layers):
        raise PlanError("biases are implemented for the integer weight modes only, not float32")
    if update_rounding == "stochastic" and not qbp:
        raise PlanError("update_rounding = stochastic needs quantized_backprop = true; use nearest")
    ex_min = max(0, qbp_range[0] + act_frac)
    ex_max = min(act_max.bit_length(), qbp_range[1] + act_frac)
    plan = ArithPlan(
        act_frac=act_frac, err_frac=err_frac, latent_shift=latent_shift, act_max=act_max,
        err_bits=err_bits, weights=weights, qbp=qbp, ex_min=ex_min, ex_max=ex_max,
        lr_start=lr_start, lr_decay_shift=lr_decay_shift,
        lr_decay_every_epochs=lr_decay_every_epochs, lr_min=lr_min, layers=tuple(layers),
        latent_bits=latent_bits, stochastic_update=update_rounding == "stochastic",
        shared_update=update_rounding == "stochastic_shared",
        batch_shift=batch_size.bit_length() - 1,
    )
    if not plan.is_float:
        check_ranges(plan)  # the float32 baseline has no fixed-point ranges to prove
    return plan


def check_ranges(plan: ArithPlan) -> None:
    """Prove the int32 accumulators cannot overflow; raise PlanError naming the layer otherwise."""
    if plan.ex_min > plan.ex_max:
        raise PlanError("qbp_exponent_range lies outside the activation range; widen it")
    for layer in plan.layers:
        if layer.ex_min > layer.ex_max:
            raise PlanError(f"layers[{layer.index}]: its qbp_exponent_range lies outside the activation range; "
                            "widen it")
    if plan.batch_size * plan.update_max > ACC_LIMIT:
        raise PlanError(
            f"batch_size {plan.batch_size}: the sum of {plan.batch_size} weight updates of up to "
            f"{plan.update_max} overflows the int32 batch accumulator; use a smaller batch_size")
    for layer in plan.layers:
        layer.check(plan)
    if plan.layers[-1].n_out * 2 * plan.one > ACC_LIMIT:
        raise PlanError("too many classes for the hinge-loss statistic")


def input_max(encoding: str, act_frac: int) -> int:
    """Largest decoded input value of an encoding, Q(act_frac)."""
    if encoding == "bits":
        return 1 << act_frac
    if encoding == "u4":
        return 15 << (act_frac - 4)
    return 255 << (act_frac - 8)


def plan_from_spec(spec: Any) -> ArithPlan:
    """The arithmetic plan of a validated ModelSpec (mcutrain.model)."""
    t = spec.training
    a = spec.arithmetic
    return make_plan(
        spec.layer_sizes()[0], spec.layers,
        weights=t.weights, qbp=t.quantized_backprop, qbp_range=tuple(t.qbp_exponent_range),
        act_frac=a.activation_frac_bits, err_frac=a.error_frac_bits, latent_bits=a.latent_bits,
        lr_start=t.learning_rate, lr_decay_shift=t.lr_decay_shift,
        lr_decay_every_epochs=t.lr_decay_every_epochs, lr_min=t.lr_min,
        input_max=input_max(spec.data.encoding, a.activation_frac_bits),
        weight_scale_shift=a.weight_scale_shift, update_rounding=a.update_rounding,
        batch_size=t.batch_size,
    )


def dense_layers(n_layers: int, biases: Sequence[bool] | None = None,
                 batch_norm: Sequence[bool] | None = None, units: Sequence[int] = ()) -> list[Any]:
    """Dense LayerSpecs (ReLU, the last linear) with the given units, bias and batch_norm flags."""
    from ..model.spec import DenseLayerSpec  # noqa: PLC0415 (the model package imports this module)

    biases = tuple(biases) if biases is not None else (False,) * n_layers
    batch_norm = tuple(batch_norm) if batch_norm is not None else (False,) * n_layers
    if len(biases) != n_layers:
        raise PlanError(f"{len(biases)} bias flags for {n_layers} layers")
    if len(batch_norm) != n_layers:
        raise PlanError(f"{len(batch_norm)} batch_norm flags for {n_layers} layers")
    return [DenseLayerSpec(units=units[k], activation="relu" if k < n_layers - 1 else "linear",
                           bias=biases[k], batch_norm=batch_norm[k]) for k in range(n_layers)]


def make_dense_plan(sizes: Sequence[int], *, biases: Sequence[bool] | None = None,
                    batch_norm: Sequence[bool] | None = None, **kw: Any) -> ArithPlan:
    """The plan of a dense MLP given as [n_inputs, units, ..., n_classes] (tests, benchmarks, examples):
    the layers are written out as dense LayerSpecs and planned by :func:`make_plan`."""
    n_layers = len(sizes) - 1
    return make_plan(sizes[0], dense_layers(n_layers, biases, batch_norm, sizes[1:]), **kw)
