"""The `mcutrain` command line (click). Exit codes: docs/cli.md (0 ok, McutrainError.exit_code otherwise)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import McutrainError


def _fail(exc: McutrainError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _invocation() -> str:
    """The running subcommand as typed: `mcutrain NAME` and the options not left at their defaults."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    parts = ["mcutrain", ctx.info_name or ""]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or ctx.get_parameter_source(p.name or "") != ParameterSource.COMMANDLINE:
            continue
        v = ctx.params[p.name or ""]
        flag = max(p.opts, key=len)
        if p.is_flag:
            parts.append(flag)
        else:
            parts += [f"{flag} {x}" for x in (v if p.multiple else (v,))]
    return " ".join(parts)


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Train binarized neural networks on microcontrollers with additions and shifts."""


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None,
              help="Project folder to write (default: build/<model name>).")
@click.option("--board", default=None, help="Override the model file's board.")
def generate(model: Path, out: Path | None, board: str | None) -> None:
    """Generate the C and the PlatformIO project for MODEL (a TOML model file)."""
    from .job import load_data, load_spec
    from .project import write_project

    try:
        spec = load_spec(model, board)
        if spec.n_inputs is None:
            spec, _ = load_data(spec)
        root = out or Path("build") / spec.name
        proj = write_project(spec, root)
    except McutrainError as exc:
        _fail(exc)
        return
    ram = proj.generated.manifest["ram"]
    click.echo(f"wrote {root}/generated/mt_model.c, mt_model.h, manifest.json and {root}/platformio.ini")
    click.echo(f"model hash {spec.model_hash()}; RAM planned {ram['planned_bytes']} of {ram['board_bytes']} bytes "
               f"on {spec.board}")
    click.echo(f"build: cd {root} && mcutrain pio run -e {proj.board.pio_env} [-t upload]")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pio(args: tuple[str, ...]) -> None:
    """Run PlatformIO offline in the current project (same as `pio ARGS` with mcutrain's core dir)."""
    from .toolchain import run_pio

    try:
        res = run_pio(list(args), Path.cwd(), capture=False, check=False, timeout=None)
    except McutrainError as exc:
        _fail(exc)
        return
    sys.exit(res.returncode)


@main.command()
def boards() -> None:
    """List the boards: core, clock, RAM, flash, emulated or real."""
    from .boards import BOARDS

    click.echo(f"{'board':16} {'core':13} {'clock':>8} {'RAM':>8} {'flash':>8}  kind")
    for b in BOARDS.values():
        kind = f"emulated (qemu -M {b.qemu_machine})" if b.emulated else "real"
        click.echo(f"{b.name:16} {b.core:13} {b.clock_hz // 1_000_000:>5} MHz {b.ram_bytes // 1024:>5} KB "
                   f"{b.flash_bytes // 1024:>5} KB  {kind}")


@main.command()
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("BENCHMARKS.md"), show_default=True)
@click.option("--samples", default=20, show_default=True, help="MNIST samples averaged per case.")
@click.option("--board", "boards", multiple=True, help="Only these boards (repeatable; default: all).")
@click.option("--weights", "modes", multiple=True,
              help="Only these weight modes (default binary, sign, float32; also ternary, ternary_det).")
