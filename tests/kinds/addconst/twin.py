"""The addconst kind's twin: addconst.c.j2's functions, same names, same steps."""

from __future__ import annotations

import numpy as np

from mcutrain.arith.prng import XorShiftStream
from mcutrain.twin.layer import TwinLayer, register_twin


@register_twin("addconst")
class AddConstTwin(TwinLayer):
    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        """l<k>_forward_train: y = min(x + add, ACT_MAX)."""
        self._y = self.infer(x)
        return self._y

    def backward(self, d: np.ndarray) -> np.ndarray:
        """l<k>_backward: the error passes where the output did not saturate."""
        return np.where(self._y < self.plan.act_max, d, 0)

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        return self.backward(delta) if need_input_error else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        """l<k>_infer: as the forward pass."""
        return np.minimum(np.asarray(x, dtype=np.int64) + self.layer.add, self.plan.act_max)
