"""The paper's MLP in vectorized float32 NumPy: every method of "Neural Networks with Few
Multiplications" on the host (../shared/notes/paper.md), the reference for its MNIST table.

Per dense layer: z = x Wb (+ b), batch norm (standard, shift-based or none), ReLU (linear at the
output); squared hinge loss on the linear output with targets in {-1, +1}. Wb is the sampled weight
(quantizers.sample_weights); the gradient taken with respect to Wb is applied to the latent W
(straight-through), clipped to [-W0, W0] for binary/ternary modes. With quantized
back-propagation the layer input in dW = x_q^T delta is rounded stochastically to a power of two;
the error signals stay full precision. Plain mini-batch SGD, no momentum; biases and batch-norm
parameters are neither clipped nor quantized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batchnorm import BatchNorm
from .quantizers import ap2, eval_weights, pow2_stochastic, reference_mode, sample_weights

BN_MODES = ("standard", "shift", "none")


@dataclass(frozen=True)
class MLPConfig:
    sizes: tuple[int, ...] = (784, 1024, 1024, 1024, 10)
    weights: str = "float32"                # quantizers.WEIGHT_MODES (or a model file's name)
    qbp: bool = False                       # quantized back-propagation
    qbp_range: tuple[int, int] | None = None  # exponent range of x_q; None = unbounded (paper's dense layers)
    batch_norm: str = "standard"            # BN_MODES
    bias: bool = True
    clip: bool | None = None                # clip W to [-W0, W0]; None = on for binary/ternary, off for float32
    hinge_mean: str = "batch"               # "batch": sum over classes / batch (paper.md); "all": mean of all
    seed: int = 1

    def __post_init__(self) -> None:
        try:  # the model file's names (sign, ternary_det) are accepted too
            object.__setattr__(self, "weights", reference_mode(self.weights))
        except ValueError as exc:
            raise ValueError(f"weights = {self.weights!r}: {exc}") from None
        if self.batch_norm not in BN_MODES:
            raise ValueError(f"batch_norm = {self.batch_norm!r}: use one of {', '.join(BN_MODES)}")
        if self.hinge_mean not in ("batch", "all"):
            raise ValueError(f"hinge_mean = {self.hinge_mean!r}: use 'batch' or 'all'")
        if len(self.sizes) < 2:
            raise ValueError("sizes: give at least the inputs and the outputs")

    @property
    def clipping(self) -> bool:
        return self.weights != "float32" if self.clip is None else self.clip


class PaperMLP:
    def __init__(self, cfg: MLPConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        pairs = list(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True))
        # Glorot h = sqrt(6 / (fan_in + fan_out)), W0 = h / 2 (the paper's code)
        self.w0 = [float(np.sqrt(6.0 / (a + b)) / 2) for a, b in pairs]
        lim = [w0 if cfg.clipping else 2 * w0 for w0 in self.w0]
        self.W = [self.rng.uniform(-h, h, (a, b)).astype(np.float32) for h, (a, b) in zip(lim, pairs, strict=True)]
        self.b = [np.zeros(b, np.float32) for _a, b in pairs]
        self.bn = [BatchNorm(b, shift=cfg.batch_norm == "shift") for _a, b in pairs] \
            if cfg.batch_norm != "none" else None

    @property
    def n_layers(self) -> int:
        return len(self.W)

    # ------------------------------------------------------------------ forward
    def _forward(self, x: np.ndarray, Ws: list[np.ndarray], train: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Layer inputs hs[0..L-1] and batch-norm outputs ys[0..L-1] (pre-activation); ys[-1] is the output."""
        hs, ys = [x], []
        for k, w in enumerate(Ws):
            z = hs[-1] @ w
            if self.cfg.bias:
                z += self.b[k]
            if self.bn is not None:
                z = self.bn[k].forward_train(z) if train else self.bn[k].forward_eval(z)
            ys.append(z)
            if k < len(Ws) - 1:
                hs.append(np.maximum(z, 0))
        return hs, ys

    def outputs(self, x: np.ndarray, *, real_weights: bool = True, batch: int = 2000) -> np.ndarray:
        """Linear outputs at inference (batch-norm running statistics); with the real-valued W, or with
        the deterministic binarized/ternarized weights (real_weights=False)."""
        Ws = self.W if real_weights else [eval_weights(w, w0, self.cfg.weights) for w, w0 in zip(self.W, self.w0,
                                                                                                 strict=True)]
        out = [self._forward(x[i:i + batch].astype(np.float32, copy=False), Ws, False)[1][-1]
               for i in range(0, len(x), batch)]
        return np.concatenate(out)

    def bn_recalibrated(self, x: np.ndarray, *, real_weights: bool = False) -> PaperMLP:
        """A copy whose batch-norm running statistics are the exact means and variances over x, layer by
        layer, with the weights evaluation uses (the deterministic ones by default): the statistics
        collected in training belong to the sampled weights."""
        import copy
        net = copy.deepcopy(self)
        if net.bn is None:
            return net
        Ws = net.W if real_weights else [eval_weights(w, w0, net.cfg.weights) for w, w0 in zip(net.W, net.w0,
                                                                                               strict=True)]
        h = x.astype(np.float32, copy=False)
        for k, w in enumerate(Ws):
            z = h @ w + (net.b[k] if net.cfg.bias else 0)
            bn = net.bn[k]
            bn.run_mean = z.mean(axis=0).astype(np.float32)
            c = z - bn.run_mean
            bn.run_var = ((ap2(c) * c) if bn.shift else (c * c)).mean(axis=0).astype(np.float32)
            h = np.maximum(bn.forward_eval(z), 0)
        return net

    def error(self, x: np.ndarray, y: np.ndarray, *, real_weights: bool = True) -> float:
        return float((self.outputs(x, real_weights=real_weights).argmax(axis=1) != y).mean())

    # ------------------------------------------------------------------ training
    def train_batch(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        cfg = self.cfg
        Ws = [sample_weights(w, w0, cfg.weights, self.rng) for w, w0 in zip(self.W, self.w0, strict=True)]
        hs, ys = self._forward(x, Ws, True)
        out = ys[-1]
        t = np.full_like(out, -1)
        t[np.arange(len(y)), y] = 1
        margin = np.maximum(0, 1 - t * out)
        norm = len(y) * (out.shape[1] if cfg.hinge_mean == "all" else 1)
        loss = float((margin * margin).sum() / norm)
        dy = (-2 / norm) * t * margin
        for k in range(self.n_layers - 1, -1, -1):
            if k < self.n_layers - 1:
                dy = dy * (ys[k] > 0)
            if self.bn is not None:
                dz, dgamma, dbeta = self.bn[k].backward(dy)
                self.bn[k].gamma -= lr * dgamma
                self.bn[k].beta -= lr * dbeta
            else:
                dz = dy
            xin = hs[k]
            if cfg.qbp:
                lo, hi = cfg.qbp_range if cfg.qbp_range is not None else (None, None)
                xin = pow2_stochastic(xin, self.rng, lo, hi)
            if k > 0:
                dy = dz @ Ws[k].T
            gw = xin.T @ dz
            if cfg.bias:
                self.b[k] -= lr * dz.sum(axis=0)
            w = self.W[k]
            w -= np.float32(lr) * gw
            if cfg.clipping:
                np.clip(w, -self.w0[k], self.w0[k], out=w)
        return loss

    def train_epoch(self, x: np.ndarray, y: np.ndarray, lr: float, batch: int) -> float:
        """One pass in a random order (the last partial batch dropped); mean training loss."""
        order = self.rng.permutation(len(x))
        losses = []
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i:i + batch]
            losses.append(self.train_batch(x[idx], y[idx], lr))
        return float(np.mean(losses))
