"""A training session on a device: stream, train, evaluate, verify against the twin.

`run_session` drives one connected device (emulated or real) through the
protocol of docs/protocol.md and, with `verify`, runs the NumPy twin over the
same samples in a worker thread, comparing every weight digest, the test-set
predictions and the final weights as integers.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DeviceSilentError, McutrainError
from ..progress import ProgressBar
from . import messages as m
from .link import DeviceLink, DeviceResetError
from .stream import Checkpoint, Streamer
from .twin_run import sample_order, train_twin

#: Board resets (or lost connections) a session recovers from before giving up.
MAX_RECOVERIES = 10


class VerificationError(McutrainError):
    exit_code = 10


@dataclass
class SessionResult:
    samples_trained: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    test_accuracy: float = 0.0
    test_samples: int = 0
    device_predictions: np.ndarray | None = None
    digests: list[tuple[int, int, int]] = field(default_factory=list)   # (samples, crc, prng) from the device
    digests_checked: int = 0
    digest_mismatches: list[str] = field(default_factory=list)
    predictions_equal: bool | None = None
    weights_equal: bool | None = None
    twin_test_accuracy: float | None = None
    link_bytes: int = 0
    hinge_sum: int = 0
    train_errors: int = 0
    final_state_crc32: int | None = None
    final_state: bytes | None = None  #: the device's state bytes after training and evaluation
    recoveries: int = 0  #: board resets / lost connections recovered from
    checkpoints: int = 0  #: verified checkpoints received
    checkpoints_rejected: int = 0  #: checkpoints with a chunk lost on the line
    checkpoints_pulled: int = 0  #: of those, pulled again at the end of the segment
    resumed_from: int | None = None  #: samples of the checkpoint the session started from
    link_stats: dict[str, int] = field(default_factory=dict)

    @property
    def bit_exact(self) -> bool | None:
        if self.predictions_equal is None:
            return None
        return (not self.digest_mismatches and bool(self.predictions_equal) and bool(self.weights_equal)
                and self.digests_checked > 0)


class TwinRunner(threading.Thread):
    """The twin over the same sample order, producing digests to compare."""

    def __init__(self, plan: Any, seed: int, samples_per_epoch: int, x: np.ndarray, y: np.ndarray,
                 order: np.ndarray, digest_every: int, init_state: bytes | None = None) -> None:
        super().__init__(daemon=True)
        from ..twin import make_twin

        self.net = make_twin(plan)  # integer twin, or the float32 twin for the float baseline
        self.seed, self.spe = seed, samples_per_epoch
        self.x, self.y, self.order, self.every = x, y, order, digest_every
        self.init_state = init_state
        self.digests: dict[int, tuple[int, int]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.digests = train_twin(self.net, self.seed, self.spe, self.x, self.y, self.order, self.every,
                                      init_state=self.init_state).digests
        except BaseException as exc:  # reported by the session
            self.error = exc


def run_session(
    link: DeviceLink,
    *,
    model_hash: str,
    seed: int,
    train_enc: np.ndarray,
    train_labels: np.ndarray,
    test_enc: np.ndarray,
    test_labels: np.ndarray,
    epochs: int,
    digest_every: int,
    twin_factory: Callable[[], tuple[Any, np.ndarray, np.ndarray]] | None = None,
    quiet: bool = False,
    progress: Callable[[int, str, bool], Any] = ProgressBar,  # or a mcutrain.progress.CurveRecorder
    checkpoint_every: int = 0,
    reconnect: Callable[[], DeviceLink] | None = None,
    resume: Checkpoint | None = None,
    resume_phase: str = "train",
    on_checkpoint: Callable[[Checkpoint, str], None] | None = None,
    on_samples: Callable[[int], None] | None = None,
    window: int = 64,
    init: Checkpoint | None = None,
    twin_init_state: bytes | None = None,
) -> SessionResult:
    """Train for `epochs` passes, evaluate on the test set, and (with a twin) verify bit-exactness.

    The sample order is fixed by the seed: epoch e visits a permutation drawn from
    numpy's PCG64 seeded with (seed, e); the twin sees the same order.

    With ``checkpoint_every`` the device sends its state every that many
    samples; ``on_checkpoint(ck, phase)`` gets each verified one (the CLI
    writes the session file). If the device resets or the connection drops,
    ``reconnect()`` gives a new link (a restarted emulator, a reopened port):
    the last checkpoint is restored and the samples after it are sent again.
    ``resume`` starts from a checkpoint (``mcutrain train --resume``). ``init`` (counts 0: the state of a
    state file with the schedule of a fresh session, mcutrain.state.device.init_checkpoint) replaces the state
    the device's session start initialises (``mcutrain train --init``); the twin starts from the same bytes,
    or from ``twin_init_state`` (the state file's bytes, for a model with frozen layers: their latents too).
    """
    res = SessionResult()
    link.hello(expected_hash=model_hash)
    n = len(train_enc)
    order = sample_order(seed, n, epochs)
    twin: TwinRunner | None = None
    if twin_factory is not None:
        plan, x_dec, _ = twin_factory()
        twin = TwinRunner(plan, seed, n, x_dec, train_labels, order, digest_every,
                          init_state=twin_init_state if twin_init_state is not None
                          else init.state if init is not None else None)
        twin.start()

    last: list[Checkpoint | None] = [resume if resume is not None else init]
    res.resumed_from = resume.samples_trained if resume is not None else None
    state: dict[str, Any] = {"link": link, "fresh": resume_phase != "train"}

    def recover(exc: Exception) -> DeviceLink:
        if reconnect is None or res.recoveries >= MAX_RECOVERIES:
            raise exc
        res.recoveries += 1
        if not quiet:
            where = last[0].samples_trained if last[0] is not None else 0
            sys.stderr.write(f"\n{exc}\nreconnecting ({res.recoveries}/{MAX_RECOVERIES}); going on from the "
                             f"checkpoint at {where} samples\n")
        _collect_stats(res, state["link"])
        state["link"].close()
        new = reconnect()
        state["link"], state["fresh"] = new, True
        new.hello(expected_hash=model_hash)
        return new

    prog = progress(len(order), "train", quiet)

    def on_progress(p: m.Progress) -> None:
        # `P` counts are cumulative since `S`; the progress line wants those since the last one.
        k = p.samples_trained - res.samples_trained
        if k <= 0:
            return
        prog.update(p.samples_trained, p.hinge_sum - res.hinge_sum, p.errors - res.train_errors, k)
        res.samples_trained, res.hinge_sum, res.train_errors = p.samples_trained, p.hinge_sum, p.errors
        if on_samples is not None:
            on_samples(p.samples_trained)

    def on_digest(d: m.Digest) -> None:
        res.digests.append((d.samples_trained, d.state_crc32, d.prng_state))

    def got_checkpoint(ck: Checkpoint) -> None:
        last[0] = ck
        res.checkpoints += 1
        if on_checkpoint is not None:
            on_checkpoint(ck, "train")

    t0 = time.monotonic()
    final: Checkpoint | None = resume if resume_phase != "train" else None
    while final is None:
        lk = state["link"]
        try:
            ck = last[0]
            if ck is None:
                lk.start(seed, n, digest_every, checkpoint_every=checkpoint_every)
                s0 = 0
            else:
                lk.restore(seed, n, digest_every, checkpoint_every, ck.state, ck.record)
                s0 = ck.samples_trained
            res.samples_trained, res.hinge_sum, res.train_errors = s0, *(
                (ck.record.hinge_sum, ck.record.errors) if ck is not None else (0, 0))
            # In segments of checkpoint_every samples: a checkpoint the device pushed but the line
            # damaged is pulled again at the segment's end (the only moment the device waits).
            step = checkpoint_every or len(order)
            a = s0
            while a < len(order):
                b = min(len(order), (a // step + 1) * step)
                streamer = Streamer(lk, window=window, on_progress=on_progress, on_digest=on_digest,
                                    on_checkpoint=got_checkpoint)
                streamer.train((int(train_labels[i]), train_enc[i].tobytes()) for i in order[a:b])
                res.checkpoints_rejected += streamer.checkpoints_rejected
                have = last[0]
                if checkpoint_every and b % step == 0 and b < len(order) and (
                        have is None or have.samples_trained != b):
                    data, rec = lk.read_checkpoint()
                    res.checkpoints_pulled += 1
                    got_checkpoint(Checkpoint(data, rec))
                a = b
            res.train_seconds = time.monotonic() - t0  # streaming only (as before protocol v2)
            # The final weights, kept so a reset during evaluation (or a resume) can restore them.
            data, digest = lk.read_weights()
            final = Checkpoint(data, m.CheckpointRecord(len(order), res.hinge_sum, res.train_errors,
                                                        digest.state_crc32, bytes(m.SCHED_BYTES)))
            state["fresh"] = False
            if on_checkpoint is not None:
                on_checkpoint(final, "evaluate")
        except (DeviceSilentError, DeviceResetError) as exc:
            recover(exc)
    prog.close()
    res.samples_trained = len(order)

    prog = progress(len(test_enc), "evaluate", quiet)
    t0 = time.monotonic()
    while True:
        lk = state["link"]
        try:
            if state["fresh"]:
                # A fresh device (resumed or reset): load the final weights; only inference follows.
                lk.restore(seed, n, 0, 0, final.state, final.record)
                state["fresh"] = False
            ev = Streamer(lk, window=window,
                          on_predictions=lambda p: prog.update(p.first_eval_index + len(p.classes))).evaluate(
                test_enc[i].tobytes() for i in range(len(test_enc)))
            device_state, _ = lk.read_weights()
            break
        except (DeviceSilentError, DeviceResetError) as exc:
            recover(exc)
    res.eval_seconds = time.monotonic() - t0
    prog.close()
    link = state["link"]
    preds = np.frombuffer(ev.predictions, dtype=np.uint8)
    res.device_predictions = preds
    res.test_samples = len(preds)
    res.test_accuracy = float((preds == test_labels[: len(preds)]).mean()) if len(preds) else 0.0
    res.final_state_crc32 = zlib.crc32(device_state)
    res.final_state = device_state
    _collect_stats(res, link)
    res.link_bytes = res.link_stats.get("bytes_sent", 0)

    if twin is not None:
        twin.join()
        if twin.error is not None:
            raise twin.error
        for samples, crc, prng in res.digests:
            want = twin.digests.get(samples)
            res.digests_checked += 1
            if want != (crc, prng):
                res.digest_mismatches.append(
                    f"after {samples} samples: device crc {crc:08x} prng {prng:08x}, twin "
                    + ("none" if want is None else f"crc {want[0]:08x} prng {want[1]:08x}"))
        _, _, x_test_dec = twin_factory()  # type: ignore[misc]
        twin_preds = twin.net.infer(x_test_dec).astype(np.uint8)
        res.twin_test_accuracy = float((twin_preds == test_labels).mean())
        res.predictions_equal = bool(np.array_equal(twin_preds, preds))
        res.weights_equal = device_state == twin.net.state_bytes()
    return res


def _collect_stats(res: SessionResult, link: DeviceLink) -> None:
    """Add a link's counters to the session's (a session may use several links)."""
    for k, v in link.stats().items():
        res.link_stats[k] = res.link_stats.get(k, 0) + v
    link_stats_zero(link)


def link_stats_zero(link: DeviceLink) -> None:
    """Zero the counters already added (so a link is not counted twice)."""
    link.bytes_sent = link.bytes_received = 0
    link.retransmissions = link.naks = link.polls = link.requests_resent = link.line_errors = 0
    link.decoder.bad_frames = 0
