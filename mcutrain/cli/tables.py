"""`mcutrain bench`, `modes-table`, `mults-table`, `paper-table`: the commands that write results."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import McutrainError
from .common import fail, invocation


@click.command()
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
    from ..bench.run import run_bench

    try:
        run_bench(out, build_dir, samples=samples, boards=boards or None, modes=modes or None,
                  models=models or None, session=session, log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        fail(exc)


@click.command("modes-table")
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
    from ..results.modes_table import write_table

    try:
        cmd = f"mcutrain modes-table {model} -o {out}" + (f" --device --jobs {jobs}" if device else "")
        write_table(model, out, cmd, log=lambda s: click.echo(s, err=True), device=device, jobs=jobs,
                    digest_every=digest_every)
    except McutrainError as exc:
        fail(exc)


@click.command("mults-table")
@click.option("--model", type=click.Path(path_type=Path), default=Path("examples/mnist_demo.toml"), show_default=True,
              help="Model file of the on-chip network.")
@click.option("--results", "results_md", type=click.Path(path_type=Path), default=Path("docs/results.md"),
              show_default=True, help="Markdown file whose generated section is replaced.")
def mults_table(model: Path, results_md: Path) -> None:
    """Multiplications per training sample, per layer and phase, float32 vs binary/ternary (+ QBP)."""
    from ..results.mults_table import write_table

    try:
        write_table(results_md, model, invocation())
    except McutrainError as exc:
        fail(exc)
        return
    click.echo(f"wrote the multiplications section of {results_md}")


@click.command("paper-table")
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
    from ..reference.paper_table import run_table, write_outputs

    if render_only:
        if not json_path.is_file():
            fail(McutrainError(f"paper-table --render-only: {json_path} does not exist; run the table first"))
            return
        write_outputs(json.loads(json_path.read_text()), results_md, json_path)
        click.echo(f"rewrote the section of {results_md} from {json_path}")
        return
    if (minutes is None) == (epochs is None):
        fail(McutrainError("paper-table: give --minutes (time budget per row) or --epochs, one of them"))
        return
    try:
        size_t = tuple(int(v) for v in sizes.split("-"))
        if len(size_t) < 2 or min(size_t) < 1:
            raise ValueError
    except ValueError:
        fail(McutrainError(f"paper-table: --sizes {sizes!r}: write the layer sizes as 784-1024-10"))
        return
    try:
        rng_t = tuple(int(v) for v in qbp_range.split("..")) if qbp_range else None
        if rng_t is not None and (len(rng_t) != 2 or rng_t[0] > rng_t[1]):
            raise ValueError
    except ValueError:
        fail(McutrainError(f"paper-table: --qbp-range {qbp_range!r}: write LO..HI with LO <= HI, e.g. -8..7"))
        return
    from ..reference.paper_table import ROWS
    unknown = sorted(set(rows) - {r.key for r in ROWS})
    if unknown:
        fail(McutrainError(f"paper-table: unknown --row {', '.join(unknown)}; use {', '.join(r.key for r in ROWS)}"))
        return
    summary = run_table(rows=rows or None, epochs=epochs, minutes=minutes, sizes=size_t, batch=batch,
                        lr_start=lr_start, lr_end=lr_end, seed=seed, batch_norm=batch_norm,
                        qbp_range=rng_t, train_samples=train_samples,  # type: ignore[arg-type]
                        results_md=results_md, json_path=json_path, command=invocation(),
                        log=lambda s: click.echo(s, err=True))
    for r in summary["rows"]:
        click.echo(f"{r['row']['title']}: test error {r['real']['test_error_pct']:.2f}% real W, "
                   f"{r['det']['test_error_pct']:.2f}% deterministic (published {r['row']['published']:.2f}%), "
                   f"{r['epochs_run']} epochs, {r['train_samples_per_second']:.0f} samples/s")
    click.echo(f"wrote {json_path} and the section of {results_md}")
