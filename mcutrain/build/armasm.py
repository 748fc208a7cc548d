"""Small helpers for reading ARM disassembly text (shared by the stack estimate and the benchmark)."""

from __future__ import annotations

import re

_LIST = re.compile(r"\{([^}]*)\}")
_RANGE = re.compile(r"^([a-z]+)(\d+)\s*-\s*[a-z]+(\d+)$")


def register_list_count(text: str) -> int | None:
    """Registers in the list of `text` ('{r4, r5, lr}', ranges like 'r4-r7' or 'd8-d9' expanded); None if no list."""
    m = _LIST.search(text)
    if not m:
        return None
    n = 0
    for item in m.group(1).split(","):
        item = item.strip()
        r = _RANGE.match(item)
        n += int(r.group(3)) - int(r.group(2)) + 1 if r else (1 if item else 0)
    return n
