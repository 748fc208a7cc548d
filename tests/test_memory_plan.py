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


def test_shared_update_buffers_are_planned_exactly(tmp_path: Path) -> None:
    """update_rounding = "stochastic_shared" adds per layer a row chain and an update vector: the plan's
    figures are the symbols' sizes in the linked firmware."""
    path = small_model(tmp_path, weights="sign", units=48, latent_bits=8, update_rounding="stochastic_shared")
    spec = load_model(path)
    spec = check_against_data(spec, spec.n_inputs or load_dataset(spec.data).n_inputs, 10)
    proj = write_project(spec, tmp_path / "p")
    elf = build(proj)
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {ln.split()[3]: int(ln.split()[1], 16) for ln in out.splitlines() if len(ln.split()) == 4}
    buffers = proj.generated.manifest["ram"]["buffers"]
    planned = {i["name"]: i["bytes"] for i in buffers if i["kind"] == "update_buffers"}
    assert set(planned) == {"l0_next", "l0_u", "l1_next", "l1_u"}
    for name, nbytes in planned.items():
        assert (sizes[name] + 3) // 4 * 4 == nbytes, (name, sizes[name], nbytes)
