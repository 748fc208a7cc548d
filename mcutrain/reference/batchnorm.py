"""Batch normalization per unit of a dense layer: the standard form, and the shift-based form.

Standard (Ioffe & Szegedy): x_hat = (z - mean) / sqrt(var + eps), y = gamma x_hat + beta, batch
statistics in training, running averages (rate `alpha`) at inference.

Shift-based (BNN 2016, ../shared/notes/paper.md): C = z - mean, var = mean(AP2(C) C),
s = AP2(1 / sqrt(var + eps)), x_hat = C s, y = AP2(gamma) x_hat + beta: with s and AP2(gamma) powers
of two every product is a shift. Its backward pass is the standard one with s in place of
1/sqrt(var + eps) and AP2(gamma) in place of gamma (straight-through for the roundings).
"""

from __future__ import annotations

import numpy as np

from .quantizers import ap2


class BatchNorm:
    def __init__(self, n: int, *, shift: bool = False, eps: float = 1e-4, alpha: float = 0.1) -> None:
        self.shift, self.eps, self.alpha = shift, eps, alpha
        self.gamma = np.ones(n, np.float32)
        self.beta = np.zeros(n, np.float32)
        self.run_mean = np.zeros(n, np.float32)
        self.run_var = np.ones(n, np.float32)
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _scale(self, var: np.ndarray) -> np.ndarray:
        s = 1 / np.sqrt(var + self.eps)
        return ap2(s) if self.shift else s

    def _gamma(self) -> np.ndarray:
        return ap2(self.gamma) if self.shift else self.gamma

    def forward_train(self, z: np.ndarray) -> np.ndarray:
        mean = z.mean(axis=0)
        c = z - mean
        var = (ap2(c) * c).mean(axis=0) if self.shift else (c * c).mean(axis=0)
        s = self._scale(var).astype(z.dtype, copy=False)
        xh = c * s
        g = self._gamma()
        self._cache = (xh, s, g)
        a = self.alpha
        self.run_mean = ((1 - a) * self.run_mean + a * mean).astype(np.float32)
        self.run_var = ((1 - a) * self.run_var + a * var).astype(np.float32)
        return xh * g + self.beta

    def forward_eval(self, z: np.ndarray) -> np.ndarray:
        s = self._scale(self.run_var).astype(np.float32)
        return (z - self.run_mean) * s * self._gamma() + self.beta

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dz, dgamma, dbeta) from dy, for the batch of the last forward_train."""
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward before forward_train")
        xh, s, g = self._cache
        dgamma = (dy * xh).sum(axis=0)
        dbeta = dy.sum(axis=0)
        dxh = dy * g
        dz = s * (dxh - dxh.mean(axis=0) - xh * (dxh * xh).mean(axis=0))
        return dz.astype(dy.dtype, copy=False), dgamma, dbeta
