"""Build helpers for the serial-link tests (host gcc and arm-none-eabi-gcc).

The device-side code under test (firmware/core/main.c, link.c, crc.c) is
built with the test double tests/c/fake_model.c (header in
tests/c/fake_include/mt_model.h) instead of a generated model.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "firmware" / "core"
TESTS_C = ROOT / "tests" / "c"
FAKE_INCLUDE = TESTS_C / "fake_include"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

#: What the fake model header says (tests/c/fake_include/mt_model.h).
FAKE_HASH = "fa6e0de1fa6e0de1"
FAKE_INPUT_BYTES = 98
FAKE_CLASSES = 10
FAKE_STATE_BYTES = 500


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"build failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")


def build_link_driver(out: Path) -> Path:
    """tests/c/link_driver.c + link.c + crc.c for the host."""
    exe = out / "link_driver"
    _run(["gcc", *WARN, "-pedantic", "-O2", f"-I{CORE}", str(TESTS_C / "link_driver.c"),
          str(CORE / "link.c"), str(CORE / "crc.c"), "-o", str(exe)])
    return exe


def build_fake_device(out: Path, input_bytes: int = FAKE_INPUT_BYTES) -> Path:
    """The device main loop with the fake model, on the host board (stdin/stdout); ``input_bytes`` over 251
    makes a model whose samples travel in sample parts (`Q`)."""
    exe = out / "fake_device"
    _run(["gcc", *WARN, "-pedantic", "-O2", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
          f"-I{CORE}", f"-I{FAKE_INCLUDE}",
          f"-DFAKE_INPUT_BYTES={input_bytes}", str(CORE / "main.c"), str(CORE / "link.c"), str(CORE / "crc.c"),
          str(TESTS_C / "fake_model.c"), str(ROOT / "firmware" / "boards" / "host" / "uart.c"), "-o", str(exe)])
    return exe


ARM_BOARD = ROOT / "firmware" / "boards" / "netduinoplus2"
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def arm_available() -> str | None:
    """Why the QEMU end-to-end test cannot run, or None if it can."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    for f in ("startup.c", "uart.c", "netduinoplus2.ld"):
        if not (ARM_BOARD / f).is_file():
            return f"board layer missing: {ARM_BOARD / f}"
    return None


def build_fake_firmware(out: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """netduinoplus2 ELF: main loop + link + crc + fake model + board layer."""
    elf = out / "fake_netduinoplus2.elf"
    _run(["arm-none-eabi-gcc", *ARM_FLAGS, *WARN, "-O2", "-ffreestanding", "-ffunction-sections",
          "-fdata-sections", "-nostartfiles", "-nostdlib", f"-I{CORE}", f"-I{FAKE_INCLUDE}",
          str(CORE / "main.c"), str(CORE / "link.c"), str(CORE / "crc.c"), str(TESTS_C / "fake_model.c"),
          str(ARM_BOARD / "startup.c"), str(ARM_BOARD / "uart.c"), *extra_flags,
          "-T", str(ARM_BOARD / "netduinoplus2.ld"), "-Wl,--gc-sections", "-lgcc", "-o", str(elf)])
    return elf
