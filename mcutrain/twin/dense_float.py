"""The float32 dense layer: the twin of templates/layers/dense_float.c.j2 (docs/arithmetic.md, section 9).

Methods as the C's functions (l<k>_forward_train is ``forward``, l<k>_backward, l<k>_update, l<k>_infer);
every float operation is one IEEE single operation in the C's order (see mcutrain/twin/float32.py).
"""

from __future__ import annotations

import numpy as np

from ..arith.plan import ArithPlan, DensePlan
from ..arith.prng import XorShiftStream
from .layer import register_twin

F32 = np.float32
ZERO = F32(0.0)


def _seq_sum_rows(p: np.ndarray) -> np.ndarray:
    """sum_i p[i, :] accumulated sequentially in row order from +0.0, in float32."""
    acc = np.zeros(p.shape[1], dtype=F32)
    if p.shape[0] == 0:
        return acc
    return np.add.accumulate(np.vstack([acc[None, :], p]), axis=0)[-1]


def _seq_sum_cols(p: np.ndarray) -> np.ndarray:
    """sum_j p[:, j] accumulated sequentially in column order from +0.0, in float32."""
    acc = np.zeros((p.shape[0], 1), dtype=F32)
    if p.shape[1] == 0:
        return acc[:, 0]
    return np.add.accumulate(np.hstack([acc, p]), axis=1)[:, -1]


@register_twin("dense", float32=True)
class DenseFloat32Twin:
    def __init__(self, plan: ArithPlan, layer: DensePlan) -> None:
        self.plan, self.layer = plan, layer
        self.w0 = F32(layer.w0_float)
        self.W = np.zeros((layer.n_in, layer.n_out), dtype=F32)

    def init(self, rng: XorShiftStream) -> None:
        d = rng.draws(self.layer.n_in * self.layer.n_out).astype(np.int64)
        k = ((d & 0xFFFFFF) << 1) - (1 << 24)                   # exact in float32: |k| <= 2^24
        self.W = (k.astype(F32) * F32(float(self.w0) * 2.0**-24)).reshape(self.layer.n_in, self.layer.n_out)

    def _relu(self, z: np.ndarray) -> np.ndarray:
        return np.where(z > ZERO, z, ZERO).astype(F32) if self.layer.relu else z

    def forward(self, x: np.ndarray) -> np.ndarray:
        """One sample: y_j = sum over rows with x_i != 0 (increasing i) of x_i * W_ij, then ReLU."""
        rows = np.flatnonzero(x)
        return self._relu(_seq_sum_rows(x[rows, None] * self.W[rows]))

    def backward(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        """g_i = sum_j W_ij d_j (increasing j) where x_i != 0, else +0.0."""
        out = np.zeros(self.layer.n_in, dtype=F32)
        rows = np.flatnonzero(x)
        out[rows] = _seq_sum_cols(self.W[rows] * d[None, :])
        return out

    def update(self, x: np.ndarray, d: np.ndarray, lr: np.float32) -> None:
        rows = np.flatnonzero(x)
        s = lr * x[rows]                                        # lr * x_i, rounded
        v = self.W[rows] - s[:, None] * d[None, :]              # (lr x_i) d_j rounded, then subtracted
        w0 = self.w0
        self.W[rows] = np.where(v < -w0, -w0, np.where(v > w0, w0, v))

    def infer(self, x: np.ndarray) -> np.ndarray:
        """A batch (N, n_in): the same sums, one row i at a time for the samples with x_i != 0
        (adding x_i W_i = +-0 to a sum that started at +0.0 changes nothing, so this equals the skip)."""
        acc = np.zeros((x.shape[0], self.layer.n_out), dtype=F32)
        for i in range(self.layer.n_in):
            nz = np.flatnonzero(x[:, i])
            if len(nz):
                acc[nz] = acc[nz] + x[nz, i, None] * self.W[i]
        return self._relu(acc)
