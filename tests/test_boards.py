"""The board registry, and its agreement with the firmware's board files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mcutrain.boards import BOARDS, Board, board_names, get_board
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
    ram = re.search(r"RAM\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*(\d+)K", ld)
    assert flash and ram
    assert int(flash.group(1), 16) == board.flash_origin and int(flash.group(2)) * 1024 == board.flash_bytes
    assert int(ram.group(1), 16) == board.ram_origin and int(ram.group(2)) * 1024 == board.ram_bytes
    assert f"0x{board.uart_base:08x}" in (src / "uart.c").read_text().lower()
