"""Batch normalization without multiplications, in integers (docs/arithmetic.md, section 5.8): the twin of
templates/layers/batchnorm.c.j2, its methods named as its functions (bn_train, bn_backward, bn_infer).

Streaming form of the shift-based batch norm: running mean and running mean absolute deviation
(exponential averages with a shift), a power-of-two scale 2^t from the deviation, a learned
shift beta; gamma is 1. Forward, stats update and backward are shifts, adds and compares.
"""

from __future__ import annotations

import numpy as np

from ..arith.fixed import shift
from ..arith.plan import ArithPlan, DensePlan
from ..arith.quant import msb_index


class BatchNormTwin:
    def __init__(self, plan: ArithPlan, layer: DensePlan) -> None:
        self.plan, self.layer = plan, layer
        n = layer.n_out
        self.mu = np.zeros(n, dtype=np.int64)                          # Q(A + R) running mean of z
        self.dev = np.full(n, plan.bn_dev_init, dtype=np.int64)        # Q(A + R) running mean |z - mean|
        self.beta = np.zeros(n, dtype=np.int64)                        # Q(A + R) learned shift
        self._t = np.zeros(n, dtype=np.int64)                          # scale exponents of the last forward

    def reset(self) -> None:
        self.mu[:] = 0
        self.dev[:] = self.plan.bn_dev_init
        self.beta[:] = 0

    def scale_exponents(self) -> np.ndarray:
        """t_j = A + R - round2(dev_j), with round2(v) = msb(v) + bit msb(v) - 1 of v (log2 rounded)."""
        k = msb_index(self.dev)
        up = np.where(k >= 1, (self.dev >> np.maximum(k - 1, 0)) & 1, 0)
        return self.plan.act_frac + self.plan.bn_frac - (k + up)

    def _normalize(self, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.plan
        c = np.clip(z - shift(self.mu, -p.bn_frac), -p.bn_c_max, p.bn_c_max)
        y = np.clip(shift(c, np.broadcast_to(t, c.shape)) + shift(self.beta, -p.bn_frac), -p.act_max, p.act_max)
        return y, c

    def bn_train(self, z: np.ndarray) -> np.ndarray:
        """l<k>_bn_train: normalize one sample with the running statistics, then update them; keep t
        for the backward pass."""
        p = self.plan
        self._t = self.scale_exponents()
        y, c = self._normalize(z, self._t)
        self.mu = self.mu + shift(c, p.bn_frac - p.bn_momentum_shift)
        self.dev = np.maximum(
            self.dev + shift(np.abs(c), p.bn_frac - p.bn_momentum_shift) - shift(self.dev, -p.bn_momentum_shift),
            p.bn_dev_min)
        return y

    def bn_infer(self, z: np.ndarray) -> np.ndarray:
        """l<k>_bn_infer: the same normalization, statistics unchanged."""
        return self._normalize(z, self.scale_exponents())[0]

    def bn_backward(self, d: np.ndarray, lr_exp: int) -> np.ndarray:
        """l<k>_bn_backward: update beta with the error at the output, return the error at z: d shifted
        by t (gamma = 1)."""
        p = self.plan
        bm = p.act_max << p.bn_frac
        self.beta = np.clip(self.beta - shift(d, lr_exp + p.act_frac + p.bn_frac - p.err_frac), -bm, bm)
        return np.clip(shift(d, self._t), -p.err_max, p.err_max)

    def state_bytes(self) -> bytes:
        """mean, deviation, beta: each n_out little-endian int32, in that order."""
        return np.concatenate([self.mu, self.dev, self.beta]).astype("<i4").tobytes()
