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
    """The device answered with an `X` frame (the message says what the code means)."""

    def __init__(self, error: m.Error, context: str = "") -> None:
        self.code = error.code
        self.text = error.text
        self.error = error
        msg = str(error)
        if context:
            msg = f"{context}: {msg}"
        super().__init__(msg)


class DeviceResetError(DeviceReportedError):
    """The device lost its session (`X` 5 in the middle of one): it was reset."""


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
    device's messages in order, skipping the `X` frames that only say a frame
    was damaged on the line (counted in ``line_errors``; the sender of the
    damaged frame recovers by retransmission). The helpers (:meth:`hello`,
    :meth:`start`, :meth:`flush`, :meth:`read_weights`, :meth:`restore`)
    wrap the request/answer exchanges and resend a request whose answer was
    lost.
    """

    def __init__(self, transport: Transport | Any, *, description: str | None = None,
                 resend: float = 0.5) -> None:
        if not hasattr(transport, "read_some"):
            transport = SerialTransport(transport, description)
        self.transport: Transport = transport
        self.description = description or transport.description
        self.resend = resend  #: seconds before a request without answer is sent again
        self.decoder = FrameDecoder()
        self.info: m.Info | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        # Data frames (T + E) numbered and acknowledged since the last `S`/`K`.
        self.frames_assigned = 0
        self.frames_acked = 0
        self.evals_assigned = 0
        self.trained_base = 0  #: samples trained before the first data frame (a restored checkpoint's)
        self.trains_assigned = 0
        # Reliability counters (whole life of the link).
        self.line_errors = 0  #: `X` 1/2 from the device: frames of ours damaged on the line
        self.last_line_error: m.Error | None = None
        self.retransmissions = 0  #: data frames sent again
        self.naks = 0
        self.polls = 0
        self.requests_resent = 0
        self._token = 0
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

    def stats(self) -> dict[str, int]:
        """The link's counters, for reports."""
        return {
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "retransmitted_frames": self.retransmissions,
            "naks": self.naks,
            "polls": self.polls,
            "requests_resent": self.requests_resent,
            "device_receive_errors": self.line_errors,
            "host_receive_errors": self.bad_frames,
        }

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
        try:
            self.transport.write(bytes(data))
        except OSError as e:
            raise DeviceSilentError(f"the connection to the device ({self.description}) failed: {e}") from e
        self.bytes_sent += len(data)

    def send_payloads(self, payloads: list[bytes]) -> None:
        """Several payloads as frames in one write."""
        self.send_raw(b"".join(encode_frame(p) for p in payloads))

    def send(self, msg: m.Message | bytes) -> None:
        """One message (or a raw payload: type byte + body)."""
        payload = m.encode(msg) if isinstance(msg, m.Message) else bytes(msg)
        self.send_raw(encode_frame(payload))

    def next_token(self) -> int:
        """A fresh token for `F` (1..255)."""
        self._token = self._token % 255 + 1
        return self._token

    def reset_numbering(self, trained_base: int = 0) -> None:
        """After `S`/`K`: data frames are numbered from 0 again."""
        self.frames_assigned = self.frames_acked = self.evals_assigned = self.trains_assigned = 0
        self.trained_base = trained_base

    def recv(self, timeout: float) -> m.Message | None:
        """The next message, or None after ``timeout`` seconds without one.

        Raises :class:`ProtocolError` for an undecodable message and
        :class:`DeviceSilentError` if the connection has closed. `X` 1/2
        (our frame damaged on the line) are counted and skipped; `A` and `N`
        advance ``frames_acked``.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if isinstance(item, tuple) and item and item[0] is _EOF:
                self._queue.put(item)  # keep reporting it
                raise DeviceSilentError(f"the connection to the device ({self.description}) closed: {item[1]}")
            msg = m.decode(item)
            if isinstance(msg, m.Error) and msg.code in m.LINE_ERRORS:
                self.line_errors += 1
                self.last_line_error = msg
                continue
            if isinstance(msg, m.Ack | m.Nak):
                self.frames_acked = max(self.frames_acked, min(msg.frames_done, self.frames_assigned))
            return msg

    def recv_nowait(self) -> m.Message | None:
        return self.recv(0.0) if not self._queue.empty() else None

    def _silent(self, what: str, timeout: float) -> DeviceSilentError:
        return DeviceSilentError(
            f"no answer from the device on {self.description} within {timeout:g} s ({what}). "
            "Check that the firmware is flashed and running, the port is the board's, and no other "
            "program holds the port."
        )

    @staticmethod
    def raise_for(err: m.Error, what: str, *, started: bool = False) -> None:
        """Raise the exception for a device error (`X` 5 in a session means a reset)."""
        if started and err.code == m.ERR_NOT_STARTED:
            raise DeviceResetError(err, what)
        raise DeviceReportedError(err, what)

    def wait_for(
        self,
        cls: type[m.Message] | tuple[type[m.Message], ...],
        timeout: float,
        what: str,
        on_other: Callable[[m.Message], None] | None = None,
    ) -> m.Message:
        """The next message of class ``cls``; others go to ``on_other`` (or are dropped).

        An `X` other than a line error raises :class:`DeviceReportedError`.
        """
        msg = self.poll_for(lambda x: isinstance(x, cls), timeout, what, on_other)
        if msg is None:
            raise self._silent(what, timeout)
        return msg

    def poll_for(
        self,
        accept: Callable[[m.Message], bool],
        timeout: float,
        what: str,
        on_other: Callable[[m.Message], None] | None = None,
    ) -> m.Message | None:
        """The next message ``accept`` takes, or None after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.recv(left) if left > 0 else None
            if msg is None:
                return None
            if accept(msg):
                return msg
            if isinstance(msg, m.Error):
                self.raise_for(msg, what, started=self.info is not None and self.frames_assigned > 0)
            if on_other is not None:
                on_other(msg)

    def request(
        self,
        msg: m.Message,
        accept: Callable[[m.Message], bool],
        what: str,
        timeout: float = 10.0,
        on_other: Callable[[m.Message], None] | None = None,
    ) -> m.Message:
        """Send ``msg`` every :attr:`resend` s until an answer ``accept`` takes arrives."""
        deadline = time.monotonic() + timeout
        first = True
        while True:
            if not first:
                self.requests_resent += 1
            first = False
            self.send(msg)
            left = deadline - time.monotonic()
            got = self.poll_for(accept, min(self.resend, max(left, 0.0)), what, on_other)
            if got is not None:
                return got
            if time.monotonic() >= deadline:
                raise self._silent(what, timeout)

    # ------------------------------------------------------------- exchanges

    def hello(self, timeout: float = 5.0, expected_hash: str | None = None, resend: float = 1.0) -> m.Info:
        """Say `H` until the device answers `I` (other answers, e.g. errors
        caused by bytes left on the line, are skipped); check the protocol
        version and, if given, the model hash."""
        deadline = time.monotonic() + timeout
        # A lone 0x00 first ends whatever partial frame the device holds.
        self.send_raw(b"\x00")
        skipped = 0
        while True:
            self.send(m.Hello())
            next_send = min(deadline, time.monotonic() + resend)
            while True:
                left = next_send - time.monotonic()
                try:
                    msg = self.recv(left) if left > 0 else None
                except ProtocolError:
                    skipped += 1  # not a message of this protocol: skip it
                    continue
                if msg is None:
                    break
                if isinstance(msg, m.Info):
                    return self._check_info(msg, expected_hash)
                skipped += 1
            if time.monotonic() >= deadline:
                if skipped or self.bad_frames:
                    raise DeviceSilentError(
                        f"the device on {self.description} sent {skipped + self.bad_frames} frames but no answer "
                        f"to hello within {timeout:g} s: is it running mcutrain firmware (protocol version "
                        f"{m.PROTO_VERSION}) at this baud rate?"
                    )
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

    def start(self, seed: int, samples_per_epoch: int, digest_every: int = 0, timeout: float = 10.0,
              checkpoint_every: int = 0) -> None:
        """`S`: start a session (the device answers `A` 0); resent if the answer is lost."""
        self.request(m.Start(seed, samples_per_epoch, digest_every, checkpoint_every),
                     lambda x: isinstance(x, m.Ack) and x.frames_done == 0 and x.token == 0,
                     "waiting for the answer to start", timeout)
        self.reset_numbering()

    def flush(self, timeout: float = 10.0, on_other: Callable[[m.Message], None] | None = None) -> int:
        """`F` until its `A` comes; pending `P`/`R` go to ``on_other``. Returns frames_done."""
        token = self.next_token()
        ack = self.request(m.Flush(token), lambda x: isinstance(x, m.Ack) and x.token == token,
                           "waiting for the answer to flush", timeout, on_other)
        assert isinstance(ack, m.Ack)
        return ack.frames_done

    def read_weights(
        self, timeout: float = 60.0, on_other: Callable[[m.Message], None] | None = None
    ) -> tuple[bytes, m.Digest]:
        """`W`: the device's state bytes and their `D`.

        Chunks lost on the line are asked for again one by one (`W` offset,
        count), as is the `D`; the CRC-32 of the bytes must match it."""
        if self.info is None:
            raise ProtocolError("read_weights() before hello()")
        total = self.info.state_bytes
        chunks: dict[int, bytes] = {}
        digests: list[m.Digest] = []
        deadline = time.monotonic() + timeout

        def take(msg: m.Message) -> None:
            if isinstance(msg, m.WeightChunk):
                chunks[msg.offset] = msg.data
            elif isinstance(msg, m.Digest):
                digests.append(msg)
            elif isinstance(msg, m.Error):
                self.raise_for(msg, "reading the weights")
            elif on_other is not None:
                on_other(msg)

        # All chunks, then D, until the line goes quiet for `resend` s.
        self.send(m.Weights())
        while not digests:
            msg = self.recv(self.resend)
            if msg is None:
                if chunks:
                    break
                if time.monotonic() > deadline:
                    raise self._silent("reading the weights", timeout)
                self.requests_resent += 1
                self.send(m.Weights())
                continue
            take(msg)
        # Chunks lost on the line: one by one.
        for off in range(0, total, m.WEIGHT_CHUNK):
            n = min(m.WEIGHT_CHUNK, total - off)
            if len(chunks.get(off, b"")) != n:
                self.requests_resent += 1
                got = self.request(m.Weights(off, n), lambda x, o=off: isinstance(x, m.WeightChunk) and x.offset == o,
                                   f"reading the weights (bytes {off}..{off + n})",
                                   max(deadline - time.monotonic(), 1.0))
                assert isinstance(got, m.WeightChunk)
                chunks[off] = got.data
        data = b"".join(chunks[off] for off in range(0, total, m.WEIGHT_CHUNK))
        if len(data) != total:
            raise ProtocolError(f"got {len(data)} state bytes, the device announced {total}")
        if not digests:
            self.requests_resent += 1
            d = self.request(m.Weights(0, 0), lambda x: isinstance(x, m.Digest), "reading the weights' digest",
                             max(deadline - time.monotonic(), 1.0))
            assert isinstance(d, m.Digest)
            digests.append(d)
        digest = digests[-1]
        import zlib  # noqa: PLC0415

        if zlib.crc32(data) != digest.state_crc32:
            raise ProtocolError(
                f"state bytes have CRC-32 0x{zlib.crc32(data):08x}, the device says 0x{digest.state_crc32:08x}"
            )
        return data, digest

    def upload_state(self, state: bytes, chunk: int = 128, timeout: float = 60.0) -> None:
        """`U` the state bytes; chunks whose `u` did not come are sent again."""
        missing = {off: state[off : off + chunk] for off in range(0, len(state), chunk)}
        deadline = time.monotonic() + timeout
        rounds = 0
        while missing:
            if time.monotonic() > deadline:
                raise self._silent(f"uploading the checkpoint ({len(missing)} chunks unanswered)", timeout)
            if rounds:
                self.requests_resent += len(missing)
            rounds += 1
            self.send_payloads([m.encode(m.Upload(off, data)) for off, data in missing.items()])
            while missing:
                msg = self.recv(self.resend)
                if msg is None:
                    break
                if isinstance(msg, m.UploadAck):
                    data = missing.get(msg.offset)
                    if data is not None and len(data) == msg.count:
                        del missing[msg.offset]
                elif isinstance(msg, m.Error):
                    self.raise_for(msg, "uploading the checkpoint")

    def restore(self, seed: int, samples_per_epoch: int, digest_every: int, checkpoint_every: int,
                state: bytes, record: m.CheckpointRecord, timeout: float = 60.0) -> None:
        """Start a session and restore a checkpoint: `S`, `U`..., `K` (answered `A` 0).

        The device checks the uploaded bytes against the record's CRC-32; on a
        mismatch (`X` 7) they are uploaded again."""
        restore = m.Restore(record.samples_trained, record.hinge_sum, record.errors, record.state_crc32,
                            record.sched)
        for _attempt in range(3):
            self.start(seed, samples_per_epoch, digest_every, checkpoint_every=checkpoint_every)
            self.upload_state(state, timeout=timeout)
            try:
                self.request(restore, lambda x: isinstance(x, m.Ack) and x.frames_done == 0 and x.token == 0,
                             "restoring the checkpoint", timeout)
            except DeviceReportedError as e:
                if e.code == m.ERR_RESTORE:
                    continue
                raise
            self.reset_numbering(record.samples_trained)
            return
        raise ProtocolError("the device did not take the checkpoint after 3 uploads (its digest never matched)")

    def read_checkpoint(self, timeout: float = 60.0) -> tuple[bytes, m.CheckpointRecord]:
        """Pull a checkpoint of the device's state now (no data frames in flight):
        the state bytes (lost chunks asked for again) and the record (`W` 0xFFFFFFFF, 0)."""
        data, digest = self.read_weights(timeout)
        rec = self.request(m.Weights(0xFFFFFFFF, 0), lambda x: isinstance(x, m.CheckpointRecord),
                           "reading the checkpoint record", timeout)
        assert isinstance(rec, m.CheckpointRecord)
        if rec.state_crc32 != digest.state_crc32:
            raise ProtocolError("the checkpoint record's digest differs from the state bytes' (state changed?)")
        return data, rec
