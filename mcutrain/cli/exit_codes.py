"""The exit codes of the `mcutrain` command (from mcutrain/errors.py), for `mcutrain --help` and the README."""

from __future__ import annotations

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "other error (the message says which)"),
    (2, "bad model file, model too large for the board, fixed-point range that could overflow, or bad data"),
    (3, "a tool or optional package is missing (the message names the Debian or pip package)"),
    (4, "serial port missing (the message lists the ports there are)"),
    (5, "device silent (or only garbage on the line)"),
    (6, "the device runs firmware for another model (both hashes named)"),
    (7, "protocol error"),
    (8, "emulator failed"),
    (9, "build failed"),
    (10, "the device and the twin disagree (not bit-exact)"),
)


def epilog() -> str:
    """Exit codes as one paragraph (click rewraps help text)."""
    return "Exit codes: " + "; ".join(f"{c} {text}" for c, text in EXIT_CODES) + "."
