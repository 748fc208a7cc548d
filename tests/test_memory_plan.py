"""The generator's RAM plan against the linker's figures for the built firmware."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import DEMO, small_model

from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model
from mcutrain.project import build, write_project


def _elf_ram(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}
    return sum(v for k, v in sizes.items() if k in (".data", ".bss", ".stack", ".heap", ".noinit"))


@pytest.mark.parametrize("which", ["demo", "small-binary"])
def test_plan_matches_linker_within_5_percent(tmp_path: Path, which: str) -> None:
    path = DEMO if which == "demo" else small_model(tmp_path, weights="binary", units=48)
    spec = load_model(path)
    spec = check_against_data(spec, spec.n_inputs or load_dataset(spec.data).n_inputs, 10)
    proj = write_project(spec, tmp_path / "p")
    elf = build(proj)
    planned = proj.generated.manifest["ram"]["planned_bytes"]  # static buffers + stack reservation
    linked = _elf_ram(elf)
    assert abs(linked - planned) <= 0.05 * planned, (linked, planned)
    assert planned <= proj.board.ram_bytes
    text = _flash(elf)
    estimate = proj.generated.manifest["flash"]["planned_bytes_estimate"]
    assert abs(text - estimate) <= 0.25 * estimate, (text, estimate)


def _flash(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}
    return sum(v for k, v in sizes.items() if k in (".isr_vector", ".text", ".rodata", ".data"))
