"""`mcutrain ports` and `mcutrain monitor` (registered on the group in mcutrain/cli/__init__.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import McutrainError
from .common import fail

NO_PORTS = ("no serial ports found. Plug the board in over USB (a Nucleo shows up as /dev/ttyACM0, a "
            "USB-serial cable as /dev/ttyUSB0), check that you may open it (Linux: the dialout group), "
            "or use an emulated board: `mcutrain train MODEL.toml` boots QEMU itself.")


def list_ports() -> list[dict[str, str]]:
    """The serial ports pyserial sees: device, description, hwid; sorted by device."""
    from serial.tools import list_ports as lp  # noqa: PLC0415

    return [{"device": p.device, "description": p.description or "", "hwid": p.hwid or ""}
            for p in sorted(lp.comports(), key=lambda p: p.device)]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list on stdout.")
def ports(as_json: bool) -> None:
    """List the serial ports (device, description, hardware id) a board may be on."""
    found = list_ports()
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo(NO_PORTS, err=True)
        return
    w = max(len("device"), *(len(p["device"]) for p in found))
    d = max(len("description"), *(len(p["description"]) for p in found))
    click.echo(f"{'device':{w}}  {'description':{d}}  hwid")
    for p in found:
        click.echo(f"{p['device']:{w}}  {p['description']:{d}}  {p['hwid']}")


@click.command()
@click.option("--port", required=True, help="Serial port or pyserial URL (socket://127.0.0.1:PORT for an emulator).")
@click.option("--baud", default=115200, show_default=True, help="Baud rate of a real serial port.")
@click.option("--hello/--no-hello", default=True, show_default=True,
              help="Send a hello first, so the device answers with its info (model hash, board).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--no-timestamps", is_flag=True, help="Leave out the seconds since start on each line.")
def monitor(port: str, baud: int, hello: bool, duration: float | None, no_timestamps: bool) -> None:
    """Show what the device on PORT says, one line per message: errors in words, progress, digests,
    and any text that is not a frame. The device sends only when spoken to or while training, and a
    port is held by one program at a time: monitor a device that no session is using."""
    from ..host.link import open_transport  # noqa: PLC0415
    from ..host.monitor import monitor as run_monitor  # noqa: PLC0415

    try:
        transport = open_transport(port, baud)
    except McutrainError as exc:
        fail(exc)
    summary: Any = None
    try:
        summary = run_monitor(transport, click.echo, duration=duration, hello=hello, timestamps=not no_timestamps)
    except KeyboardInterrupt:
        pass
    finally:
        transport.close()
    if summary is not None:
        click.echo(f"monitor: {summary.frames} frames, {summary.bad_frames} undecodable, "
                   f"{summary.text_lines} text lines", err=True)
