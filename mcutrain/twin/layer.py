"""The interface of a layer of the integer twin: what :class:`mcutrain.twin.network.TwinNetwork` calls.

A layer kind's twin (its plan's ``twin_class``, mcutrain/arith/layers.py) subclasses this and
overrides what the kind does; the defaults are a layer without state, draws or mini-batch work.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..arith.prng import XorShiftStream


class StateDigest:
    """What both twin networks (network.py, float32.py) report as the device does: the CRC-32 of the
    state bytes and the PRNG state."""

    rng: XorShiftStream | None

    def state_bytes(self) -> bytes:
        raise NotImplementedError

    def digest(self) -> int:
        return zlib.crc32(self.state_bytes()) & 0xFFFFFFFF

    @property
    def prng_state(self) -> int:
        assert self.rng is not None
        return self.rng.state


class TwinLayer:
    def __init__(self, plan: object, layer: object) -> None:
        self.plan, self.layer = plan, layer

    def init(self, rng: XorShiftStream) -> None:
        """mt_session_start: draw the initial weights (in the state's order) and reset the state."""

    def forward_train(self, x: np.ndarray, rng: XorShiftStream) -> np.ndarray:
        raise NotImplementedError

    def train_backward(self, delta: np.ndarray, rng: XorShiftStream, lr_exp: int,
                       need_input_error: bool) -> np.ndarray | None:
        """The layer's calls of the training step's backward phase, in the C's order: the error of the
        input (when ``need_input_error``: not for the first layer), then the update."""
        raise NotImplementedError

    def apply_batch(self) -> None:
        """End of a mini-batch."""

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state_bytes(self) -> bytes:
        """The layer's latent weights in the state block."""
        return b""

    def bias_bytes(self) -> bytes:
        return b""

    def bn_bytes(self) -> bytes:
        return b""
