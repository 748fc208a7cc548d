"""The interface of a layer of the integer twin: what :class:`mcutrain.twin.network.TwinNetwork` calls.

A layer kind's twin subclasses this, overrides what the kind does (the defaults are a layer without state,
draws or mini-batch work) and registers itself under the kind of its plan with :func:`register_twin`;
:func:`twin_class` finds it. The registry lives on the twin's side so that dependencies point one way
(the twin imports the plan, never the reverse).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..arith.layers import PlanError
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


TWIN_KINDS: dict[tuple[str, bool], type] = {}
"""(layer kind, float32 mode) -> the twin class, ``cls(plan, layer_plan)``; filled by :func:`register_twin`."""


def register_twin(kind: str, *, float32: bool = False) -> Callable[[type], type]:
    """Class decorator: make a class the twin of layer ``kind`` (in the float32 baseline when ``float32``)."""
    def register(cls: type) -> type:
        key = (kind, float32)
        if key in TWIN_KINDS and TWIN_KINDS[key] is not cls:
            raise ValueError(f"layer kind {kind!r} already has a {'float32 ' if float32 else ''}twin: "
                             f"{TWIN_KINDS[key].__name__}")
        TWIN_KINDS[key] = cls
        return cls
    return register


def twin_class(plan: Any, layer: Any) -> type:
    """The twin class of one layer of ``plan``; PlanError (naming the layer) when its kind has none."""
    try:
        return TWIN_KINDS[(layer.kind, bool(plan.is_float))]
    except KeyError:
        mode = "float32 " if plan.is_float else ""
        raise PlanError(f"layers[{layer.index}]: layer kind {layer.kind!r} names no {mode}twin class, so it cannot "
                        f"be verified; register one with mcutrain.twin.layer.register_twin({layer.kind!r})") from None
