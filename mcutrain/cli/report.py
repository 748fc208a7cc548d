"""`mcutrain report`: draw the PNG reports of a saved JSON report (registered in mcutrain/cli/__init__.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import McutrainError
from .common import fail


@click.command()
@click.argument("report_json", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for curves.png and confusion.png (default: the report's folder).")
def report(report_json: Path, out_dir: Path | None) -> None:
    """Draw curves.png and confusion.png from REPORT_JSON (written by `mcutrain train --report/--report-dir`)."""
    from ..results.report_png import plot_confusion, plot_curves

    out_dir = out_dir or report_json.parent
    try:
        data = json.loads(report_json.read_text())
    except json.JSONDecodeError as e:
        click.echo(f"error: {report_json} is not JSON ({e}): pass the report.json that mcutrain train wrote",
                   err=True)
        sys.exit(2)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in (plot_curves(data, out_dir / "curves.png"), plot_confusion(data, out_dir / "confusion.png")):
            click.echo(f"wrote {path}")
    except McutrainError as exc:
        fail(exc)
