"""The paper's CIFAR-10 CNN in vectorized float32 NumPy: the float reference of binary/ternary connect and
quantized back-propagation for convolutional networks (../shared/notes/paper.md), beside paper_mlp.py.

The paper's network is 128C3-128C3-MP2-256C2-256C2-MP2-512C2-512C2-MP2-1024C2-FC1024-FC10 (valid
convolutions, ReLU, batch norm in every layer including the output, squared hinge, plain SGD, batch
100, lr 0.3 -> 0.001). :func:`paper_cifar10_layers` gives it at a width divided by `div` (the machine
here trains the full width far too slowly on one core: the caller states the reduction).

Per conv layer: z = conv(x, Wb) (+ b), batch norm per channel over (N, H, W), ReLU, then an optional
2x2 max-pool. Convolutions are im2col + one float32 matrix product: a patch row holds the k x k x C
window in (C, kh, kw) order and the weights are stored as (C_in, kh, kw, C_out). The gradient taken
with respect to Wb goes to the latent W (straight-through), clipped to [-W0, W0] in binary/ternary
modes. With quantized back-propagation the layer input in dW = cols(x_q)^T dz is rounded
stochastically to a power of two once per element (before im2col, as a device stores it once), with
the exponent range the paper's code uses for conv layers ([-4, 3] by default; dense layers
unbounded, as there); the error signals stay full precision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .batchnorm import BatchNorm
from .quantizers import eval_weights, pow2_stochastic, reference_mode, sample_weights


@dataclass(frozen=True)
class ConvSpec:
    channels: int
    k: int
    pool: bool = False            # 2x2 max-pool after the activation
    padding: str = "valid"        # "valid" | "same" (odd k)


@dataclass(frozen=True)
class DenseSpec:
    units: int


LayerSpec = ConvSpec | DenseSpec


def paper_cifar10_layers(div: int = 1) -> tuple[LayerSpec, ...]:
    """128C3-128C3-MP2-256C2-256C2-MP2-512C2-512C2-MP2-1024C2-FC1024-FC10 with every width divided by div."""
    w = [128 // div, 256 // div, 512 // div, 1024 // div]
    if min(w) < 1:
        raise ValueError(f"div = {div}: the narrowest layer (128 channels) would have none")
    return (ConvSpec(w[0], 3), ConvSpec(w[0], 3, pool=True), ConvSpec(w[1], 2), ConvSpec(w[1], 2, pool=True),
            ConvSpec(w[2], 2), ConvSpec(w[2], 2, pool=True), ConvSpec(w[3], 2), DenseSpec(w[3]), DenseSpec(10))


def describe(layers: tuple[LayerSpec, ...]) -> str:
    parts = []
    for s in layers:
        if isinstance(s, ConvSpec):
            parts.append(f"{s.channels}C{s.k}" + ("-MP2" if s.pool else ""))
        else:
            parts.append(f"FC{s.units}")
    return "-".join(parts)


@dataclass(frozen=True)
class CNNConfig:
    layers: tuple[LayerSpec, ...] = field(default_factory=lambda: paper_cifar10_layers(8))
    input_shape: tuple[int, int, int] = (32, 32, 3)   # H, W, C
    weights: str = "float32"
    qbp: bool = False
    conv_qbp_range: tuple[int, int] | None = (-4, 3)  # the paper's code clips conv exponents to [-4, 3]
    dense_qbp_range: tuple[int, int] | None = None
    bias: bool = True
    seed: int = 1

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "weights", reference_mode(self.weights))
        except ValueError as exc:
            raise ValueError(f"weights = {self.weights!r}: {exc}") from None
        if not self.layers or not isinstance(self.layers[-1], DenseSpec):
            raise ValueError("layers: the last layer must be dense (one unit per class)")

    @property
    def clipping(self) -> bool:
        return self.weights != "float32"


# ---------------------------------------------------------------------------------------------
# im2col / col2im (NHWC, stride 1)


def pad_same(x: np.ndarray, k: int) -> np.ndarray:
    p = (k - 1) // 2
    return np.pad(x, ((0, 0), (p, k - 1 - p), (p, k - 1 - p), (0, 0)))


def im2col(x: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W, C) -> (N * Ho * Wo, C * k * k), valid, stride 1; columns in (C, kh, kw) order."""
    v = sliding_window_view(x, (k, k), axis=(1, 2))          # (N, Ho, Wo, C, k, k), a view
    n, ho, wo = v.shape[:3]
    return v.reshape(n * ho * wo, -1)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], k: int) -> np.ndarray:
    """The adjoint of :func:`im2col`: sums each patch gradient back into the (N, H, W, C) input."""
    n, h, w, c = x_shape
    ho, wo = h - k + 1, w - k + 1
    g = cols.reshape(n, ho, wo, c, k, k)
    dx = np.zeros(x_shape, dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + ho, j:j + wo, :] += g[..., i, j]
    return dx


