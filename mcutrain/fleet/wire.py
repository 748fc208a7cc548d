"""The state exchanged between the Flower server and its clients (docs/protocol.md, "Fleet").

Flower `Parameters(tensor_type, tensors)`: tensor_type is ``mcutrain.state.v1``; tensors[0] is a JSON
header (format, model hash, state byte count, CRC-32 of the state bytes, segment names); tensors[1:]
are the state's segments (layout.StateLayout) as the device stores them, little-endian, so their
concatenation is exactly the device's state bytes (what `W` reads and `U` writes).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from ..errors import ProtocolError
from .layout import StateLayout

TENSOR_TYPE = "mcutrain.state.v1"


class WireError(ProtocolError):
    """A state that is damaged, of another model, or not an mcutrain state."""


def encode_state(layout: StateLayout, model_hash: str, state: bytes) -> tuple[list[bytes], str]:
    """(tensors, tensor_type) of a state."""
    if len(state) != layout.nbytes:
        raise WireError(f"{len(state)} state bytes, model {model_hash} has {layout.nbytes}")
    header = {"format": TENSOR_TYPE, "model_hash": model_hash, "state_bytes": len(state),
              "crc32": zlib.crc32(state), "segments": [s.name for s in layout.segments]}
    tensors, off = [json.dumps(header, sort_keys=True).encode()], 0
    for s in layout.segments:
        tensors.append(state[off: off + s.nbytes])
        off += s.nbytes
    return tensors, TENSOR_TYPE


def decode_state(layout: StateLayout, model_hash: str, tensors: list[bytes], tensor_type: str) -> bytes:
    """The state bytes of Flower tensors, checked: type, model, sizes, CRC-32."""
    if tensor_type != TENSOR_TYPE:
        raise WireError(f"parameters of type {tensor_type!r}, not an mcutrain state ({TENSOR_TYPE}): is this "
                        "client or server running another program?")
    if not tensors:
        raise WireError("empty parameters: no state header")
    try:
        header: dict[str, Any] = json.loads(tensors[0])
        their_hash, n, crc = str(header["model_hash"]), int(header["state_bytes"]), int(header["crc32"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"the state header is damaged ({exc}): the state cannot be used") from None
    if their_hash != model_hash:
        raise WireError(f"the state is of model {their_hash}, this is model {model_hash}: start every client and "
                        "the server with the same model file")
    body = tensors[1:]
    sizes = [len(t) for t in body]
    want = [s.nbytes for s in layout.segments]
    if n != layout.nbytes or sizes != want:
        raise WireError(f"state segments of {sizes} bytes (header: {n}), model {model_hash} has {want}: damaged")
    state = b"".join(body)
    if zlib.crc32(state) != crc:
        raise WireError(f"state bytes with CRC-32 {zlib.crc32(state):08x}, the header says {crc:08x}: damaged in "
                        "transit")
    return state
