"""The state baked into the generated C (`mcutrain generate --init STATE`, issue 14).

A model with frozen layers (``trainable = false``) is generated from a state file of its network (every
layer's latents: :func:`mcutrain.fleet.layout.full_layout`): each frozen layer's weights become the
packed signs of its latents (mcutrain/arith/packed.py) in a ``static const`` array, in flash, with its
biases; the rest (the device's state bytes: trainable latents, biases, batch-norm words) becomes
``mt_init_state``, which ``mt_session_start`` copies over the freshly drawn state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arith.packed import pack_signs
from ..errors import McutrainError
from ..fleet.layout import device_state, full_layout


class FrozenWeightsMissingError(McutrainError):
    """A model with frozen layers generated without the state their signs come from."""

    exit_code = 2


@dataclass(frozen=True)
class FrozenC:
    words: str  #: C initialiser of the packed rows (uint32 words)
    bias: str   #: C initialiser of the biases ("" without)
    crc: str    #: CRC-32 of the packed bytes, hex
    packed: bytes


@dataclass(frozen=True)
class InitC:
    bytes: str  #: C initialiser of mt_init_state
    crc: str    #: CRC-32 of the full state the firmware was generated from, hex


def c_list(values: np.ndarray, fmt: str, per_line: int) -> str:
    """``values`` as the lines of a C initialiser, ``per_line`` a line, each ``fmt % v``."""
    items = [fmt % int(v) for v in values]
    return "\n".join("    " + ", ".join(items[k:k + per_line]) + "," for k in range(0, len(items), per_line))


def frozen_c(plan: Any, full_state: bytes) -> dict[int, FrozenC]:
    """The C of each frozen layer of ``plan``, from the full state bytes of its network."""
    layout = full_layout(plan)
    arrays = dict(zip((s.name for s in layout.segments), layout.split(full_state), strict=True))
    out: dict[int, FrozenC] = {}
    for lp in plan.layers:
        if getattr(lp, "trainable", True):
            continue
        W = arrays[f"l{lp.index}.W"].reshape(lp.n_in, lp.n_out)
        packed = pack_signs(W, plan.w0, plan.is_ternary)
        words = np.frombuffer(packed, dtype="<u4")
        bias = c_list(arrays[f"l{lp.index}.b"], "%d", 12) if lp.bias else ""
        out[lp.index] = FrozenC(c_list(words, "0x%08xu", 8), bias, f"{zlib.crc32(packed):08x}", packed)
    return out


def init_c(plan: Any, full_state: bytes) -> InitC:
    """``mt_init_state``: the device's part of the full state, as a C initialiser."""
    dev = np.frombuffer(device_state(plan, full_state), dtype=np.uint8)
    return InitC(c_list(dev, "0x%02x", 16), f"{zlib.crc32(full_state):08x}")


def check_init(plan: Any, full_state: bytes | None, where: str) -> None:
    """Refuse a model with frozen layers without a state, or a state of another size."""
    frozen = [lp.index for lp in plan.layers if not getattr(lp, "trainable", True)]
    if full_state is None:
        if frozen:
            raise FrozenWeightsMissingError(
                f"{where}: layers {frozen} have trainable = false: their weights are the packed signs of "
                "pretrained latents, baked into the firmware; give the state file they come from with --init STATE "
                "(`mcutrain pretrain` of the same network without trainable = false)")
        return
    n = full_layout(plan).nbytes
    if len(full_state) != n:
        raise FrozenWeightsMissingError(f"{where}: a state of {len(full_state)} bytes, this network's has {n}")
