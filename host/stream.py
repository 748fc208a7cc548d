"""Pipelined sending of samples: :class:`Streamer`.

The device acknowledges data frames with `A` (every 16 frames, and on `F`).
The streamer keeps at most ``window`` data frames unacknowledged, writing
them in batches so the device always has the next frame waiting, while the
link's reader thread collects the device's messages. `P`, `D` and `R`
messages go to callbacks (called in the caller's thread); an `X` stops the
stream with :class:`~mcutrain.host.link.DeviceReportedError`.

On a real board the window must also fit the board's receive buffer: QEMU
holds input back until the guest reads it, a UART does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice

from ..errors import DeviceSilentError
from . import messages as m
from .link import DeviceLink, DeviceReportedError

DEFAULT_WINDOW = 64
#: Frames written in one go at most.
BATCH = 16


@dataclass
class StreamResult:
    """What one :meth:`Streamer.run` did."""

    frames: int = 0
    seconds: float = 0.0
    bytes_sent: int = 0
    samples_trained: int = 0  #: sum over the `P` messages received
    hinge_sum: int = 0
    errors: int = 0
    predictions: bytes = b""  #: classes of this run's `E` frames, in order
    digests: list[m.Digest] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_sent / self.seconds if self.seconds > 0 else 0.0


class Streamer:
    """Sends `T`/`E` frames through a :class:`DeviceLink` with a bounded window."""

    def __init__(
        self,
        link: DeviceLink,
        *,
        window: int = DEFAULT_WINDOW,
        timeout: float = 10.0,
        on_progress: Callable[[m.Progress], None] | None = None,
        on_digest: Callable[[m.Digest], None] | None = None,
        on_predictions: Callable[[m.Predictions], None] | None = None,
        on_message: Callable[[m.Message], None] | None = None,
    ) -> None:
        if window < m.ACK_EVERY:
            raise ValueError(
                f"window must be at least {m.ACK_EVERY} (the device acknowledges every {m.ACK_EVERY} frames)"
            )
        self.link = link
        self.window = window
        self.timeout = timeout
        self.on_progress = on_progress
        self.on_digest = on_digest
        self.on_predictions = on_predictions
        self.on_message = on_message
        self._result = StreamResult()
        self._preds = bytearray()
        self._pred_base = 0

    # ----------------------------------------------------------------- public

    def train(self, samples: Iterable[tuple[int, bytes]], *, flush: bool = True) -> StreamResult:
        """Send ``(label, encoded sample)`` pairs as `T` frames."""
        return self.run((m.train_payload(label, x) for label, x in samples), flush=flush)

    def evaluate(self, samples: Iterable[bytes], *, flush: bool = True) -> StreamResult:
        """Send encoded samples as `E` frames; the result holds their predicted classes."""
        return self.run((m.eval_payload(x) for x in samples), flush=flush)

    def run(self, payloads: Iterable[bytes], *, flush: bool = True) -> StreamResult:
        """Send `T`/`E` payloads (type byte + body). With ``flush`` (default)
        end with `F` and wait until everything is acknowledged and reported."""
        link = self.link
        self._result = res = StreamResult()
        self._preds = bytearray()
        self._pred_base = link.eval_frames_sent
        it = iter(payloads)
        t0 = time.perf_counter()
        b0 = link.bytes_sent
        while True:
            room = self.window - (link.data_frames_sent - link.frames_acked)
            if room <= 0:
                self._pump(block=True)
                continue
            batch = list(islice(it, min(room, BATCH)))
            if not batch:
                break
            link.send_payloads(batch)
            res.frames += len(batch)
            self._pump(block=False)
        if flush:
            link.flush(self.timeout, on_other=self._dispatch)
        else:
            while True:
                msg = link.recv_nowait()
                if msg is None:
                    break
                self._dispatch(msg)
        res.seconds = time.perf_counter() - t0
        res.bytes_sent = link.bytes_sent - b0
        res.predictions = bytes(self._preds)
        return res

    # --------------------------------------------------------------- internal

    def _pump(self, block: bool) -> None:
        if block:
            msg = self.link.recv(self.timeout)
            if msg is None:
                unacked = self.link.data_frames_sent - self.link.frames_acked
                raise DeviceSilentError(
                    f"the device on {self.link.description} stopped answering: {unacked} frames "
                    f"unacknowledged for {self.timeout:g} s"
                )
            self._dispatch(msg)
        while True:
            msg = self.link.recv_nowait()
            if msg is None:
                return
            self._dispatch(msg)

    def _dispatch(self, msg: m.Message) -> None:
        res = self._result
        if isinstance(msg, m.Ack):
            return
        if isinstance(msg, m.Error):
            raise DeviceReportedError(msg, "while streaming samples")
        if isinstance(msg, m.Progress):
            res.samples_trained += msg.samples_trained
            res.hinge_sum += msg.hinge_sum
            res.errors += msg.errors
            if self.on_progress:
                self.on_progress(msg)
        elif isinstance(msg, m.Digest):
            res.digests.append(msg)
            if self.on_digest:
                self.on_digest(msg)
        elif isinstance(msg, m.Predictions):
            start = msg.first_eval_index - self._pred_base
            if start >= 0:
                end = start + len(msg.classes)
                if len(self._preds) < end:
                    self._preds.extend(bytes(end - len(self._preds)))
                self._preds[start:end] = msg.classes
            if self.on_predictions:
                self.on_predictions(msg)
        elif self.on_message:
            self.on_message(msg)


def stream_train(link: DeviceLink, samples: Iterable[tuple[int, bytes]], **kwargs: object) -> StreamResult:
    """Shortcut: ``Streamer(link, **kwargs).train(samples)``."""
    return Streamer(link, **kwargs).train(samples)  # type: ignore[arg-type]


def stream_eval(link: DeviceLink, samples: Iterable[bytes], **kwargs: object) -> StreamResult:
    """Shortcut: ``Streamer(link, **kwargs).evaluate(samples)``."""
    return Streamer(link, **kwargs).evaluate(samples)  # type: ignore[arg-type]
