"""The state bytes of a model in a state file (mcutrain.fleet.layout.StateLayout, the one description of
them), refused with a state-file message for the float32 baseline.

A model with frozen layers (``trainable = false``) keeps no latents of them on the device, only their packed
signs in flash. Its state file is that of the same network with every layer learning (:func:`unfrozen_spec`:
its model hash, every layer's latents): the file `mcutrain pretrain` writes for the network, from which
`mcutrain generate --init` bakes the frozen layers' signs, and which `mcutrain export` writes back with the
device's trainable part and the frozen latents it was generated from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..fleet.layout import LayoutError, StateLayout, full_layout
from . import file as sfile


def unfrozen_spec(spec: Any) -> Any:
    """``spec`` with every layer trainable (the network a state file of ``spec`` belongs to)."""
    if all(getattr(la, "trainable", True) for la in spec.layers):
        return spec
    return dataclasses.replace(spec, layers=tuple(
        dataclasses.replace(la, trainable=True) if not getattr(la, "trainable", True) else la for la in spec.layers))


def state_hash(spec: Any) -> str:
    """The model hash a state file of ``spec`` carries: its network's, every layer trainable."""
    return unfrozen_spec(spec).model_hash()


def state_layout(spec: Any) -> StateLayout:
    """The layout of a state file of ``spec``: every layer's latents (frozen layers' too), biases, batch norm."""
    from ..arith.plan import plan_from_spec

    plan = plan_from_spec(spec)
    if plan.is_float:
        raise LayoutError("state files hold the integer state of the integer weight modes (binary, sign, "
                          "ternary, ternary_det); the float32 baseline has none: pick another [training] weights")
    return full_layout(plan)


def read_state(spec: Any, path: Path) -> sfile.StateFile:
    """The state file ``path`` of ``spec``'s network, checked: format, CRC, model hash, layout."""
    return sfile.read(path, state_layout(spec), state_hash(spec))