@click.option("--model", "models", multiple=True, help="Only these models (mnist-demo, mlp-64-32-10).")
@click.option("--session/--no-session", default=True, help="Also time a short real session in QEMU.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=Path("build/bench"), show_default=True)
def bench(out: Path, samples: int, boards: tuple[str, ...], modes: tuple[str, ...], models: tuple[str, ...],
          session: bool, build_dir: Path) -> None:
    """Count the instructions of training and inference per board x weight mode x model; write BENCHMARKS.md."""
    from .bench.run import run_bench

    try:
        run_bench(out, build_dir, samples=samples, boards=boards or None, modes=modes or None,
                  models=models or None, session=session, log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        _fail(exc)


@main.command("modes-table")
@click.argument("model", type=click.Path(path_type=Path), default=Path("examples/mnist_demo.toml"))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("docs/results.md"), show_default=True,
              help="Markdown file whose modes-table section is (re)written; the rest is kept.")
@click.option("--device", is_flag=True, help="Train each row on the emulated board with --verify (minutes a row); a "
              "rerun reuses the rows whose sessions finished.")
@click.option("--jobs", type=click.IntRange(1, 16), default=2, show_default=True,
              help="--device: sessions at a time (each its own QEMU).")
@click.option("--digest-every", type=click.IntRange(1), default=5000, show_default=True,
              help="--device: samples between weight digests compared with the twin.")
def modes_table(model: Path, out: Path, device: bool, jobs: int, digest_every: int) -> None:
    """Test accuracy of every integer weight mode with and without quantized back-propagation for MODEL's
    architecture (bit-exact twin, i.e. the emulated board's result); write the table into OUT."""
    from .modes_table import write_table

    try:
        cmd = f"mcutrain modes-table {model} -o {out}" + (f" --device --jobs {jobs}" if device else "")
        write_table(model, out, cmd, log=lambda s: click.echo(s, err=True), device=device, jobs=jobs,
                    digest_every=digest_every)
    except McutrainError as exc:
        _fail(exc)


@main.command("mults-table")
@click.option("--model", type=click.Path(path_type=Path), default=Path("examples/mnist_demo.toml"), show_default=True,
              help="Model file of the on-chip network.")
@click.option("--results", "results_md", type=click.Path(path_type=Path), default=Path("docs/results.md"),
              show_default=True, help="Markdown file whose generated section is replaced.")
def mults_table(model: Path, results_md: Path) -> None:
    """Multiplications per training sample, per layer and phase, float32 vs binary/ternary (+ QBP)."""
    from .reference.mults_table import write_table

    try:
        write_table(results_md, model, _invocation())
    except McutrainError as exc:
        _fail(exc)
        return
    click.echo(f"wrote the multiplications section of {results_md}")


@main.command("paper-table")
@click.option("--minutes", type=float, default=None, help="Time budget per row (the epochs that fit are planned).")
@click.option("--epochs", type=int, default=None, help="Epochs per row (instead of --minutes).")
@click.option("--row", "rows", multiple=True, help="Only these rows: full, binary-qbp, ternary-qbp (repeatable).")
@click.option("--sizes", default="784-1024-1024-1024-10", show_default=True, help="Layer sizes of the MLP.")
@click.option("--batch", default=200, show_default=True)
@click.option("--lr-start", default=0.3, show_default=True)
@click.option("--lr-end", default=0.01, show_default=True)
@click.option("--batch-norm", type=click.Choice(["standard", "shift", "none"]), default="standard", show_default=True)
@click.option("--qbp-range", default=None,
              help="Exponent range LO..HI of quantized back-propagation (default: unbounded).")
@click.option("--train-samples", default=0, help="Train on the first N of the 50k only (0 = all; for quick checks).")
@click.option("--seed", default=1, show_default=True)
@click.option("--results", "results_md", type=click.Path(path_type=Path), default=Path("docs/results.md"),
              show_default=True, help="Markdown file whose generated section is replaced.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=Path("docs/paper_mnist.json"),
              show_default=True)
@click.option("--render-only", is_flag=True, help="Train nothing: rewrite the section from the --json of a run.")
def paper_table(minutes: float | None, epochs: int | None, rows: tuple[str, ...], sizes: str, batch: int,
                lr_start: float, lr_end: float, batch_norm: str, qbp_range: str | None, train_samples: int,
                seed: int, results_md: Path, json_path: Path, render_only: bool) -> None:
    """The paper's MNIST table (full precision, binary + QBP, ternary + QBP) with the float reference."""
    from .reference.paper_table import run_table, write_outputs

    if render_only:
        if not json_path.is_file():
            _fail(McutrainError(f"paper-table --render-only: {json_path} does not exist; run the table first"))
            return
        write_outputs(json.loads(json_path.read_text()), results_md, json_path)
        click.echo(f"rewrote the section of {results_md} from {json_path}")
        return
    if (minutes is None) == (epochs is None):
        _fail(McutrainError("paper-table: give --minutes (time budget per row) or --epochs, one of them"))
        return
    try:
        size_t = tuple(int(v) for v in sizes.split("-"))
        if len(size_t) < 2 or min(size_t) < 1:
            raise ValueError
    except ValueError:
        _fail(McutrainError(f"paper-table: --sizes {sizes!r}: write the layer sizes as 784-1024-10"))
        return
    try:
        rng_t = tuple(int(v) for v in qbp_range.split("..")) if qbp_range else None
        if rng_t is not None and (len(rng_t) != 2 or rng_t[0] > rng_t[1]):
            raise ValueError
    except ValueError:
        _fail(McutrainError(f"paper-table: --qbp-range {qbp_range!r}: write LO..HI with LO <= HI, e.g. -8..7"))
        return
    from .reference.paper_table import ROWS
    unknown = sorted(set(rows) - {r.key for r in ROWS})
    if unknown:
        _fail(McutrainError(f"paper-table: unknown --row {', '.join(unknown)}; use {', '.join(r.key for r in ROWS)}"))
        return
    summary = run_table(rows=rows or None, epochs=epochs, minutes=minutes, sizes=size_t, batch=batch,
                        lr_start=lr_start, lr_end=lr_end, seed=seed, batch_norm=batch_norm,
                        qbp_range=rng_t, train_samples=train_samples,  # type: ignore[arg-type]
                        results_md=results_md, json_path=json_path, command=_invocation(),
                        log=lambda s: click.echo(s, err=True))
    for r in summary["rows"]:
        click.echo(f"{r['row']['title']}: test error {r['real']['test_error_pct']:.2f}% real W, "
                   f"{r['det']['test_error_pct']:.2f}% deterministic (published {r['row']['published']:.2f}%), "
                   f"{r['epochs_run']} epochs, {r['train_samples_per_second']:.0f} samples/s")
    click.echo(f"wrote {json_path} and the section of {results_md}")


@main.command()
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
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None, help="Write a JSON report.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None,
              help="Where to generate and build (default: build/<model name>).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Write report.json, curves.png and confusion.png here (PNGs need mcutrain[plot]).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors: no progress bars, no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result on stdout (the report) and nothing else.")
