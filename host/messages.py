"""Messages of the serial protocol, version 1 (``docs/protocol.md``).

Each message is a dataclass; :func:`encode` gives its payload (type byte +
body, without framing) and :func:`decode` parses a payload back. Both
directions are covered so tests can play either side. Integers are
little-endian. A payload with an unknown type or a body of the wrong length
raises :class:`~mcutrain.errors.ProtocolError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ProtocolError

PROTO_VERSION = 1

# Cadences of the periodic device messages.
ACK_EVERY = 16  #: data frames (T + E) per `A`
PROGRESS_EVERY = 64  #: trained samples per `P`
PREDICTIONS_EVERY = 64  #: evaluated samples per `R`
WEIGHT_CHUNK = 192  #: maximum bytes of one `w`

#: Codes of `X` frames.
ERR_CRC = 1
ERR_COBS = 2
ERR_TYPE = 3
ERR_LENGTH = 4
ERR_NOT_STARTED = 5
ERR_VALUE = 6
ERROR_NAMES = {
    ERR_CRC: "bad CRC",
    ERR_COBS: "bad COBS or frame length",
    ERR_TYPE: "unknown message type",
    ERR_LENGTH: "bad body length",
    ERR_NOT_STARTED: "not started",
    ERR_VALUE: "field out of range",
}


class Message:
    """Base of all messages; ``TYPE`` is the type byte."""

    TYPE: ClassVar[bytes] = b""

    def body(self) -> bytes:
        return b""

    @classmethod
    def from_body(cls, body: bytes) -> Message:
        _expect_len(cls, body, 0)
        return cls()


def _expect_len(cls: type, body: bytes, n: int) -> None:
    if len(body) != n:
        raise ProtocolError(
            f"message {cls.TYPE.decode()!r} ({cls.__name__}) needs a body of {n} bytes, got {len(body)}"
        )


def _expect_min(cls: type, body: bytes, n: int) -> None:
    if len(body) < n:
        raise ProtocolError(
            f"message {cls.TYPE.decode()!r} ({cls.__name__}) needs a body of at least {n} bytes, got {len(body)}"
        )


# ---------------------------------------------------------------- host -> device


@dataclass(frozen=True)
class Hello(Message):
    TYPE: ClassVar[bytes] = b"H"


@dataclass(frozen=True)
class Start(Message):
    TYPE: ClassVar[bytes] = b"S"
    seed: int
    samples_per_epoch: int
    digest_every: int = 0

    def body(self) -> bytes:
        return struct.pack("<IIH", self.seed, self.samples_per_epoch, self.digest_every)

    @classmethod
    def from_body(cls, body: bytes) -> Start:
        _expect_len(cls, body, 10)
        return cls(*struct.unpack("<IIH", body))


@dataclass(frozen=True)
class Train(Message):
    TYPE: ClassVar[bytes] = b"T"
    label: int
    x: bytes

    def body(self) -> bytes:
        return bytes((self.label,)) + bytes(self.x)

    @classmethod
    def from_body(cls, body: bytes) -> Train:
        _expect_min(cls, body, 1)
        return cls(body[0], bytes(body[1:]))


@dataclass(frozen=True)
class Eval(Message):
    TYPE: ClassVar[bytes] = b"E"
    x: bytes

    def body(self) -> bytes:
        return bytes(self.x)

    @classmethod
    def from_body(cls, body: bytes) -> Eval:
        return cls(bytes(body))


@dataclass(frozen=True)
class Flush(Message):
    TYPE: ClassVar[bytes] = b"F"


@dataclass(frozen=True)
class Weights(Message):
    TYPE: ClassVar[bytes] = b"W"


# ---------------------------------------------------------------- device -> host


@dataclass(frozen=True)
class Info(Message):
    TYPE: ClassVar[bytes] = b"I"
    proto_version: int
    model_hash: str
    input_bytes: int
    n_classes: int
    state_bytes: int
    board: str

    def body(self) -> bytes:
        name = self.board.encode()
        h = self.model_hash.encode("ascii")
        if len(h) != 16:
            raise ValueError("model_hash must be 16 characters")
        return (
            struct.pack("<B16sHBIB", self.proto_version, h, self.input_bytes, self.n_classes,
                        self.state_bytes, len(name))
            + name
        )

    @classmethod
    def from_body(cls, body: bytes) -> Info:
        _expect_min(cls, body, 25)
        version, h, input_bytes, n_classes, state_bytes, n = struct.unpack_from("<B16sHBIB", body)
        _expect_len(cls, body, 25 + n)
        return cls(
            version,
            h.decode("ascii", "replace"),
            input_bytes,
            n_classes,
            state_bytes,
            body[25:].decode("utf-8", "replace"),
        )


@dataclass(frozen=True)
class Ack(Message):
    TYPE: ClassVar[bytes] = b"A"
    frames_done: int

    def body(self) -> bytes:
        return struct.pack("<I", self.frames_done)

    @classmethod
    def from_body(cls, body: bytes) -> Ack:
        _expect_len(cls, body, 4)
        return cls(*struct.unpack("<I", body))


@dataclass(frozen=True)
class Progress(Message):
    """Counts since the previous `P` (or since `S`)."""

    TYPE: ClassVar[bytes] = b"P"
    samples_trained: int
    hinge_sum: int
    errors: int

    def body(self) -> bytes:
        return struct.pack("<IIH", self.samples_trained, self.hinge_sum, self.errors)

    @classmethod
    def from_body(cls, body: bytes) -> Progress:
        _expect_len(cls, body, 10)
        return cls(*struct.unpack("<IIH", body))


@dataclass(frozen=True)
class Digest(Message):
    """``samples_trained`` counts since `S`."""

    TYPE: ClassVar[bytes] = b"D"
    samples_trained: int
    state_crc32: int
    prng_state: int

    def body(self) -> bytes:
        return struct.pack("<III", self.samples_trained, self.state_crc32, self.prng_state)

    @classmethod
    def from_body(cls, body: bytes) -> Digest:
        _expect_len(cls, body, 12)
        return cls(*struct.unpack("<III", body))


@dataclass(frozen=True)
class Predictions(Message):
    TYPE: ClassVar[bytes] = b"R"
    first_eval_index: int
    classes: bytes = field(default=b"")

    def body(self) -> bytes:
        return struct.pack("<IB", self.first_eval_index, len(self.classes)) + bytes(self.classes)

    @classmethod
    def from_body(cls, body: bytes) -> Predictions:
        _expect_min(cls, body, 5)
        first, n = struct.unpack_from("<IB", body)
        _expect_len(cls, body, 5 + n)
        return cls(first, bytes(body[5:]))


@dataclass(frozen=True)
class WeightChunk(Message):
    TYPE: ClassVar[bytes] = b"w"
    offset: int
    data: bytes

    def body(self) -> bytes:
        return struct.pack("<I", self.offset) + bytes(self.data)

    @classmethod
    def from_body(cls, body: bytes) -> WeightChunk:
        _expect_min(cls, body, 4)
        if len(body) > 4 + WEIGHT_CHUNK:
            raise ProtocolError(f"message 'w' carries at most {WEIGHT_CHUNK} bytes, got {len(body) - 4}")
        return cls(struct.unpack_from("<I", body)[0], bytes(body[4:]))


@dataclass(frozen=True)
class Error(Message):
    TYPE: ClassVar[bytes] = b"X"
    code: int
    text: str = ""

    def body(self) -> bytes:
        return bytes((self.code,)) + self.text.encode()

    @classmethod
    def from_body(cls, body: bytes) -> Error:
        _expect_min(cls, body, 1)
        return cls(body[0], body[1:].decode("utf-8", "replace"))

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, f"error {self.code}")

    def __str__(self) -> str:
        return f"device error {self.code} ({self.name}): {self.text}"


HOST_MESSAGES: tuple[type[Message], ...] = (Hello, Start, Train, Eval, Flush, Weights)
DEVICE_MESSAGES: tuple[type[Message], ...] = (Info, Ack, Progress, Digest, Predictions, WeightChunk, Error)
_BY_TYPE: dict[int, type[Message]] = {m.TYPE[0]: m for m in HOST_MESSAGES + DEVICE_MESSAGES}


def encode(msg: Message) -> bytes:
    """The payload (type byte + body) of ``msg``."""
    return msg.TYPE + msg.body()


def decode(payload: bytes) -> Message:
    """Parse a payload; raises :class:`ProtocolError` if unknown or malformed."""
    if not payload:
        raise ProtocolError("empty payload: no message type")
    cls = _BY_TYPE.get(payload[0])
    if cls is None:
        raise ProtocolError(f"unknown message type 0x{payload[0]:02x} ({chr(payload[0])!r})")
    return cls.from_body(bytes(payload[1:]))


def train_payload(label: int, x: bytes) -> bytes:
    """Fast path for the payload of a `T` message."""
    return b"T" + bytes((label,)) + x


def eval_payload(x: bytes) -> bytes:
    """Fast path for the payload of an `E` message."""
    return b"E" + x
