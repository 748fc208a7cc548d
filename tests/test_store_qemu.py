"""The state store on the emulated board: power cuts by killing QEMU, and the ready drivers.

* 300 kills of QEMU (SIGKILL) while the power-cut firmware trains and saves to a host file
  through semihosting; each reboot must load a state whose save had begun, no older than the
  last committed one, equal to the twin's after as many samples; every round of training from
  a blank store ends bit-exact with the twin (mcutrain/store/powercut.py).
* The same firmware with a store that overwrites its newest state in place loses states:
  the check can fail.
* The STM32F4 internal-flash driver builds with -Wall -Wextra -Werror for the STM32F4 boards
  and links into a firmware with the store (it is not run: QEMU has no flash controller).
* The semihosting storage refuses to build without MT_SEMIHOSTING (product firmware).
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from dataclasses import asdict
from pathlib import Path

import pytest

from mcutrain.build.boards import get_board
from mcutrain.store.powercut import (
    MODEL_HASH,
    STORE_FILE,
    PowercutConfig,
    build_firmware,
    mnist_bits,
    run_powercuts,
    twin_trace,
)
from mcutrain.store.slots import Geometry, newest, read_slots

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


def _need_arm() -> None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")


def test_power_cuts_on_the_emulated_board_lose_no_state(tmp_path: Path, data_dir: Path) -> None:
    _need_arm()
    cfg = PowercutConfig(kills=300)
    enc, x, y = mnist_bits(data_dir, cfg.n_samples)
    elf = build_firmware(tmp_path, cfg, enc, y)
    rep = run_powercuts(elf, tmp_path, cfg, twin_trace(cfg, x, y))
    print(asdict(rep))
    assert rep.problems == []
    assert rep.states_lost == 0
    assert rep.cuts == 300
    assert rep.cuts_in_save >= 60 and rep.cuts_in_training >= 60
    assert rep.reboots >= 290
    assert rep.boots_from_state >= 100  # the host file really kept the state across kills
    assert rep.rounds >= 2 and rep.final_bit_exact


def test_store_file_of_the_emulated_board_read_by_the_host(tmp_path: Path, data_dir: Path) -> None:
    """An uncut run leaves the last two saves in the host file; the host's own reader of the format
    (mcutrain/store/slots.py) finds them valid, and the newest holds the twin's final state."""
    _need_arm()
    cfg = PowercutConfig(kills=0, total=1000, save_every=100)
    enc, x, y = mnist_bits(data_dir, cfg.n_samples)
    elf = build_firmware(tmp_path, cfg, enc, y)
    trace = twin_trace(cfg, x, y)
    rep = run_powercuts(elf, tmp_path, cfg, trace)
    assert rep.final_bit_exact and rep.saves_committed == 10 and rep.problems == []
    geo = Geometry(block_size=1024, prog_size=1, payload_len=trace.state_bytes + 16 + 4)
    image = (tmp_path / STORE_FILE).read_bytes()
    assert len(image) == 2 * geo.slot_blocks * 1024
    slots = read_slots(image, geo, MODEL_HASH)
    assert [s.status for s in slots] == ["valid", "valid"] and sorted(s.seq for s in slots) == [9, 10]
    last = newest(slots)
    assert last is not None and last.seq == 10 and last.payload is not None
    assert last.payload[:trace.state_bytes] == trace.final_state
    assert int.from_bytes(last.payload[trace.state_bytes:trace.state_bytes + 4], "little") == trace.final_prng
    assert int.from_bytes(last.payload[-4:], "little") == 1000
    older = next(s for s in slots if s.seq == 9)
    assert older.payload is not None and zlib.crc32(older.payload[:trace.state_bytes]) == trace.digests[900]
    # another model's hash: the same bytes are not taken for this model
    assert {s.status for s in read_slots(image, geo, "ffffffffffffffff")} == {"other-model"}
    # a flipped payload bit: that slot is damaged, the other one is the newest
    bad = bytearray(image)
    bad[last.index * geo.slot_blocks * 1024 + geo.payload_off + 5] ^= 0x10
    slots = read_slots(bytes(bad), geo, MODEL_HASH)
    assert slots[last.index].status == "damaged" and newest(slots) == older


