"""The method in float64, as the paper states it: an accuracy yardstick for the integer twin.

Latent weights W in [-W0, W0] (W0 = Glorot h/2, not rounded), weights sampled by the hard
sigmoid (binary) or taken as W0 sign(W) (sign), ternarized (ternary: W0 sign(W) with probability
|W|/W0, else 0; ternary_det: thresholds at +-W0/2), or used as they are (float32 mode); layer
inputs of the weight update stochastically rounded to powers of two when quantized
back-propagation is on; squared hinge loss on a linear output; plain SGD with clipping.
Mini-batches average the gradient; batch 1 is the device's streaming case.
"""

from __future__ import annotations

import numpy as np

from ..arith.modes import WEIGHT_MODES as MODES  # the model file's names
from .quantizers import pow2_stochastic


class FloatMLP:
    def __init__(self, sizes: list[int], *, weights: str = "binary", qbp: bool = True,
                 qbp_range: tuple[int, int] = (-8, 7), lr: float = 2.0**-6, seed: int = 1,
                 w0_scale: float = 1.0) -> None:
        if weights not in MODES:
            raise ValueError(f"weights = {weights!r}: use one of {', '.join(MODES)}")
        self.rng = np.random.default_rng(seed)
        self.weights, self.qbp, self.qbp_range, self.lr = weights, qbp, qbp_range, lr
        # W0 = w0_scale x Glorot h/2: the twin's weight_scale_shift (docs/arithmetic.md)
        self.w0 = [w0_scale * np.sqrt(6.0 / (a + b)) / 2 for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
        self.W = [self.rng.uniform(-w0, w0, (a, b)) for w0, a, b in zip(self.w0, sizes[:-1], sizes[1:], strict=False)]

    def _sampled(self, k: int) -> np.ndarray:
        w, w0 = self.W[k], self.w0[k]
        if self.weights == "float32":
            return w
        if self.weights == "sign":
            return np.where(w >= 0, w0, -w0)
        if self.weights == "ternary":
            return np.where(self.rng.random(w.shape) < np.abs(w) / w0, np.sign(w) * w0, 0.0)
        if self.weights == "ternary_det":
            return self._ternary_det(w, w0)
        p = np.clip((w / w0 + 1) / 2, 0, 1)
        return np.where(self.rng.random(w.shape) < p, w0, -w0)

    @staticmethod
    def _ternary_det(w: np.ndarray, w0: float) -> np.ndarray:
        return np.where(np.abs(w) >= w0 / 2, np.sign(w) * w0, 0.0)

    def forward(self, x: np.ndarray, Ws: list[np.ndarray]) -> list[np.ndarray]:
        hs = [x]
        for k, w in enumerate(Ws):
            z = hs[-1] @ w
            hs.append(np.maximum(z, 0) if k < len(Ws) - 1 else z)
        return hs

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        Ws = [self._sampled(k) for k in range(len(self.W))]
        hs = self.forward(x, Ws)
        t = -np.ones_like(hs[-1])
        t[np.arange(len(y)), y] = 1
        margin = np.maximum(0, 1 - t * hs[-1])
        delta = -t * margin  # half the gradient of the squared hinge
        for k in range(len(self.W) - 1, -1, -1):
            xin = hs[k]
            if self.qbp:
                xin = pow2_stochastic(xin, self.rng, *self.qbp_range)
            grad = xin.T @ delta / len(y)
            if k > 0:
                delta = (delta @ Ws[k].T) * (hs[k] > 0)
            self.W[k] = np.clip(self.W[k] - self.lr * grad, -self.w0[k], self.w0[k])
        return float((margin**2).sum(axis=1).mean())

    def predict(self, x: np.ndarray, *, real_weights: bool = False) -> np.ndarray:
        if real_weights or self.weights == "float32":
            Ws = self.W
        else:
            Ws = [self._ternary_det(w, w0) if self.weights.startswith("ternary") else np.where(w >= 0, w0, -w0)
                  for w, w0 in zip(self.W, self.w0, strict=False)]
        return np.argmax(self.forward(x, Ws)[-1], axis=1)
