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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import McutrainError
from . import messages as m
from .link import DeviceLink
from .stream import Streamer


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

    @property
    def bit_exact(self) -> bool | None:
        if self.predictions_equal is None:
            return None
        return (not self.digest_mismatches and bool(self.predictions_equal) and bool(self.weights_equal)
                and self.digests_checked > 0)


class Progress:
    """One line of progress on stderr, refreshed at most every `interval` seconds."""

    def __init__(self, total: int, what: str, quiet: bool = False, interval: float | None = None) -> None:
        self.tty = sys.stderr.isatty()
        if interval is None:
            interval = 1.0 if self.tty else 15.0  # a log file gets a line every 15 s, a terminal a live line
        self.total, self.what, self.quiet, self.interval = total, what, quiet, interval
        self.t0 = time.monotonic()
        self.last = 0.0
        self.done = 0
        self.hinge = 0
        self.errors = 0
        self.window = 0

    def update(self, done: int, hinge: int = 0, errors: int = 0, n: int = 0) -> None:
        self.done = done
        self.hinge += hinge
        self.errors += errors
        self.window += n
        now = time.monotonic()
        if self.quiet or (now - self.last < self.interval and done < self.total):
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        extra = ""
        if self.window:
            extra = f"  hinge {self.hinge / self.window / 256:.3f}  online acc {1 - self.errors / self.window:.3f}"
            self.hinge = self.errors = self.window = 0
        line = f"{self.what}: {done}/{self.total}  {rate:.0f} samples/s  ETA {eta:.0f} s{extra}"
        sys.stderr.write(f"\r{line}   " if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.quiet and self.tty:
            sys.stderr.write("\n")


class TwinRunner(threading.Thread):
    """The twin over the same sample order, producing digests to compare."""

    def __init__(self, plan: Any, seed: int, samples_per_epoch: int, x: np.ndarray, y: np.ndarray,
                 order: np.ndarray, digest_every: int) -> None:
        super().__init__(daemon=True)
        from ..twin import make_twin

        self.net = make_twin(plan)  # integer twin, or the float32 twin for the float baseline
        self.seed, self.spe = seed, samples_per_epoch
        self.x, self.y, self.order, self.every = x, y, order, digest_every
        self.digests: dict[int, tuple[int, int]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.net.start(self.seed, self.spe)
            for k, idx in enumerate(self.order):
                self.net.train_step(self.x[idx], int(self.y[idx]))
                if self.every and (k + 1) % self.every == 0:
                    self.digests[k + 1] = (self.net.digest(), self.net.prng_state)
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
) -> SessionResult:
    """Train for `epochs` passes, evaluate on the test set, and (with a twin) verify bit-exactness.

    The sample order is fixed by the seed: epoch e visits a permutation drawn from
    numpy's PCG64 seeded with (seed, e); the twin sees the same order.
    """
    res = SessionResult()
    link.hello(expected_hash=model_hash)
    n = len(train_enc)
    order = np.concatenate([np.random.default_rng([seed, e]).permutation(n) for e in range(epochs)])
    twin: TwinRunner | None = None
    if twin_factory is not None:
        plan, x_dec, _ = twin_factory()
        twin = TwinRunner(plan, seed, n, x_dec, train_labels, order, digest_every)
        twin.start()

    link.start(seed, n, digest_every)
    prog = Progress(len(order), "train", quiet)

    def on_progress(p: m.Progress) -> None:
        # `P` counts are cumulative since `S`; the progress line wants those since the last one.
        n = p.samples_trained - res.samples_trained
        if n <= 0:
            return
        prog.update(p.samples_trained, p.hinge_sum - res.hinge_sum, p.errors - res.train_errors, n)
        res.samples_trained, res.hinge_sum, res.train_errors = p.samples_trained, p.hinge_sum, p.errors

    def on_digest(d: m.Digest) -> None:
        res.digests.append((d.samples_trained, d.state_crc32, d.prng_state))

    streamer = Streamer(link, on_progress=on_progress, on_digest=on_digest)
    t0 = time.monotonic()
    tr = streamer.train((int(train_labels[i]), train_enc[i].tobytes()) for i in order)
    res.train_seconds = time.monotonic() - t0
    prog.close()
    res.samples_trained = len(order)

    prog = Progress(len(test_enc), "evaluate", quiet)
    t0 = time.monotonic()
    ev = Streamer(link, on_predictions=lambda p: prog.update(p.first_eval_index + len(p.classes))).evaluate(
        test_enc[i].tobytes() for i in range(len(test_enc)))
    res.eval_seconds = time.monotonic() - t0
    prog.close()
    preds = np.frombuffer(ev.predictions, dtype=np.uint8)
    res.device_predictions = preds
    res.test_samples = len(preds)
    res.test_accuracy = float((preds == test_labels[: len(preds)]).mean()) if len(preds) else 0.0
    device_state, _ = link.read_weights()
    res.link_bytes = tr.bytes_sent + ev.bytes_sent

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
