"""Commands and helpers of the robust link: `mcutrain emulate`, `mcutrain soak`,
and the reconnecting / session-file parts of `mcutrain train`.

Kept apart from cli.py (which registers these commands) so the tool's and the
link's changes do not tangle.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import DeviceSilentError, McutrainError, PortMissingError


def _fail(exc: McutrainError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def build_firmware(model: Path, board: str | None, build_dir: Path | None,
                   quiet: bool = False) -> tuple[Any, Any, Path]:
    """Generate and build (PlatformIO skips what is up to date): (spec, project, elf)."""
    from .cli import _load, _with_data
    from .project import build, write_project

    spec = _load(model, board)
    if spec.n_inputs is None:
        spec, _ = _with_data(spec)
    root = build_dir or Path("build") / spec.name
    proj = write_project(spec, root)
    if not quiet:
        click.echo(f"model {spec.name} ({spec.model_hash()}), board {proj.board.name}; building in {root}", err=True)
    return spec, proj, build(proj)


def start_emulator(proj: Any, elf: Path, port: int | None = None) -> Any:
    from .host.emulator import Emulator

    if not proj.board.emulated:
        raise McutrainError(f"board {proj.board.name} is not emulated: flash it and pass --port")
    emu = Emulator(elf, proj.board.qemu_machine, cpu=proj.board.qemu_cpu,
                   serial_index=proj.board.qemu_serial_index, port=port)
    emu.start()
    return emu


def reopen_port(port: str, wait: float = 30.0) -> Callable[[], Any]:
    """A reconnect function for a real port (or an emulator started elsewhere):
    reopen it, waiting up to ``wait`` s for it to come back after a reset."""
    from .host.link import DeviceLink

    def reconnect() -> Any:
        deadline = time.monotonic() + wait
        while True:
            try:
                return DeviceLink.open(port)
            except PortMissingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    return reconnect


def restart_emulator(emu: Any) -> Callable[[], Any]:
    """A reconnect function for our own emulator: restart QEMU (a board reset) and connect."""
    from .host.link import DeviceLink

    def reconnect() -> Any:
        emu.stop()
        emu.start()
        return DeviceLink.open(emu.url)

    return reconnect


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", default=None, help="Override the model file's board (must be an emulated one).")
@click.option("--listen", "listen", type=int, required=True, help="TCP port for the board's UART (127.0.0.1).")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None,
              help="Where to generate and build (default: build/<model name>).")
def emulate(model: Path, board: str | None, listen: int, build_dir: Path | None) -> None:
    """Build MODEL's firmware if needed and run the emulated board with its UART on 127.0.0.1:PORT.

    Then `mcutrain train MODEL --port socket://127.0.0.1:PORT` talks to it as to a real port.
    Runs until Ctrl-C or SIGTERM; QEMU is always ended.
    """
    try:
        spec, proj, elf = build_firmware(model, board, build_dir)
        emu = start_emulator(proj, elf, port=listen)
    except McutrainError as exc:
        _fail(exc)
        return

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        click.echo(f"emulating {proj.board.name} (qemu -M {proj.board.qemu_machine}, pid {emu.pid}) with "
                   f"firmware for model {spec.model_hash()}", err=True)
        click.echo(f"UART on {emu.url}  - Ctrl-C to stop", err=True)
        click.echo(emu.url)  # stdout: for scripts
        sys.stdout.flush()
        while emu.running():
            time.sleep(0.2)
        click.echo(f"error: QEMU exited (status {emu.proc.returncode if emu.proc else '?'}):\n{emu.output()}",
                   err=True)
        sys.exit(8)
    except KeyboardInterrupt:
        click.echo("stopping the emulator", err=True)
    finally:
        emu.stop()
        signal.signal(signal.SIGTERM, old)


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", default=None, help="Override the model file's board (must be an emulated one).")
@click.option("--rate", type=float, default=1e-3, show_default=True,
              help="Faults per byte in each direction, spread evenly over bit flips, drops, duplicates and pauses.")
@click.option("--delay", "delay_s", type=float, default=0.01, show_default=True, help="Seconds of one pause.")
@click.option("--reset-every", type=float, default=0.0, show_default=True,
              help="Also kill and restart the emulator every this many seconds (0: never).")
@click.option("--checkpoint-every", type=int, default=500, show_default=True)
@click.option("--seed", "fault_seed", type=int, default=1, show_default=True, help="Seed of the fault injector.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None, help="Write a JSON report.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None)
def soak(model: Path, board: str | None, rate: float, delay_s: float, reset_every: float, checkpoint_every: int,
         fault_seed: int, report_path: Path | None, build_dir: Path | None) -> None:
    """Train MODEL on the emulated board through a fault-injecting proxy, verify against the twin,
    and print what was survived (faults, retransmissions, resets) and whether the weights are bit-exact."""
    try:
        report = run_soak(model, board, rate, delay_s, reset_every, checkpoint_every, fault_seed, build_dir)
    except McutrainError as exc:
        _fail(exc)
        return
    text = json.dumps(report, indent=2)
    if report_path is not None:
        report_path.write_text(text + "\n")
    click.echo(text)
    if not report["bit_exact"]:
        sys.exit(10)


def run_soak(model: Path, board: str | None, rate: float, delay_s: float, reset_every: float,
             checkpoint_every: int, fault_seed: int, build_dir: Path | None) -> dict[str, Any]:
    from .checkpoint_cadence import check_checkpoint_cadence
    from .cli import _session_inputs
    from .host.faults import FaultProxy, FaultRates
    from .host.link import DeviceLink
    from .host.session import run_session

    t_start = time.monotonic()
    spec, proj, elf = build_firmware(model, board, build_dir)
    kwargs = _session_inputs(spec, verify=True, digest_every=250, quiet=True)
    check_checkpoint_cadence(spec.training.batch_size, checkpoint_every, len(kwargs["train_labels"]))
    emu = start_emulator(proj, elf)
    proxy = FaultProxy(emu.port, FaultRates.uniform(rate, delay_s), seed=fault_seed)
    proxy.start()
    resets = [0]
    next_reset = [time.monotonic() + reset_every if reset_every > 0 else float("inf")]

    def reconnect() -> DeviceLink:
        emu.stop()
        emu.start()
        proxy.retarget(emu.port)
        return DeviceLink.open(proxy.url)

    def maybe_reset(samples: int) -> None:
        if time.monotonic() >= next_reset[0]:
            resets[0] += 1
            next_reset[0] = time.monotonic() + reset_every
            emu.stop()  # the board dies; the host notices and reconnects

    try:
        link = DeviceLink.open(proxy.url)
        res = run_session(link, checkpoint_every=checkpoint_every, reconnect=reconnect, on_samples=maybe_reset,
                          **kwargs)
        if res.final_state_crc32 is None:
            raise DeviceSilentError("no final weights")
    finally:
        proxy.stop()
        emu.stop()
    return {
        "model": spec.name, "model_hash": spec.model_hash(), "board": proj.board.name,
        "fault_rate_per_byte": rate, "samples_trained": res.samples_trained, "test_samples": res.test_samples,
        "wall_seconds": round(time.monotonic() - t_start, 1),
        "train_seconds": round(res.train_seconds, 1),
        "faults_injected": proxy.faults_injected, "faults": proxy.counts(),
        "resets_injected": resets[0], "recoveries": res.recoveries,
        "checkpoints": res.checkpoints, "checkpoints_rejected": res.checkpoints_rejected,
        "checkpoints_pulled": res.checkpoints_pulled,
        "link": res.link_stats,
        # The same traffic on a real UART at 115200 baud 8N1 (11520 bytes/s each way, the busier way counts).
        "uart_115200_equivalent_hours": round(max(res.link_stats.get("bytes_sent", 0),
                                                  res.link_stats.get("bytes_received", 0)) / 11520 / 3600, 3),
        "retransmitted_frames": res.link_stats.get("retransmitted_frames", 0),
        "digests_checked": res.digests_checked, "test_accuracy": res.test_accuracy,
        "final_state_crc32": f"{res.final_state_crc32:08x}",
        "bit_exact": bool(res.bit_exact),
    }
