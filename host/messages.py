"""Messages of the serial protocol, version 3 (``docs/protocol.md``).

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

from ..data.encoding import PART_BYTES as _PART_BYTES
from ..data.encoding import PIECE_MAX, sample_part_count
from ..errors import ProtocolError

PROTO_VERSION = 3

# Samples larger than one frame (docs/protocol.md, "Samples larger than one frame").
# the split rule is the encoding module's (one definition; it also counts the bytes on the wire)
TAIL_MAX = PIECE_MAX  #: sample bytes a `T` frame carries (255 - type, seq, label): 251
PART_BYTES = _PART_BYTES  #: sample bytes of each `Q` (sample part) frame (255 - type, seq, offset): 250
MAX_SAMPLE_BYTES = 65535  #: a part's offset is a u16

# Cadences of the periodic device messages.
ACK_EVERY = 16  #: data frames (T + E + Q) per `A`
PROGRESS_EVERY = 64  #: trained samples per `P`
PREDICTIONS_EVERY = 64  #: evaluated samples per `R`
WEIGHT_CHUNK = 192  #: maximum bytes of one `w` (and of one `U`)
SCHED_BYTES = 16  #: schedule state in a checkpoint (MT_SCHED_BYTES)
SEQ_MASK = 0xFFFF  #: data frames carry frames_done modulo 2^16

#: Codes of `X` frames.
ERR_CRC = 1
ERR_COBS = 2
ERR_TYPE = 3
ERR_LENGTH = 4
ERR_NOT_STARTED = 5
ERR_VALUE = 6
ERR_RESTORE = 7
#: Receive errors: the frame was damaged on the line; the host retransmits.
LINE_ERRORS = (ERR_CRC, ERR_COBS)
ERROR_NAMES = {
    ERR_CRC: "bad CRC",
    ERR_COBS: "bad COBS or frame length",
    ERR_TYPE: "unknown message type",
    ERR_LENGTH: "bad body length",
    ERR_NOT_STARTED: "not started",
    ERR_VALUE: "field out of range",
    ERR_RESTORE: "checkpoint digest mismatch",
}
#: What a person should make of each code (DeviceReportedError adds it).
ERROR_ADVICE = {
    ERR_CRC: "a frame was damaged on the line (noise, a loose cable or a wrong baud rate)",
    ERR_COBS: "a frame was cut short or merged with another on the line (bytes lost)",
    ERR_TYPE: "the host sent a message the firmware does not know: host and firmware versions differ",
    ERR_LENGTH: "a message had the wrong size for this firmware: was the firmware built for this model?",
    ERR_NOT_STARTED: "the device has no session: it was probably reset (power, watchdog or re-flash)",
    ERR_VALUE: ("a field was out of range (e.g. a label >= the number of classes of this model, or a sample "
                "part out of order or missing)"),
    ERR_RESTORE: "the restored state bytes do not match the checkpoint's digest",
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
    checkpoint_every: int = 0

    def body(self) -> bytes:
        return struct.pack("<IIHI", self.seed, self.samples_per_epoch, self.digest_every, self.checkpoint_every)

    @classmethod
    def from_body(cls, body: bytes) -> Start:
        _expect_len(cls, body, 14)
        return cls(*struct.unpack("<IIHI", body))


@dataclass(frozen=True)
class Train(Message):
    TYPE: ClassVar[bytes] = b"T"
    seq: int
    label: int
    x: bytes

    def body(self) -> bytes:
        return struct.pack("<HB", self.seq & SEQ_MASK, self.label) + bytes(self.x)

    @classmethod
    def from_body(cls, body: bytes) -> Train:
        _expect_min(cls, body, 3)
        seq, label = struct.unpack_from("<HB", body)
        return cls(seq, label, bytes(body[3:]))


@dataclass(frozen=True)
class Eval(Message):
    TYPE: ClassVar[bytes] = b"E"
    seq: int
    x: bytes

    def body(self) -> bytes:
        return struct.pack("<H", self.seq & SEQ_MASK) + bytes(self.x)

    @classmethod
    def from_body(cls, body: bytes) -> Eval:
        _expect_min(cls, body, 2)
        return cls(struct.unpack_from("<H", body)[0], bytes(body[2:]))


@dataclass(frozen=True)
class Part(Message):
    """`Q`: one part of a sample larger than one frame (the `T`/`E` after the parts carries the rest)."""

    TYPE: ClassVar[bytes] = b"Q"
    seq: int
    offset: int
    x: bytes

    def body(self) -> bytes:
        return struct.pack("<HH", self.seq & SEQ_MASK, self.offset) + bytes(self.x)

    @classmethod
    def from_body(cls, body: bytes) -> Part:
        _expect_min(cls, body, 5)
        seq, offset = struct.unpack_from("<HH", body)
        return cls(seq, offset, bytes(body[4:]))


def sample_parts(n: int) -> int:
    """How many `Q` frames a sample of ``n`` bytes travels in before its `T`/`E` (0 if it fits one frame)."""
    if not 1 <= n <= MAX_SAMPLE_BYTES:
        raise ValueError(f"a sample must have 1..{MAX_SAMPLE_BYTES} bytes, got {n}")
    return sample_part_count(n)


def frames_per_sample(n: int) -> int:
    """Data frames (parts and the final `T`/`E`) of one sample of ``n`` bytes."""
    return sample_parts(n) + 1


@dataclass(frozen=True)
class Flush(Message):
    """Report what is pending, then `A` carrying ``token`` (1..255): the host's poll."""

    TYPE: ClassVar[bytes] = b"F"
    token: int = 1

    def body(self) -> bytes:
        return bytes((self.token,))

    @classmethod
    def from_body(cls, body: bytes) -> Flush:
        _expect_len(cls, body, 1)
        return cls(body[0])


