"""The host end of the serial link: :class:`DeviceLink`.

A :class:`DeviceLink` sends frames to the device and receives its messages
through a background reader thread, so the device is never held up writing
while the host is busy. It runs over any :class:`Transport`: a pyserial port
or URL (:class:`SerialTransport`, e.g. ``/dev/ttyACM0`` or
``socket://127.0.0.1:PORT`` for QEMU) or a subprocess's pipes
(:class:`PipeTransport`, used by the host-compiled device in the tests).
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import DeviceSilentError, ModelMismatchError, PortMissingError, ProtocolError
from . import messages as m
from .framing import FrameDecoder, encode_frame

#: Seconds a transport read blocks at most; bounds how fast close() returns.
POLL_INTERVAL = 0.05


class DeviceReportedError(ProtocolError):
    """The device answered with an `X` frame."""

    def __init__(self, error: m.Error, context: str = "") -> None:
        self.code = error.code
        self.text = error.text
        self.error = error
        msg = str(error)
        if context:
            msg = f"{context}: {msg}"
        super().__init__(msg)


class Transport(Protocol):
    """A byte pipe to the device."""

    description: str

    def write(self, data: bytes) -> None: ...

    def read_some(self) -> bytes:
        """Bytes available, waiting at most about :data:`POLL_INTERVAL`; ``b""`` if none.

        Raises :class:`EOFError` when the other end has gone away.
        """
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial object (``serial.Serial`` or ``serial.serial_for_url``)."""

    def __init__(self, ser: Any, description: str | None = None) -> None:
        self.ser = ser
        self.description = description or str(getattr(ser, "port", None) or getattr(ser, "name", "serial"))
        try:
            ser.timeout = POLL_INTERVAL
        except Exception:  # noqa: BLE001 - some objects do not take a timeout
            pass

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def read_some(self) -> bytes:
        import serial  # noqa: PLC0415

        try:
            data = self.ser.read(1)
            if data:
                n = self.ser.in_waiting
                if n:
                    data += self.ser.read(n)
        except serial.SerialException as e:
            raise EOFError(str(e)) from e
        return bytes(data)

    def close(self) -> None:
        self.ser.close()


class PipeTransport:
    """Two file descriptors, e.g. the stdout and stdin of a subprocess."""

    def __init__(self, read_fd: int, write_fd: int, description: str = "pipe") -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.description = description

    @classmethod
    def from_process(cls, proc: Any, description: str | None = None) -> PipeTransport:
        """Use ``proc.stdout`` / ``proc.stdin`` of a ``subprocess.Popen`` made with PIPEs."""
        return cls(proc.stdout.fileno(), proc.stdin.fileno(), description or f"pipe to pid {proc.pid}")

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.write_fd, view)
            view = view[n:]

    def read_some(self) -> bytes:
        ready, _, _ = select.select([self.read_fd], [], [], POLL_INTERVAL)
        if not ready:
            return b""
        data = os.read(self.read_fd, 65536)
        if not data:
            raise EOFError("end of file on the pipe")
        return data

    def close(self) -> None:
        """The descriptors belong to whoever made them (e.g. the Popen object)."""


def open_transport(port: str, baudrate: int = 115200) -> SerialTransport:
    """Open a serial port by name, or a pyserial URL (``socket://host:port``, ``loop://``)."""
    import serial  # noqa: PLC0415

    try:
        if "://" in port:
            ser = serial.serial_for_url(port, baudrate=baudrate, timeout=POLL_INTERVAL)
        else:
            ser = serial.Serial(port, baudrate=baudrate, timeout=POLL_INTERVAL)
    except (serial.SerialException, OSError, ValueError) as e:
        if "://" in port:
            raise PortMissingError(
                f"cannot open {port}: {e}. If this is an emulator's socket, is the emulator running?"
            ) from e
        raise PortMissingError(f"cannot open serial port {port}: {e}\n{describe_ports()}") from e
    return SerialTransport(ser, port)


def describe_ports() -> str:
    """A line or more naming the serial ports pyserial sees."""
    try:
        from serial.tools import list_ports  # noqa: PLC0415

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
    except Exception as e:  # noqa: BLE001
        return f"(could not list serial ports: {e})"
    if not ports:
        return "pyserial sees no serial ports: is the board plugged in?"
    lines = [f"  {p.device}" + (f"  ({p.description})" if p.description and p.description != "n/a" else "")
             for p in ports]
    return "serial ports pyserial sees:\n" + "\n".join(lines)


