"""The board registry, and its agreement with the firmware's board files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mcutrain.build.boards import BOARDS, Board, board_names, get_board
from mcutrain.errors import McutrainError, UnknownBoardError

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_BOARDS = ROOT / "firmware" / "platforms" / "mcutrain-arm" / "boards"
BOARD_SRC = ROOT / "firmware" / "boards"


def test_get_board_and_unknown_board() -> None:
    board = get_board("netduinoplus2")
    assert isinstance(board, Board)
    assert board.core == "cortex-m4f"
    assert board.ram_origin == 0x2000_0000 and board.ram_bytes == 128 * 1024
    assert board.flash_origin == 0x0800_0000 and board.flash_bytes == 1024 * 1024
    assert board.uart_base == 0x4000_4400
    assert board.usable_ram_bytes == board.ram_bytes - board.stack_bytes
    with pytest.raises(UnknownBoardError) as info:
        get_board("nucleo-f999")
    assert isinstance(info.value, McutrainError)
    assert "netduinoplus2" in str(info.value) and "nucleo-f999" in str(info.value)
    assert info.value.exit_code == 2


def test_board_is_frozen() -> None:
    board = get_board("netduinoplus2")
    with pytest.raises(AttributeError):
        board.ram_bytes = 1  # type: ignore[misc]


def test_qemu_args_put_the_link_on_the_right_serial_port() -> None:
    args = get_board("netduinoplus2").qemu_args("fw.elf", "tcp:127.0.0.1:5555,server,nowait", semihosting=True)
    assert args[:3] == ["qemu-system-arm", "-M", "netduinoplus2"]
    serials = [args[i + 1] for i, a in enumerate(args) if a == "-serial"]
    # QEMU: serial 0 = USART1, serial 1 = USART2 (the link UART)
    assert serials == ["null", "tcp:127.0.0.1:5555,server,nowait"]
    assert args[-2:] == ["-kernel", "fw.elf"]
    assert "enable=on,target=native" in args


@pytest.mark.parametrize("name", board_names())
def test_board_files_agree_with_registry(name: str) -> None:
    board = BOARDS[name]
    manifest = json.loads((PLATFORM_BOARDS / f"{board.pio_env}.json").read_text())
    build = manifest["build"]
    assert build["core"] == board.core
    assert tuple(build["cpu_flags"]) == board.cpu_flags
    assert int(build["stack_bytes"]) == board.stack_bytes
    assert int(str(build["f_cpu"]).rstrip("L")) == board.boot_clock_hz
    assert manifest["upload"]["maximum_size"] == board.flash_bytes
    assert manifest["upload"]["maximum_ram_size"] == board.ram_bytes
    qemu = manifest.get("qemu", {})
    assert (qemu.get("machine") or None) == board.qemu_machine
    assert (qemu.get("cpu") or None) == board.qemu_cpu
    assert int(qemu.get("serial_index", 0)) == board.qemu_serial_index

    src = BOARD_SRC / build["board_dir"]
    for part in ("startup.c", "uart.c", build["ldscript"]):
        assert (src / part).is_file(), f"{src / part} missing"
    ld = (src / build["ldscript"]).read_text()
    flash = re.search(r"FLASH\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*(\d+)K", ld)
    ram = re.search(r"RAM\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*"
                    r"DEFINED\(__ram_budget\) \? __ram_budget : (\d+)K", ld)   # a model's ram_budget, else all
    assert flash and ram
    assert int(flash.group(1), 16) == board.flash_origin and int(flash.group(2)) * 1024 == board.flash_bytes
    assert int(ram.group(1), 16) == board.ram_origin and int(ram.group(2)) * 1024 == board.ram_bytes
    assert f"0x{board.uart_base:08x}" in (src / "uart.c").read_text().lower()


# --------------------------------------------------------------------------
# the Cortex-M33 board and the real boards
# --------------------------------------------------------------------------

REAL = [name for name, board in BOARDS.items() if not board.emulated]


def test_every_issue_core_has_a_board() -> None:
    cores = {board.core for board in BOARDS.values()}
    assert {"cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4f", "cortex-m33"} <= cores
    assert {"microbit", "lm3s6965evb", "netduinoplus2", "mps2-an505"} <= {
        n for n, b in BOARDS.items() if b.emulated}
    assert {"nucleo_f401re", "nucleo_l053r8"} <= set(REAL)


def test_mps2_an505_is_the_secure_view_of_qemus_map() -> None:
    """What QEMU 7.2's mps2-an505 maps (info mtree): SSRAM1 4 MB at 0 with its Secure alias
    at 0x10000000 (the Secure VTOR's reset value), SSRAM2 2 MB at 0x28000000 / 0x38000000,
    UART0 at 0x40200000 / 0x50200000 on the first -serial, its RX interrupt = IRQ 32."""
    board = get_board("mps2-an505")
    assert board.core == "cortex-m33" and "-mcpu=cortex-m33" in board.cpu_flags and board.has_fpu
    assert (board.flash_origin, board.flash_bytes) == (0x1000_0000, 4 * 1024 * 1024)
    assert (board.ram_origin, board.ram_bytes) == (0x3800_0000, 2 * 1024 * 1024)
    assert board.uart == "cmsdk" and board.uart_base == 0x5020_0000
    args = board.qemu_args("fw.elf", "stdio")
    assert args[:3] == ["qemu-system-arm", "-M", "mps2-an505"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "-serial"] == ["stdio"]
    uart = (BOARD_SRC / "mps2-an505" / "uart.c").read_text()
    assert re.search(r"#define UART0_RX_IRQN 32u", uart)


@pytest.mark.parametrize("name", REAL)
def test_real_boards_have_no_emulator_and_flash_with_openocd(name: str) -> None:
    board = BOARDS[name]
    assert board.qemu_machine is None and not board.emulated
    with pytest.raises(ValueError, match="no QEMU model"):
        board.qemu_args("fw.elf")
    upload = json.loads((PLATFORM_BOARDS / f"{board.pio_env}.json").read_text())["upload"]
    assert upload["protocol"] == "openocd" and {"openocd", "stlink"} <= set(upload["protocols"])
    assert upload["openocd_target"] in ("stm32f4x", "stm32l0")
    assert int(upload["offset_address"], 16) == board.flash_origin
    # the repository's platformio.ini has a build environment for it
    assert f"[env:{board.pio_env}]" in (ROOT / "platformio.ini").read_text()


def test_stm32f4_boards_share_one_usart_driver() -> None:
    """The Nucleo-F401RE ships the USART2 driver that the emulated netduinoplus2 tests run."""
    common = (BOARD_SRC / "common" / "stm32f4_usart.c").read_text()
    assert "USART_SR_RXNE" in common and "RCC_APB1ENR_USART2EN" in common and "mt_wfi()" in common
    for name in ("netduinoplus2", "nucleo_f401re"):
        uart = (BOARD_SRC / name / "uart.c").read_text()
        assert '#include "../common/stm32f4_usart.c"' in uart
        assert f'#define MT_BOARD_NAME "{name}"' in uart
        assert "USART_SR" not in uart and "void board_init" not in uart  # no code of its own


def test_boards_command_lists_every_board() -> None:
    from click.testing import CliRunner

    from mcutrain.cli import main

    res = CliRunner().invoke(main, ["boards"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()[1:] if line.strip()}
    assert set(lines) == set(BOARDS)
    for name, board in BOARDS.items():
        line = lines[name]
        assert board.core in line and f"{board.ram_bytes // 1024} KB" in line
        assert (f"emulated (qemu -M {board.qemu_machine})" in line) if board.emulated else line.endswith("real")
