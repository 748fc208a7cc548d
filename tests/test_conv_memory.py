"""Memory of conv models (issue 12): the model file's ram_budget (planned for by the generator, enforced by the
linker), and the planner's RAM figure against the linker's .data + .bss plus the stack measured in QEMU."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import DEMO

from mcutrain.build.boards import RAM_PRESETS, board_for, get_board, parse_ram_budget
from mcutrain.build.project import build, write_project
from mcutrain.errors import BuildError, ModelFileError
from mcutrain.model import check_against_data, load_model

EXAMPLES = DEMO.parent
CNN = EXAMPLES / "mnist_cnn.toml"
CNN_WIDE = EXAMPLES / "mnist_cnn_wide.toml"


def _with_budget(src: Path, dest: Path, budget: object, board: str | None = None) -> Path:
    """A copy of model file ``src`` with ``ram_budget = budget`` (and another board) in its [model] table."""
    text = src.read_text()
    value = f'"{budget}"' if isinstance(budget, str) else str(budget)
    text = text.replace("[model]\n", f"[model]\nram_budget = {value}\n", 1)
    if board is not None:
        text = re.sub(r'^board = ".*"$', f'board = "{board}"', text, count=1, flags=re.MULTILINE)
    dest.write_text(text)
    return dest


def _spec(path: Path):
    spec = load_model(path)
    return check_against_data(spec, spec.n_inputs or 784, 10)


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {p[2]: int(p[0], 16) for p in (ln.split() for ln in out.splitlines()) if len(p) == 3}


def _sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    return {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}


# ----------------------------------------------------------------------------------------- ram_budget


def test_ram_budget_values() -> None:
    assert parse_ram_budget("128K") == parse_ram_budget("128KB") == parse_ram_budget(131072) == 128 * 1024
    assert parse_ram_budget("1M") == 1 << 20
    assert parse_ram_budget("STM32F746") == RAM_PRESETS["stm32f746"] == 320 * 1024
    assert parse_ram_budget("stm32f405") == 128 * 1024 and parse_ram_budget("stm32f412") == 256 * 1024
    for bad in ("12X", "", "-4K", 3.5, True):
        with pytest.raises(ValueError, match=r'a size such as "128K".*"stm32f746" \(320 KB\)'):
            parse_ram_budget(bad)
    with pytest.raises(ValueError, match=r"multiple of 8 bytes"):
        parse_ram_budget(1001)
    board = board_for("netduinoplus2", 65536)
    assert board.ram_bytes == 65536 and board.ram_budget == 65536 and board.usable_ram_bytes == 65536 - 8192
    assert board_for("netduinoplus2") == get_board("netduinoplus2")


def test_a_budget_the_board_cannot_give_is_refused_in_the_model_file(tmp_path: Path) -> None:
    p = _with_budget(CNN, tmp_path / "m.toml", "stm32f746")
    with pytest.raises(ModelFileError, match=r"model\.ram_budget.*327680 bytes: larger than the board's 128 KB "
                                             r"of RAM.*at most 128K.*board = \"mps2-an505\", 2 MB"):
        load_model(p)
    p = _with_budget(CNN, tmp_path / "m.toml", "4K")
    with pytest.raises(ModelFileError, match=r"model\.ram_budget.*8192-byte stack reservation"):
        load_model(p)
    p = _with_budget(CNN, tmp_path / "m.toml", "lots")
    with pytest.raises(ModelFileError, match=r"model\.ram_budget.*an integer number of bytes"):
        load_model(p)


def test_a_model_just_under_its_budget_builds_and_just_over_is_refused(tmp_path: Path) -> None:
    from mcutrain.codegen.memory import ModelTooLargeError

    planned = write_project(_spec(CNN), tmp_path / "full").generated.memory.total()
    fit = (planned + 7) // 8 * 8                        # the smallest budget (a multiple of 8) the plan fits
    proj = write_project(_spec(_with_budget(CNN, tmp_path / "fit.toml", fit)), tmp_path / "fit")
    assert proj.board.ram_bytes == fit and proj.generated.manifest["ram"]["ram_budget_bytes"] == fit
    assert f"board_build.ram_budget = {fit}" in (proj.root / "platformio.ini").read_text()
    sym = _symbols(build(proj))
    assert sym["_estack"] == sym["__stack_end"] == proj.board.ram_origin + fit   # linked for the budget
    assert sym["__stack_start"] == proj.board.ram_origin + fit - proj.board.stack_bytes

    over = _spec(_with_budget(CNN, tmp_path / "over.toml", fit - 8))
    with pytest.raises(ModelTooLargeError) as err:
        write_project(over, tmp_path / "over")
    msg = str(err.value)
    assert f"needs {planned} bytes of RAM but the model's ram_budget of {fit - 8} bytes (board netduinoplus2)" in msg
    # the decoded input and the conv layers' outputs and errors share two map buffers (codegen/buffers.py)
    assert re.search(r"Largest buffers: mt_map0 3136 \(shared by the layers, feature_maps\), L4_W 2880 "
                     r"\(layers\[4\] dense, latent_weights\)", msg), msg
    assert re.search(r"layer holding the most is layers\[4\] \(dense, \d+ bytes", msg), msg  # the maps are shared
    assert "fewer filters (layers[0] conv2d has 4" in msg and "a larger ram_budget" in msg
    assert not (tmp_path / "over" / "platformio.ini").exists()


def test_the_linker_enforces_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the planner's check bypassed, a budget 8 bytes short of what the firmware links to fails the link
    (the linker script's RAM LENGTH is the budget); the exact figure links."""
    import mcutrain.codegen.generate as generate
    from mcutrain.codegen.memory import plan_memory

    elf = build(write_project(_spec(CNN), tmp_path / "full"))
    sym = _symbols(elf)
    need = sym["_ebss"] - get_board("netduinoplus2").ram_origin + get_board("netduinoplus2").stack_bytes
    need = (need + 7) // 8 * 8
    monkeypatch.setattr(generate, "check_fits", lambda plan, board, *_: plan_memory(plan, board))
    short = write_project(_spec(_with_budget(CNN, tmp_path / "short.toml", need - 8)), tmp_path / "short")
    with pytest.raises(BuildError, match=r"RAM overflow: \.data \+ \.bss \+ stack do not fit in the RAM"):
        build(short)
    exact = write_project(_spec(_with_budget(CNN, tmp_path / "exact.toml", need)), tmp_path / "exact")
    assert _symbols(build(exact))["__stack_end"] == exact.board.ram_origin + need


