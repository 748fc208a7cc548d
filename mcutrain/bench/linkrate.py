"""Throughput: what the link alone carries vs what a training session gets, for one sample encoding.

The *link-alone* rate streams ready-made `T` frames of the session's size (1 + 1 + input bytes
+ CRC) through the same :class:`~mcutrain.host.stream.Streamer`, with nothing else on the host:
no data set indexing, no progress, no twin. Against the same firmware, the session's rate over
the link-alone rate says how much of the device's time the host leaves unused (goal: >= 90%).
Against a firmware that does no compute (``tests/c/fake_model.c``) the link-alone rate is the
link's own ceiling for that frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..host.emulator import Emulator
from ..host.link import DeviceLink
from ..host.stream import Streamer

LINK_GOAL = 0.9
"""The session should get at least this share of the link-alone rate: a timed goal, judged with PASS/MISS in
the benchmark's figures (BENCHMARKS.md, `mcutrain bench`), not asserted by a test."""


def goal_verdict(ratio: float) -> str:
    return "PASS" if ratio >= LINK_GOAL else "MISS"


@dataclass(frozen=True)
class LinkRate:
    samples: int
    sample_bytes: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def link_alone_rate(link: DeviceLink, samples: np.ndarray, labels: np.ndarray, n: int, *, seed: int = 1,
                    window: int = 64) -> LinkRate:
    """Stream ``n`` `T` frames (cycling through the encoded ``samples``) to a connected device
    and time it; ``samples`` must have the device's input size per row."""
    rows = [bytes(r) for r in np.asarray(samples, dtype=np.uint8)]
    labs = [int(v) for v in labels]
    if link.info is None:
        link.hello(timeout=10)
    link.start(seed, len(rows), 0)
    res = Streamer(link, window=window).train((labs[k % len(rows)], rows[k % len(rows)]) for k in range(n))
    if res.samples_trained != n:
        raise RuntimeError(f"the device reported {res.samples_trained} samples trained, {n} sent")
    return LinkRate(n, len(rows[0]), res.seconds)


def link_alone_on_emulator(elf: Path, machine: str, samples: np.ndarray, labels: np.ndarray, n: int, *,
                           cpu: str | None = None, serial_index: int | None = None) -> LinkRate:
    """:func:`link_alone_rate` on a freshly booted QEMU running ``elf``."""
    kwargs = {"cpu": cpu} if cpu else {}
    if serial_index is not None:
        kwargs["serial_index"] = serial_index  # type: ignore[assignment]
    with Emulator(elf, machine, **kwargs) as emu, DeviceLink.open(emu.url) as link:
        return link_alone_rate(link, samples, labels, n)


def throughput_ratio(session_samples_per_second: float, link: LinkRate) -> dict[str, float | int]:
    """The figures to print: both rates and their ratio (session / link alone)."""
    ratio = session_samples_per_second / link.samples_per_second if link.samples_per_second else 0.0
    return {"sample_bytes": link.sample_bytes, "link_alone_samples_per_second": round(link.samples_per_second, 1),
            "session_samples_per_second": round(session_samples_per_second, 1), "ratio": round(ratio, 3)}


def format_ratio(fig: dict[str, float | int]) -> str:
    return (f"{fig['sample_bytes']}-byte samples: link alone {fig['link_alone_samples_per_second']} samples/s, "
            f"session {fig['session_samples_per_second']} samples/s, ratio {100 * float(fig['ratio']):.1f}% "
            f"(goal >= {100 * LINK_GOAL:.0f}%: {goal_verdict(float(fig['ratio']))})")


def link_alone_for_model(model: Path, build_dir: Path, n: int | None = None) -> LinkRate:
    """The link-alone rate for a model file: its firmware (built in ``build_dir``, as `mcutrain train
    --build-dir` does; reused when up to date) on its emulated board, fed ``n`` (default: the
    model's training set size) of its own encoded training samples."""
    from ..job import build_project, encoded_data, load_data, load_spec

    spec, ds = load_data(load_spec(model))
    proj, elf = build_project(spec, build_dir, quiet=True)
    x, _ = encoded_data(spec, ds)
    board = proj.board
    return link_alone_on_emulator(elf, board.qemu_machine, x, ds.y_train, n or len(x), cpu=board.qemu_cpu,
                                  serial_index=board.qemu_serial_index)
