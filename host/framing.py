"""Serial framing: COBS + CRC-16/CCITT-FALSE, mirroring ``firmware/core/link.c``.

A frame on the wire is ``COBS(payload || crc16_le(payload)) 0x00`` where
``payload[0]`` is the message type (see ``docs/protocol.md``). The encoder
gives the same bytes as the C encoder; the decoder accepts every valid COBS
encoding, reports the same error kinds as the C receiver and resynchronises on
the next 0x00. Empty frames (a lone 0x00) are ignored on both sides.
"""

from __future__ import annotations

import binascii
from collections import Counter

from ..errors import ProtocolError

MAX_PAYLOAD = 255  #: type + body
MAX_RAW = MAX_PAYLOAD + 2  #: + CRC-16
MAX_ENCODED = MAX_RAW + 2  #: COBS overhead for 257 bytes
MAX_FRAME = MAX_ENCODED + 1  #: + delimiter
DELIMITER = b"\x00"

#: Beyond this many encoded bytes a frame surely decodes to more than MAX_RAW
#: bytes (every 255 encoded bytes yield at least 254), so the decoder stops
#: keeping them.
_ENCODED_CAP = 2 * MAX_FRAME

# Error kinds, as reported by FrameDecoder and by the C receiver (LINK_ERR_*).
FRAME = "frame"
CRC = "crc"
COBS = "cobs"
SHORT = "short"
OVERLONG = "overlong"


class FrameError(ProtocolError):
    """A frame that failed to decode; ``kind`` is one of crc, cobs, short, overlong."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter), byte for byte as ``link_cobs_encode``.

    A zero-free run of 254 bytes is one 0xFF block; when such a block ends the
    data exactly, no empty block follows it.
    """
    out = bytearray()
    segments = bytes(data).split(b"\x00")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        n = len(seg)
        pos = 0
        while n - pos >= 254:
            out.append(0xFF)
            out += seg[pos : pos + 254]
            pos += 254
        rest = n - pos
        if rest or i < last or n == 0:
            out.append(rest + 1)
            out += seg[pos:]
    return bytes(out)


def cobs_decode(data: bytes, max_len: int | None = None) -> bytes:
    """Decode one COBS-encoded block sequence (no delimiter).

    Raises :class:`FrameError` (kind ``cobs``) for a 0x00 inside or a block
    running past the end, (kind ``overlong``) if the result exceeds ``max_len``.
    """
    data = bytes(data)
    out = bytearray()
    r = 0
    n = len(data)
    while r < n:
        code = data[r]
        r += 1
        if code == 0:
            raise FrameError(COBS, "bad COBS: 0x00 inside a frame")
        end = r + code - 1
        block = data[r:end]
        zero = block.find(0)
        if zero >= 0:
            block = block[:zero]
        out += block
        # Same order of checks as link_cobs_decode, which goes byte by byte.
        if max_len is not None and len(out) > max_len:
            raise FrameError(OVERLONG, f"frame too long: more than {max_len} bytes after COBS decoding")
        if zero >= 0:
            raise FrameError(COBS, "bad COBS: 0x00 inside a frame")
        if end > n:
            raise FrameError(COBS, "bad COBS: block runs past the end of the frame (truncated frame)")
        r = end
        if code != 0xFF and r < n:
            out.append(0)
        if max_len is not None and len(out) > max_len:
            raise FrameError(OVERLONG, f"frame too long: more than {max_len} bytes after COBS decoding")
    return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """A whole frame (delimiter included) carrying ``payload`` (type + body)."""
    payload = bytes(payload)
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"payload must be 1..{MAX_PAYLOAD} bytes, got {len(payload)}")
    crc = crc16(payload)
    return cobs_encode(payload + bytes((crc & 0xFF, crc >> 8))) + DELIMITER


def decode_frame(encoded: bytes) -> bytes:
    """The payload of one frame given without its delimiter; raises :class:`FrameError`."""
    if len(encoded) > _ENCODED_CAP:
        raise FrameError(OVERLONG, f"frame too long: {len(encoded)} encoded bytes")
    raw = cobs_decode(encoded, MAX_RAW)
    if len(raw) < 3:
        raise FrameError(SHORT, f"frame too short: {len(raw)} bytes, need type + CRC (3)")
    payload, got = raw[:-2], raw[-2] | (raw[-1] << 8)
    want = crc16(payload)
    if got != want:
        raise FrameError(CRC, f"bad CRC: frame says 0x{got:04x}, payload gives 0x{want:04x}")
    return payload


class FrameDecoder:
    """Streaming receiver: feed bytes, get validated payloads.

    Bad frames are counted (``bad_frames``, and by kind in ``errors``) and
    skipped; decoding goes on after the next 0x00.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.bad_frames = 0
        self.errors: Counter[str] = Counter()
        self.last_error: FrameError | None = None
        self.frames = 0

    def reset(self) -> None:
        """Drop a partly received frame."""
        self._buf.clear()
        self._overflow = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the payloads of the frames it completed."""
        return [p for kind, p in self.feed_events(data) if kind == FRAME]

    def feed_events(self, data: bytes) -> list[tuple[str, bytes]]:
        """Consume ``data``; one ``(kind, payload)`` per frame it ended, where
        kind is ``"frame"`` or an error kind (crc, cobs, short, overlong; payload
        ``b""``). Empty frames give nothing. Mirrors link_rx_byte's results."""
        events: list[tuple[str, bytes]] = []
        data = bytes(data)
        start = 0
        while True:
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._overflow:
                self._buf += chunk
                if len(self._buf) > _ENCODED_CAP:
                    self._overflow = True
                    self._buf.clear()
            if end < 0:
                return events
            event = self._end_frame()
            if event is not None:
                events.append(event)
            start = end + 1

    def _end_frame(self) -> tuple[str, bytes] | None:
        encoded, overflow = bytes(self._buf), self._overflow
        self.reset()
        try:
            if overflow:
                raise FrameError(OVERLONG, "frame too long")
            if not encoded:
                return None  # a resynchronising 0x00
            payload = decode_frame(encoded)
        except FrameError as e:
            self.bad_frames += 1
            self.errors[e.kind] += 1
            self.last_error = e
            return (e.kind, b"")
        self.frames += 1
        return (FRAME, payload)