@dataclass(frozen=True)
class Weights(Message):
    """No body: all `w` chunks, then `D`. With ``count`` set: one `w` of
    ``count`` bytes at ``offset``, or (``count`` = 0) just the `D`."""

    TYPE: ClassVar[bytes] = b"W"
    offset: int | None = None
    count: int = 0

    def body(self) -> bytes:
        return b"" if self.offset is None else struct.pack("<IB", self.offset, self.count)

    @classmethod
    def from_body(cls, body: bytes) -> Weights:
        if not body:
            return cls()
        _expect_len(cls, body, 5)
        return cls(*struct.unpack("<IB", body))


@dataclass(frozen=True)
class Upload(Message):
    """Write ``data`` (1..192 bytes) into the state bytes at ``offset``; answered by `u`."""

    TYPE: ClassVar[bytes] = b"U"
    offset: int
    data: bytes

    def body(self) -> bytes:
        return struct.pack("<I", self.offset) + bytes(self.data)

    @classmethod
    def from_body(cls, body: bytes) -> Upload:
        _expect_min(cls, body, 5)
        return cls(struct.unpack_from("<I", body)[0], bytes(body[4:]))


@dataclass(frozen=True)
class CheckpointRecord(Message):
    """The device's position and schedule at a checkpoint; sent as `C` (device)
    after the `w` chunks of its state, and back as `K` (host) to restore it."""

    TYPE: ClassVar[bytes] = b"C"
    samples_trained: int
    hinge_sum: int
    errors: int
    state_crc32: int
    sched: bytes

    def body(self) -> bytes:
        if len(self.sched) != SCHED_BYTES:
            raise ValueError(f"sched must be {SCHED_BYTES} bytes")
        return struct.pack("<IIII", self.samples_trained, self.hinge_sum, self.errors, self.state_crc32) + self.sched

    @classmethod
    def from_body(cls, body: bytes) -> CheckpointRecord:
        _expect_len(cls, body, 16 + SCHED_BYTES)
        return cls(*struct.unpack_from("<IIII", body), bytes(body[16:]))


@dataclass(frozen=True)
class Restore(CheckpointRecord):
    """`K`: after `S` and the `U` uploads, restore this checkpoint (answered `A` 0)."""

    TYPE: ClassVar[bytes] = b"K"


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
    """``frames_done``: data frames consumed since `S`/`K`; ``token``: that of the
    `F` answered, 0 for the periodic acks and the answers to `S` and `K`."""

    TYPE: ClassVar[bytes] = b"A"
    frames_done: int
    token: int = 0

    def body(self) -> bytes:
        return struct.pack("<IB", self.frames_done, self.token)

    @classmethod
    def from_body(cls, body: bytes) -> Ack:
        _expect_len(cls, body, 5)
        return cls(*struct.unpack("<IB", body))


