"""`mcutrain pretrain` (the twin trained on the host into a state file) and `mcutrain export` (a device's
state read over the link into a state file): mcutrain/state/."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import McutrainError
from .common import fail


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="State file to write (atomically; rewritten every --save-every samples).")
@click.option("--resume", is_flag=True, help="Go on from the state file OUTPUT wrote by an interrupted pretrain.")
@click.option("--save-every", default=10000, show_default=True,
              help="Samples between saves of the state file (0: at the end only).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result on stdout and nothing else.")
def pretrain(model: Path, out: Path, resume: bool, save_every: int, quiet: bool, as_json: bool) -> None:
    """Train MODEL's integer twin on the host (bit-exact with the device: the session `mcutrain train` runs,
    epochs and seed from the model file) and write its state file, which `mcutrain train MODEL --init STATE`
    sends to the device before training there."""
    from ..job import load_data, load_spec
    from ..state.pretrain import pretrain as run

    try:
        spec, ds = load_data(load_spec(model))
        res = run(spec, ds, out, resume=resume, save_every=save_every, quiet=quiet or as_json)
    except McutrainError as exc:
        fail(exc)
    h = res.state_file.header
    summary = {"model": spec.name, "model_hash": h.model_hash, "state_file": str(out),
               "samples_trained": h.samples_trained, "samples_this_run": res.samples_trained,
               "resumed_from": res.resumed_from, "train_accuracy": res.train_accuracy,
               "twin_test_accuracy": res.test_accuracy, "test_samples": len(ds.y_test),
               "seconds": round(res.seconds, 2)}
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(f"pretrained {h.samples_trained} samples ({spec.training.epochs} epochs) on the twin; "
                   f"test accuracy {res.test_accuracy * 100:.2f}% ({len(ds.y_test)} test images); "
                   f"state written to {out}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="State file to write (atomically, after the device's model hash and state CRC are checked).")
@click.option("--port", required=True,
              help="Serial port or pyserial URL of the device (an emulator: socket://127.0.0.1:PORT of "
                   "`mcutrain emulate --listen PORT`).")
@click.option("--board", default=None, help="Override the model file's board.")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="The state file the firmware was generated from (`generate/train --init`): needed for a model "
                   "with frozen layers, whose latents the device does not keep (the export keeps the file's).")
def export(model: Path, out: Path, port: str, board: str | None, init_path: Path | None) -> None:
    """Read the state of the device on PORT (running MODEL's firmware) into a state file: to inspect it on
    the host, evaluate it with the twin, or send it to another device (`mcutrain train --init`)."""
    from ..job import load_spec
    from ..state.device import export_state

    try:
        spec = load_spec(model, board)
        if spec.n_inputs is None:
            from ..job import load_data

            spec, _ = load_data(spec)
        sf = export_state(spec, port, out, init_path)
    except McutrainError as exc:
        fail(exc)
    click.echo(f"exported {sf.header.state_bytes} state bytes of model {sf.model_hash} from {port} to {out}")


@click.command()
@click.argument("pre_model", type=click.Path(path_type=Path), default="examples/personalize_mnist.toml")
@click.argument("tune_model", type=click.Path(path_type=Path), default="examples/personalize_digits.toml")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None,
              help="Rewrite the personalization section of this results file (docs/results.md).")
@click.option("--state", "state_path", type=click.Path(path_type=Path), default=Path("build/personalize/mnist.state"),
              show_default=True, help="The pretrained state file (written unless it holds this pretraining).")
@click.option("--seeds", default="1,2,3,4,5", show_default=True, help="Fine-tuning session seeds.")
@click.option("--device-images", "sizes", default="30,100,300,1000", show_default=True,
              help="Numbers of device-training images (the first n) to fine-tune on, separated by commas.")
def personalize(pre_model: Path, tune_model: Path, out: Path | None, state_path: Path, seeds: str,
                sizes: str) -> None:
    """The personalization demo: pretrain PRE_MODEL (MNIST) on the host, fine-tune on TUNE_MODEL's data
    (other writers' digits); held-out accuracy pretrained only / fine-tuned / from scratch, per seed, on the
    twin (bit-exact with the device)."""
    from ..job import load_data, load_spec
    from ..results.personalize import measure, render, write_section
    from .common import invocation

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
        if not seed_list or min(seed_list) < 1:
            raise McutrainError(f"--seeds {seeds!r}: give seeds 1..2^32-1, separated by commas")
        pre, pre_ds = load_data(load_spec(pre_model))
        tune, tune_ds = load_data(load_spec(tune_model))
        res = measure(pre, pre_ds, tune, tune_ds, state_path, seed_list, size_list,
                      log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        fail(exc)
    except ValueError as exc:
        fail(McutrainError(f"--seeds {seeds!r} / --device-images {sizes!r}: integers separated by commas ({exc})"))
    body = write_section(out, res, invocation()) if out is not None else render(res, invocation())
    click.echo(body)
