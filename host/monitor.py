"""`mcutrain monitor`: what a device says on its serial line, one line per message.

The firmware speaks only in frames (docs/protocol.md): errors (`X`, turned into
words), progress, digests, acknowledgements, its info. A monitor decodes every
frame and prints the message; bytes that are not frames (a boot banner or
``printf`` text of other firmware, noise) are shown as text lines when they are
printable, else counted as undecodable. Unknown message types (a newer
firmware) are shown in hex, not dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import messages as m
from .framing import FrameError, decode_frame, encode_frame

#: Pieces of the stream longer than this without a 0x00 or newline are dropped.
_MAX_PENDING = 4096


def describe(msg: m.Message) -> str:
    """One line for a decoded message."""
    if isinstance(msg, m.Error):
        return str(msg)
    fields = []
    for f in dataclasses.fields(msg):  # type: ignore[arg-type]
        v = getattr(msg, f.name)
        if isinstance(v, bytes | bytearray):
            shown = f"<{len(v)} bytes>" if len(v) > 16 else v.hex()
        elif isinstance(v, int) and f.name.endswith(("crc32", "prng_state")):
            shown = f"0x{v:08x}"
        else:
            shown = str(v)
        fields.append(f"{f.name}={shown}")
    return f"{msg.TYPE.decode(errors='replace')} {type(msg).__name__}" + (": " + " ".join(fields) if fields else "")


def _printable(data: bytes) -> bool:
    return bool(data) and all(32 <= b < 127 or b in (9, 13) for b in data)


@dataclass
class MonitorDecoder:
    """Splits a device's byte stream into message lines and text lines."""

    frames: int = 0
    bad_frames: int = 0
    text_lines: int = 0

    def __post_init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Consume bytes; return the lines they completed."""
        lines: list[str] = []
        for b in data:
            if b == 0:
                lines += self._end_piece()
            elif b == 10 and _printable(bytes(self._buf)):
                lines.append("text: " + self._buf.decode("ascii").rstrip("\r"))
                self.text_lines += 1
                self._buf.clear()
            else:
                self._buf.append(b)
                if len(self._buf) > _MAX_PENDING:
                    lines.append(f"undecodable: {len(self._buf)} bytes without a frame end or newline (dropped)")
                    self.bad_frames += 1
                    self._buf.clear()
        return lines

    def _end_piece(self) -> list[str]:
        piece = bytes(self._buf)
        self._buf.clear()
        if not piece:
            return []
        try:
            payload = decode_frame(piece)
        except FrameError as e:
            self.bad_frames += 1
            if _printable(piece):
                self.text_lines += 1
                return ["text: " + piece.decode("ascii")]
            return [f"undecodable frame ({e.kind}): {len(piece)} bytes"]
        self.frames += 1
        try:
            return [describe(m.decode(payload))]
        except Exception as e:  # noqa: BLE001 - a newer or broken message is shown, not fatal
            return [f"message 0x{payload[0]:02x} ({e}): {payload.hex()}"]


def monitor(transport: object, emit: Callable[[str], None], *, duration: float | None = None,
            hello: bool = False, timestamps: bool = True) -> MonitorDecoder:
    """Print what the device on ``transport`` (a :mod:`mcutrain.host.link` transport) sends
    until ``duration`` seconds have passed (None: until interrupted or the line closes).
    With ``hello``, first send a lone 0x00 and `H`, so the device introduces itself."""
    dec = MonitorDecoder()
    t0 = time.monotonic()
    if hello:
        transport.write(b"\x00" + encode_frame(m.encode(m.Hello())))  # type: ignore[attr-defined]
    while duration is None or time.monotonic() - t0 < duration:
        try:
            data = transport.read_some()  # type: ignore[attr-defined]
        except EOFError as e:
            emit(f"connection closed: {e}")
            break
        for line in dec.feed(data):
            emit(f"[{time.monotonic() - t0:8.3f}] {line}" if timestamps else line)
    return dec
