"""Dense layer of the twin: binarized or ternarized weights, ReLU or linear, quantized update.

The twin of templates/layers/dense.c.j2, part by part as the template is: the weight mode
(binary.py / ternary.py beside binary.c.j2 / ternary.c.j2), the update (dense_update.py,
dense_update_shared.py, batch.py beside dense_update.c.j2, dense_update_shared.c.j2, batch.c.j2) and
batch norm (batchnorm.py beside batchnorm.c.j2). The methods are the C's functions without the l<k>_
prefix (forward_train, backward, update, apply_batch, infer), each over one sample (training) or a
batch (inference), drawing random numbers in the order docs/arithmetic.md fixes.
"""

from __future__ import annotations

import numpy as np

from ..arith.fixed import round_shift_right, shift
from ..arith.plan import ArithPlan, DensePlan
from ..arith.prng import XorShiftStream
from . import batch, binary, dense_update, dense_update_shared, ternary
from .batchnorm import BatchNormTwin
from .layer import TwinLayer, register_twin


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: exact, because the arithmetic plan proves every
    sum and partial sum stays below 2^31 in magnitude, far inside float64's 2^53 integers."""
    return np.rint(np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)).astype(np.int64)


@register_twin("dense")
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
        self._mode = ternary if plan.is_ternary else binary  # the weight mode's part (its template's twin)
        # per-step state, kept between forward, backward and update
        self._x = np.zeros(layer.n_in, dtype=np.int64)
        self._active = np.zeros(0, dtype=np.int64)
        self._wb = np.zeros((0, layer.n_out), dtype=np.float64)  # sampled weights of the active rows, -1/0/+1
        self._delta = np.zeros(layer.n_out, dtype=np.int64)
        # a frozen layer (trainable = false): its packed signs (mcutrain/arith/packed.py), of the latents W
        self._packed_of: np.ndarray | None = None
        self._frozen = np.zeros((0, layer.n_out), dtype=np.float64)

    # -- state -------------------------------------------------------------
    def init(self, rng: XorShiftStream) -> None:
        if not self.layer.trainable:
            return  # a frozen layer's signs are in flash: the session start neither draws nor changes them
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
        """The latents in the device's state block; none for a frozen layer (its signs are in flash)."""
        return self.W.astype(self.plan.latent_dtype).tobytes() if self.layer.trainable else b""

    def bias_bytes(self) -> bytes:
        return self.b.astype("<i4").tobytes() if self.layer.bias and self.layer.trainable else b""

    def bn_bytes(self) -> bytes:
        return self.bn.state_bytes() if self.bn is not None else b""

    # -- training ------------------------------------------------------------
    def row_draws(self, n_rows: int, rng: XorShiftStream, mask: int) -> np.ndarray:
        """One draw per two weights of each row: weight j uses the low 16 bits (j even) or the high
        16 bits (j odd), masked (docs/arithmetic.md, section 4)."""
        d = rng.draws(n_rows * self.layer.draws_per_row).reshape(n_rows, self.layer.draws_per_row)
        r = np.empty((n_rows, 2 * d.shape[1]), dtype=np.int64)
        r[:, 0::2] = d & np.uint32(mask)
        r[:, 1::2] = (d >> np.uint32(16)) & np.uint32(mask)
        return r[:, : self.layer.n_out]

    def deterministic_weights(self) -> np.ndarray:
        """The weights inference uses (binary.py / ternary.py: ``infer``)."""
        return self._mode.infer(self.W, self.plan.w0)

    def packed_signs(self) -> bytes:
        """The packed signs of the latents (what a frozen layer keeps in flash)."""
        from ..arith.packed import pack_signs

        return pack_signs(self.W, self.plan.w0, self.plan.is_ternary)

    def frozen_weights(self) -> np.ndarray:
        """A frozen layer's weights, read from its packed signs (unpacked once per set of latents)."""
        from ..arith.packed import unpack_signs

        if self._packed_of is not self.W:
            self._frozen = unpack_signs(self.packed_signs(), self.layer.n_in, self.layer.n_out,
                                        self.plan.is_ternary)
            self._packed_of = self.W
        return self._frozen

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: the weights of the rows of non-zero inputs as the weight mode samples them
        (binary.py / ternary.py: ``forward_backward``), summed, then bias, shift, batch norm, ReLU.
        A frozen layer reads its packed signs instead: no draws, nothing kept for an update."""
        self._x = x
        self._active = np.flatnonzero(x)
        if not self.layer.trainable:
            return self._activate(exact_matmul(x[self._active], self.frozen_weights()[self._active]), train=True)
        self._wb = self._mode.forward_backward(self, self._active, rng)
        acc = exact_matmul(x[self._active], self._wb)
        return self._activate(acc, train=True)

    def _activate(self, acc: np.ndarray, train: bool = False) -> np.ndarray:
        z = round_shift_right(acc + self.b if self.layer.bias else acc, self.layer.weight_shift)
        if self.bn is not None:  # l<k>_bn_train / l<k>_bn_infer, before the activation; saturated to +-ACT_MAX
            z = self.bn.bn_train(z) if train else self.bn.bn_infer(z)
        if self.layer.relu:
            return np.clip(z, 0, self.plan.act_max)
        return z

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        """The C's calls in mt_train_step: l<k>_bn_backward, l<k>_backward (not the first layer), l<k>_update."""
        if self.bn is not None:  # error at the output -> error at z (and beta's update)
            delta = self.bn.bn_backward(delta, lr_exp)
        if need_input_error:
            delta_in = self.backward(delta)
        else:
            self._delta = delta  # the input layer needs no error of its input
            delta_in = None
        self.update(rng, lr_exp)
        return delta_in

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """l<k>_backward: store this layer's error and return the error of its input (ReLU mask of the input)."""
        self._delta = delta
        out = np.zeros(self.layer.n_in, dtype=np.int64)
        if len(self._active):
            g = exact_matmul(self._wb, delta)
            e = self.plan.err_max
            out[self._active] = np.clip(round_shift_right(g, self.layer.weight_shift), -e, e)
        return out

    def update(self, rng: XorShiftStream, lr_exp: int) -> None:
        """l<k>_update, in the C's order: the weights of the active rows (dense_update.py,
        dense_update_shared.py; mini-batches: accumulated, batch.py), then the biases."""
        rows = self._active
        if len(rows):
            x = self._x[rows]
            c = lr_exp + self.layer.update_const
            d = self._delta[None, :]
            rule = dense_update_shared if self.plan.qbp and self.plan.shared_update else dense_update
            u = rule.update(self, x, d, c, rng)
            if self.G is not None:  # mini-batch: accumulate, applied by apply_batch
                batch.update(self, rows, u)
            else:
                w0 = self.plan.w0
                self.W[rows] = np.clip(self.W[rows] - u, -w0, w0 - 1)   # [-2^LW, 2^LW - 1]: one SSAT on the device
        if self.layer.bias:  # input 1: the error shifted, rounded to nearest, no draw
            ub = shift(self._delta, lr_exp + self.layer.bias_const)
            if self.G is not None:
                batch.update_bias(self, ub)
            else:
                bm = self.layer.bias_max
                self.b = np.clip(self.b - ub, -bm, bm)

    def apply_batch(self) -> None:
        """l<k>_apply_batch (batch.py); a frozen layer has none (it never updates)."""
        if not self.layer.trainable:
            return
        assert self.G is not None
        batch.apply_batch(self)

    # -- inference (deterministic weights), a batch at a time -----------------
    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._activate(exact_matmul(x, self.deterministic_weights()))
