"""The conv2d layer kind's plan (docs/arithmetic.md, section 11): geometry, constants, ranges, buffers.

It trains with the integer weight modes (binary, sign, ternary, ternary_det), quantized back-propagation on
or off, nearest or stochastic update rounding, batch size 1, optionally a bias or a batch norm per output
channel (with a learned power-of-two gamma, or gamma = 1); every other choice is a PlanError naming the layer
and what to use. The C is templates/layers/conv2d.c.j2 (conv2d_bn.c.j2 its batch norm), the twin
mcutrain/twin/conv.py (conv_bn.py), built on mcutrain/twin/conv_ops.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .checks import check_update_shifts, float32_value, glorot_w0, glorot_weight_shift
from .counts import LayerCount
from .layers import ACC_LIMIT, LayerPlan, MemoryItem, PlanContext, PlanError, register_plan

CONV_WEIGHT_MODES = ("binary", "sign", "ternary", "ternary_det")


@register_plan
@dataclass(frozen=True)
class Conv2dPlan(LayerPlan):
    kind: ClassVar[str] = "conv2d"
    float32_baseline: ClassVar[bool] = True
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
    bias: bool = False       # an int32 bias per output channel, accumulator units (as a dense layer's)
    bias_const: int = 0      # its update shift without the learning-rate exponent: A + weight_shift - E
    bias_max: int = 0        # biases saturate to +-bias_max = ACT_MAX in accumulator units
    bn: bool = False         # batch norm per output channel (docs/arithmetic.md, section 11)
    bn_gamma: bool = False   # with a learned power-of-two gamma per channel (else gamma = 1)
    gamma_frac: int = 8      # GF: the latent log2(gamma) is Q(GF)
    gamma_min: int = -4      # gamma = 2^g, g in [gamma_min, gamma_max]
    gamma_max: int = 2
    gamma_init: int = 0      # gamma starts at 2^0 = 1 (a start at 1/2 was tried: docs/results.md, no clear gain)
    w0_float: float = 0.0    # float32 baseline: Glorot h/2 (n_in = k^2 C_in, n_out = k^2 C_out) x 2^weight_scale_shift

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
        bn = bool(getattr(spec, "batch_norm", False))
        bias = bool(getattr(spec, "bias", False))
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=ho * wo * f, relu=True, height=h, width=w, channels=c,
                   filters=f, kernel=k, stride=s, padding=spec.padding, out_height=ho, out_width=wo,
                   pad_top=pads(h, k, s, spec.padding)[0], pad_left=pads(w, k, s, spec.padding)[0],
                   weight_shift=ws, update_const=-ctx.act_frac - ctx.err_frac + ws + ctx.latent_shift,
                   in_max=ctx.in_max, bias=bias, bias_const=ctx.act_frac + ws - ctx.err_frac,
                   bias_max=(ctx.act_max << ws) if bias else 0, bn=bn,
                   bn_gamma=bn and getattr(spec, "bn_gamma", "pow2") == "pow2",
                   w0_float=float32_value(glorot_w0(k * k * c, k * k * f) * 2.0**ctx.weight_scale_shift))

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
    def n_biases(self) -> int:
        return self.filters if self.bias else 0

    @property
    def n_bn_words(self) -> int:
        """Mean, deviation, beta (and the latent log2 gamma) of every output channel."""
        return (4 if self.bn_gamma else 3) * self.filters if self.bn else 0

    @property
    def bn_units(self) -> int:
        return self.filters

    @property
    def log_positions(self) -> int:
        """lp = ceil(log2 P): a sample's P positions move the running statistics by 2^-(M + lp) each."""
        return (self.positions - 1).bit_length()

    def bn_c_max(self, plan: Any) -> int:
        """Centred values saturate to +-(2^(30 - A - g_max) - 1): shifted left by t + g <= A + g_max, below 2^30."""
        return (1 << (30 - plan.act_frac - (self.gamma_max if self.bn_gamma else 0))) - 1

    @property
    def step_weight_bytes(self) -> int:
        """The step's sampled weights (l<k>_t): 2 bits a weight, a kernel row (k k C_in rows of C_out) starting a
        byte, padded to 4 bytes."""
        return (self.n_weights // self.filters * ((self.filters + 3) // 4) + 3) & ~3

    @property
    def code_bytes(self) -> int:
        """The QBP codes of the input kept for the update: 4 bits an input (two a byte), padded to 4 bytes."""
        return ((self.n_in + 1) // 2 + 3) & ~3

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
        if plan.shared_update:
            raise PlanError(f"{where}: conv2d rounds its updates to nearest or stochastically, one rounding a "
                            "weight; use update_rounding = \"nearest\" or \"stochastic\"")
        if plan.batch_shift:
            raise PlanError(f"{where}: conv2d trains at batch_size = 1 in this version")
        if plan.qbp and self.ex_max - self.ex_min > 14:
            raise PlanError(f"{where}: quantized inputs with exponents {self.ex_min}..{self.ex_max} need more than "
                            "4 bits; narrow qbp_exponent_range (of the layer, or of [training])")
        if self.fan_in * self.in_max > ACC_LIMIT:
            raise PlanError(f"{where}: a {self.kernel}x{self.kernel}x{self.channels} window x {self.in_max} (max "
                            f"input) overflows the int32 forward accumulator; use at most "
                            f"{ACC_LIMIT // (self.kernel * self.kernel * self.in_max)} input channels (filters of "
                            f"the layer below) or a smaller kernel")
        # the input error (l<k>_backward) exists above the first layer only
        if self.index > 0 and self.cover * self.filters * plan.err_max > ACC_LIMIT:
            raise PlanError(f"{where}: {self.filters} channels x {self.cover} covering windows x {plan.err_max} "
                            f"(max error) overflow the int32 backward accumulator; use at most "
                            f"{ACC_LIMIT // (self.cover * plan.err_max)} filters")
        lo = plan.lr_min + self.update_shift_const(plan)
        hi = plan.lr_start + self.update_shift_const(plan)
        check_update_shifts(plan, self, "weight", lo, 0, " or error_frac_bits")
        if plan.qbp and self.positions * plan.err_max << (self.ex_max - self.ex_min + max(hi, 0)) >= 1 << 62:
            raise PlanError(f"{where}: the weight gradient over {self.positions} positions (shifted left by up "
                            f"to {max(hi, 0)} bits) overflows int64; use a smaller input, a narrower "
                            "qbp_exponent_range or a lower learning_rate")
        if not plan.qbp:
            self._check_exact_products(plan, hi)
        if self.bias:
            self._check_bias(plan)
        if self.bn:
            self._check_bn(plan)

    def update_shift_const(self, plan: Any) -> int:
        """The weight update's shift without the learning-rate exponent. With QBP the exact sum G counts d in
        units of 2^EX_MIN (terms d << (ex - EX_MIN)): EX_MIN + C_l; without it G = sum x d: C_l. Both are
        lr x_q d (E[2^ex] = x) in latent units, so the two updates have the same scale in expectation."""
        return self.update_const + (self.ex_min if plan.qbp else 0)

    def _check_exact_products(self, plan: Any, hi: int) -> None:
        """Quantized back-propagation off: |G| = |sum_p x_p d_p| <= P in_max ERR_MAX, shifted left by up to
        max(hi, 0) bits, must stay below 2^62 (int64 on the device and in the twin)."""
        term = self.in_max * plan.err_max << max(hi, 0)
        if self.positions * term >= 1 << 62:
            fit = ((1 << 62) - 1) // term
            raise PlanError(f"layers[{self.index}]: without quantized back-propagation the weight gradient sums "
                            f"{self.positions} products x d of up to {self.in_max} x {plan.err_max} (shifted left "
                            f"by up to {max(hi, 0)} bits), which overflows int64; use at most {fit} output "
                            "positions (a smaller input or stride 2), a lower learning_rate, or "
                            "quantized_backprop = true")

    def _channel_sum_shifts(self, plan: Any, what: str, lo: int, hi: int, term_bits: int) -> None:
        """A per-channel update: the sum over the P positions of terms below 2^term_bits (int64), shifted by
        lo..hi bits, then one rounding."""
        where = f"layers[{self.index}]"
        if -lo > 62:
            raise PlanError(f"{where}: the {what} update shifts right by up to {-lo} bits (more than 62); raise lr_min")
        if self.positions << (term_bits + max(hi, 0)) >= 1 << 62:
            raise PlanError(f"{where}: the {what} update's sum over {self.positions} positions overflows int64; use a "
                            "smaller input or a lower learning_rate")

    def _check_bias(self, plan: Any) -> None:
        if self.fan_in * self.in_max + self.bias_max > ACC_LIMIT:
            raise PlanError(f"layers[{self.index}]: a {self.kernel}x{self.kernel}x{self.channels} window x "
                            f"{self.in_max} plus the bias ({self.bias_max} at most) overflows the int32 forward "
                            "accumulator; use fewer input channels or no bias")
        self._channel_sum_shifts(plan, "bias", plan.lr_min + self.bias_const, plan.lr_start + self.bias_const,
                                 plan.err_bits)

    def _check_bn(self, plan: Any) -> None:
        where = f"layers[{self.index}]"
        a, r, m = plan.act_frac, plan.bn_frac, plan.bn_momentum_shift
        z_max = (self.fan_in * self.in_max >> self.weight_shift) + 1
        if 4 * z_max << r > ACC_LIMIT:
            raise PlanError(f"{where}: the batch-norm running statistics of |z| up to {z_max} overflow int32; use "
                            "fewer input channels or a larger weight scale (weight_scale_shift = 0)")
        if r - m - self.log_positions > 0:
            raise PlanError(f"{where}: the batch-norm statistics must move by less than one unit a sample; raise "
                            "bn_momentum_shift")
        g_max = self.gamma_max if self.bn_gamma else 0
        if plan.err_max << (a + g_max) > ACC_LIMIT:
            raise PlanError(f"{where}: the batch-norm backward shift (up to {a + g_max} bits) overflows int32; "
                            "lower activation_frac_bits or error_frac_bits")
        k_beta = a + r - plan.err_frac - self.log_positions   # beta moves by the mean error over the positions
        self._channel_sum_shifts(plan, "batch-norm beta", plan.lr_min + k_beta, plan.lr_start + k_beta,
                                 plan.err_bits)
        if self.bn_gamma:
            k_g = self.gamma_frac - plan.err_frac - a
            # terms: an error shifted left by msb(|n|) <= 29 (|n| < 2^30)
            self._channel_sum_shifts(plan, "batch-norm gamma", plan.lr_min + k_g, plan.lr_start + k_g,
                                     plan.err_bits + 30)

    def memory_items(self, plan: Any) -> list[MemoryItem]:
        k = self.index
        f = self.filters
        if plan.is_float:  # templates/layers/conv2d_float.c.j2: float weights, one float gradient row
            return [
                MemoryItem("latent_weights", f"L{k}_W", 4 * self.n_weights),
                MemoryItem("update_buffers", f"l{k}_g", 4 * f),
            ]
        return [
            MemoryItem("latent_weights", f"L{k}_W", plan.latent_bytes * self.n_weights),
            MemoryItem("sign_bits", f"l{k}_t", self.step_weight_bytes),  # the step's weights, 2 bits each
            MemoryItem("qbp_codes", f"l{k}_codes", self.code_bytes if plan.qbp else 0),  # 4 bits an input
            MemoryItem("update_buffers", f"l{k}_g", 8 * f),
            MemoryItem("biases", f"L{k}_B", 4 * f if self.bias else 0),
            # batch norm: its state words, the scale exponents of the forward pass, two int64 sums a channel
            # and (learned gamma) a signed power-of-two code of every normalized output
            MemoryItem("batch_norm", f"L{k}_MU/DEV/BETA{'/LG' if self.bn_gamma else ''}, l{k}_bn_t, l{k}_bn_s",
                       4 * self.n_bn_words + 4 * f + 16 * f if self.bn else 0),
            MemoryItem("batch_norm", f"l{k}_bn_code", (self.n_out + 3) & ~3 if self.bn_gamma else 0),
        ]

    def update_reads_input(self, plan: Any) -> bool:
        """With QBP the update reads the 4-bit codes the forward pass kept, not x; without it, x."""
        return not plan.qbp

    def backward_reads_output(self, plan: Any) -> bool:
        return False  # batch norm keeps what its backward pass needs (l<k>_bn_t, l<k>_bn_code)

    def input_mask(self, plan: Any) -> bool:
        return self.index > 0 and not plan.is_float  # l<k>_backward: 0 where the input was 0

    def flash_bytes(self, plan: Any) -> int:
        """Measured (arm-none-eabi-nm, 3x3, Cortex-M4): the update's block a kernel tap about 380 bytes, the
        other kernels about 1 KB."""
        return 1100 + 400 * self.kernel * self.kernel + (900 if self.bn else 0)

    def template(self, plan: Any) -> str:
        return "layers/conv2d_float.c.j2" if plan.is_float else "layers/conv2d.c.j2"

    def functions(self, plan: Any) -> tuple[list[str], list[str]]:
        L = f"l{self.index}"
        if plan.is_float:
            return ([f"{L}_forward_train", f"{L}_conv"] + ([f"{L}_backward"] if self.index > 0 else [])
                    + [f"{L}_update"], [f"{L}_infer", f"{L}_conv"])
        sample = [f"{L}_sample"] if plan.weights in ("binary", "ternary") else []
        bn_train = [f"{L}_bn_train", f"{L}_bn_backward"] if self.bn else []
        return ([f"{L}_forward_train", f"{L}_conv", f"{L}_weights_det", *sample, *bn_train]
                + ([f"{L}_backward"] if self.index > 0 else []) + [f"{L}_update"],
                [f"{L}_infer", f"{L}_conv", f"{L}_weights_det"] + ([f"{L}_bn_infer"] if self.bn else []))

    def forward_calls(self, plan: Any, x: str, y: str) -> list[str]:
        L = f"l{self.index}"
        return [f"{L}_forward_train({x}, {y});"] + ([f"{L}_bn_train({y});"] if self.bn else [])

    def backward_calls(self, plan: Any, x: str, d: str, d_in: str | None) -> list[str]:
        L = f"l{self.index}"
        return (([f"{L}_bn_backward({d}, lr_exp);"] if self.bn else [])
                + ([f"{L}_backward({d}, {d_in});"] if d_in is not None else [])
                + [f"{L}_update({x}, {d}, lr_exp);"])

    def infer_calls(self, plan: Any, x: str, y: str) -> list[str]:
        L = f"l{self.index}"
        return [f"{L}_infer({x}, {y});"] + ([f"{L}_bn_infer({y});"] if self.bn else [])

    def start_calls(self, plan: Any) -> list[str]:
        return [f"l{self.index}_bn_start();"] if self.bn else []

    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> LayerCount:
        """Weights -1/0/+1 and QBP: none (the dense rule, once per position)."""
        n = self.n_weights * self.positions
        fwd = 0 if quantized_weights else n
        bwd = 0 if quantized_weights or self.index == 0 else n
        upd = 0 if qbp else n
        return LayerCount(self.n_in, self.n_out, fwd, bwd, upd, 0)
