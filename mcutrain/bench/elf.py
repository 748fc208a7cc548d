"""A tiny reader of 32-bit little-endian ARM ELF files: loadable segments and the symbol table.

Enough for the instruction counter: where the image goes in memory (PT_LOAD segments, with
their load and run addresses, so that ``.data`` can be placed as the startup code would copy
it) and where each function starts and ends (``.symtab``, local symbols included, so the
generator's ``static`` kernels are found by name). No dependency beyond the standard library.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

PT_LOAD = 1
SHT_SYMTAB = 2
STT_FUNC = 2
STT_OBJECT = 1
SHN_UNDEF = 0


class ElfError(ValueError):
    """Not an ELF file this reader understands (32-bit, little-endian, ARM)."""


@dataclass(frozen=True)
class Segment:
    vaddr: int          # where the segment lives while running
    paddr: int          # where its image is stored (differs from vaddr for .data: flash -> RAM)
    data: bytes         # the file image (p_filesz bytes)
    memsz: int          # bytes in memory; memsz - len(data) trailing bytes are zero (.bss)
    flags: int


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int          # address; bit 0 set for a Thumb function
    size: int
    kind: int           # STT_*
    local: bool

    @property
    def address(self) -> int:
        """The address with the Thumb bit cleared."""
        return self.value & ~1 if self.kind == STT_FUNC else self.value


@dataclass(frozen=True)
class ElfImage:
    path: Path
    entry: int
    segments: tuple[Segment, ...]
    symbols: tuple[Symbol, ...]

    def functions(self) -> list[Symbol]:
        """Function symbols with a size, sorted by address; of aliases at one address the ARM EABI name
        (``__aeabi_fmul`` rather than ``__mulsf3``) or else a global one is kept."""
        seen: dict[int, Symbol] = {}
        for s in self.symbols:
            if s.kind != STT_FUNC or s.size == 0:
                continue
            old = seen.get(s.address)
            if old is None or _rank(s) < _rank(old):
                seen[s.address] = s
        return [seen[a] for a in sorted(seen)]

    def symbol(self, name: str) -> Symbol:
        """The symbol called `name` (a global one wins over locals; two locals of that name are an error)."""
        found = [s for s in self.symbols if s.name == name]
        if not found:
            raise KeyError(f"no symbol {name!r} in {self.path} (inlined, renamed or removed by --gc-sections?)")
        glob = [s for s in found if not s.local]
        if glob:
            return glob[0]
        if len({s.value for s in found}) > 1:
            raise KeyError(f"{len(found)} local symbols called {name!r} in {self.path}; the name is ambiguous")
        return found[0]


def _rank(s: Symbol) -> tuple[int, int, str]:
    return (0 if s.name.startswith("__aeabi_") else 1, 1 if s.local else 0, s.name)


def read_elf(path: str | Path) -> ElfImage:
    path = Path(path)
    raw = path.read_bytes()
    if raw[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file")
    if raw[4] != 1 or raw[5] != 1:
        raise ElfError(f"{path}: only 32-bit little-endian ELF files are supported")
    (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum,
     e_shentsize, e_shnum, _shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", raw, 16)
    if e_machine != 40:
        raise ElfError(f"{path}: machine {e_machine} is not ARM (40)")
    segments = []
    for k in range(e_phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, _align = struct.unpack_from(
            "<IIIIIIII", raw, e_phoff + k * e_phentsize)
        if p_type == PT_LOAD and p_memsz > 0:
            segments.append(Segment(p_vaddr, p_paddr, raw[p_offset:p_offset + p_filesz], p_memsz, p_flags))
    sections = [struct.unpack_from("<IIIIIIIIII", raw, e_shoff + k * e_shentsize) for k in range(e_shnum)]
    symbols: list[Symbol] = []
    for sh in sections:
        _name, sh_type, _f, _addr, sh_offset, sh_size, sh_link, _info, _al, sh_entsize = sh
        if sh_type != SHT_SYMTAB:
            continue
        str_off, str_size = sections[sh_link][4], sections[sh_link][5]
        strtab = raw[str_off:str_off + str_size]
        for off in range(sh_offset, sh_offset + sh_size, sh_entsize or 16):
            st_name, st_value, st_size, st_info, _other, st_shndx = struct.unpack_from("<IIIBBH", raw, off)
            if st_shndx == SHN_UNDEF or st_name == 0:
                continue
            end = strtab.index(b"\0", st_name)
            name = strtab[st_name:end].decode("ascii", "replace")
            kind = st_info & 0xF
            if kind not in (STT_FUNC, STT_OBJECT, 0) or name.startswith("$"):
                continue
            symbols.append(Symbol(name, st_value, st_size, kind, local=(st_info >> 4) == 0))
    return ElfImage(path, e_entry, tuple(segments), tuple(symbols))
