"""A state file to and from a device over the serial link (docs/protocol.md: `S`, `U`..., `K`; `W`).

`mcutrain train MODEL --init STATE` starts the session with the model's seed as always, then replaces the
freshly initialised state bytes with the file's (`U` chunks, then `K` with counts 0, the state's CRC-32 and
the schedule words of the session just started): fine-tuning from the pretrained state, with the learning
rate schedule of a new session. The twin does the same (host/twin_run.py, ``init_state``), so `--verify`
is bit-exact. `mcutrain export` reads the state and the checkpoint record back (`W`, `W` 0xFFFFFFFF 0).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from . import file as sfile
from .layout import state_layout


def init_checkpoint(spec: Any, path: Path, samples_per_epoch: int) -> Any:
    """The checkpoint that starts a session of ``spec`` from the state file ``path`` (checked: format, CRC,
    model hash, layout): the file's state bytes, with the schedule of a fresh session of the model's seed."""
    from ..arith.plan import plan_from_spec
    from ..host import messages as m
    from ..host.stream import Checkpoint
    from ..twin import TwinNetwork
    from .sched import save_sched

    plan = plan_from_spec(spec)
    sf = sfile.read(path, state_layout(spec), spec.model_hash())
    net = TwinNetwork(plan)
    net.start(spec.seed, samples_per_epoch)
    return Checkpoint(sf.state, m.CheckpointRecord(0, 0, 0, zlib.crc32(sf.state), save_sched(net)))


def read_device_state(spec: Any, link: Any) -> sfile.StateFile:
    """The state of the device on ``link`` (already greeted: its model hash checked) as a state file."""
    layout = state_layout(spec)
    data, rec = link.read_checkpoint()
    header = sfile.StateHeader(spec.model_hash(), spec.name, len(data), tuple(s.name for s in layout.segments),
                               rec.samples_trained, 0, spec.seed, "export")
    if len(data) != layout.nbytes:
        raise sfile.StateFileError(f"the device sent {len(data)} state bytes, model {spec.model_hash()} has "
                                   f"{layout.nbytes}")
    return sfile.StateFile(header, data, rec.sched)


def export_state(spec: Any, port: str, out: Path) -> sfile.StateFile:
    """Connect to ``port``, check the firmware's model hash, read its state and write the state file ``out``
    (only when all of it arrived and checked)."""
    from ..host.link import DeviceLink

    with DeviceLink.open(port) as link:
        link.hello(expected_hash=spec.model_hash())
        sf = read_device_state(spec, link)
    sf.write(out)
    return sf


def session_state_file(spec: Any, state: bytes, samples_trained: int) -> sfile.StateFile:
    """The state file of a device's state after a `mcutrain train` session (`--export`): its schedule words
    are zero (a state file sent with `--init` starts a fresh schedule anyway)."""
    layout = state_layout(spec)
    header = sfile.StateHeader(spec.model_hash(), spec.name, len(state), tuple(s.name for s in layout.segments),
                               samples_trained, samples_trained, spec.seed, "export")
    return sfile.StateFile(header, state, bytes(sfile.SCHED_BYTES))
