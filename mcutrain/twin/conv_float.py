"""The float32 baseline of the spatial kinds: the twins of templates/layers/conv2d_float.c.j2, and of maxpool.c.j2,
global_avg_pool.c.j2 and flatten.c.j2 generated for float (docs/arithmetic.md, section 11, "The float32 baseline").

Every float operation of the C is one IEEE single operation here, in the same order (mcutrain/twin/float32.py):
a conv output is the sum over its window's (kh, kw, ci) in order of x * W from +0; the error of an input element
is the sum of the per-window sums s = sum over co in order of W d, added in the order of the outputs (oh, ow); the
gradient of a weight is the sum over the outputs in order of x * d, and the update W - rate * G, clipped. The C
skips zero inputs; adding x W = +-0 to a sum that started at +0 changes no bit, so the twin adds them.
"""

from __future__ import annotations

import numpy as np

from ..arith.prng import XorShiftStream
from . import conv_ops
from .layer import register_twin

F32 = np.float32
ZERO = F32(0.0)


def _col2im_in_output_order(cols: np.ndarray, x_shape: tuple[int, int, int], k: int, stride: int,
                            padding: str) -> np.ndarray:
    """col2im of (P, k k C) in float32, each input element receiving its windows' values in the order of the
    outputs (oh, ow): for a fixed element that is the taps (kh, kw) in decreasing order."""
    h, w, c = x_shape
    (pt, pb), (pl, pr) = conv_ops.pads(h, k, stride, padding), conv_ops.pads(w, k, stride, padding)
    ho, wo = conv_ops.out_size(h, k, stride, padding), conv_ops.out_size(w, k, stride, padding)
    g = cols.reshape(ho, wo, k, k, c)
    out = np.zeros((h + pt + pb, w + pl + pr, c), F32)
    for i in reversed(range(k)):
        for j in reversed(range(k)):
            sl = (slice(i, i + stride * (ho - 1) + 1, stride), slice(j, j + stride * (wo - 1) + 1, stride))
            out[sl] = out[sl] + g[:, :, i, j, :]
    return out[pt:pt + h, pl:pl + w, :]


