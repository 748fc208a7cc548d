"""`mcutrain modes-table --device`: each row of the table as a verified training session on the
emulated board, several at a time, each row's report kept so an interrupted table goes on.

Every row is one `mcutrain train VARIANT.toml --verify` in its own process (its own QEMU, its own twin),
at most `jobs` at once. A row's JSON report is written by that process only when its session has ended;
a later run reuses a report whose model hash is the variant's (the model file, arithmetic and data
unchanged), so a table of hour-long sessions survives a stop: rerun the same command. Every child
runs in its own process group and is ended with its emulator on every path (QEMU also dies with its parent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..build.toolchain import kill_process_group
from ..errors import McutrainError
from ..host.session import VerificationError

NOT_BIT_EXACT = VerificationError.exit_code  # `mcutrain train` finished, wrote its report, and the twin disagreed


@dataclass(frozen=True)
class DeviceRow:
    """One variant to train on the board: its model file and where its build, log and report go."""

    key: tuple[str, bool]      # (weights, quantized back-propagation)
    model: Path                # the variant's model file (written by the caller)
    model_hash: str

    @property
    def report(self) -> Path:
        return self.model.with_suffix(".json")

    @property
    def log(self) -> Path:
        return self.model.with_suffix(".log")

    @property
    def build_dir(self) -> Path:
        return self.model.with_suffix("")


def cached_report(row: DeviceRow) -> dict[str, Any] | None:
    """The report of an earlier finished session of exactly this variant, if there is one."""
    try:
        rep = json.loads(row.report.read_text())
    except (OSError, ValueError):
        return None
    return rep if rep.get("model_hash") == row.model_hash and "bit_exact" in rep else None


def train_command(row: DeviceRow, digest_every: int) -> list[str]:
    return [sys.executable, "-c", "from mcutrain.cli import main; main()", "train", str(row.model), "--verify",
            "--digest-every", str(digest_every), "--build-dir", str(row.build_dir), "--report", str(row.report),
            "--quiet"]


def run_rows(rows: list[DeviceRow], jobs: int = 2, digest_every: int = 5000,
             log: Callable[[str], None] | None = None, poll: float = 2.0) -> dict[tuple[str, bool], dict[str, Any]]:
    """Train every row on the emulated board (`jobs` sessions at a time); their reports by key."""
    say = log or (lambda s: None)
    done: dict[tuple[str, bool], dict[str, Any]] = {}
    pending: list[DeviceRow] = []
    for row in rows:
        rep = cached_report(row)
        if rep is not None:
            say(f"{row.model.stem}: reused the finished session in {row.report} "
                f"({100 * rep['test_accuracy']:.2f}%, bit-exact {rep['bit_exact']})")
            done[row.key] = rep
        else:
            row.report.unlink(missing_ok=True)
            pending.append(row)
    running: dict[tuple[str, bool], tuple[DeviceRow, subprocess.Popen[bytes], float]] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                row = pending.pop(0)
                with row.log.open("wb") as out:
                    proc = subprocess.Popen(train_command(row, digest_every), stdin=subprocess.DEVNULL,  # noqa: S603
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                running[row.key] = (row, proc, time.monotonic())
                say(f"{row.model.stem}: training on the emulated board (log {row.log})")
            time.sleep(poll)
            for key, (row, proc, t0) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[key]
                rep = cached_report(row)
                finished = rep is not None and (proc.returncode == 0 or (proc.returncode == NOT_BIT_EXACT
                                                                          and rep["bit_exact"] is False))
                if not finished:
                    tail = row.log.read_text(errors="replace").strip().splitlines()[-5:]
                    raise McutrainError(f"{row.model.stem}: `mcutrain train` exited with {proc.returncode} after "
                                        f"{time.monotonic() - t0:.0f} s: " + " | ".join(tail) +
                                        f" (full output: {row.log}; rows already finished are kept and reused "
                                        "when the command is run again)")
                done[key] = rep
                say(f"{row.model.stem}: {100 * rep['test_accuracy']:.2f}% on the device, bit-exact "
                    f"{rep['bit_exact']}, {rep['wall_seconds']:.0f} s")
    finally:
        for _, proc, _ in running.values():
            kill_process_group(proc)
    return done


def online_accuracy(report: dict[str, Any]) -> float | None:
    """Training accuracy of the predictions made before each update, over the whole session (the device's
    progress messages), or None when the report has no per-epoch figures."""
    figs = report.get("epoch_figures") or []
    n = sum(f["samples"] for f in figs)
    return sum(f["train_accuracy"] * f["samples"] for f in figs) / n if n else None
