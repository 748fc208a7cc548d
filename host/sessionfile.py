"""The host's session file: what `mcutrain train --resume SESSION` needs to go on.

JSON, written atomically (a temporary file renamed over the old one) each time
a verified checkpoint arrives, so a host killed at any moment leaves either
the previous or the new file, never half of one. It names the model file,
board, seed, cadences and port, and holds the last checkpoint (state bytes in
base64, the device's record of them).
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import McutrainError
from . import messages as m
from .stream import Checkpoint

FORMAT = 1


class SessionFileError(McutrainError):
    """A session file that cannot be resumed from."""

    exit_code = 2


@dataclass
class SessionFile:
    model: str
    model_hash: str
    board: str
    seed: int
    epochs: int
    digest_every: int
    checkpoint_every: int
    port: str | None = None
    build_dir: str | None = None
    verify: bool = False
    phase: str = "train"  #: "train", "evaluate" (training finished) or "done"
    checkpoint: dict[str, Any] | None = field(default=None)
    init: str | None = None  #: the state file the session started from (`--init`), read again on `--resume`

    # ------------------------------------------------------------------ checkpoint

    def set_checkpoint(self, ck: Checkpoint) -> None:
        r = ck.record
        self.checkpoint = {
            "samples_trained": r.samples_trained, "hinge_sum": r.hinge_sum, "errors": r.errors,
            "state_crc32": r.state_crc32, "sched": r.sched.hex(), "state": base64.b64encode(ck.state).decode(),
        }

    def get_checkpoint(self, path: Path | str = "") -> Checkpoint | None:
        c = self.checkpoint
        if c is None:
            return None
        try:
            state = base64.b64decode(c["state"])
            rec = m.CheckpointRecord(int(c["samples_trained"]), int(c["hinge_sum"]), int(c["errors"]),
                                     int(c["state_crc32"]), bytes.fromhex(c["sched"]))
        except (KeyError, ValueError, TypeError) as e:
            raise SessionFileError(f"{path}: the checkpoint is malformed ({e}): start the session again") from e
        if zlib.crc32(state) != rec.state_crc32:
            raise SessionFileError(f"{path}: the checkpoint's state bytes do not match their CRC-32: the file is "
                                   "damaged; start the session again")
        return Checkpoint(state, rec)

    # ------------------------------------------------------------------ file

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        data = dict(asdict(self), format=FORMAT)
        with open(tmp, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> SessionFile:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise SessionFileError(f"session file {path} does not exist: pass the file `mcutrain train "
                                   "--session` wrote (default build/<model>/session.json)") from e
        except (OSError, ValueError) as e:
            raise SessionFileError(f"session file {path} cannot be read: {e}") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionFileError(f"{path} is not an mcutrain session file (format {FORMAT})")
        data.pop("format")
        try:
            return cls(**data)
        except TypeError as e:
            raise SessionFileError(f"{path}: {e}") from e