@register_twin("conv2d", float32=True)
class Conv2dFloat32Twin:
    def __init__(self, plan: object, layer: object) -> None:
        self.plan, self.layer = plan, layer
        lp = layer
        self.w0 = F32(lp.w0_float)  # type: ignore[attr-defined]
        self.W = np.zeros((lp.kernel, lp.kernel, lp.channels, lp.filters), F32)  # type: ignore[attr-defined]

    def init(self, rng: XorShiftStream) -> None:
        d = rng.draws(self.W.size).astype(np.int64)
        k = ((d & 0xFFFFFF) << 1) - (1 << 24)                   # exact in float32: |k| <= 2^24
        self.W = (k.astype(F32) * F32(float(self.w0) * 2.0**-24)).reshape(self.W.shape)

    def _cols(self, x: np.ndarray) -> np.ndarray:
        lp = self.layer
        return conv_ops.im2col(np.asarray(x, F32).reshape(-1, lp.height, lp.width, lp.channels),  # type: ignore[attr-defined]
                               lp.kernel, lp.stride, lp.padding)  # type: ignore[attr-defined]

    def _conv(self, x: np.ndarray) -> np.ndarray:
        """(N, n_in) -> (N, n_out): the window's products added in (kh, kw, ci) order from +0, then ReLU."""
        lp = self.layer
        cols = self._cols(x)
        wm = self.W.reshape(-1, lp.filters)  # type: ignore[attr-defined]
        acc = np.zeros((len(cols), wm.shape[1]), F32)
        for k in range(wm.shape[0]):
            acc = acc + cols[:, k, None] * wm[k][None, :]
        y = np.where(acc > ZERO, acc, ZERO).astype(F32)
        return y.reshape(len(x), -1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._conv(np.asarray(x, F32)[None])[0]

    def backward(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        lp = self.layer
        f = lp.filters  # type: ignore[attr-defined]
        dm = np.asarray(d, F32).reshape(-1, f)
        wm = self.W.reshape(-1, f)
        s = np.zeros((len(dm), wm.shape[0]), F32)
        for co in range(f):
            s = s + wm[None, :, co] * dm[:, co, None]
        g = _col2im_in_output_order(s, (lp.height, lp.width, lp.channels), lp.kernel, lp.stride,  # type: ignore[attr-defined]
                                    lp.padding).reshape(-1)  # type: ignore[attr-defined]
        return np.where(np.asarray(x, F32) != ZERO, g, ZERO).astype(F32)

    def update(self, x: np.ndarray, d: np.ndarray, lr: np.float32) -> None:
        f = self.layer.filters  # type: ignore[attr-defined]
        cols = self._cols(np.asarray(x, F32)[None])
        dm = np.asarray(d, F32).reshape(-1, f)
        prod = np.empty((len(cols) + 1, cols.shape[1], f), F32)
        prod[0] = ZERO                                           # the C's sum starts at +0
        np.multiply(cols[:, :, None], dm[:, None, :], out=prod[1:])
        g = np.add.accumulate(prod, axis=0)[-1]                  # sequential, in the outputs' order
        v = self.W.reshape(-1, f) - F32(lr) * g
        w0 = self.w0
        self.W = np.where(v < -w0, -w0, np.where(v > w0, w0, v)).astype(F32).reshape(self.W.shape)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._conv(np.asarray(x, F32))


class _NoWeights:
    """A float32 twin without weights: no state, no update."""

    def __init__(self, plan: object, layer: object) -> None:
        self.plan, self.layer = plan, layer
        self.W = np.zeros(0, F32)

    def init(self, rng: XorShiftStream) -> None:
        """No weights: no draws."""

    def update(self, x: np.ndarray, d: np.ndarray, lr: np.float32) -> None:
        """Nothing to learn."""


@register_twin("maxpool", float32=True)
class MaxPoolFloat32Twin(_NoWeights):
    def _shape(self) -> tuple[int, int, int]:
        return self.layer.height, self.layer.width, self.layer.channels  # type: ignore[attr-defined]

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W, C) -> the first maximum of each 2x2 window in (row, column) order, and its index 0..3."""
        n, h, w, c = x.shape
        h2, w2 = h // 2, w // 2
        win = x[:, :2 * h2, :2 * w2].reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h2, w2, c, 4)
        arg = win.argmax(axis=-1)
        return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._arg = self._pool(np.asarray(x, F32).reshape(1, *self._shape()))
        return y.reshape(-1)

    def backward(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Each output's error to its window's first maximum, +0 elsewhere and where the input was 0."""
        h, w, c = self._shape()
        h2, w2 = h // 2, w // 2
        arg = self._arg[0]
        g = np.zeros((h2, w2, c, 4), F32)
        np.put_along_axis(g, arg[..., None], np.asarray(d, F32).reshape(h2, w2, c)[..., None], axis=-1)
        out = np.zeros((h, w, c), F32)
        out[:2 * h2, :2 * w2] = g.reshape(h2, w2, c, 2, 2).transpose(0, 3, 1, 4, 2).reshape(2 * h2, 2 * w2, c)
        return np.where(np.asarray(x, F32).reshape(-1) != ZERO, out.reshape(-1), ZERO).astype(F32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        y, _ = self._pool(np.asarray(x, F32).reshape(-1, *self._shape()))
        return y.reshape(len(x), -1)


@register_twin("global_avg_pool", float32=True)
class GlobalAvgPoolFloat32Twin(_NoWeights):
    def _area(self) -> np.float32:
        return F32(self.layer.positions)  # type: ignore[attr-defined]

    def _pool(self, x: np.ndarray) -> np.ndarray:
        """(N, n_in) -> (N, C): each channel summed over the positions in (h, w) order from +0, then / A."""
        lp = self.layer
        xs = np.asarray(x, F32).reshape(len(x), lp.positions, lp.channels)  # type: ignore[attr-defined]
        terms = np.empty((lp.positions + 1, len(x), lp.channels), F32)  # type: ignore[attr-defined]
        terms[0] = ZERO                                          # the C's sum starts at +0
        terms[1:] = xs.transpose(1, 0, 2)
        s = np.add.accumulate(terms, axis=0)[-1]                 # sequential, in the positions' order
        return (s / self._area()).astype(F32)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._pool(np.asarray(x, F32)[None])[0]

    def backward(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        """d[c] / A to every position of channel c, +0 where the input was 0."""
        lp = self.layer
        g = np.tile(np.asarray(d, F32) / self._area(), lp.positions)  # type: ignore[attr-defined]
        return np.where(np.asarray(x, F32).reshape(-1) != ZERO, g, ZERO).astype(F32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._pool(np.asarray(x, F32))


@register_twin("flatten", float32=True)
class FlattenFloat32Twin(_NoWeights):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, F32).copy()

    def backward(self, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(x, F32) != ZERO, np.asarray(d, F32), ZERO).astype(F32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, F32).copy()
