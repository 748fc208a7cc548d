"""The identity of a firmware with a baked state (`mcutrain generate --init STATE`, issue 14).

A firmware generated with ``--init`` carries the state file's bytes: a model with frozen layers their packed
signs in flash, every model the state its sessions start from (``mt_init_state``). Its model hash, the one
the `I` hello sends (docs/protocol.md) and the flash store keys checkpoints with, is therefore that of what
was baked: the first 8 hex characters of the model's hash, then the CRC-32 of the baked state bytes (8 hex)::

    firmware hash = model_hash[:8] + "%08x" % crc32(state bytes)

A firmware without a baked state keeps the model's hash, unchanged. The host reads the CRC back from the
hash, so it refuses a device baked from another state file than the session expects before anything is
streamed, naming both CRCs (:func:`check_device`).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from ..errors import McutrainError, ModelMismatchError

PREFIX = 8  #: hex characters of the model hash a baked firmware's hash keeps


def state_crc(state: bytes) -> str:
    """CRC-32 of the baked state bytes (a state file's state, every layer's latents), 8 hex characters."""
    return f"{zlib.crc32(state):08x}"


def firmware_hash(model_hash: str, baked: bytes | None) -> str:
    """The hash the firmware of a model of hash ``model_hash`` sends in `I`, ``baked`` the state bytes
    generated into it (``None``: no ``--init``; the model's hash)."""
    if baked is None:
        return model_hash
    return model_hash[:PREFIX] + state_crc(baked)


def baked_crc(device_hash: str, model_hash: str) -> str | None:
    """The CRC of the state a device's firmware of the model ``model_hash`` was baked from; ``None`` when the
    firmware has no baked state, or is not this model's (then :func:`is_model` says which)."""
    if device_hash == model_hash or device_hash[:PREFIX] != model_hash[:PREFIX]:
        return None
    return device_hash[PREFIX:]


def is_model(device_hash: str, model_hash: str) -> bool:
    """Whether ``device_hash`` is a firmware of the model ``model_hash`` (baked or not)."""
    return device_hash[:PREFIX] == model_hash[:PREFIX]


def expected_identity(device_hash: str, spec: Any, init_path: Path | None, init_state: bytes | None,
                      baked_needed: bool, what: str) -> str:
    """Check the hash a device sent in `I` against the session about to run; the hash to expect from it
    (on reconnections).

    ``baked_needed``: the session needs the firmware baked from ``init_state`` (the bytes of the state file
    ``init_path``): a model with frozen layers, whose signs in flash must be those of the state the twin and
    the export start from. Otherwise (no frozen layers) any firmware of the model is accepted when the session
    replaces the device's state anyway (``init_state`` given: `train --init` sends it; or the export), and
    only an unbaked one when the session starts from the device's fresh state (``init_state`` None), since a
    baked one starts from its baked state, not the state the twin draws.
    """
    model = spec.model_hash()
    fix_other = ("Run `mcutrain train` (it rebuilds and flashes the firmware for this model), or flash the firmware "
                 "built for this model file.")
    if not is_model(device_hash, model):
        raise ModelMismatchError(f"the device runs firmware for model {device_hash}, but this model is {model}. "
                                 + fix_other)
    got = baked_crc(device_hash, model)
    if baked_needed:
        if init_state is None or init_path is None:
            raise McutrainError(
                f"model {spec.name} has frozen layers: their signs are baked into the firmware from a state file, "
                f"and {what} needs it: give the state file the firmware was generated from with --init STATE")
        want = state_crc(init_state)
        if got == want:
            return device_hash
        if got is None:
            raise ModelMismatchError(
                f"the device runs firmware of model {model} generated without a state (no --init), but {what} "
                f"expects the firmware baked from {init_path} (state CRC-32 {want}): regenerate and flash it with "
                f"`mcutrain generate MODEL --init {init_path}`")
        raise ModelMismatchError(
            f"the device's firmware of model {model} was baked from a state with CRC-32 {got} (its hash "
            f"{device_hash}), but {what} expects {init_path} (state CRC-32 {want}): regenerate and flash the "
            f"firmware with `mcutrain generate MODEL --init {init_path}`, or pass the --init state file the "
            f"firmware was generated from (its CRC-32 is {got}; `mcutrain generate` prints it)")
    if got is not None and init_state is None:
        raise ModelMismatchError(
            f"the device's firmware of model {model} was generated with a baked state (--init, state CRC-32 "
            f"{got}): its sessions start from that state, not from the model's seed, so {what} without --init "
            "would not match the twin: pass the --init state file it was generated from, or flash a firmware "
            "generated without --init")
    return device_hash


def check_device(link: Any, spec: Any, init_path: Path | None, init_state: bytes | None, what: str) -> str:
    """Greet the device on ``link`` (`H`/`I`: protocol version checked) and check that its firmware is
    ``spec``'s, baked from ``init_state`` when the model has frozen layers (:func:`expected_identity`);
    the hash to expect from it."""
    info = link.hello()
    frozen = any(not getattr(la, "trainable", True) for la in spec.layers)
    return expected_identity(info.model_hash, spec, init_path, init_state, frozen, what)
