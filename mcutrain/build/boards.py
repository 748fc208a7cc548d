"""Board registry.

One :class:`Board` per supported target. The firmware side of a board lives in
``firmware/boards/<name>/`` (startup code, linker script, UART driver) and
``firmware/platforms/mcutrain-arm/boards/<name>.json`` (the PlatformIO board
manifest); ``tests/test_boards.py`` checks that the three agree.

Adding a board: one more ``Board(...)`` entry in ``_BOARDS`` below, a folder
``firmware/boards/<name>/`` and a board JSON (see ``docs/build.md``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from ..errors import McutrainError, UnknownBoardError


@dataclass(frozen=True)
class MemoryRegion:
    """An extra memory region besides the main RAM (e.g. STM32 CCM)."""

    name: str
    origin: int
    size: int
    #: True if qemu_machine maps this region (QEMU models do not always).
    in_qemu: bool = True
    note: str = ""


@dataclass(frozen=True)
class Board:
    """A target board, as the generator, memory planner and emulator see it."""

    name: str
    #: Human-readable description.
    title: str
    #: Core name: cortex-m0, cortex-m0plus, cortex-m3, cortex-m4f, cortex-m33
    core: str
    #: Compiler/linker flags selecting the core, e.g. ('-mcpu=cortex-m4', '-mthumb', ...).
    cpu_flags: tuple[str, ...]
    #: Rated (maximum) core clock, used for time estimates.
    clock_hz: int
    #: Clock the firmware actually runs from (no PLL set-up), used for UART dividers.
    boot_clock_hz: int
    #: Main RAM region usable for .data + .bss + stack (contiguous).
    ram_origin: int
    ram_bytes: int
    flash_origin: int
    flash_bytes: int
    #: Bytes of RAM reserved for the stack (at the end of RAM); the memory
    #: planner must keep .data + .bss <= ram_bytes - stack_bytes.
    stack_bytes: int
    #: UART driver kind: stm32-usart (F4: SR/DR) | stm32-usart-v2 (L0: ISR/RDR/TDR) | cmsdk | pl011 | nrf51
    uart: str
    #: Base address of the UART the serial link uses.
    uart_base: int
    #: PlatformIO environment name (in platformio.ini) and board id (board JSON).
    pio_env: str
    #: QEMU machine (-M) for emulation; None for a real board only.
    qemu_machine: str | None = None
    #: QEMU -cpu option, or None for the machine's default CPU.
    qemu_cpu: str | None = None
    #: Index of the link UART among the machine's serial ports: QEMU attaches
    #: the n-th ``-serial`` option to it, so the first ``qemu_serial_index``
    #: options must be ``-serial null``.
    qemu_serial_index: int = 0
    #: Whether the core has an FPU (the training code uses none).
    has_fpu: bool = False
    #: Extra memory regions not part of ram_bytes (e.g. CCM).
    extra_regions: tuple[MemoryRegion, ...] = field(default_factory=tuple)
    notes: str = ""
    #: The model file's ``ram_budget`` when it planned for less RAM than the board has (then
    #: ``ram_bytes`` is the budget, and the build links for it); None: the board's whole RAM.
    ram_budget: int | None = None

    def with_ram_budget(self, budget: int | None) -> Board:
        """This board planned and linked for ``budget`` bytes of RAM (None: unchanged).

        Raises RamBudgetError when the budget is larger than the board's RAM, or leaves no room
        beside the stack reservation."""
        if budget is None:
            return self
        problem = ram_budget_problem(budget, self)
        if problem is not None:
            raise RamBudgetError(f"ram_budget {budget} bytes on board {self.name}: {problem}")
        return dataclasses.replace(self, ram_bytes=budget, ram_budget=budget)

    @property
    def emulated(self) -> bool:
        """True if the board can run in qemu-system-arm."""
        return self.qemu_machine is not None

    @property
    def usable_ram_bytes(self) -> int:
        """RAM left for .data + .bss once the stack is reserved."""
        return self.ram_bytes - self.stack_bytes

    def qemu_args(
        self,
        kernel: str,
        serial: str = "stdio",
        *,
        semihosting: bool = False,
    ) -> list[str]:
        """Argument vector that boots ``kernel`` (an ELF) in QEMU with the
        link UART on chardev ``serial`` (``stdio``, ``pty``,
        ``tcp:127.0.0.1:PORT,server,nowait``, ...).

        Raises ValueError for a board without a QEMU model.
        """
        if self.qemu_machine is None:
            raise ValueError(f"board {self.name} has no QEMU model")
        args = ["qemu-system-arm", "-M", self.qemu_machine]
        if self.qemu_cpu:
            args += ["-cpu", self.qemu_cpu]
        args += ["-display", "none", "-monitor", "none"]
        for _ in range(self.qemu_serial_index):
            args += ["-serial", "null"]
        args += ["-serial", serial]
        if semihosting:
            args += ["-semihosting-config", "enable=on,target=native"]
        args += ["-kernel", str(kernel)]
        return args


_M4F_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
_M3_FLAGS = ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")
_M0_FLAGS = ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")
_M0PLUS_FLAGS = ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft")
_M33_FLAGS = ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")

_BOARDS: tuple[Board, ...] = (
    Board(
        name="netduinoplus2",
        title="Netduino Plus 2 (STM32F405RG, Cortex-M4F), emulated by QEMU",
        core="cortex-m4f",
        cpu_flags=_M4F_FLAGS,
        clock_hz=168_000_000,
        boot_clock_hz=16_000_000,  # HSI after reset; the firmware sets no PLL
        ram_origin=0x2000_0000,
        # A real STM32F405 has 112K SRAM1 + 16K SRAM2 contiguous at 0x20000000
        # (128K) and 64K CCM at 0x10000000. QEMU 7.2 maps 192K contiguous at
        # 0x20000000 and no CCM at all. We use the 128K both agree on.
        ram_bytes=128 * 1024,
        flash_origin=0x0800_0000,
        flash_bytes=1024 * 1024,
        stack_bytes=8 * 1024,
        uart="stm32-usart",
        uart_base=0x4000_4400,  # USART2, as on a Nucleo-F401RE (ST-LINK VCP)
        pio_env="netduinoplus2",
        qemu_machine="netduinoplus2",
        qemu_cpu=None,
        # QEMU wires serial 0 to USART1 (0x40011000), serial 1 to USART2.
        qemu_serial_index=1,
        has_fpu=True,
        extra_regions=(
            MemoryRegion(
                name="ccm",
                origin=0x1000_0000,
                size=64 * 1024,
                in_qemu=False,
                note="core-coupled RAM of the real chip (CPU only, no DMA); "
                "not mapped by QEMU's netduinoplus2, so the firmware does not use it",
            ),
        ),
        notes="Same core, flash/SRAM bases and USART2 as an STM32F401 Nucleo.",
    ),
    Board(
        name="lm3s6965evb",
        title="TI Stellaris LM3S6965 evaluation board (Cortex-M3), emulated by QEMU",
        core="cortex-m3",
        cpu_flags=_M3_FLAGS,
        clock_hz=50_000_000,
        boot_clock_hz=12_000_000,  # internal oscillator after reset; no PLL set-up
        ram_origin=0x2000_0000,
        ram_bytes=64 * 1024,
        flash_origin=0x0000_0000,
        flash_bytes=256 * 1024,
        stack_bytes=4 * 1024,
        uart="pl011",
        uart_base=0x4000_C000,  # UART0
        pio_env="lm3s6965evb",
        qemu_machine="lm3s6965evb",
        qemu_serial_index=0,
        notes="Emulation target; a real board would need its PLL set up for an accurate baud rate.",
    ),
    Board(
        name="microbit",
        title="BBC micro:bit v1 (nRF51822, Cortex-M0), emulated by QEMU",
        core="cortex-m0",
        cpu_flags=_M0_FLAGS,
        clock_hz=16_000_000,
        boot_clock_hz=16_000_000,
        ram_origin=0x2000_0000,
        ram_bytes=16 * 1024,
        flash_origin=0x0000_0000,
        flash_bytes=256 * 1024,
        stack_bytes=2 * 1024,
        uart="nrf51",
        uart_base=0x4000_2000,  # UART0, TX P0.24 / RX P0.25
        pio_env="microbit",
        qemu_machine="microbit",
        qemu_serial_index=0,
        notes="Cortex-M0: no divide instruction (division becomes a libgcc call).",
    ),
    Board(
        name="mps2-an505",
        title="Arm MPS2+ with the AN505 FPGA image (Cortex-M33 IoT Kit), emulated by QEMU",
        core="cortex-m33",
        cpu_flags=_M33_FLAGS,
        clock_hz=20_000_000,  # the AN505 image's system clock (QEMU: SYSCLK 20 MHz)
        boot_clock_hz=20_000_000,
        # The core boots (and stays) Secure. Code: ZBT SSRAM1, 4 MB at its Secure
        # alias 0x10000000 (the Secure VTOR resets there; the board's controller,
        # or QEMU's -kernel, loads the image). Data: ZBT SSRAM2, 2 MB at its
        # Secure alias 0x38000000. Both are behind memory protection controllers
        # that reset to all-Secure, on the FPGA and in QEMU 7.2 alike.
        ram_origin=0x3800_0000,
        ram_bytes=2 * 1024 * 1024,
        flash_origin=0x1000_0000,
        flash_bytes=4 * 1024 * 1024,
        stack_bytes=8 * 1024,
        uart="cmsdk",
        uart_base=0x5020_0000,  # UART0, Secure alias (Non-secure: 0x40200000)
        pio_env="mps2-an505",
        qemu_machine="mps2-an505",
        qemu_serial_index=0,  # QEMU: serial n = UART n
        has_fpu=True,
        extra_regions=(
            MemoryRegion(
                name="ssram3",
                origin=0x3820_0000,
                size=2 * 1024 * 1024,
                note="ZBT SSRAM3 right after SSRAM2 (Secure alias); not used",
            ),
            MemoryRegion(
                name="iotkit-sram",
                origin=0x3000_0000,
                size=32 * 1024,
                note="the IoT Kit's internal SRAM as QEMU 7.2 maps it (Secure alias); not used",
            ),
        ),
        notes="UART0 RX interrupt = IRQ 32. Not flashed: the MPS2+ loads images from its SD card.",
    ),
    Board(
        name="nucleo_f401re",
        title="ST Nucleo-F401RE (STM32F401RE, Cortex-M4F), real board",
        core="cortex-m4f",
        cpu_flags=_M4F_FLAGS,
        clock_hz=84_000_000,
        boot_clock_hz=16_000_000,  # HSI after reset; the firmware sets no PLL
        ram_origin=0x2000_0000,
        ram_bytes=96 * 1024,
        flash_origin=0x0800_0000,
        flash_bytes=512 * 1024,
        stack_bytes=8 * 1024,
        uart="stm32-usart",
        uart_base=0x4000_4400,  # USART2 on PA2/PA3 (AF7) = the ST-LINK virtual COM port
        pio_env="nucleo_f401re",
        has_fpu=True,
        notes="Same USART2 driver as netduinoplus2 (firmware/boards/common/stm32f4_usart.c). "
        "Flash: openocd (target/stm32f4x.cfg) or st-flash.",
    ),
    Board(
        name="nucleo_l053r8",
        title="ST Nucleo-L053R8 (STM32L053R8, Cortex-M0+), real board",
        core="cortex-m0plus",
        cpu_flags=_M0PLUS_FLAGS,
        clock_hz=32_000_000,
        # Resets on the 2.1 MHz MSI; board_init switches to the 16 MHz HSI16
        # (one flash wait state, no PLL), which also clocks USART2.
        boot_clock_hz=16_000_000,
        ram_origin=0x2000_0000,
        ram_bytes=8 * 1024,
        flash_origin=0x0800_0000,
        flash_bytes=64 * 1024,
        stack_bytes=1536,
        uart="stm32-usart-v2",
        uart_base=0x4000_4400,  # USART2 on PA2/PA3 (AF4) = the ST-LINK virtual COM port
        pio_env="nucleo_l053r8",
        notes="Cortex-M0+: no divide instruction. USART with ISR/ICR/RDR/TDR. "
        "Flash: openocd (target/stm32l0.cfg) or st-flash.",
    ),
)

BOARDS: dict[str, Board] = {board.name: board for board in _BOARDS}

# --------------------------------------------------------------------------- RAM budgets

#: ``ram_budget`` presets: the contiguous main SRAM of real chips (datasheets), in bytes.
RAM_PRESETS: dict[str, int] = {
    "stm32f405": 128 * 1024,   # SRAM1 + SRAM2 (the 64 KB CCM is not counted: not DMA-able, not contiguous)
    "stm32f412": 256 * 1024,   # SRAM1 + SRAM2, contiguous
    "stm32f746": 320 * 1024,   # DTCM 64 KB + SRAM1 240 KB + SRAM2 16 KB, contiguous from 0x20000000
}

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KkMm]?)(?:i?B)?\s*$")


class RamBudgetError(McutrainError):
    """A ``ram_budget`` that cannot be used on its board (too large, too small, not a size)."""

    exit_code = 2


def parse_ram_budget(value: object) -> int:
    """Bytes of a ``ram_budget`` value: an integer (bytes), a size such as ``"128K"``, ``"96KB"``,
    ``"1M"``, or a chip preset from :data:`RAM_PRESETS` (``"stm32f746"``). Raises ValueError with
    the accepted forms."""
    forms = ('an integer number of bytes, a size such as "128K" or "1M", or a chip: '
             + ", ".join(f'"{k}" ({v // 1024} KB)' for k, v in RAM_PRESETS.items()))
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected {forms}")
    if isinstance(value, int):
        nbytes = value
    elif value.strip().lower() in RAM_PRESETS:
        nbytes = RAM_PRESETS[value.strip().lower()]
    else:
        m = _SIZE_RE.match(value)
        if m is None:
            raise ValueError(f"expected {forms}")
        nbytes = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if nbytes <= 0 or nbytes % 8:
        raise ValueError(f"{nbytes} bytes: a budget is a positive multiple of 8 bytes (the stack top is "
                         f"8-byte aligned); e.g. {max(8, nbytes // 1024 * 1024) // 1024 or 1}K")
    return nbytes


def ram_budget_problem(budget: int, board: Board) -> str | None:
    """None if ``budget`` bytes can be planned and linked on ``board``, else what is wrong and the fix."""
    if budget > board.ram_bytes:
        bigger = sorted((b for b in _BOARDS if b.ram_bytes >= budget), key=lambda b: b.ram_bytes)
        alt = f" (e.g. board = \"{bigger[0].name}\", {_kb(bigger[0].ram_bytes)})" if bigger else ""
        return (f"larger than the board's {_kb(board.ram_bytes)} of RAM; a budget plans for less RAM than "
                f"the board has: lower it to at most {board.ram_bytes // 1024}K, or use a board with more "
                f"RAM{alt}")
    if budget <= board.stack_bytes:
        return (f"leaves nothing beside the board's {board.stack_bytes}-byte stack reservation; "
                f"give more than {board.stack_bytes} bytes")
    return None


def _kb(nbytes: int) -> str:
    return f"{nbytes // (1024 * 1024)} MB" if nbytes % (1024 * 1024) == 0 else f"{nbytes / 1024:g} KB"


def board_for(name: str, ram_budget: int | None = None) -> Board:
    """The board called ``name``, planned and linked for ``ram_budget`` bytes when given."""
    return get_board(name).with_ram_budget(ram_budget)


def board_names() -> list[str]:
    """Names of all known boards, sorted."""
    return sorted(BOARDS)


def get_board(name: str) -> Board:
    """The board called ``name``; raises :class:`UnknownBoardError` listing the
    known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UnknownBoardError(
            f"unknown board {name!r}; known boards: {', '.join(board_names())}"
        ) from None
