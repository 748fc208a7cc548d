"""The generator's RAM plan against the linker's figures for the built firmware."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import DEMO, small_model

from mcutrain.build.project import build, write_project
from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model


def _elf_ram(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}
    return sum(v for k, v in sizes.items() if k in (".data", ".bss", ".stack", ".heap", ".noinit"))


@pytest.mark.parametrize("which", ["demo", "small-binary", "small-ternary-batch"])
def test_plan_matches_linker_within_5_percent(tmp_path: Path, which: str) -> None:
    path = (DEMO if which == "demo" else small_model(tmp_path, weights="binary", units=48) if which == "small-binary"
            else small_model(tmp_path, weights="ternary", units=16, extra="batch_size = 64"))
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
def test_batch_accumulators_are_planned_and_a_model_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    from mcutrain.arith.plan import dense_layers, make_dense_plan
    from mcutrain.build.boards import get_board
    from mcutrain.codegen.memory import ModelTooLargeError, check_fits, plan_memory

    board = get_board("netduinoplus2")
    one = make_dense_plan([196, 512, 10], weights="sign", latent_bits=8)
    assert plan_memory(one, board).fits()  # the demo: 196-512-10, int8 latents
    batched = make_dense_plan([196, 512, 10], weights="sign", latent_bits=8, batch_size=32)
    assert batched.batch_acc_ctype == "int16_t"  # 32 x 2 x 2^6 < 2^15
    kinds = plan_memory(batched, board).by_kind()
    assert kinds["batch_accumulators"] == 2 * (196 * 512 + 512 * 10)
    with pytest.raises(ModelTooLargeError, match=r"smaller batch_size .*batch_size = 32 take 210944 bytes"):
        check_fits(batched, board, dense_layers(2, units=[512, 10]))
    big = make_dense_plan([196, 512, 10], weights="sign", latent_bits=8, batch_size=512)
    assert big.batch_acc_ctype == "int32_t"


def test_batch_overflow_is_refused() -> None:
    from mcutrain.arith.plan import PlanError, make_dense_plan

    make_dense_plan([64, 10], latent_bits=16, batch_size=1 << 15)  # 2^15 x 2^15 < 2^31
    with pytest.raises(PlanError, match="overflows the int32 batch accumulator; use a smaller batch_size"):
        make_dense_plan([64, 10], latent_bits=16, batch_size=1 << 16)
    with pytest.raises(PlanError, match="not a power of two"):
        make_dense_plan([64, 10], batch_size=200)


def test_batch_norm_ranges_and_combinations_are_checked() -> None:
    from mcutrain.arith.plan import PlanError, make_dense_plan

    make_dense_plan([64, 512, 10], batch_norm=(True, True))  # the running statistics of 512 x ACT_MAX fit
    with pytest.raises(PlanError, match=r"layers\[1\]: the batch-norm running statistics .* overflow int32"):
        make_dense_plan([64, 2047, 10], batch_norm=(False, True), weight_scale_shift=2)  # |z| up to 2^23
    with pytest.raises(PlanError, match="use batch_size = 1"):
        make_dense_plan([64, 10], batch_norm=(True,), batch_size=4)
    with pytest.raises(PlanError, match=r"layers\[0\]: batch_norm has its own learned shift"):
        make_dense_plan([64, 10], batch_norm=(True,), biases=(True,))