def test_a_chip_preset_on_the_big_board_links_for_that_chip(tmp_path: Path) -> None:
    """ram_budget = "stm32f746" on the 2 MB Cortex-M33 board: planned and linked for 320 KB."""
    proj = write_project(_spec(_with_budget(CNN_WIDE, tmp_path / "m.toml", "stm32f746", board="mps2-an505")),
                         tmp_path / "p")
    assert proj.generated.manifest["ram"]["board_bytes"] == 320 * 1024
    sym = _symbols(build(proj))
    assert sym["__stack_end"] == 0x3800_0000 + 320 * 1024


# ----------------------------------------------------------------------------------------- planner accuracy


def _model_buffers(manifest: dict) -> int:
    return sum(b["bytes"] for b in manifest["ram"]["buffers"] if b["kind"] != "runtime")


@pytest.mark.qemu
@pytest.mark.skipif(bool(__import__("os").environ.get("MCUTRAIN_SKIP_QEMU")), reason="MCUTRAIN_SKIP_QEMU set")
@pytest.mark.parametrize("model", [CNN, CNN_WIDE], ids=["mnist_cnn", "mnist_cnn_wide"])
def test_planned_ram_is_the_linked_ram_plus_the_measured_stack(tmp_path: Path, model: Path) -> None:
    """The planner's figure of what a conv model's firmware uses (static buffers + the estimated stack,
    ``ram.planned_use_bytes``) is within 5% of the linker's .data + .bss plus the stack the firmware really
    used in a training and evaluation session on the emulated board (painted at boot, dumped through QMP)."""
    import numpy as np
    from mcutrain.host.emulator import Emulator
    from mcutrain.host.link import DeviceLink
    from mcutrain.host.session import run_session
    from test_stack import PATTERN, _qmp

    from mcutrain.codegen.memory import RUNTIME_RAM_BYTES
    from mcutrain.data import encode, load_dataset

    spec = load_model(model)
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    proj = write_project(spec, tmp_path / "p")
    manifest = proj.generated.manifest
    elf = build(proj)
    sec, sym = _sections(elf), _symbols(elf)
    linked = sec[".data"] + sec.get(".bss", 0)
    # every model buffer is planned at its linked size: what is left is the runtime's, as planned
    assert abs(linked - _model_buffers(manifest) - RUNTIME_RAM_BYTES) <= 32, (linked, _model_buffers(manifest))

    lo, hi = sym["__stack_start"], sym["__stack_end"]
    qmp, dump = tmp_path / "qmp.sock", tmp_path / "stack.bin"
    board = proj.board
    n_train, n_test = 60, 30
    with Emulator(elf, board.qemu_machine, cpu=board.qemu_cpu, serial_index=board.qemu_serial_index,
                  extra_args=["-qmp", f"unix:{qmp},server=on,wait=off"]) as emu:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, model_hash=spec.model_hash(), seed=spec.seed,
                              train_enc=encode(ds.x_train[:n_train], "bits", 128), train_labels=ds.y_train[:n_train],
                              test_enc=encode(ds.x_test[:n_test], "bits", 128), test_labels=ds.y_test[:n_test],
                              epochs=1, digest_every=n_train, quiet=True)
            assert res.samples_trained == n_train and res.test_samples == n_test
            reply = _qmp(qmp, {"execute": "memsave", "arguments": {"val": lo, "size": hi - lo,
                                                                     "filename": str(dump)}})
            assert "return" in reply[0], reply
    words = np.frombuffer(dump.read_bytes(), dtype="<u4")
    assert words[0] == PATTERN                                  # painted at boot, bottom never reached
    measured_stack = hi - (lo + 4 * int(np.argmax(words != PATTERN)))
    used = linked + measured_stack
    planned = manifest["ram"]["planned_use_bytes"]
    assert planned == manifest["ram"]["static_bytes"] + manifest["ram"]["stack_estimate_bytes"]
    assert abs(planned - used) <= 0.05 * used, (planned, linked, measured_stack)
    # and the fit check's figure is the linked RAM with the whole stack reservation
    reserved = manifest["ram"]["planned_bytes"]
    assert abs(reserved - (linked + board.stack_bytes)) <= 0.05 * reserved, (reserved, linked)
    print(f"{model.name}: planned {planned} B (static {manifest['ram']['static_bytes']} + stack estimate "
          f"{manifest['ram']['stack_estimate_bytes']}), linked .data+.bss {linked} + measured stack {measured_stack} "
          f"= {used} B ({100 * (planned - used) / used:+.2f}%)")


