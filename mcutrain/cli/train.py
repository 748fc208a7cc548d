"""`mcutrain train`: the job (mcutrain/job.py) on one board, its summary and exit status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import McutrainError
from .common import fail


@click.command()
@click.argument("model", type=click.Path(path_type=Path), required=False)
@click.option("--port", default=None, help="Serial port or pyserial URL of a flashed device (default: boot QEMU).")
@click.option("--board", default=None, help="Override the model file's board.")
@click.option("--verify/--no-verify", default=False, help="Run the NumPy twin alongside and compare bit for bit.")
@click.option("--digest-every", default=1000, show_default=True, help="Samples between weight digests.")
@click.option("--checkpoint-every", default=0, show_default=True,
              help="Samples between checkpoints the device sends (0: none). A reset board, or a lost "
                   "connection, then goes on from the last one.")
@click.option("--session", "session_path", type=click.Path(path_type=Path), default=None,
              help="Session file to write at each checkpoint (default with checkpoints: <build dir>/session.json).")
@click.option("--resume", "resume_path", type=click.Path(path_type=Path), default=None,
              help="Go on with the session in this session file (MODEL and options come from it).")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="State file (`mcutrain pretrain`, `mcutrain export`) sent to the device before training: "
                   "fine-tune from it (the twin of --verify starts from it too). A model with frozen layers "
                   "(trainable = false) needs it: their packed signs are baked into the firmware from it.")
@click.option("--export", "export_path", type=click.Path(path_type=Path), default=None,
              help="Write the device's state after the session to this state file.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None, help="Write a JSON report.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None,
              help="Where to generate and build (default: build/<model name>).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Write report.json, curves.png and confusion.png here (PNGs need mcutrain[plot]).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors: no progress bars, no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result on stdout (the report) and nothing else.")
def train(model: Path | None, port: str | None, board: str | None, verify: bool, digest_every: int,
          checkpoint_every: int, session_path: Path | None, resume_path: Path | None,
          init_path: Path | None, export_path: Path | None, report_path: Path | None, build_dir: Path | None,
          report_dir: Path | None, quiet: bool,
          as_json: bool) -> None:
    """Build, flash (or boot the emulator), train MODEL on the device, evaluate, and optionally verify.

    Progress bars (samples/s, ETA) go to stderr when it is a terminal. One process trains one device:
    for several devices run one `mcutrain train` per port, each with its own --build-dir and --report-dir.
    With --checkpoint-every the device's state reaches the host every N samples; a reset board goes on
    from the last checkpoint, and `--resume SESSION` goes on after the host process was stopped.
    Exit codes: `mcutrain --help`."""
    from ..job import run_train
    from ..progress import CurveRecorder

    recorder = CurveRecorder(quiet=quiet)
    try:
        if resume_path is not None:
            from ..host.sessionfile import SessionFile

            sf = SessionFile.load(resume_path)
            model, board, port = Path(sf.model), sf.board, port or sf.port
            verify, digest_every, checkpoint_every = sf.verify or verify, sf.digest_every, sf.checkpoint_every
            build_dir = build_dir or (Path(sf.build_dir) if sf.build_dir else None)
            session_path = session_path or resume_path
        elif model is None:
            raise McutrainError("give a MODEL file, or --resume SESSION")
        report = run_train(model, port, board, verify, digest_every, build_dir, quiet or as_json, recorder,
                           checkpoint_every=checkpoint_every, session_path=session_path, resume_path=resume_path,
                           log=lambda s: click.echo(s, err=True), init_path=init_path, export_path=export_path)
        if report_dir is not None:
            from ..results.report_png import write_reports

            write_reports(report, report_dir)
    except McutrainError as exc:
        fail(exc)
        return
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(report))
        if report["bit_exact"] is False:
            sys.exit(10)
        return
    if quiet:
        if report["bit_exact"] is False:
            for line in report["mismatches"][:10]:
                click.echo(f"error: not bit-exact: {line}", err=True)
            sys.exit(10)
        return
    click.echo(f"on-device test accuracy: {report['test_accuracy'] * 100:.2f}% "
               f"({report['test_samples']} test images, {report['samples_trained']} samples trained)")
    if report["bit_exact"] is None:
        click.echo("bit-exact: not verified (use --verify)")
    else:
        click.echo(f"bit-exact: {'yes' if report['bit_exact'] else 'NO'} "
                   f"({report['digests_checked']} digests, test predictions, final weights)")
        if not report["bit_exact"]:
            for line in report["mismatches"][:10]:
                click.echo(f"  {line}", err=True)
            sys.exit(10)
