"""Progress bars for long work, and the training curve they see.

:class:`ProgressBar` draws ``train  [#####-----]  45%  5400/12000  263 samples/s  ETA 25 s`` on
stderr, redrawn at most every ``interval`` seconds, only when stderr is a terminal
(a log file or a pipe gets nothing) and not quiet. It has the interface
:func:`mcutrain.host.session.run_session` expects of its ``progress`` factory:
``update(done, hinge, errors, n)`` and ``close()``.

:class:`CurveRecorder` is such a factory that also keeps what the device reported
while training (its `P` messages: samples, hinge sum, errors since the last one),
so a report can draw the loss and training accuracy over the run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def format_seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ProgressBar:
    """One progress bar; see the module docstring."""

    def __init__(self, total: int, what: str, quiet: bool = False, *, stream: TextIO | None = None,
                 interval: float = 0.2, width: int = 24, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = self.stream.isatty()
        self.enabled = enabled and not quiet
        self.total, self.what, self.interval, self.width = max(total, 0), what, interval, width
        self.t0 = time.monotonic()
        self.last_draw = -1e9
        self.done = 0
        self.drawn = False

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.t0, 1e-9)
        rate = self.done / elapsed
        frac = min(self.done / self.total, 1.0) if self.total else 1.0
        fill = int(round(frac * self.width))
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{self.what:9} [{'#' * fill}{'-' * (self.width - fill)}] {frac * 100:3.0f}%  "
                f"{self.done}/{self.total}  {rate:,.0f} samples/s  ETA {format_seconds(eta)}")

    def update(self, done: int, hinge: int = 0, errors: int = 0, n: int = 0) -> None:
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last_draw >= self.interval or done >= self.total:
            self.last_draw = now
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self.stream.flush()
            self.drawn = True

    def close(self) -> None:
        if self.enabled and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class CurvePoint:
    samples: int  #: samples trained when the device sent the `P`
    n: int  #: samples the `P` covers
    hinge_sum: int
    errors: int


@dataclass
class CurveRecorder:
    """A ``progress`` factory for run_session that records the training curve."""

    quiet: bool = False
    enabled: bool | None = None
    hinge_scale: int = 256  #: 2**activation_frac_bits: the device's hinge is fixed point (docs/arithmetic.md)
    points: list[CurvePoint] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  #: seconds per phase ("train", "evaluate")

    def __call__(self, total: int, what: str, quiet: bool = False) -> _RecordingBar:
        return _RecordingBar(self, total, what, quiet or self.quiet, enabled=self.enabled)

    def binned(self, every: int) -> list[dict[str, float]]:
        """The curve in bins of about ``every`` samples: mean loss (hinge, real units) and training accuracy
        (the device's prediction before each update, as in online learning)."""
        bins: list[list[int]] = []  # [last sample, n, hinge, errors]
        n = h = e = 0
        for p in self.points:
            n, h, e = n + p.n, h + p.hinge_sum, e + p.errors
            if n >= every or p is self.points[-1]:
                if bins and n < every // 2:  # a short last bin joins the one before
                    b = bins[-1]
                    bins[-1] = [p.samples, b[1] + n, b[2] + h, b[3] + e]
                elif n:
                    bins.append([p.samples, n, h, e])
                n = h = e = 0
        return [{"samples": s, "loss": h / n / self.hinge_scale, "train_accuracy": 1 - e / n} for s, n, h, e in bins]


class _RecordingBar(ProgressBar):
    def __init__(self, rec: CurveRecorder, total: int, what: str, quiet: bool, enabled: bool | None) -> None:
        super().__init__(total, what, quiet, enabled=enabled)
        self.rec = rec

    def update(self, done: int, hinge: int = 0, errors: int = 0, n: int = 0) -> None:
        if n:
            self.rec.points.append(CurvePoint(done, n, hinge, errors))
        super().update(done, hinge, errors, n)

    def close(self) -> None:
        self.rec.phases[self.what] = round(time.monotonic() - self.t0, 3)
        super().close()
