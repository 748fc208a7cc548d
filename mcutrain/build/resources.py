"""Where the shipped templates and firmware live (source tree or installed package)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # the mcutrain package (this file is in mcutrain/build/)


def _find(name: str) -> Path:
    installed = _PKG / name                 # mapped into the package on install
    if installed.is_dir():
        return installed
    source = _PKG.parent / name             # running from a source checkout
    if source.is_dir():
        return source
    raise FileNotFoundError(f"mcutrain is missing its {name}/ folder (looked in {installed} and {source}); reinstall")


def templates_dir() -> Path:
    return _find("templates")


def firmware_dir() -> Path:
    return _find("firmware")