@dataclass(frozen=True)
class Nak(Message):
    """`N`: the device dropped a data frame out of sequence; it expects ``frames_done`` next."""

    TYPE: ClassVar[bytes] = b"N"
    frames_done: int

    def body(self) -> bytes:
        return struct.pack("<I", self.frames_done)

    @classmethod
    def from_body(cls, body: bytes) -> Nak:
        _expect_len(cls, body, 4)
        return cls(*struct.unpack("<I", body))


@dataclass(frozen=True)
class UploadAck(Message):
    TYPE: ClassVar[bytes] = b"u"
    offset: int
    count: int

    def body(self) -> bytes:
        return struct.pack("<IB", self.offset, self.count)

    @classmethod
    def from_body(cls, body: bytes) -> UploadAck:
        _expect_len(cls, body, 5)
        return cls(*struct.unpack("<IB", body))


@dataclass(frozen=True)
class Progress(Message):
    """Cumulative counts since `S` (a restored checkpoint's included): a lost `P` loses nothing."""

    TYPE: ClassVar[bytes] = b"P"
    samples_trained: int
    hinge_sum: int
    errors: int

    def body(self) -> bytes:
        return struct.pack("<III", self.samples_trained, self.hinge_sum, self.errors)

    @classmethod
    def from_body(cls, body: bytes) -> Progress:
        _expect_len(cls, body, 12)
        return cls(*struct.unpack("<III", body))


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

    @property
    def advice(self) -> str:
        return ERROR_ADVICE.get(self.code, "unknown error code: host and firmware versions may differ")

    def __str__(self) -> str:
        return f"device error {self.code} ({self.name}): {self.text} - {self.advice}"


HOST_MESSAGES: tuple[type[Message], ...] = (Hello, Start, Train, Eval, Part, Flush, Weights, Upload, Restore)
DEVICE_MESSAGES: tuple[type[Message], ...] = (Info, Ack, Nak, Progress, Digest, Predictions, WeightChunk,
                                              UploadAck, CheckpointRecord, Error)
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


def train_payload(label: int, x: bytes, seq: int = 0) -> bytes:
    """Fast path for the payload of a `T` message."""
    return b"T" + bytes((seq & 0xFF, (seq >> 8) & 0xFF, label)) + x


def eval_payload(x: bytes, seq: int = 0) -> bytes:
    """Fast path for the payload of an `E` message."""
    return b"E" + bytes((seq & 0xFF, (seq >> 8) & 0xFF)) + x


def _parts(x: bytes) -> list[bytes]:
    """The `Q` payloads (sequence number 0) of a sample, without its tail."""
    k = sample_parts(len(x))
    return [b"Q\x00\x00" + struct.pack("<H", i * PART_BYTES) + x[i * PART_BYTES:(i + 1) * PART_BYTES]
            for i in range(k)]


def train_payloads(label: int, x: bytes) -> list[bytes]:
    """The data frame payloads of one training sample: its `Q` parts, then the `T` with the rest."""
    if len(x) <= TAIL_MAX:
        return [train_payload(label, x)]
    return [*_parts(x), train_payload(label, x[sample_parts(len(x)) * PART_BYTES:])]


def eval_payloads(x: bytes) -> list[bytes]:
    """The data frame payloads of one sample to evaluate: its `Q` parts, then the `E` with the rest."""
    if len(x) <= TAIL_MAX:
        return [eval_payload(x)]
    return [*_parts(x), eval_payload(x[sample_parts(len(x)) * PART_BYTES:])]


def with_seq(payload: bytes, seq: int) -> bytes:
    """A `T`/`E`/`Q` payload (as :func:`train_payloads`/:func:`eval_payloads` make them) with its sequence
    number set."""
    return payload[:1] + bytes((seq & 0xFF, (seq >> 8) & 0xFF)) + payload[3:]
