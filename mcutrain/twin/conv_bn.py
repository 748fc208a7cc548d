"""Batch norm per output channel of a conv2d layer (docs/arithmetic.md, section 11): the twin of
templates/layers/conv2d_bn.c.j2, its methods named as its functions (bn_train, bn_backward, bn_infer).

The streaming, shift-based batch norm of dense layers (section 5.8: running mean, running mean absolute
deviation, a power-of-two scale 2^t, a learned shift beta), with the statistics of a channel over the P
positions of one sample, and a learned power-of-two gamma 2^g per channel: g is the latent log2 gamma
(Q(GF)) rounded, learned from sum_p d_p n_p with n_p (the normalized value) rounded down to a power of
two, so the gradient is a sum of shifted errors. All sums over positions are exact (int64).
"""

from __future__ import annotations

import numpy as np

from ..arith.fixed import shift
from ..arith.quant import msb_index
from .batchnorm import BatchNormTwin


class ConvBatchNormTwin(BatchNormTwin):
    def __init__(self, plan: object, layer: object) -> None:
        super().__init__(plan, layer)  # type: ignore[arg-type]
        f = layer.filters  # type: ignore[attr-defined]
        self.mu = np.zeros(f, np.int64)
        self.dev = np.full(f, self.plan.bn_dev_init, np.int64)
        self.beta = np.zeros(f, np.int64)
        self.lg = np.zeros(f, np.int64)            # Q(GF) latent log2 gamma (learned gamma only; reset() starts it)
        self._t = np.zeros(f, np.int64)            # t + g of the last forward pass
        self._n = np.zeros((0, f), np.int64)       # its normalized values (learned gamma: the gradient's factor)

    def reset(self) -> None:
        super().reset()
        lp = self.layer
        self.lg[:] = lp.gamma_init << lp.gamma_frac if lp.bn_gamma else 0  # type: ignore[attr-defined]

    def gamma_exponents(self) -> np.ndarray:
        """g_c = shift_round(lg_c, -GF) (lg stays in [g_min << GF, g_max << GF]); 0 with gamma = 1."""
        lp = self.layer
        return shift(self.lg, -lp.gamma_frac) if lp.bn_gamma else np.zeros_like(self.lg)  # type: ignore[attr-defined]

    def _normalize2(self, z: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z: (P, F). c = clamp(z - mean), n = shift_round(c, t + g), y = clamp(n + beta, +-ACT_MAX)."""
        p, lp = self.plan, self.layer
        cm = lp.bn_c_max(p)  # type: ignore[attr-defined]
        c = np.clip(z - shift(self.mu, -p.bn_frac), -cm, cm)
        n = shift(c, np.broadcast_to(s, c.shape))
        y = np.clip(n + shift(self.beta, -p.bn_frac), -p.act_max, p.act_max)
        return y, c, n

    def bn_train(self, z: np.ndarray) -> np.ndarray:
        """l<k>_bn_train on one sample's (P, F) values: normalize with the statistics before the sample, then
        mu += shift_round(sum_p c, R - M - lp), dev = max(dev + shift_round(sum_p (|c| << R) - P dev, -(M + lp)),
        DEV_MIN)."""
        p, lp = self.plan, self.layer
        self._t = self.scale_exponents() + self.gamma_exponents()
        y, c, n = self._normalize2(z, self._t)
        self._n = n
        m = p.bn_momentum_shift + lp.log_positions  # type: ignore[attr-defined]
        self.mu = self.mu + shift(c.sum(axis=0), p.bn_frac - m)
        dsum = (np.abs(c) << p.bn_frac).sum(axis=0) - len(c) * self.dev
        self.dev = np.maximum(self.dev + shift(dsum, -m), p.bn_dev_min)
        return y

    def bn_infer(self, z: np.ndarray) -> np.ndarray:
        """l<k>_bn_infer: the same normalization (z: (..., P, F)), statistics unchanged."""
        return self._normalize2(z, self.scale_exponents() + self.gamma_exponents())[0]

    def bn_backward(self, d: np.ndarray, lr_exp: int) -> np.ndarray:
        """l<k>_bn_backward on the (P, F) error at the output: beta -= shift_round(sum_p d, lr + A + R - E - lp) (the
        mean over the positions, 2^lp >= P, not the sum: summed, beta ran the ReLUs dead at batch 1); with a
        learned gamma lg -= shift_round(sum_p sign(n) (d << msb|n|), lr + GF - E - A), clamped to the gamma range;
        returns the error at z, d shifted by the forward pass's t + g."""
        p, lp = self.plan, self.layer
        bm = p.act_max << p.bn_frac
        k_beta = lr_exp + p.act_frac + p.bn_frac - p.err_frac - lp.log_positions  # type: ignore[attr-defined]
        self.beta = np.clip(self.beta - shift(d.sum(axis=0), k_beta), -bm, bm)
        if lp.bn_gamma:  # type: ignore[attr-defined]
            n = self._n
            k = msb_index(np.maximum(np.abs(n), 1))
            g = np.where(n > 0, d << k, np.where(n < 0, -(d << k), 0)).sum(axis=0)
            gf = lp.gamma_frac  # type: ignore[attr-defined]
            lo, hi = lp.gamma_min << gf, lp.gamma_max << gf  # type: ignore[attr-defined]
            self.lg = np.clip(self.lg - shift(g, lr_exp + gf - p.err_frac - p.act_frac), lo, hi)
        return np.clip(shift(d, np.broadcast_to(self._t, d.shape)), -p.err_max, p.err_max)

    def state_bytes(self) -> bytes:
        """mean, deviation, beta (and the latent log2 gamma) of every channel, each little-endian int32."""
        words = [self.mu, self.dev, self.beta] + ([self.lg] if self.layer.bn_gamma else [])  # type: ignore[attr-defined]
        return np.concatenate(words).astype("<i4").tobytes()