_EOF = object()


class DeviceLink:
    """Frames to and messages from one device.

    Use as a context manager, or call :meth:`close`. :meth:`recv` returns the
    device's messages in order; the helpers (:meth:`hello`, :meth:`start`,
    :meth:`flush`, :meth:`read_weights`) wrap the request/answer exchanges.
    """

    def __init__(self, transport: Transport | Any, *, description: str | None = None) -> None:
        if not hasattr(transport, "read_some"):
            transport = SerialTransport(transport, description)
        self.transport: Transport = transport
        self.description = description or transport.description
        self.decoder = FrameDecoder()
        self.info: m.Info | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        # Data frames (T + E) sent and acknowledged since the last `S`.
        self.data_frames_sent = 0
        self.eval_frames_sent = 0
        self.frames_acked = 0
        # `A` frames the device owes us (one per S, F and 16 data frames) and got.
        self.acks_expected = 0
        self.acks_received = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="mcutrain-link-reader", daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, port: str, baudrate: int = 115200) -> DeviceLink:
        """Open a serial port name or pyserial URL; raises :class:`PortMissingError`."""
        return cls(open_transport(port, baudrate))

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._reader.join(timeout=2.0)
        self.transport.close()

    @property
    def bad_frames(self) -> int:
        """Frames from the device that failed COBS/CRC checks (skipped)."""
        return self.decoder.bad_frames

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.transport.read_some()
            except (EOFError, OSError) as e:
                if not self._stop.is_set():
                    self._queue.put((_EOF, str(e)))
                return
            if data:
                self.bytes_received += len(data)
                for payload in self.decoder.feed(data):
                    self._queue.put(payload)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are (tests: garbage, truncated frames)."""
        self.transport.write(bytes(data))
        self.bytes_sent += len(data)

    def send_payloads(self, payloads: list[bytes]) -> None:
        """Several payloads as frames in one write, with the bookkeeping of :meth:`send`."""
        data = b"".join(encode_frame(p) for p in payloads)
        for p in payloads:
            self._account(p[0])
        self.send_raw(data)

    def send(self, msg: m.Message | bytes) -> None:
        """One message (or a raw payload: type byte + body)."""
        payload = m.encode(msg) if isinstance(msg, m.Message) else bytes(msg)
        self.send_raw(encode_frame(payload))
        self._account(payload[0])

    def _account(self, type_byte: int) -> None:
        if type_byte in (0x54, 0x45):  # T, E
            self.data_frames_sent += 1
            if type_byte == 0x45:
                self.eval_frames_sent += 1
            if self.data_frames_sent % m.ACK_EVERY == 0:
                self.acks_expected += 1
        elif type_byte in (0x53, 0x46):  # S, F
            if type_byte == 0x53:
                self.data_frames_sent = 0
                self.eval_frames_sent = 0
                self.frames_acked = 0
            self.acks_expected += 1

    def recv(self, timeout: float) -> m.Message | None:
        """The next message, or None after ``timeout`` seconds without one.

        Raises :class:`ProtocolError` for an undecodable message and
        :class:`DeviceSilentError` if the connection has closed.
        """
        try:
            item = self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if isinstance(item, tuple) and item and item[0] is _EOF:
            self._queue.put(item)  # keep reporting it
            raise DeviceSilentError(f"the connection to the device ({self.description}) closed: {item[1]}")
        msg = m.decode(item)
        if isinstance(msg, m.Ack):
            self.acks_received += 1
            self.frames_acked = max(self.frames_acked, msg.frames_done)
        return msg

    def recv_nowait(self) -> m.Message | None:
        return self.recv(0.0) if not self._queue.empty() else None

    def _silent(self, what: str, timeout: float) -> DeviceSilentError:
        return DeviceSilentError(
            f"no answer from the device on {self.description} within {timeout:g} s ({what}). "
            "Check that the firmware is flashed and running, the port is the board's, and no other "
            "program holds the port."
        )

    def wait_for(
        self,
        cls: type[m.Message] | tuple[type[m.Message], ...],
        timeout: float,
        what: str,
        on_other: Callable[[m.Message], None] | None = None,
    ) -> m.Message:
        """The next message of class ``cls``; others go to ``on_other`` (or are dropped).

        An `X` raises :class:`DeviceReportedError`.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.recv(left) if left > 0 else None
            if msg is None:
                raise self._silent(what, timeout)
            if isinstance(msg, cls):
                return msg
            if isinstance(msg, m.Error):
                raise DeviceReportedError(msg, what)
            if on_other is not None:
                on_other(msg)

    # ------------------------------------------------------------- exchanges

    def hello(self, timeout: float = 5.0, expected_hash: str | None = None, resend: float = 1.0) -> m.Info:
        """Say `H` until the device answers `I` (other answers, e.g. errors
        caused by bytes left on the line, are skipped); check the protocol
        version and, if given, the model hash."""
        deadline = time.monotonic() + timeout
        # A lone 0x00 first ends whatever partial frame the device holds.
        self.send_raw(b"\x00")
        while True:
            self.send(m.Hello())
            next_send = min(deadline, time.monotonic() + resend)
            while True:
                left = next_send - time.monotonic()
                msg = self.recv(left) if left > 0 else None
                if msg is None:
                    break
                if isinstance(msg, m.Info):
                    return self._check_info(msg, expected_hash)
            if time.monotonic() >= deadline:
                raise self._silent("waiting for the answer to hello", timeout)

    def _check_info(self, info: m.Info, expected_hash: str | None) -> m.Info:
        self.info = info
        if info.proto_version != m.PROTO_VERSION:
            raise ProtocolError(
                f"the device speaks protocol version {info.proto_version}, this host speaks "
                f"{m.PROTO_VERSION}: update mcutrain or rebuild and flash the firmware"
            )
        if expected_hash is not None and info.model_hash != expected_hash:
            raise ModelMismatchError(
                f"the device runs firmware for model {info.model_hash}, but this model is "
                f"{expected_hash}. Run `mcutrain train` (it rebuilds and flashes the firmware for "
                "this model), or flash the firmware built for this model file."
            )
        return info

    def start(self, seed: int, samples_per_epoch: int, digest_every: int = 0, timeout: float = 5.0) -> None:
        """`S`: start a session (the device answers `A` 0)."""
        self.send(m.Start(seed, samples_per_epoch, digest_every))
        self.wait_for(m.Ack, timeout, "waiting for the answer to start")

    def flush(self, timeout: float = 10.0, on_other: Callable[[m.Message], None] | None = None) -> int:
        """`F`, then wait until every `A` the device owes has come; other
        messages (the pending `P` and `R`) go to ``on_other``. Returns frames_done."""
        self.send(m.Flush())
        self.sync(timeout, on_other)
        return self.frames_acked

    def sync(self, timeout: float, on_other: Callable[[m.Message], None] | None = None) -> None:
        """Wait until ``acks_received`` reaches ``acks_expected``."""
        deadline = time.monotonic() + timeout
        while self.acks_received < self.acks_expected:
            left = deadline - time.monotonic()
            msg = self.recv(left) if left > 0 else None
            if msg is None:
                raise self._silent(
                    f"{self.data_frames_sent - self.frames_acked} frames not acknowledged", timeout
                )
            if isinstance(msg, m.Error):
                raise DeviceReportedError(msg)
            if not isinstance(msg, m.Ack) and on_other is not None:
                on_other(msg)

    def read_weights(
        self, timeout: float = 30.0, on_other: Callable[[m.Message], None] | None = None
    ) -> tuple[bytes, m.Digest]:
        """`W`: the device's state bytes and the `D` that follows them.

        Checks that the chunks are contiguous and that the CRC-32 of the bytes
        matches the digest."""
        import zlib  # noqa: PLC0415

        self.send(m.Weights())
        data = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.wait_for((m.WeightChunk, m.Digest), max(left, 0.0), "reading the weights", on_other)
            if isinstance(msg, m.Digest):
                if not data and (self.info is None or self.info.state_bytes > 0):
                    # A periodic `D` of a train frame sent before `W`.
                    if on_other is not None:
                        on_other(msg)
                    continue
                break
            if msg.offset != len(data):
                raise ProtocolError(f"weight chunk at offset {msg.offset}, expected {len(data)}")
            data += msg.data
        if self.info is not None and len(data) != self.info.state_bytes:
            raise ProtocolError(f"got {len(data)} state bytes, the device announced {self.info.state_bytes}")
        if zlib.crc32(data) != msg.state_crc32:
            raise ProtocolError(
                f"state bytes have CRC-32 0x{zlib.crc32(data):08x}, the device says 0x{msg.state_crc32:08x}"
            )
        return bytes(data), msg
