"""The state file: a device's state bytes and schedule words, with the model hash and a CRC-32.

Layout (little-endian)::

    b"MCUTSTAT"                  8 bytes, magic
    u32 format version           FORMAT_VERSION
    u32 n                        length of the JSON header
    n bytes                      JSON header: model_hash, model, state_bytes, segments, sched_bytes,
                                 samples_trained, samples_total, seed, source
    state_bytes bytes            the device's state bytes (mcutrain.fleet.layout.StateLayout: latent
                                 weights, padding, biases, batch-norm statistics), what `W` reads and `U` writes
    16 bytes                     the schedule words of `mt_sched_save` (PRNG state, lr exponent, decay
                                 countdown, steps left in the epoch), as in the `C`/`K` checkpoint record
    u32 CRC-32                   of every byte before it

A reader refuses another magic, another format version, a damaged CRC, another model hash, or a state of
another size, each with a message naming the problem and the fix. A writer writes a temporary file in
the same folder and renames it over the destination, so a file is never left half written.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import McutrainError, ModelMismatchError

MAGIC = b"MCUTSTAT"
FORMAT_VERSION = 1
SCHED_BYTES = 16  #: MT_SCHED_BYTES (docs/protocol.md, `C`)


class StateFileError(McutrainError):
    """A state file that is damaged, of another format version, or not a state file."""

    exit_code = 2


class StateModelMismatchError(ModelMismatchError):
    """A state file of another model (its hash differs from the model file's)."""


@dataclass(frozen=True)
class StateHeader:
    model_hash: str
    model: str                 #: the model's name (informative)
    state_bytes: int
    segments: tuple[str, ...]  #: StateLayout segment names, in order
    samples_trained: int = 0   #: position in the session's sample order when the state was taken
    samples_total: int = 0     #: length of that order (epochs x samples); 0 when unknown (an export)
    seed: int = 0              #: the session's seed
    source: str = "pretrain"   #: "pretrain" (host twin) or "export" (read from a device)


@dataclass(frozen=True)
class StateFile:
    header: StateHeader
    state: bytes
    sched: bytes

    @property
    def model_hash(self) -> str:
        return self.header.model_hash

    def to_bytes(self) -> bytes:
        if len(self.state) != self.header.state_bytes:
            raise StateFileError(f"{len(self.state)} state bytes, the header says {self.header.state_bytes}")
        if len(self.sched) != SCHED_BYTES:
            raise StateFileError(f"{len(self.sched)} schedule bytes, the format has {SCHED_BYTES}")
        head = json.dumps({**asdict(self.header), "segments": list(self.header.segments),
                           "sched_bytes": SCHED_BYTES}, sort_keys=True).encode()
        body = MAGIC + struct.pack("<II", FORMAT_VERSION, len(head)) + head + self.state + self.sched
        return body + struct.pack("<I", zlib.crc32(body))

    def write(self, path: Path) -> None:
        """Write atomically: a temporary file beside ``path``, renamed over it."""
        write_atomic(Path(path), self.to_bytes())


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for the temporary name only
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse(data: bytes, where: str = "state file") -> StateFile:
    """The state file in ``data``, its format, version and CRC-32 checked (not its model: see :func:`read`)."""
    if len(data) < len(MAGIC) + 12 or data[: len(MAGIC)] != MAGIC:
        raise StateFileError(f"{where} is not an mcutrain state file (no {MAGIC.decode()} header): give a file "
                             "written by `mcutrain pretrain` or `mcutrain export`")
    version, n = struct.unpack_from("<II", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise StateFileError(f"{where} has state file format version {version}, this mcutrain reads version "
                             f"{FORMAT_VERSION}: write it again with this mcutrain (`mcutrain pretrain` or "
                             "`mcutrain export`), or use the mcutrain that wrote it")
    body, (crc,) = data[:-4], struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(body) != crc:
        raise StateFileError(f"{where} is damaged: its bytes have CRC-32 {zlib.crc32(body):08x}, the file says "
                             f"{crc:08x}; write it again (`mcutrain pretrain` or `mcutrain export`)")
    start = len(MAGIC) + 8
    try:
        h: dict[str, Any] = json.loads(body[start: start + n])
        header = StateHeader(str(h["model_hash"]), str(h["model"]), int(h["state_bytes"]),
                             tuple(str(s) for s in h["segments"]), int(h["samples_trained"]),
                             int(h["samples_total"]), int(h["seed"]), str(h["source"]))
        sched_n = int(h["sched_bytes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StateFileError(f"{where}: its header cannot be read ({exc}); write the file again") from None
    rest = body[start + n:]
    if sched_n != SCHED_BYTES or len(rest) != header.state_bytes + SCHED_BYTES:
        raise StateFileError(f"{where}: {len(rest)} bytes of state and schedule, the header says "
                             f"{header.state_bytes} + {sched_n}; write the file again")
    return StateFile(header, bytes(rest[: header.state_bytes]), bytes(rest[header.state_bytes:]))


def read(path: Path, layout: Any = None, model_hash: str | None = None) -> StateFile:
    """Read and check a state file; with ``model_hash`` (and ``layout``, a StateLayout) refuse a state of
    another model, or one whose bytes do not fit the layout."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc.strerror or exc}") from None
    sf = parse(data, str(path))
    if model_hash is not None and sf.model_hash != model_hash:
        raise StateModelMismatchError(
            f"{path} is a state of model {sf.model_hash} ({sf.header.model}), the model file is model "
            f"{model_hash}: give the model file it was trained with, or pretrain/export this model again")
    if layout is not None:
        names = tuple(s.name for s in layout.segments)
        if sf.header.state_bytes != layout.nbytes or sf.header.segments != names:
            raise StateFileError(f"{path}: a state of {sf.header.state_bytes} bytes in segments "
                                 f"{list(sf.header.segments)}, this model's is {layout.nbytes} bytes in "
                                 f"{list(names)}; pretrain or export it again")
    return sf
