"""`mcutrain generate`, `mcutrain pio`, `mcutrain boards`: the build side of the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import McutrainError
from .common import fail


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None,
              help="Project folder to write (default: build/<model name>).")
@click.option("--board", default=None, help="Override the model file's board.")
@click.option("--library", "library", type=click.Path(path_type=Path), default=None,
              help="Write a self-contained PlatformIO library (library.json, src/, include/mcutrain.h, "
                   "Makefile) into this folder instead of a project, for your own firmware.")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="State file (`mcutrain pretrain`, `mcutrain export`) to bake in: frozen layers "
                   "(trainable = false) as packed signs in flash, and the state every session starts from. "
                   "Needed for a model with frozen layers.")
def generate(model: Path, out: Path | None, board: str | None, library: Path | None,
             init_path: Path | None) -> None:
    """Generate the C and the PlatformIO project for MODEL (a TOML model file)."""
    from ..build.project import write_project
    from ..job import load_data, load_spec

    if library is not None and out is not None:
        fail(McutrainError("give either --out (a firmware project) or --library (a library), not both"))
        return
    try:
        spec = load_spec(model, board)
        if spec.n_inputs is None:
            spec, _ = load_data(spec)
        if library is not None:
            if init_path is not None or any(not getattr(la, "trainable", True) for la in spec.layers):
                raise McutrainError("a library with a baked state (--init, frozen layers: trainable = false) is not "
                                    "implemented: generate a project (--out) with --init STATE instead")
            _generate_library(spec, library)
            return
        init_state = None
        if init_path is not None:
            from ..state.layout import read_state

            init_state = read_state(spec, init_path).state
        root = out or Path("build") / spec.name
        proj = write_project(spec, root, init_state)
    except McutrainError as exc:
        fail(exc)
        return
    ram = proj.generated.manifest["ram"]
    click.echo(f"wrote {root}/generated/mt_model.c, mt_model.h, manifest.json and {root}/platformio.ini")
    click.echo(f"model hash {spec.model_hash()}; RAM planned {ram['planned_bytes']} of {ram['board_bytes']} bytes "
               f"on {spec.board}" + (" (the model's ram_budget)" if ram.get("ram_budget_bytes") else ""))
    flash = proj.generated.manifest["flash"]
    if "frozen" in flash:
        click.echo(flash["frozen"]["summary"])
    if "init_state" in flash:
        click.echo(f"baked state: {init_path} (CRC-32 {flash['init_state']['state_file_crc32']}), "
                   f"{flash['init_state']['bytes']} bytes copied into the state at each session start")
        click.echo(f"firmware hash {proj.generated.manifest['firmware_hash']} (the model hash's first 8 characters, "
                   "then the baked state's CRC-32; sent in `I`): a session with frozen layers checks it against "
                   "its --init")
    click.echo(f"build: cd {root} && mcutrain pio run -e {proj.board.pio_env} [-t upload]")


def _generate_library(spec: Any, root: Path) -> None:
    from ..build.library import write_library

    lib = write_library(spec, root)
    ram = lib.generated.manifest["ram"]
    click.echo(f"wrote the library {root}: library.json, include/mcutrain.h (the API), src/, Makefile, "
               "manifest.json")
    click.echo(f"model hash {spec.model_hash()}; RAM planned {ram['planned_bytes']} of {ram['board_bytes']} bytes "
               f"on {spec.board}" + (" (the model's ram_budget)" if ram.get("ram_budget_bytes") else ""))
    checks = lib.generated.manifest["library"]
    if checks.get("stack_estimate"):
        mult, stack = checks["multiply_check"], checks["stack_estimate"]
        click.echo(f"multiply check: {len(mult['functions'])} training/inference functions, "
                   + (mult["skipped"] if "skipped" in mult else f"{len(mult['multiplies'])} multiplies or divides"))
        entries = ", ".join(f"{k} {v}" for k, v in stack["entries"].items() if k.startswith("mcutrain_"))
        click.echo(f"stack estimate: {stack['bytes']} bytes of {stack['board_stack_bytes']} ({entries})")
    else:
        click.echo(checks["note"])
    click.echo(f"use: lib_deps = symlink://{root.resolve()} in your platformio.ini, or make -C {root}")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def pio(args: tuple[str, ...]) -> None:
    """Run PlatformIO offline in the current project (same as `pio ARGS` with mcutrain's core dir)."""
    from ..build.toolchain import run_pio

    try:
        res = run_pio(list(args), Path.cwd(), capture=False, check=False, timeout=None)
    except McutrainError as exc:
        fail(exc)
        return
    sys.exit(res.returncode)


@click.command()
def boards() -> None:
    """List the boards: core, clock, RAM, flash, emulated or real."""
    from ..build.boards import BOARDS

    click.echo(f"{'board':16} {'core':13} {'clock':>8} {'RAM':>8} {'flash':>8}  kind")
    for b in BOARDS.values():
        kind = f"emulated (qemu -M {b.qemu_machine})" if b.emulated else "real"
        click.echo(f"{b.name:16} {b.core:13} {b.clock_hz // 1_000_000:>5} MHz {b.ram_bytes // 1024:>5} KB "
                   f"{b.flash_bytes // 1024:>5} KB  {kind}")