def train(model: Path | None, port: str | None, board: str | None, verify: bool, digest_every: int,
          checkpoint_every: int, session_path: Path | None, resume_path: Path | None,
          report_path: Path | None, build_dir: Path | None, report_dir: Path | None, quiet: bool,
          as_json: bool) -> None:
    """Build, flash (or boot the emulator), train MODEL on the device, evaluate, and optionally verify.

    Progress bars (samples/s, ETA) go to stderr when it is a terminal. One process trains one device:
    for several devices run one `mcutrain train` per port, each with its own --build-dir and --report-dir.
    With --checkpoint-every the device's state reaches the host every N samples; a reset board goes on
    from the last checkpoint, and `--resume SESSION` goes on after the host process was stopped.
    Exit codes: `mcutrain --help`."""
    from .job import run_train
    from .progress import CurveRecorder

    recorder = CurveRecorder(quiet=quiet)
    try:
        if resume_path is not None:
            from .host.sessionfile import SessionFile

            sf = SessionFile.load(resume_path)
            model, board, port = Path(sf.model), sf.board, port or sf.port
            verify, digest_every, checkpoint_every = sf.verify or verify, sf.digest_every, sf.checkpoint_every
            build_dir = build_dir or (Path(sf.build_dir) if sf.build_dir else None)
            session_path = session_path or resume_path
        elif model is None:
            raise McutrainError("give a MODEL file, or --resume SESSION")
        report = run_train(model, port, board, verify, digest_every, build_dir, quiet or as_json, recorder,
                           checkpoint_every=checkpoint_every, session_path=session_path, resume_path=resume_path,
                           log=lambda s: click.echo(s, err=True))
        if report_dir is not None:
            from .report_png import write_reports

            write_reports(report, report_dir)
    except McutrainError as exc:
        _fail(exc)
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


# Commands kept in their own modules (mcutrain/cli_*.py).
from .cli_device import monitor, ports  # noqa: E402

main.add_command(ports)
main.add_command(monitor)

from .cli_report import report  # noqa: E402

main.add_command(report)

from .exit_codes import epilog  # noqa: E402

main.epilog = epilog()


def _register_link_commands() -> None:
    from .cli_link import emulate, soak

    main.add_command(emulate)
    main.add_command(soak)


_register_link_commands()