def maxpool2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max-pool of (N, H, W, C) with even H, W; the output and the one-hot mask of the winners
    (the first maximum of each window in row-major order)."""
    n, h, w, c = x.shape
    b = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    arg = b.argmax(axis=-1)
    out = np.take_along_axis(b, arg[..., None], axis=-1)[..., 0]
    return out, arg.astype(np.uint8)


def maxpool2_backward(dy: np.ndarray, arg: np.ndarray) -> np.ndarray:
    n, hp, wp, c = dy.shape
    g = np.zeros((n, hp, wp, c, 4), dtype=dy.dtype)
    np.put_along_axis(g, arg[..., None].astype(np.intp), dy[..., None], axis=-1)
    return g.reshape(n, hp, wp, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * hp, 2 * wp, c)


# ---------------------------------------------------------------------------------------------


class PaperCNN:
    def __init__(self, cfg: CNNConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        h, w, c = cfg.input_shape
        self.W: list[np.ndarray] = []
        self.w0: list[float] = []
        self.b: list[np.ndarray] = []
        self.bn: list[BatchNorm] = []
        flat = None
        for s in cfg.layers:
            if isinstance(s, ConvSpec):
                if flat is not None:
                    raise ValueError("layers: a conv layer after a dense layer")
                if s.padding == "valid":
                    h, w = h - s.k + 1, w - s.k + 1
                if h < 1 or w < 1:
                    raise ValueError(f"layers: {s.channels}C{s.k} leaves no pixels; use a smaller kernel")
                fan_in, fan_out, shape = c * s.k * s.k, s.channels * s.k * s.k, (c, s.k, s.k, s.channels)
                c = s.channels
                if s.pool:
                    if h % 2 or w % 2:
                        raise ValueError(f"layers: max-pool of an odd {h}x{w} map after {s.channels}C{s.k}")
                    h, w = h // 2, w // 2
                out = c
            else:
                fan_in = flat if flat is not None else h * w * c
                fan_out, shape, out = s.units, (fan_in, s.units), s.units
                flat = s.units
            w0 = float(np.sqrt(6.0 / (fan_in + fan_out)) / 2)
            lim = w0 if cfg.clipping else 2 * w0
            self.w0.append(w0)
            self.W.append(self.rng.uniform(-lim, lim, shape).astype(np.float32))
            self.b.append(np.zeros(out, np.float32))
            self.bn.append(BatchNorm(out))

    # ------------------------------------------------------------------ forward
    def _forward(self, x: np.ndarray, Ws: list[np.ndarray], train: bool) -> tuple[np.ndarray, list[tuple]]:
        """The linear output and, per layer, what the backward pass needs."""
        cache = []
        h = x
        last = len(Ws) - 1
        for i, (s, w) in enumerate(zip(self.cfg.layers, Ws, strict=True)):
            if isinstance(s, ConvSpec):
                xin = pad_same(h, s.k) if s.padding == "same" else h
                n, hh, ww, _ = xin.shape
                ho, wo = hh - s.k + 1, ww - s.k + 1
                cols = im2col(xin, s.k)
                z = (cols @ w.reshape(-1, s.channels)).reshape(n, ho, wo, s.channels)
            else:
                xin = h.reshape(len(h), -1)
                cols = None
                z = xin @ w
            if self.cfg.bias:
                z += self.b[i]
            z2 = z.reshape(-1, z.shape[-1])
            y = (self.bn[i].forward_train(z2) if train else self.bn[i].forward_eval(z2)).reshape(z.shape)
            bn_cache = self.bn[i]._cache
            if i == last:
                cache.append((xin, y, bn_cache, None, cols if train else None))
                return y, cache
            a = np.maximum(y, 0)
            arg = None
            if isinstance(s, ConvSpec) and s.pool:
                a, arg = maxpool2(a)
            cache.append((xin, y, bn_cache, arg, cols if train else None))
            h = a
        raise AssertionError("unreachable")

    def outputs(self, x: np.ndarray, *, real_weights: bool = True, batch: int = 500) -> np.ndarray:
        Ws = self.W if real_weights else [eval_weights(w, w0, self.cfg.weights) for w, w0 in zip(self.W, self.w0,
                                                                                                 strict=True)]
        return np.concatenate([self._forward(x[i:i + batch], Ws, False)[0] for i in range(0, len(x), batch)])

    def error(self, x: np.ndarray, y: np.ndarray, *, real_weights: bool = True) -> float:
        return float((self.outputs(x, real_weights=real_weights).argmax(axis=1) != y).mean())

    def bn_recalibrated(self, x: np.ndarray, *, real_weights: bool = False, batch: int = 500) -> PaperCNN:
        """A copy whose running batch-norm statistics are the exact means and variances over x with the weights
        evaluation uses (deterministic by default), layer by layer."""
        net = copy.deepcopy(self)
        Ws = net.W if real_weights else [eval_weights(w, w0, net.cfg.weights) for w, w0 in zip(net.W, net.w0,
                                                                                               strict=True)]
        for i in range(len(Ws)):
            # statistics of layer i's pre-BN output with layers < i already recalibrated
            sums = sq = None
            count = 0
            for j in range(0, len(x), batch):
                z = net._pre_bn(x[j:j + batch], Ws, i)
                z2 = z.reshape(-1, z.shape[-1]).astype(np.float64)
                sums = z2.sum(axis=0) if sums is None else sums + z2.sum(axis=0)
                sq = (z2 * z2).sum(axis=0) if sq is None else sq + (z2 * z2).sum(axis=0)
                count += len(z2)
            mean = sums / count
            net.bn[i].run_mean = mean.astype(np.float32)
            net.bn[i].run_var = np.maximum(sq / count - mean * mean, 0).astype(np.float32)
        return net

    def _pre_bn(self, x: np.ndarray, Ws: list[np.ndarray], upto: int) -> np.ndarray:
        h = x
        for i, (s, w) in enumerate(zip(self.cfg.layers, Ws, strict=True)):
            if isinstance(s, ConvSpec):
                xin = pad_same(h, s.k) if s.padding == "same" else h
                n, hh, ww, _ = xin.shape
                z = (im2col(xin, s.k) @ w.reshape(-1, s.channels)).reshape(n, hh - s.k + 1, ww - s.k + 1,
                                                                            s.channels)
            else:
                z = h.reshape(len(h), -1) @ w
            if self.cfg.bias:
                z += self.b[i]
            if i == upto:
                return z
            a = np.maximum(self.bn[i].forward_eval(z.reshape(-1, z.shape[-1])).reshape(z.shape), 0)
            if isinstance(s, ConvSpec) and s.pool:
                a, _ = maxpool2(a)
            h = a
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ training
    def train_batch(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        cfg = self.cfg
        Ws = [sample_weights(w, w0, cfg.weights, self.rng) for w, w0 in zip(self.W, self.w0, strict=True)]
        out, cache = self._forward(x, Ws, True)
        t = np.full_like(out, -1)
        t[np.arange(len(y)), y] = 1
        margin = np.maximum(0, 1 - t * out)
        loss = float((margin * margin).sum() / len(y))
        dy = (-2 / len(y)) * t * margin
        for i in range(len(Ws) - 1, -1, -1):
            s = cfg.layers[i]
            xin, ypre, bn_cache, arg, cols = cache[i]
            if i < len(Ws) - 1:
                if arg is not None:
                    dy = maxpool2_backward(dy, arg)
                dy = dy * (ypre > 0)
            self.bn[i]._cache = bn_cache
            dz2, dgamma, dbeta = self.bn[i].backward(dy.reshape(-1, dy.shape[-1]))
            self.bn[i].gamma -= lr * dgamma
            self.bn[i].beta -= lr * dbeta
            xq = xin
            if cfg.qbp:
                rng_ = cfg.conv_qbp_range if isinstance(s, ConvSpec) else cfg.dense_qbp_range
                lo, hi = rng_ if rng_ is not None else (None, None)
                xq = pow2_stochastic(xin, self.rng, lo, hi)
            if isinstance(s, ConvSpec):
                wm = Ws[i].reshape(-1, s.channels)
                # the forward pass's patches serve the gradient unless the input was quantized for it
                gw = ((im2col(xq, s.k) if cfg.qbp else cols).T @ dz2).reshape(self.W[i].shape)
                if i > 0:
                    dx = col2im(dz2 @ wm.T, xin.shape, s.k)
                    if s.padding == "same":
                        p = (s.k - 1) // 2
                        dx = dx[:, p:p + dx.shape[1] - s.k + 1, p:p + dx.shape[2] - s.k + 1, :]
                    dy = dx
            else:
                gw = xq.T @ dz2
                if i > 0:
                    prev = cache[i - 1]
                    shape = prev[1].shape if prev[3] is None else (len(x), *self._pooled_shape(prev[1].shape))
                    dy = (dz2 @ Ws[i].T).reshape(shape)
            if cfg.bias:
                self.b[i] -= lr * dz2.sum(axis=0)
            w = self.W[i]
            w -= np.float32(lr) * gw.astype(np.float32, copy=False)
            if cfg.clipping:
                np.clip(w, -self.w0[i], self.w0[i], out=w)
        return loss

    @staticmethod
    def _pooled_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[1] // 2, shape[2] // 2, shape[3])

    def train_epoch(self, x: np.ndarray, y: np.ndarray, lr: float, batch: int) -> float:
        order = self.rng.permutation(len(x))
        losses = [self.train_batch(x[order[i:i + batch]], y[order[i:i + batch]], lr)
                  for i in range(0, len(x) - batch + 1, batch)]
        return float(np.mean(losses))


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """uint8 (N, H, W, C) -> float32, minus the training set's per-channel mean, over its per-channel std
    (in place of the paper's GCN + ZCA whitening)."""
    t = train.astype(np.float32)
    mean = t.mean(axis=(0, 1, 2))
    std = t.std(axis=(0, 1, 2))
    return [(a.astype(np.float32) - mean) / std for a in (train, *others)]


__all__ = ["CNNConfig", "ConvSpec", "DenseSpec", "PaperCNN", "describe", "paper_cifar10_layers",
           "standardize"]