def test_power_cut_check_catches_a_store_that_overwrites_its_newest_state(tmp_path: Path, data_dir: Path) -> None:
    _need_arm()
    cfg = PowercutConfig(kills=60, rng_seed=2)
    enc, x, y = mnist_bits(data_dir, cfg.n_samples)
    elf = build_firmware(tmp_path, cfg, enc, y, extra_defines=("MT_STORE_TEST_SAME_SLOT",))
    rep = run_powercuts(elf, tmp_path, cfg, twin_trace(cfg, x, y))
    assert rep.states_lost > 0, asdict(rep)


@pytest.mark.parametrize("board_name,first_sector,flash_kb", [("netduinoplus2", 10, 1024),
                                                              ("nucleo_f401re", 6, 512)])
def test_stm32f4_flash_driver_builds_for_the_stm32f4_boards(tmp_path: Path, board_name: str, first_sector: int,
                                                             flash_kb: int) -> None:
    _need_arm()
    board = get_board(board_name)
    bdir = FW / "boards" / board_name
    main = tmp_path / "main.c"
    main.write_text(f"""
#include <stdint.h>
#include "board.h"
#include "mt_store.h"
#include "storage_stm32f4_flash.h"
static mt_storage dev;
static mt_store store;
static uint8_t state[1000];
int main(void)
{{
    mt_store_seg in = {{state, sizeof state}};
    mt_store_cseg out = {{state, sizeof state}};
    board_init();
    if (mt_stm32f4_flash_storage(&dev, {first_sector}u, 2u, {flash_kb}u) != 0) board_exit(1);
    if (mt_store_init(&store, &dev, "0123456789abcdef", sizeof state) != MT_STORE_OK) board_exit(2);
    if (mt_store_load(&store, &in, 1u) < 0) board_exit(3);
    state[0]++;
    board_exit(mt_store_save(&store, &out, 1u) == MT_STORE_OK ? 0 : 4);
}}
""")
    elf = tmp_path / "flash.elf"
    cmd = ["arm-none-eabi-gcc", *board.cpu_flags, *WARN, "-O2", "-ffreestanding", "-ffunction-sections",
           "-fdata-sections", "-nostartfiles", "-nostdlib", f"-I{FW / 'core'}", f"-I{FW / 'store'}",
           f"-I{FW / 'boards' / 'common'}",
           f"-I{bdir}", str(main), str(FW / "store" / "mt_store.c"), str(FW / "core" / "crc.c"),
           str(FW / "boards" / "common" / "storage_stm32f4_flash.c"), str(bdir / "startup.c"), str(bdir / "uart.c"),
           "-T", str(bdir / f"{board_name}.ld"), "-Wl,--gc-sections", "-lgcc", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert "flash_erase" in syms and "flash_prog" in syms and "mt_store_save" in syms


def test_semihosting_storage_is_refused_in_product_builds(tmp_path: Path) -> None:
    _need_arm()
    board = get_board("netduinoplus2")
    r = subprocess.run(["arm-none-eabi-gcc", *board.cpu_flags, *WARN, "-c", f"-I{FW / 'core'}", f"-I{FW / 'store'}",
                        f"-I{FW / 'boards' / 'common'}", str(FW / "boards" / "common" / "storage_semihost_file.c"),
                        "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "build it with -DMT_SEMIHOSTING, never into product firmware" in r.stderr


def test_a_qemu_that_does_not_boot_is_a_problem_not_a_cut(tmp_path: Path) -> None:
    """A firmware QEMU cannot load ends the run at once with QEMU's message (no endless reboots)."""
    _need_arm()
    from mcutrain.store.powercut import TwinTrace

    trace = TwinTrace(digests={}, final_state=b"", final_prng=0, state_bytes=0)
    rep = run_powercuts(tmp_path / "missing.elf", tmp_path, PowercutConfig(kills=0), trace)
    assert len(rep.problems) == 1 and "QEMU exited with status" in rep.problems[0], rep.problems
    assert "missing.elf" in rep.problems[0]
    assert not rep.final_bit_exact and rep.rounds == 0
