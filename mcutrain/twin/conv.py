"""The conv2d layer of the twin: templates/layers/conv2d.c.j2's functions, same names, same steps
(docs/arithmetic.md, section 11), on the exact integer operations of conv_ops.py."""

from __future__ import annotations

import numpy as np

from ..arith.fixed import round_shift_right, shift
from ..arith.prng import XorShiftStream
from . import binary, conv_ops, ternary
from .conv_bn import ConvBatchNormTwin
from .dense_update import shift_stochastic
from .layer import TwinLayer, register_twin


@register_twin("conv2d")
class Conv2dTwin(TwinLayer):
    def __init__(self, plan: object, layer: object) -> None:
        super().__init__(plan, layer)
        lp = self.layer
        self.W = np.zeros((lp.kernel, lp.kernel, lp.channels, lp.filters), np.int64)
        self._x = np.zeros((lp.height, lp.width, lp.channels), np.int64)
        self._q = np.zeros_like(self._x)
        self._t = np.zeros_like(self.W)
        self.b = np.zeros(lp.filters, np.int64)   # biases per output channel (accumulator units), if any
        self.bn = ConvBatchNormTwin(plan, lp) if lp.bn else None

    def init(self, rng: XorShiftStream) -> None:
        d = rng.draws(self.W.size).astype(np.int64)
        w0 = self.plan.w0
        self.W = ((d & (2 * w0 - 1)) - w0).reshape(self.W.shape)
        self.b = np.zeros(self.layer.filters, np.int64)   # biases start at zero: no draws
        if self.bn is not None:
            self.bn.reset()

    def state_bytes(self) -> bytes:
        return self.W.astype(self.plan.latent_dtype).tobytes()

    def bias_bytes(self) -> bytes:
        return self.b.astype("<i4").tobytes() if self.layer.bias else b""

    def bn_bytes(self) -> bytes:
        return self.bn.state_bytes() if self.bn is not None else b""

    def weights(self) -> np.ndarray:
        """The deterministic weights -1/0/+1 of the mode (sign or ternary_det), as dense layers have them."""
        mode = ternary if self.plan.is_ternary else binary
        return mode.infer(self.W, self.plan.w0).astype(np.int64)

    def sample(self, rng: XorShiftStream) -> np.ndarray:
        """l<k>_sample (binary, ternary): every weight once a step, rows (kh, kw, ci) in order, one draw per two
        weights of a row (low 16 bits: even co, high: odd co); the deterministic weights otherwise."""
        plan, f = self.plan, self.layer.filters
        if plan.weights not in ("binary", "ternary"):
            return self.weights()
        w = self.W.reshape(-1, f)
        dpr = (f + 1) // 2
        d = rng.draws(len(w) * dpr).reshape(len(w), dpr).astype(np.int64)
        r = np.empty((len(w), 2 * dpr), np.int64)
        r[:, 0::2], r[:, 1::2] = d & 0xFFFF, d >> 16
        r = r[:, :f]
        w0 = plan.w0
        if plan.weights == "binary":
            t = np.where((r & (2 * w0 - 1)) < w + w0, 1, -1)
        else:
            t = np.where((r & (w0 - 1)) < np.abs(w), np.sign(w), 0)
        return t.reshape(self.W.shape)

    def _activate(self, acc: np.ndarray, train: bool = False) -> np.ndarray:
        """acc (..., Ho, Wo, F): + bias, shift; batch norm per channel (before the ReLU); ReLU."""
        lp = self.layer
        z = round_shift_right(acc + self.b if lp.bias else acc, lp.weight_shift)
        if self.bn is not None:
            zz = z.reshape(*z.shape[:-3], lp.positions, lp.filters)
            z = (self.bn.bn_train(zz) if train else self.bn.bn_infer(zz)).reshape(z.shape)
        return np.clip(z, 0, self.plan.act_max)

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: the weights of the step (sampled in binary and ternary), a quantization draw for
        every non-zero input in (h, w, c) order (its 4-bit code is what the update keeps), then the convolution,
        shift and ReLU."""
        lp = self.layer
        self._x = np.asarray(x, np.int64).reshape(lp.height, lp.width, lp.channels)
        self._t = self.sample(rng)
        if self.plan.qbp:
            r = rng.draws(int(np.count_nonzero(self._x))).astype(np.int64)
            ex, keep = conv_ops.qbp_quantize(self._x, r, lp.ex_min, lp.ex_max)
            self._q = conv_ops.qbp_scaled(ex, keep, lp.ex_min)
        else:   # quantized back-propagation off: the update reads the integer input itself, no draws
            self._q = self._x
        return self._activate(conv_ops.conv2d_forward(self._x, self._t, lp.stride, lp.padding), train=True).reshape(-1)

    def backward(self, d: np.ndarray) -> np.ndarray:
        """l<k>_backward: the error of the input, shifted, saturated, 0 where the input was 0."""
        lp, e = self.layer, self.plan.err_max
        dd = np.asarray(d, np.int64).reshape(lp.out_height, lp.out_width, lp.filters)
        g = conv_ops.conv2d_backward_input(dd, self._t, self._x.shape, lp.stride, lp.padding)
        g = np.clip(round_shift_right(g, lp.weight_shift), -e, e)
        return np.where(self._x != 0, g, 0).reshape(-1)

    def update(self, d: np.ndarray, lr_exp: int, rng: XorShiftStream | None = None) -> None:
        """l<k>_update: the exact gradient of every weight (QBP: d shifted left by ex - EX_MIN; off: x d), one
        rounding each: to nearest, or (update_rounding = "stochastic", draws from `rng`) unbiased, one 16-bit
        draw a weight, rows (kh, kw, ci) in order, ceil(C_out / 2) draws a row."""
        lp, plan = self.layer, self.plan
        dd = np.asarray(d, np.int64).reshape(lp.out_height, lp.out_width, lp.filters)
        g = conv_ops.conv2d_weight_grad(self._q, dd, lp.kernel, lp.stride, lp.padding)
        k = lr_exp + lp.update_shift_const(plan)
        if plan.stochastic_update:
            if rng is None:
                raise ValueError("stochastic update rounding draws from the PRNG: pass rng")
            f = lp.filters
            rows = g.size // f
            draws = rng.draws(rows * ((f + 1) // 2)).reshape(rows, (f + 1) // 2)
            u = shift_stochastic(g.reshape(rows, f), np.full((rows, 1), k, np.int64), draws, f)
            lw = plan.latent_shift
            self.W = np.clip(self.W - u.reshape(self.W.shape), -(1 << lw), (1 << lw) - 1)
        else:
            self.W = conv_ops.apply_update(self.W, g, k, plan.latent_shift)
        if lp.bias:  # input 1: the error summed over the positions, shifted, rounded to nearest, no draw
            bm = lp.bias_max
            self.b = np.clip(self.b - shift(conv_ops.bias_grad(dd), lr_exp + lp.bias_const), -bm, bm)

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        """The C's calls: l<k>_bn_backward (error at the output -> error at z), l<k>_backward, l<k>_update."""
        if self.bn is not None:
            lp = self.layer
            delta = self.bn.bn_backward(np.asarray(delta, np.int64).reshape(lp.positions, lp.filters),
                                        lr_exp).reshape(-1)
        d_in = self.backward(delta) if need_input_error else None
        self.update(delta, lr_exp, rng)
        return d_in

    def infer(self, x: np.ndarray) -> np.ndarray:
        lp = self.layer
        xb = np.asarray(x, np.int64)
        batch = xb.ndim == 2
        xs = xb.reshape(((len(xb),) if batch else ()) + (lp.height, lp.width, lp.channels))
        y = self._activate(conv_ops.conv2d_forward(xs, self.weights(), lp.stride, lp.padding))
        return y.reshape((len(xb), -1) if batch else -1)