@pytest.mark.qemu
@pytest.mark.skipif(bool(__import__("os").environ.get("MCUTRAIN_SKIP_QEMU")), reason="MCUTRAIN_SKIP_QEMU set")
def test_a_firmware_linked_for_a_tight_budget_trains_bit_exact_on_the_emulated_board(tmp_path: Path) -> None:
    """The CNN example planned and linked for the smallest budget its plan fits (the stack right below the
    budget's end, not the board's): `mcutrain train --verify` on QEMU ends bit-exact."""
    from helpers import train_verified

    planned = write_project(_spec(CNN), tmp_path / "full").generated.memory.total()
    fit = (planned + 7) // 8 * 8
    text = _with_budget(CNN, tmp_path / "tight.toml", fit).read_text()
    text = re.sub(r"^train_samples = \d+$", "train_samples = 300", text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^test_samples = \d+$", "test_samples = 100", text, count=1, flags=re.MULTILINE)
    model = tmp_path / "tight.toml"
    model.write_text(text)
    report = train_verified(model, tmp_path, digest_every=100)
    assert report["bit_exact"] is True and report["samples_trained"] == 300
    sym = _symbols(tmp_path / "b" / ".pio" / "build" / "netduinoplus2" / "firmware.elf")
    assert sym["__stack_end"] == 0x2000_0000 + fit
