"""Twins of the spatial kinds without weights: templates/layers/maxpool.c.j2, global_avg_pool.c.j2 and flatten.c.j2,
same steps."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..arith.fixed import shift
from ..arith.prng import XorShiftStream
from . import conv_ops
from .layer import TwinLayer, register_twin


@register_twin("maxpool")
class MaxPoolTwin(TwinLayer):
    def _shape(self) -> tuple[int, int, int]:
        return self.layer.height, self.layer.width, self.layer.channels

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: the 2x2 windows' first maxima, and the winners' mask."""
        self._x = np.asarray(x, np.int64).reshape(self._shape())
        y, self._mask = conv_ops.maxpool2_forward(self._x)
        return y.reshape(-1)

    def backward(self, d: np.ndarray) -> np.ndarray:
        """l<k>_backward: each output's error to its winner, 0 elsewhere and where the input was 0."""
        lp = self.layer
        dd = np.asarray(d, np.int64).reshape(lp.out_height, lp.out_width, lp.channels)
        g = conv_ops.maxpool2_backward(dd, self._mask, self._shape())
        return np.where(self._x != 0, g, 0).reshape(-1)

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        return self.backward(delta) if need_input_error else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        """l<k>_infer: as the forward pass (no mask)."""
        xb = np.asarray(x, np.int64)
        batch = xb.ndim == 2
        y, _ = conv_ops.maxpool2_forward(xb.reshape(((len(xb),) if batch else ()) + self._shape()))
        return y.reshape((len(xb), -1) if batch else -1)


def mean_round(v: np.ndarray, area: int) -> NDArray[np.int64]:
    """v / area rounded half up, as global_avg_pool.c.j2: shift_round(v, -g) for area = 2^g, else
    floor((2 v + area) / (2 area)) (the C's binary long division; Python's floor division)."""
    v = np.asarray(v, np.int64)
    if area & (area - 1) == 0:
        return shift(v, -(area.bit_length() - 1))
    return (2 * v + area) // (2 * area)


@register_twin("global_avg_pool")
class GlobalAvgPoolTwin(TwinLayer):
    def _shape(self) -> tuple[int, int]:
        return self.layer.positions, self.layer.channels

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: each channel's mean over the positions, rounded half up."""
        self._x = np.asarray(x, np.int64).reshape(self._shape())
        return mean_round(self._x.sum(axis=0), self.layer.positions)

    def backward(self, d: np.ndarray) -> np.ndarray:
        """l<k>_backward: d[c] / A rounded half up to every position of the channel, 0 where the input was 0."""
        e = mean_round(np.asarray(d, np.int64), self.layer.positions)
        return np.where(self._x != 0, e[None, :], 0).reshape(-1)

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        return self.backward(delta) if need_input_error else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        """l<k>_infer: as the forward pass."""
        xb = np.asarray(x, np.int64)
        batch = xb.ndim == 2
        xs = xb.reshape(((len(xb),) if batch else ()) + self._shape())
        return mean_round(xs.sum(axis=-2), self.layer.positions)


@register_twin("flatten")
class FlattenTwin(TwinLayer):
    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: the same values."""
        self._x = np.asarray(x, np.int64).copy()
        return self._x.copy()

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        """l<k>_backward: the error, 0 where the input was 0."""
        return np.where(self._x != 0, np.asarray(delta, np.int64), 0) if need_input_error else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.int64).copy()
