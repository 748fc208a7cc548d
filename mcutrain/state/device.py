"""A state file to and from a device over the serial link (docs/protocol.md: `S`, `U`..., `K`; `W`).

`mcutrain train MODEL --init STATE` starts the session with the model's seed as always, then replaces the
freshly initialised state bytes with the file's (`U` chunks, then `K` with counts 0, the state's CRC-32 and
the schedule words of the session just started): fine-tuning from the pretrained state, with the learning
rate schedule of a new session. The twin does the same (host/twin_run.py, ``init_state``), so `--verify`
is bit-exact. `mcutrain export` reads the state and the checkpoint record back (`W`, `W` 0xFFFFFFFF 0).

A model with frozen layers: the file holds every layer's latents (mcutrain/state/layout.py); the device gets
its trainable part (:func:`mcutrain.fleet.layout.device_state`), its firmware the frozen layers' signs
(`mcutrain generate --init`); an export puts the device's trainable part beside the frozen latents of the
state file the firmware was generated from (``base``).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from . import file as sfile
from .layout import read_state, state_hash, state_layout


def init_checkpoint(spec: Any, path: Path, samples_per_epoch: int) -> Any:
    """The checkpoint that starts a session of ``spec`` from the state file ``path`` (checked: format, CRC,
    model hash, layout): the file's state bytes, with the schedule of a fresh session of the model's seed."""
    from ..arith.plan import plan_from_spec
    from ..fleet.layout import device_state
    from ..host import messages as m
    from ..host.stream import Checkpoint
    from ..twin import TwinNetwork
    from .sched import save_sched

    plan = plan_from_spec(spec)
    sf = read_state(spec, path)
    state = device_state(plan, sf.state)
    net = TwinNetwork(plan)
    net.start(spec.seed, samples_per_epoch)
    return Checkpoint(state, m.CheckpointRecord(0, 0, 0, zlib.crc32(state), save_sched(net)))


def _base_missing(spec: Any) -> sfile.StateFileError:
    return sfile.StateFileError(
        f"model {spec.name} has frozen layers, whose latents are not on the device (only their signs, in "
        "flash): give the state file its firmware was generated from (--init STATE); the export keeps its "
        "frozen latents beside the device's trainable layers")


def _file_of_device_state(spec: Any, data: bytes, base: bytes | None, where: str) -> bytes:
    """The state file's bytes of a device's state bytes: the same, or for a model with frozen layers the
    device's trainable part beside ``base``'s frozen latents (the state the firmware was generated from)."""
    from ..arith.plan import plan_from_spec
    from ..fleet.layout import StateLayout, merge_device_state

    plan = plan_from_spec(spec)
    dev = StateLayout.from_plan(plan)
    if len(data) != dev.nbytes:
        raise sfile.StateFileError(f"{where} sent {len(data)} state bytes, model {spec.model_hash()} has "
                                   f"{dev.nbytes}")
    if plan.first_trainable == 0:
        return data
    if base is None:
        raise _base_missing(spec)
    return merge_device_state(plan, base, data)


def read_device_state(spec: Any, link: Any, base: bytes | None = None) -> sfile.StateFile:
    """The state of the device on ``link`` (already greeted: its model hash checked) as a state file
    (``base``: the state file its firmware was generated from, for a model with frozen layers)."""
    layout = state_layout(spec)
    data, rec = link.read_checkpoint()
    state = _file_of_device_state(spec, data, base, "the device")
    header = sfile.StateHeader(state_hash(spec), spec.name, len(state), tuple(s.name for s in layout.segments),
                               rec.samples_trained, 0, spec.seed, "export")
    return sfile.StateFile(header, state, rec.sched)


def export_state(spec: Any, port: str, out: Path, base: Path | None = None) -> sfile.StateFile:
    """Connect to ``port``, check the firmware's model hash, read its state and write the state file ``out``
    (only when all of it arrived and checked); ``base``: the state file the firmware was generated from
    (`--init`), needed for a model with frozen layers."""
    from ..host.link import DeviceLink
    from .identity import check_device

    base_state = read_state(spec, base).state if base is not None else None
    if base_state is None and any(not getattr(la, "trainable", True) for la in spec.layers):
        raise _base_missing(spec)  # before connecting
    with DeviceLink.open(port) as link:
        # the firmware is this model's and, with frozen layers, baked from ``base`` (whose frozen latents the
        # export keeps): checked before the state is read (mcutrain/state/identity.py)
        check_device(link, spec, base, base_state, "`mcutrain export --init`")
        sf = read_device_state(spec, link, base_state)
    sf.write(out)
    return sf


def session_state_file(spec: Any, state: bytes, samples_trained: int, base: bytes | None = None) -> sfile.StateFile:
    """The state file of a device's state after a `mcutrain train` session (`--export`): its schedule words
    are zero (a state file sent with `--init` starts a fresh schedule anyway)."""
    layout = state_layout(spec)
    full = _file_of_device_state(spec, state, base, "the session")
    header = sfile.StateHeader(state_hash(spec), spec.name, len(full), tuple(s.name for s in layout.segments),
                               samples_trained, samples_trained, spec.seed, "export")
    return sfile.StateFile(header, full, bytes(sfile.SCHED_BYTES))
