"""The multiply check: disassemble functions of an ELF and find multiplies and divides.

A function passes if its disassembly holds no multiply or divide instruction
(integer, DSP or floating point) and no call to a multiply/divide helper of the
compiler runtime. The mnemonic list is in ../shared/notes/platform.md.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from .toolchain import find_tool

FORBIDDEN = re.compile(
    r"^(mul|muls|mla|mls|smull|umull|smlal|umlal|umaal|smul\w*|smla\w*|smls\w*|smmul\w*|smmla\w*|smmls\w*"
    r"|smuad\w*|smusd\w*|sdiv|udiv|vmul|vnmul|vmla|vmls|vfma|vfms|vfnma|vfnms|vdiv)(\.\w+)?$"
)
HELPER = re.compile(r"<(__aeabi_\w*(mul|div|mod)\w*|__mul\w*|__div\w*|__mod\w*|__udiv\w*|__umod\w*)>")


@dataclass(frozen=True)
class Finding:
    function: str
    address: str
    text: str


@dataclass(frozen=True)
class FunctionReport:
    name: str
    instructions: int
    findings: tuple[Finding, ...]


def disassemble(elf: str, function: str) -> list[tuple[str, str, str]]:
    """(address, mnemonic, full text) of each instruction of `function`."""
    objdump = find_tool("arm-none-eabi-objdump")
    out = subprocess.run([objdump, "-d", f"--disassemble={function}", "--no-show-raw-insn", elf],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m:
            rows.append((m.group(1), m.group(2), line.strip()))
    return rows


def check_function(elf: str, function: str) -> FunctionReport:
    rows = disassemble(elf, function)
    findings = []
    for addr, mnem, text in rows:
        if FORBIDDEN.match(mnem) or HELPER.search(text):
            findings.append(Finding(function, addr, text))
    return FunctionReport(function, len(rows), tuple(findings))


def check_elf(elf: str, functions: list[str]) -> list[FunctionReport]:
    """Reports for each function; a function missing from the ELF is an error (it may have been inlined)."""
    reports = []
    for fn in functions:
        rep = check_function(elf, fn)
        if rep.instructions == 0:
            raise ValueError(f"function {fn} not found in {elf} (inlined or renamed?): the check cannot see it")
        reports.append(rep)
    return reports
