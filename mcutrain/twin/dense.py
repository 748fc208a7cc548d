"""Dense layer of the twin: binarized or ternarized weights, ReLU or linear, quantized update.

One module per layer kind: a layer holds its latent weights and implements
init / forward_train / backward / update / infer over one sample (training) or
a batch (inference), drawing random numbers in the order docs/arithmetic.md fixes.
"""

from __future__ import annotations

import numpy as np

from ..arith.fixed import round_shift_right, shift
from ..arith.plan import ArithPlan, DensePlan
from ..arith.prng import XorShiftStream
from ..arith.quant import (
    binarize_stochastic,
    pow2_exponent_stochastic,
    ternarize_deterministic,
    ternarize_stochastic,
)
from .batchnorm import BatchNormTwin
from .layer import TwinLayer


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: exact, because the arithmetic plan proves every
    sum and partial sum stays below 2^31 in magnitude, far inside float64's 2^53 integers."""
    return np.rint(np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)).astype(np.int64)


class DenseTwin(TwinLayer):
    plan: ArithPlan
    layer: DensePlan

    def __init__(self, plan: ArithPlan, layer: DensePlan) -> None:
        super().__init__(plan, layer)
        self.W = np.zeros((layer.n_in, layer.n_out), dtype=np.int64)
        self.b = np.zeros(layer.n_out, dtype=np.int64)  # biases (accumulator units), zero and unused without one
        # mini-batches: the clamped per-sample updates of the weights and biases, summed over the batch
        self.G = np.zeros((layer.n_in, layer.n_out), dtype=np.int64) if plan.batch_shift else None
        self.Gb = np.zeros(layer.n_out, dtype=np.int64)
        self.bn = BatchNormTwin(plan, layer) if layer.bn else None
        # per-step state, kept between forward, backward and update
        self._x = np.zeros(layer.n_in, dtype=np.int64)
        self._active = np.zeros(0, dtype=np.int64)
        self._wb = np.zeros((0, layer.n_out), dtype=np.float64)  # sampled weights of the active rows, -1/0/+1
        self._delta = np.zeros(layer.n_out, dtype=np.int64)

    # -- state -------------------------------------------------------------
    def init(self, rng: XorShiftStream) -> None:
        d = rng.draws(self.layer.n_in * self.layer.n_out).astype(np.int64)
        w0 = self.plan.w0
        self.W = ((d & (2 * w0 - 1)) - w0).reshape(self.layer.n_in, self.layer.n_out)
        self.b = np.zeros(self.layer.n_out, dtype=np.int64)  # biases start at zero: no draws
        if self.G is not None:
            self.G[:] = 0
            self.Gb[:] = 0
        if self.bn is not None:
            self.bn.reset()

    def state_bytes(self) -> bytes:
        return self.W.astype(self.plan.latent_dtype).tobytes()

    def bias_bytes(self) -> bytes:
        return self.b.astype("<i4").tobytes() if self.layer.bias else b""

    def bn_bytes(self) -> bytes:
        return self.bn.state_bytes() if self.bn is not None else b""

    # -- training ------------------------------------------------------------
    def _row_draws(self, n_rows: int, rng: XorShiftStream, mask: int) -> np.ndarray:
        """One draw per two weights of each row: weight j uses the low 16 bits (j even) or the high
        16 bits (j odd), masked (docs/arithmetic.md, section 4)."""
        d = rng.draws(n_rows * self.layer.draws_per_row).reshape(n_rows, self.layer.draws_per_row)
        r = np.empty((n_rows, 2 * d.shape[1]), dtype=np.int64)
        r[:, 0::2] = d & np.uint32(mask)
        r[:, 1::2] = (d >> np.uint32(16)) & np.uint32(mask)
        return r[:, : self.layer.n_out]

    def _sample(self, rows: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """The sampled weights (in units of W0: -1, 0 or +1, as float64 for the exact matmul)."""
        w = self.W[rows]
        mode, w0 = self.plan.weights, self.plan.w0
        if mode == "sign":
            return np.where(w >= 0, 1.0, -1.0)
        if mode == "ternary_det":
            return ternarize_deterministic(w, w0).astype(np.float64)
        if mode == "ternary":
            return ternarize_stochastic(w, self._row_draws(len(rows), rng, w0 - 1), w0).astype(np.float64)
        return np.where(binarize_stochastic(w, self._row_draws(len(rows), rng, 2 * w0 - 1), w0), 1.0, -1.0)

    def deterministic_weights(self) -> np.ndarray:
        """The weights inference uses: sign(W) (binary modes) or the deterministic ternarization."""
        if self.plan.is_ternary:
            return ternarize_deterministic(self.W, self.plan.w0).astype(np.float64)
        return np.where(self.W >= 0, 1.0, -1.0)

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        self._x = x
        self._active = np.flatnonzero(x)
        self._wb = self._sample(self._active, rng)
        acc = exact_matmul(x[self._active], self._wb)
        return self._activate(acc, train=True)

    def _activate(self, acc: np.ndarray, train: bool = False) -> np.ndarray:
        z = round_shift_right(acc + self.b if self.layer.bias else acc, self.layer.weight_shift)
        if self.bn is not None:  # batch norm before the activation; its output is saturated to +-ACT_MAX
            z = self.bn.forward_train(z) if train else self.bn.infer(z)
        if self.layer.relu:
            return np.clip(z, 0, self.plan.act_max)
        return z

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        """The C's calls in mt_train_step: l<k>_bn_backward, l<k>_backward (not the first layer), l<k>_update."""
        if self.bn is not None:  # error at the output -> error at z (and beta's update)
            delta = self.bn.backward(delta, lr_exp)
        if need_input_error:
            delta_in = self.backward(delta)
        else:
            self._delta = delta  # the input layer needs no error of its input
            delta_in = None
        self.update(rng, lr_exp)
        return delta_in

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Store this layer's error and return the error of its input (ReLU mask of the input applied)."""
        self._delta = delta
        out = np.zeros(self.layer.n_in, dtype=np.int64)
        if len(self._active):
            g = exact_matmul(self._wb, delta)
            e = self.plan.err_max
            out[self._active] = np.clip(round_shift_right(g, self.layer.weight_shift), -e, e)
        return out

    def update(self, rng: XorShiftStream, lr_exp: int) -> None:
        if self.layer.bias:  # input 1: the error shifted, rounded to nearest, no draw
            bm = self.layer.bias_max
            ub = shift(self._delta, lr_exp + self.layer.bias_const)
            if self.G is not None:
                self.Gb += np.clip(ub, -2 * bm, 2 * bm)
            else:
                self.b = np.clip(self.b - ub, -bm, bm)
        rows = self._active
        if len(rows) == 0:
            return
        x = self._x[rows]
        c = lr_exp + self.layer.update_const
        d = self._delta[None, :]
        if self.plan.qbp and self.plan.shared_update:
            u = self._shared_update(x, d, c, rng)
        elif self.plan.qbp:
            per_row = 1 + (self.layer.draws_per_row if self.plan.stochastic_update else 0)
            draws = rng.draws(len(rows) * per_row).reshape(len(rows), per_row)
            r = draws[:, 0].astype(np.int64)
            ex, keep = pow2_exponent_stochastic(x, r, self.plan.ex_min, self.plan.ex_max)
            k = (ex + c)[:, None]
            if self.plan.stochastic_update:
                u = self._shift_stochastic(d, k, draws[:, 1:])
            else:
                u = shift(d, k)
            u = np.where(keep[:, None], u, 0)
        else:
            u = np.zeros((len(rows), self.layer.n_out), dtype=np.int64)
            for b in range(self.plan.act_bits):
                bit = ((x >> b) & 1).astype(bool)
                if bit.any():
                    u += np.where(bit[:, None], shift(d, b + c), 0)
        w0 = self.plan.w0
        if self.G is not None:  # mini-batch: accumulate, applied by apply_batch
            um = self.plan.update_max
            self.G[rows] += np.clip(u, -um, um)
        else:
            self.W[rows] = np.clip(self.W[rows] - u, -w0, w0 - 1)   # [-2^LW, 2^LW - 1]: one SSAT on the device

    def apply_batch(self) -> None:
        """End of a mini-batch: W <- sat(W - round(G / batch_size)) to [-W0, W0 - 1], biases to +-bias_max; G <- 0."""
        assert self.G is not None
        w0, s = self.plan.w0, self.plan.batch_shift
        self.W = np.clip(self.W - round_shift_right(self.G, s), -w0, w0 - 1)
        self.G[:] = 0
        if self.layer.bias:
            bm = self.layer.bias_max
            self.b = np.clip(self.b - round_shift_right(self.Gb, s), -bm, bm)
            self.Gb[:] = 0

    def _shared_update(self, x: np.ndarray, d: np.ndarray, c: int, rng: XorShiftStream) -> np.ndarray:
        """update_rounding = "stochastic_shared" (docs/arithmetic.md, section 5): one quantization draw a row,
        then one stochastically rounded vector u_e per exponent e that a row rounded to, in increasing e."""
        r = rng.draws(len(x)).astype(np.int64)
        ex, keep = pow2_exponent_stochastic(x, r, self.plan.ex_min, self.plan.ex_max)
        used = np.unique(ex[keep])
        draws = rng.draws(len(used) * self.layer.draws_per_row).reshape(len(used), self.layer.draws_per_row)
        if len(used) == 0:
            return np.zeros((len(x), self.layer.n_out), dtype=np.int64)
        bound = self.plan.update_bound
        vectors = np.clip(self._shift_stochastic(d, (used + c)[:, None], draws), -bound, bound)
        u = vectors[np.searchsorted(used, np.where(keep, ex, used[0]))]
        return np.where(keep[:, None], u, 0)

    def _shift_stochastic(self, d: np.ndarray, k: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """d * 2^k, rounded down after adding a uniform draw below 2^-k when k < 0 (unbiased)."""
        r16 = np.empty((draws.shape[0], 2 * draws.shape[1]), dtype=np.int64)
        r16[:, 0::2] = draws & np.uint32(0xFFFF)
        r16[:, 1::2] = draws >> np.uint32(16)
        r16 = r16[:, : self.layer.n_out]
        s = np.maximum(-k, 0)
        rr = (r16 >> np.maximum(16 - s, 0)) << np.maximum(s - 16, 0)
        return np.where(k >= 0, d << np.maximum(k, 0), (d + rr) >> s)

    # -- inference (deterministic weights), a batch at a time -----------------
    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._activate(exact_matmul(x, self.deterministic_weights()))
