"""Count every instruction a firmware function executes, in an instruction-level emulator.

The firmware ELF is loaded into unicorn (ARM, ``THUMB | MCLASS``, the board's CPU model) as
the board would hold it: every PT_LOAD segment at its load address and at its run address
(so ``.data`` is where ``Reset_Handler`` would have copied it), RAM otherwise zero (``.bss``
cleared). A function is called by its symbol name (static functions are local symbols; the
generator's kernels are ``noinline, noclone``, so names are exact) with up to four integer
arguments in r0-r3, ``SP`` near the top of RAM and ``LR`` = a magic return address; the
emulator stops when the function returns there.

What counts as an executed instruction. A ``UC_HOOK_BLOCK`` hook runs once per executed
translation block; the block's instructions are decoded once (capstone) and cached, and every
one of them is counted each time the block runs. That includes the instructions of an IT block
whose condition fails: the core still issues them (as no-ops, one cycle each on the M3/M4) and
QEMU's ``-icount`` counts them too. A ``UC_HOOK_CODE`` hook, in contrast, is skipped for a
failed-condition instruction. ``hook="both"`` installs the code hook as well and records, per
address, the condition-passed executions (``Profile.passed``); on a core without IT blocks
(Cortex-M0) the two counts are equal, instruction by instruction (tests/test_bench_counter.py).
The headline figures are the issued count (block hook); the condition-passed count is reported
beside it.

Per instruction address the counter records how often it executed, how often control left it by
a jump (block transitions: taken branches, returns) and how often it was entered by a jump;
histograms, per-function counts, multiply/divide counts and the cycle estimate (cycles.py) are
computed from those. The stack is painted before every call, so each call also reports its
peak stack use.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..build.mulcheck import FORBIDDEN, HELPER
from ..errors import McutrainError, ToolMissingError
from .cycles import CycleTable, classify, histogram_key, split_mnemonic, table_for
from .elf import ElfImage, read_elf

PAGE = 0x1000
STACK_PAINT = 0xA5
ARG_AREA = 512           # bytes at the top of RAM for call arguments (an encoded sample)


class CounterError(McutrainError):
    """The emulated call faulted, did not return, or a name is unknown."""


class CounterMissingError(ToolMissingError):
    """unicorn or capstone is not installed."""


def _uc():
    try:
        import capstone
        import unicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CounterMissingError(f"the instruction counter needs the PyPI packages unicorn and capstone "
                           f"(pip install 'mcutrain[bench]'): {exc}") from None
    return unicorn, capstone


def cpu_model(core: str) -> int:
    """unicorn's CPU model constant for a board's core name."""
    unicorn, _ = _uc()
    from unicorn import arm_const as a
    c = core.lower().replace("+", "plus")
    if c.startswith("cortex-m0"):
        return a.UC_CPU_ARM_CORTEX_M0            # unicorn has no M0+; same ARMv6-M instruction set
    if c.startswith("cortex-m33"):
        return a.UC_CPU_ARM_CORTEX_M33
    if c.startswith("cortex-m3"):
        return a.UC_CPU_ARM_CORTEX_M3
    if c.startswith("cortex-m4"):
        return a.UC_CPU_ARM_CORTEX_M4
    if c.startswith("cortex-m7"):
        return a.UC_CPU_ARM_CORTEX_M7
    raise CounterError(f"no unicorn CPU model for core {core!r}")


@dataclass(frozen=True)
class Insn:
    address: int
    size: int
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


@dataclass
class Profile:
    """Execution counts of one or more calls, per instruction address."""

    counts: Counter = field(default_factory=Counter)     # address -> executions (issued, see module doc)
    passed: Counter = field(default_factory=Counter)     # address -> executions whose condition passed
                                                         # (UC_HOOK_CODE; only with hook="both")
    taken: Counter = field(default_factory=Counter)      # address -> times control left it by a jump
    jumped: Counter = field(default_factory=Counter)     # address -> times it was entered by a jump
    calls: int = 0

    @property
    def instructions(self) -> int:
        return sum(self.counts.values())

    @property
    def instructions_passed(self) -> int | None:
        """Instructions whose condition passed (UC_HOOK_CODE count), None if not measured."""
        return sum(self.passed.values()) if self.passed or not self.counts else None

    def merge(self, other: Profile) -> Profile:
        self.counts.update(other.counts)
        self.passed.update(other.passed)
        self.taken.update(other.taken)
        self.jumped.update(other.jumped)
        self.calls += other.calls
        return self


@dataclass(frozen=True)
class CallResult:
    function: str
    args: tuple[int, ...]
    ret: int                 # r0 after the call
    instructions: int
    stack_bytes: int         # peak stack use of the call (painted stack)
    profile: Profile


class _Recording:
    """What the hooks record during one call."""

    __slots__ = ("prof", "blocks", "last_of", "last", "next")

    def __init__(self, prof: Profile) -> None:
        self.prof = prof
        self.blocks: Counter = Counter()      # (address << 16 | size) -> executions of that block
        self.last_of: dict[int, int] = {}     # block key -> address of its last instruction
        self.last: int | None = None          # last instruction of the previous block
        self.next = -1                        # the address that would follow it without a jump


def _page_round(origin: int, size: int) -> tuple[int, int]:
    lo = origin & ~(PAGE - 1)
    hi = (origin + size + PAGE - 1) & ~(PAGE - 1)
    return lo, hi - lo


class Machine:
    """A firmware image in unicorn, ready to have its functions called and counted."""

    def __init__(self, elf: str | Path, board: Any = None, *, core: str | None = None,
                 flash: tuple[int, int] | None = None, ram: tuple[int, int] | None = None,
                 stack_bytes: int | None = None, hook: str = "block") -> None:
        unicorn, capstone = _uc()
        from unicorn import arm_const as a
        if hook not in ("block", "both"):
            raise ValueError("hook must be 'block' or 'both'")
        self.hook = hook
        self.image: ElfImage = read_elf(elf)
        self.core = core or board.core
        self.flash = flash or (board.flash_origin, board.flash_bytes)
        self.ram = ram or (board.ram_origin, board.ram_bytes)
        self.table: CycleTable = table_for(self.core)
        uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(cpu_model(self.core))
        for origin, size in (self.flash, self.ram):
            lo, n = _page_round(origin, size)
            uc.mem_map(lo, n, unicorn.UC_PROT_ALL)
        for seg in self.image.segments:
            for where in {seg.vaddr, seg.paddr}:
                if seg.data:
                    uc.mem_write(where, seg.data)
            # the .bss part (memsz beyond the file image) stays zero: freshly mapped memory is zero
        if "m4f" in self.core or "m33" in self.core or "m7" in self.core:
            # Reset_Handler sets CPACR (CP10/CP11 full access). unicorn's M-profile CPU starts with
            # the FPU usable; write the register too where unicorn exposes it.
            try:
                uc.reg_write(a.UC_ARM_REG_C1_C0_2, uc.reg_read(a.UC_ARM_REG_C1_C0_2) | (0xF << 20))
            except unicorn.UcError:
                pass
        f_lo, f_size = self.flash
        self.magic = (f_lo + f_size - 16) & ~3
        if any(s.paddr <= self.magic < s.paddr + len(s.data) for s in self.image.segments):
            raise CounterError("the image fills the flash; no room for the return trap")
        uc.mem_write(self.magic, b"\xfe\xe7")                 # b . (never executed: emu_start stops there)
        top = self._sym_or("_estack", self.ram[0] + self.ram[1])
        self.arg_area = (top - ARG_AREA) & ~7
        self.sp = self.arg_area & ~7
        low = self._sym_or("_ebss", self.ram[0])
        reserve = stack_bytes if stack_bytes is not None else (board.stack_bytes if board is not None else 2048)
        self.stack_low = max(low, top - reserve)
        self.uc = uc
        mode = capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS
        if "m33" in self.core:
            mode |= capstone.CS_MODE_V8
        self.cs = capstone.Cs(capstone.CS_ARCH_ARM, mode)
        self.insns: dict[int, Insn] = {}
        self._blocks: dict[int, tuple[int, ...]] = {}      # (addr << 16 | size) -> instruction addresses
        funcs = self.image.functions()
        self._fstart = [f.address for f in funcs]
        self._funcs = funcs
        self._rec: _Recording | None = None
        # Hooks are installed once, before anything is translated, so every translation block has them.
        uc.hook_add(unicorn.UC_HOOK_BLOCK, self._on_block)
        if hook == "both":
            uc.hook_add(unicorn.UC_HOOK_CODE, self._on_code)

    def _on_block(self, _uc: Any, address: int, size: int, _ud: Any) -> None:
        rec = self._rec
        if rec is None:
            return
        key = address << 16 | size
        rec.blocks[key] += 1
        if address != rec.next:
            if rec.last is not None:
                rec.prof.taken[rec.last] += 1
            rec.prof.jumped[address] += 1
        last = rec.last_of.get(key)
        if last is None:
            addrs = self._blocks.get(key) or self._decode(address, size)
            self._blocks[key] = addrs
            last = rec.last_of[key] = addrs[-1]
        rec.last = last
        rec.next = address + size

    def _on_code(self, _uc: Any, address: int, _size: int, _ud: Any) -> None:
        rec = self._rec
        if rec is not None:
            rec.prof.passed[address] += 1

    # -- memory -------------------------------------------------------------------------
    def _sym_or(self, name: str, default: int) -> int:
        try:
            return self.image.symbol(name).value
        except KeyError:
            return default

    def address_of(self, name: str) -> int:
        try:
            return self.image.symbol(name).address
        except KeyError as exc:
            raise CounterError(str(exc)) from None

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, bytes(data))

    def read(self, address: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(address, n))

    # -- decoding -----------------------------------------------------------------------
    def _decode(self, address: int, size: int) -> tuple[int, ...]:
        code = self.read(address, size)
        addrs = []
        pos = 0
        while pos < size:
            before = pos
            for ins in self.cs.disasm(code[pos:], address + pos):
                if ins.address not in self.insns:
                    self.insns[ins.address] = Insn(ins.address, ins.size, ins.mnemonic, ins.op_str)
                addrs.append(ins.address)
                pos += ins.size
            if pos == before:
                # an undecodable halfword (should not happen in code): one 2-byte instruction
                if (address + pos) not in self.insns:
                    self.insns[address + pos] = Insn(address + pos, 2, "(unknown)", "")
                addrs.append(address + pos)
                pos += 2
        return tuple(addrs)

    def function_at(self, address: int) -> str:
        k = bisect.bisect_right(self._fstart, address) - 1
        if k >= 0:
            f = self._funcs[k]
            if address < f.address + f.size:
                return f.name
        return f"0x{address:08x}"

    # -- calling ------------------------------------------------------------------------
    def call(self, function: str | int, *args: int, timeout_s: float = 600.0, count: bool = True) -> CallResult:
        """Call `function` (name or address) with integer args in r0..r3; count what it executes."""
        unicorn, _ = _uc()
        from unicorn import arm_const as a
        if len(args) > 4:
            raise CounterError("at most four arguments (r0-r3)")
        entry = self.address_of(function) if isinstance(function, str) else int(function) & ~1
        name = function if isinstance(function, str) else f"0x{entry:08x}"
        uc = self.uc
        for reg, v in zip((a.UC_ARM_REG_R0, a.UC_ARM_REG_R1, a.UC_ARM_REG_R2, a.UC_ARM_REG_R3), args,
                          strict=False):
            uc.reg_write(reg, int(v) & 0xFFFFFFFF)
        uc.reg_write(a.UC_ARM_REG_SP, self.sp)
        uc.reg_write(a.UC_ARM_REG_LR, self.magic | 1)
        uc.mem_write(self.stack_low, bytes([STACK_PAINT]) * (self.sp - self.stack_low))

        prof = Profile(calls=1)
        self._rec = _Recording(prof) if count else None
        try:
            uc.emu_start(entry | 1, self.magic, timeout=int(timeout_s * 1e6))
        except unicorn.UcError as exc:
            pc = uc.reg_read(a.UC_ARM_REG_PC)
            raise CounterError(f"{name}: {exc} at pc=0x{pc:08x} ({self.function_at(pc)})") from None
        finally:
            rec, self._rec = self._rec, None
        pc = uc.reg_read(a.UC_ARM_REG_PC)
        if pc != self.magic:
            raise CounterError(f"{name} did not return within {timeout_s} s (pc=0x{pc:08x}, {self.function_at(pc)})")
        if rec is not None:
            if rec.last is not None:
                prof.taken[rec.last] += 1                  # the return itself
            counts = prof.counts
            for key, n in rec.blocks.items():
                for addr in self._blocks[key]:
                    counts[addr] += n
        painted = self.read(self.stack_low, self.sp - self.stack_low)
        used = next((i for i, b in enumerate(painted) if b != STACK_PAINT), len(painted))
        return CallResult(name, tuple(args), uc.reg_read(a.UC_ARM_REG_R0), prof.instructions,
                          len(painted) - used, prof)

    # -- analysis -----------------------------------------------------------------------
    def histogram(self, prof: Profile) -> Counter:
        """Executions per instruction kind (histogram_key: base mnemonic, 'b<cond>', FP type)."""
        h: Counter = Counter()
        for addr, n in prof.counts.items():
            h[histogram_key(self.insns[addr].mnemonic)] += n
        return h

    def by_function(self, prof: Profile) -> Counter:
        """Instructions executed in each function's own code (callees not included)."""
        h: Counter = Counter()
        for addr, n in prof.counts.items():
            h[self.function_at(addr)] += n
        return h

    def entries(self, prof: Profile) -> Counter:
        """How often each function was entered (executions of its first instruction)."""
        return Counter({f.name: prof.counts[f.address] for f in self._funcs if prof.counts.get(f.address)})

    def muldiv(self, prof: Profile) -> tuple[Counter, Counter]:
        """(executed multiply/divide instructions by mnemonic, calls of multiply/divide helpers by name):
        the mnemonics and helper names of mcutrain.build.mulcheck."""
        ins: Counter = Counter()
        for addr, n in prof.counts.items():
            base, _cond, dtype = split_mnemonic(self.insns[addr].mnemonic)
            if FORBIDDEN.match(base) or (dtype and FORBIDDEN.match(f"{base}.{dtype.split('.')[0]}")):
                ins[f"{base}.{dtype}" if dtype else base] += n
        helpers = Counter({name: n for name, n in self.entries(prof).items() if HELPER.search(f"<{name}>")})
        return ins, helpers

    def cycles(self, prof: Profile, table: CycleTable | None = None) -> tuple[int, Counter]:
        """ESTIMATED cycles of the profile with the core's cycle table, and the same by instruction class."""
        table = table or self.table
        by_class: Counter = Counter()
        prev_end: dict[int, Insn] = {}
        for ins in self.insns.values():
            prev_end[ins.address + ins.size] = ins
        total = 0
        for addr, n in prof.counts.items():
            ins = self.insns[addr]
            cost = table.cost(ins.mnemonic, ins.op_str)
            if prof.passed:
                # a failed-condition instruction (IT block) costs one cycle, whatever it is
                ok = prof.passed.get(addr, 0)
                c = ok * cost.base + (n - ok) + prof.taken.get(addr, 0) * cost.taken
            else:
                c = n * cost.base + prof.taken.get(addr, 0) * cost.taken
            if cost.pipelined is not None:
                prev = prev_end.get(addr)
                if prev is not None and table.cost(prev.mnemonic, prev.op_str).pipelined is not None:
                    fall = (prof.passed.get(addr, 0) if prof.passed else n) - prof.jumped.get(addr, 0)
                    if cost.base > cost.pipelined and fall > 0:
                        c -= fall * (cost.base - cost.pipelined)
            total += c
            by_class[classify(ins.mnemonic, ins.op_str)[0]] += c
        return total, by_class

    def prologue_frame(self, function: str) -> int:
        """Bytes a function's prologue reserves on the stack (pushes, vpushes, sub sp), read from
        its first instructions up to the first branch; 0 if the function is not in the image."""
        import re

        from .cycles import register_count
        try:
            sym = self.image.symbol(function)
        except KeyError:
            return 0
        code = self.read(sym.address, min(sym.size, 64))
        frame = 0
        for ins in self.cs.disasm(code, sym.address):
            base, _c, _d = split_mnemonic(ins.mnemonic)
            if base in ("push", "vpush") or (base in ("stmdb", "stmfd") and ins.op_str.startswith("sp!")):
                frame += 4 * register_count(ins.op_str)
            elif base in ("sub", "subw") and re.match(r"^sp,\s*(sp,\s*)?#", ins.op_str):
                frame += int(ins.op_str.rsplit("#", 1)[1], 0)
            elif base.startswith(("b", "cb", "tb")) and base not in ("bic", "bics", "bfi", "bfc"):
                break
        return frame

    def disassembly(self, function: str) -> list[Insn]:
        """The decoded instructions of a function that has executed (decoded on first execution)."""
        sym = self.image.symbol(function)
        return [self.insns[a] for a in sorted(self.insns) if sym.address <= a < sym.address + sym.size]

