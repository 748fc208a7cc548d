"""`mcutrain cnn-results run | modes | doc`: CNN accuracy with the bit-exact twin (mcutrain/results/cnn_results.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from ..errors import McutrainError
from .common import fail


def _typed(*args: object) -> str:
    """`mcutrain cnn-results SUB ARGS` and the options given on the command line (as the user typed them)."""
    from .common import invocation

    head, _, opts = invocation().partition(" ")[2].partition(" ")
    return " ".join(["mcutrain cnn-results", head, *(shlex.quote(str(a)) for a in args), opts]).rstrip()


def _length_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Stop training after this much wall time (then test).")(f)
    f = click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Epochs of the model's training set (default: the model file's).")(f)
    f = click.option("--samples", type=click.IntRange(1), default=None,
                     help="Samples to train (instead of --epochs).")(f)
    return f


@click.group("cnn-results")
def cnn_results() -> None:
    """Train a model's network with the bit-exact twin and test it; write JSON and the docs/results.md section."""


@cnn_results.command("run")
@click.argument("model", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_length_options
@click.option("--eval-every", type=click.IntRange(0), default=0, help="Learning curve: test every N samples.")
@click.option("--curve-test", type=click.IntRange(1), default=1000, show_default=True,
              help="Test images of each learning-curve point (the final test uses all of the model's).")
@click.option("--ram-budget", type=click.IntRange(1), default=None,
              help="Bytes the planner's figure must fit (default: the board's RAM), e.g. 262144 for a 256 KB chip.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write the result here.")
def run(model: Path, samples: int | None, epochs: float | None, minutes: float | None, eval_every: int,
        curve_test: int, ram_budget: int | None, json_out: Path | None) -> None:
    """Train MODEL with the twin for --samples/--epochs (or until --minutes), test; print the result as JSON."""
    from ..reference.blas_threads import limit_blas_threads
    from ..results.cnn_results import run_cnn

    limit_blas_threads(1)
    try:
        r = run_cnn(model, samples=samples, epochs=epochs, minutes=minutes, eval_every=eval_every,
                    curve_test=curve_test, ram_budget=ram_budget, log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        fail(exc)
    r["command"] = _typed(model)
    text = json.dumps(r, indent=1)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    click.echo(text)


@cnn_results.command("modes")
@click.argument("model", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_length_options
@click.option("--json", "json_out", type=click.Path(path_type=Path), required=True, help="Write the rows here.")
@click.option("--stochastic", "stochastic", multiple=True,
              type=click.Choice(["binary", "sign", "ternary", "ternary_det"]),
              help="Also run this weight mode with QBP and update_rounding = \"stochastic\" (repeatable).")
def modes(model: Path, samples: int | None, epochs: float | None, minutes: float | None, json_out: Path,
          stochastic: tuple[str, ...]) -> None:
    """MODEL's network in every integer weight mode with and without QBP, and float32 (refusals recorded)."""
    from ..reference.blas_threads import limit_blas_threads
    from ..results.cnn_results import run_modes

    limit_blas_threads(1)
    try:
        rows = run_modes(model, samples=samples, epochs=epochs, minutes=minutes, log=lambda s: click.echo(s, err=True),
                         stochastic=stochastic)
    except McutrainError as exc:
        fail(exc)
    for r in rows:
        r["command"] = _typed(model)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(rows, indent=1) + "\n")
    click.echo(f"wrote {len(rows)} rows to {json_out}")


@cnn_results.command("doc")
@click.option("--run", "runs", multiple=True, type=(str, click.Path(path_type=Path, exists=True, dir_okay=False)),
              help="LABEL FILE: a run's row (repeatable, in table order).")
@click.option("--modes", "modes_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None)
@click.option("--target", "targets", multiple=True, type=(str, click.FloatRange(0, 100)),
              help="LABEL PERCENT: the target test accuracy of the --run with that label (repeatable).")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("docs/results.md"), show_default=True)
def doc(runs: tuple[tuple[str, Path], ...], modes_file: Path | None, targets: tuple[tuple[str, float], ...],
        out: Path) -> None:
    """Write the cnn-results section of OUT from the runs' JSON files."""
    from ..results.cnn_results import write_doc

    if not runs and modes_file is None:
        fail(McutrainError("nothing to write: give --run LABEL FILE (repeatable) and/or --modes FILE"))
    cmd = " ".join(["mcutrain cnn-results doc", *(f"--run {shlex.quote(la)} {f}" for la, f in runs),
                    *([f"--modes {modes_file}"] if modes_file is not None else []),
                    *(f"--target {shlex.quote(la)} {t:g}" for la, t in targets), f"-o {out}"])
    try:
        write_doc(out, list(runs), modes_file, cmd, dict(targets))
    except McutrainError as exc:
        fail(exc)
    click.echo(f"wrote the cnn-results section of {out}")
