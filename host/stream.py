"""Pipelined, reliable sending of samples: :class:`Streamer`.

Data frames (`T`, `E`, and the `Q` parts of samples larger than one frame) are
numbered (``docs/protocol.md``, "Reliability").
The streamer keeps at most ``window`` of them unacknowledged and keeps every
unacknowledged frame, so it can go back and send them again (go-back-N):

- the device drops a frame out of sequence and says `N` (the frame it
  expects): the streamer goes back to that frame;
- no acknowledgement for ``rto`` seconds while frames are out: the streamer
  polls with `F` (a token); the device's `A` with that token says how far it
  got, and the frames after that point, all sent before the poll, were lost:
  the streamer goes back to the first of them.

The device never waits for the host on a healthy link: the window is sent
ahead, acknowledgements are periodic and cumulative. `P` (cumulative), `D`,
`R` and checkpoints go to callbacks (called in the caller's thread). An `X`
other than a line error stops the stream (:class:`DeviceReportedError`;
:class:`DeviceResetError` if the device lost its session).

On a real board the window must also fit the board's receive buffer: QEMU
holds input back until the guest reads it, a UART does not.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import DeviceSilentError, ProtocolError
from . import messages as m
from .framing import encode_frame
from .link import DeviceLink

DEFAULT_WINDOW = 64
#: Frames written in one go at most.
BATCH = 16
#: Seconds without any acknowledgement before the streamer polls.
DEFAULT_RTO = 0.25
#: The window never shrinks below this many frames.
MIN_WINDOW = 4
#: Passes over missing predictions before giving up.
EVAL_ROUNDS = 20


@dataclass
class Checkpoint:
    """A verified checkpoint: the state bytes and the device's record of them."""

    state: bytes
    record: m.CheckpointRecord

    @property
    def samples_trained(self) -> int:
        return self.record.samples_trained


@dataclass
class StreamResult:
    """What one :meth:`Streamer.run` did."""

    frames: int = 0
    seconds: float = 0.0
    bytes_sent: int = 0
    samples_trained: int = 0  #: from the last `P` (cumulative since `S`)
    hinge_sum: int = 0
    errors: int = 0
    predictions: bytes = b""  #: classes of this run's `E` frames, in order
    digests: list[m.Digest] = field(default_factory=list)
    retransmissions: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_sent / self.seconds if self.seconds > 0 else 0.0


class _CheckpointAssembler:
    """Collects the `w` chunks a `C` follows; checks them against its digest."""

    def __init__(self, state_bytes: int) -> None:
        self.state_bytes = state_bytes
        self.chunks: dict[int, bytes] = {}
        self.rejected = 0

    def chunk(self, w: m.WeightChunk) -> None:
        if w.offset == 0:
            self.chunks.clear()
        self.chunks[w.offset] = w.data

    def complete(self, rec: m.CheckpointRecord) -> Checkpoint | None:
        data = b"".join(self.chunks[k] for k in sorted(self.chunks))
        self.chunks.clear()
        if len(data) != self.state_bytes or zlib.crc32(data) != rec.state_crc32:
            self.rejected += 1  # chunks lost on the line: wait for the next checkpoint
            return None
        return Checkpoint(data, rec)


