"""Sections of docs/results.md that a command owns: replaced in place between markers, the rest kept.

A section is delimited by ``<!-- BEGIN generated:KEY -->`` and ``<!-- END generated:KEY -->``; a
missing section is appended at the end of the file. Never edit a generated section by hand.
"""

from __future__ import annotations

import platform
from pathlib import Path


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- BEGIN generated:{key} -->", f"<!-- END generated:{key} -->"


def replace_section(path: Path, key: str, body: str) -> None:
    begin, end = _markers(key)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Results\n"
    i, j = text.find(begin), text.find(end)
    if (i < 0) != (j < 0) or (i >= 0 and j < i):
        raise ValueError(f"{path}: the markers of section {key!r} are broken; restore both {begin} and {end}")
    if i >= 0:
        text = text[:i] + block + text[j + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    import numpy as np
    return (f"{cpu}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, NumPy {np.__version__}")
