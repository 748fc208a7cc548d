"""Commands of the robust link: `mcutrain emulate` and `mcutrain soak`.

Registered on the group in mcutrain/cli/__init__.py; the work itself is in mcutrain/job.py.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..errors import McutrainError
from .common import fail


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", default=None, help="Override the model file's board (must be an emulated one).")
@click.option("--listen", "listen", type=int, required=True, help="TCP port for the board's UART (127.0.0.1).")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None,
              help="Where to generate and build (default: build/<model name>).")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="Bake this state file into the firmware (`mcutrain generate --init`): needed for a model with "
                   "frozen layers; sessions with it then need the same --init (the firmware's hash covers it).")
def emulate(model: Path, board: str | None, listen: int, build_dir: Path | None, init_path: Path | None) -> None:
    """Build MODEL's firmware if needed and run the emulated board with its UART on 127.0.0.1:PORT.

    Then `mcutrain train MODEL --port socket://127.0.0.1:PORT` talks to it as to a real port.
    Runs until Ctrl-C or SIGTERM; QEMU is always ended.
    """
    from ..job import build_firmware, build_project, load_data, load_spec, project_root, start_emulator
    from ..state.identity import firmware_hash

    init_state = None
    try:
        if init_path is None:
            spec, proj, elf = build_firmware(model, board, build_dir, log=lambda s: click.echo(s, err=True))
        else:
            from ..state.layout import read_state

            spec = load_spec(model, board)
            if spec.n_inputs is None:
                spec, _ = load_data(spec)
            init_state = read_state(spec, init_path).state
            proj, elf = build_project(spec, project_root(spec, build_dir), log=lambda s: click.echo(s, err=True),
                                      init_state=init_state)
        emu = start_emulator(proj, elf, port=listen)
    except McutrainError as exc:
        fail(exc)
        return

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        click.echo(f"emulating {proj.board.name} (qemu -M {proj.board.qemu_machine}, pid {emu.pid}) with "
                   f"firmware for model {spec.model_hash()}"
                   + (f", baked from {init_path} (firmware hash {firmware_hash(spec.model_hash(), init_state)})"
                      if init_state is not None else ""), err=True)
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
    from ..job import run_soak

    try:
        report = run_soak(model, board, rate, delay_s, reset_every, checkpoint_every, fault_seed, build_dir,
                          log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        fail(exc)
        return
    text = json.dumps(report, indent=2)
    if report_path is not None:
        report_path.write_text(text + "\n")
    click.echo(text)
    if not report["bit_exact"]:
        sys.exit(10)