class Streamer:
    """Sends `T`/`E` frames through a :class:`DeviceLink` with a bounded window and retransmission."""

    def __init__(
        self,
        link: DeviceLink,
        *,
        window: int = DEFAULT_WINDOW,
        timeout: float = 10.0,
        rto: float = DEFAULT_RTO,
        on_progress: Callable[[m.Progress], None] | None = None,
        on_digest: Callable[[m.Digest], None] | None = None,
        on_predictions: Callable[[m.Predictions], None] | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        on_message: Callable[[m.Message], None] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.link = link
        self.window = window
        self.timeout = timeout
        self.rto = rto
        self.on_progress = on_progress
        self.on_digest = on_digest
        self.on_predictions = on_predictions
        self.on_checkpoint = on_checkpoint
        self.on_message = on_message
        self._cwnd = float(window)  # frames allowed in flight now (halved on losses)
        self._result = StreamResult()
        self._pred_slot: dict[int, int] = {}  # device eval index -> position in the result
        self._preds: bytearray = bytearray()
        self._have: bytearray = bytearray()
        self._last_p: m.Progress | None = None
        state_bytes = link.info.state_bytes if link.info is not None else 0
        self._ckpt = _CheckpointAssembler(state_bytes)

    @property
    def checkpoints_rejected(self) -> int:
        return self._ckpt.rejected

    # ----------------------------------------------------------------- public

    def train(self, samples: Iterable[tuple[int, bytes]], *, flush: bool = True) -> StreamResult:
        """Send ``(label, encoded sample)`` pairs as `T` frames (a sample larger than one frame as `Q` parts
        and a `T` with the rest)."""
        return self.run((p for label, x in samples for p in m.train_payloads(label, x)), flush=flush)

    def evaluate(self, samples: Iterable[bytes], *, flush: bool = True) -> StreamResult:
        """Send encoded samples as `E` frames; the result holds their predicted classes.

        Predictions lost on the line (an `R` damaged) are asked for again by
        sending those samples once more (inference changes no state)."""
        xs: Sequence[bytes] = list(samples)
        n = len(xs)
        self._preds = bytearray(n)
        self._have = bytearray(n)
        self._pred_slot = {}
        total = StreamResult()
        todo = list(range(n))
        for _round in range(EVAL_ROUNDS):
            res = self.run((p for i in todo for p in m.eval_payloads(xs[i])), flush=True, slots=todo)
            total.frames += res.frames
            total.seconds += res.seconds
            total.bytes_sent += res.bytes_sent
            total.retransmissions += res.retransmissions
            todo = [i for i in range(n) if not self._have[i]]
            if not todo:
                break
        else:
            raise ProtocolError(f"predictions of {len(todo)} samples never arrived after {EVAL_ROUNDS} passes")
        total.predictions = bytes(self._preds)
        return total

    def run(self, payloads: Iterable[bytes], *, flush: bool = True, slots: Sequence[int] | None = None) -> StreamResult:
        """Send `T`/`E`/`Q` payloads (type byte, two bytes for the sequence number, body).

        With ``flush`` (default) end with `F` until every frame is acknowledged
        and the final counts have arrived. ``slots``: position in the result
        of each `E` payload's prediction (default: 0, 1, ...)."""
        link = self.link
        self._result = res = StreamResult()
        if slots is None:
            self._preds = bytearray()
            self._have = bytearray()
            self._pred_slot = {}
        it = iter(payloads)
        slot_it = iter(slots) if slots is not None else None
        pending: deque[bytes] = deque()  # frames link.frames_acked .. link.frames_assigned - 1
        base = link.frames_acked  # frame number of pending[0]
        send_ptr = link.frames_assigned
        retrans0 = link.retransmissions
        exhausted = False
        t0 = time.perf_counter()
        b0 = link.bytes_sent
        last_heard = last_progress = time.monotonic()
        acked_seen = link.frames_acked
        poll_token = 0  # outstanding poll
        poll_mark = 0  # send_ptr when it was sent
        poll_epoch = 0
        epoch = 0  # rewinds so far
        last_rewind = (-1, 0.0)
        final_done = False
        eval_count = 0
        line_errors_seen = link.line_errors

        def rewind(to: int) -> None:
            nonlocal send_ptr, epoch, last_rewind
            to = max(to, link.frames_acked)
            if to < send_ptr:
                epoch += 1
                last_rewind = (to, time.monotonic())
                send_ptr = to
                # Frames are being lost: fewer in flight, so fewer to send again (AIMD).
                self._cwnd = max(MIN_WINDOW, self._cwnd / 2)

        while True:
            # Drop what the device acknowledged.
            while base < link.frames_acked and pending:
                pending.popleft()
                base += 1
            send_ptr = max(send_ptr, link.frames_acked)
            # Fill the window: resend first, then new frames.
            batch: list[bytes] = []
            while send_ptr - link.frames_acked < int(self._cwnd):
                k = send_ptr - base
                if k < len(pending):
                    batch.append(pending[k])
                    link.retransmissions += 1
                elif exhausted:
                    break
                else:
                    p = next(it, None)
                    if p is None:
                        exhausted = True
                        break
                    seq = link.frames_assigned
                    if p[:1] == b"E":
                        slot = next(slot_it) if slot_it is not None else eval_count  # type: ignore[arg-type]
                        eval_count += 1
                        self._pred_slot[link.evals_assigned] = slot
                        link.evals_assigned += 1
                    elif p[:1] == b"T":
                        link.trains_assigned += 1  # `Q` (a part of a sample) is neither
                    frame = encode_frame(m.with_seq(p, seq))
                    pending.append(frame)
                    link.frames_assigned += 1
                    res.frames += 1
                    batch.append(frame)
                send_ptr += 1
                if len(batch) >= BATCH:
                    link.send_raw(b"".join(batch))
                    batch = []
            if batch:
                link.send_raw(b"".join(batch))
            all_sent = exhausted and send_ptr >= link.frames_assigned
            if all_sent and (final_done if flush else link.frames_acked >= link.frames_assigned):
                break
            if all_sent and flush and not poll_token:
                # Everything is out: ask for the final counts (and where the device is).
                poll_token = link.next_token()
                poll_mark, poll_epoch = send_ptr, epoch
                link.send(m.Flush(poll_token))
                last_progress = time.monotonic()
            if (not poll_token and not all_sent and self._cwnd < m.ACK_EVERY
                    and send_ptr - link.frames_acked >= int(self._cwnd)):
                # A small window fills before the device's next periodic `A`: ask for one.
                poll_token = link.next_token()
                poll_mark, poll_epoch = send_ptr, epoch
                link.send(m.Flush(poll_token))
                last_progress = time.monotonic()
            if link.line_errors != line_errors_seen:
                # The device saw one of our frames damaged: ask where it is now
                # rather than wait for a timeout (the damaged frame may be the last one sent).
                line_errors_seen = link.line_errors
                if not poll_token and link.frames_acked < send_ptr:
                    link.polls += 1
                    poll_token = link.next_token()
                    poll_mark, poll_epoch = send_ptr, epoch
                    link.send(m.Flush(poll_token))
                    last_progress = time.monotonic()
            msg = link.recv(self.rto / 4)
            now = time.monotonic()
            if msg is None:
                if now - last_heard > self.timeout:
                    raise DeviceSilentError(
                        f"the device on {link.description} stopped answering: "
                        f"{link.frames_assigned - link.frames_acked} frames unacknowledged for {self.timeout:g} s"
                    )
                if now - last_progress > self.rto and (link.frames_acked < send_ptr or poll_token):
                    # No acknowledgement for a while: poll (again, if the last poll was lost).
                    link.polls += 1
                    poll_token = link.next_token()
                    poll_mark, poll_epoch = send_ptr, epoch
                    link.send(m.Flush(poll_token))
                    last_progress = now
                continue
            last_heard = now
            if link.frames_acked > acked_seen:
                # Frames got through: open the window again, up to `window`.
                self._cwnd = min(float(self.window), self._cwnd + (link.frames_acked - acked_seen))
                acked_seen = link.frames_acked
                last_progress = now
            if isinstance(msg, m.Ack):
                if poll_token and msg.token == poll_token:
                    poll_token = 0
                    last_progress = now
                    if epoch == poll_epoch and msg.frames_done < poll_mark:
                        rewind(msg.frames_done)  # frames sent before the poll were lost
                    elif all_sent and msg.frames_done == link.frames_assigned and self._final_counts_in():
                        final_done = True  # `P` and `R` come before this `A`
                continue
            if isinstance(msg, m.Nak):
                link.naks += 1
                stale = last_rewind[0] == msg.frames_done and now - last_rewind[1] < self.rto
                if not stale:
                    rewind(msg.frames_done)
                continue
            self._dispatch(msg)
        res.seconds = time.perf_counter() - t0
        res.bytes_sent = link.bytes_sent - b0
        res.retransmissions = link.retransmissions - retrans0
        res.predictions = bytes(self._preds)
        if self._last_p is not None:
            res.samples_trained = self._last_p.samples_trained
            res.hinge_sum = self._last_p.hinge_sum
            res.errors = self._last_p.errors
        return res

    # --------------------------------------------------------------- internal

    def _final_counts_in(self) -> bool:
        """The last `P` counts every `T` frame sent (or no `T` was sent)."""
        link = self.link
        if link.trains_assigned == 0:
            return True
        p = self._last_p
        return p is not None and p.samples_trained == link.trained_base + link.trains_assigned

    def _dispatch(self, msg: m.Message) -> None:
        res = self._result
        if isinstance(msg, m.Error):
            self.link.raise_for(msg, "while streaming samples", started=True)
        if isinstance(msg, m.Progress):
            if self._last_p is None or msg.samples_trained >= self._last_p.samples_trained:
                self._last_p = msg
            if self.on_progress:
                self.on_progress(msg)
        elif isinstance(msg, m.Digest):
            res.digests.append(msg)
            if self.on_digest:
                self.on_digest(msg)
        elif isinstance(msg, m.Predictions):
            for k, cls in enumerate(msg.classes):
                slot = self._pred_slot.get(msg.first_eval_index + k)
                if slot is None:
                    continue
                if slot >= len(self._preds):
                    self._preds.extend(bytes(slot + 1 - len(self._preds)))
                    self._have.extend(bytes(slot + 1 - len(self._have)))
                self._preds[slot] = cls
                self._have[slot] = 1
            if self.on_predictions:
                self.on_predictions(msg)
        elif isinstance(msg, m.WeightChunk):
            self._ckpt.chunk(msg)
        elif isinstance(msg, m.CheckpointRecord):
            ck = self._ckpt.complete(msg)
            if ck is not None and self.on_checkpoint:
                self.on_checkpoint(ck)
        elif self.on_message:
            self.on_message(msg)


def stream_train(link: DeviceLink, samples: Iterable[tuple[int, bytes]], **kwargs: object) -> StreamResult:
    """Shortcut: ``Streamer(link, **kwargs).train(samples)``."""
    return Streamer(link, **kwargs).train(samples)  # type: ignore[arg-type]


def stream_eval(link: DeviceLink, samples: Iterable[bytes], **kwargs: object) -> StreamResult:
    """Shortcut: ``Streamer(link, **kwargs).evaluate(samples)``."""
    return Streamer(link, **kwargs).evaluate(samples)  # type: ignore[arg-type]
