"""Typed, collecting access to the tables of a parsed TOML model file.

Every getter checks one key and, when the value is wrong, records a problem
(key, value, fix) and returns None instead of raising, so that one run over the
file reports every problem at once. :meth:`Problems.raise_if_any` then raises a
single :class:`~mcutrain.errors.ModelFileError` that lists them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import MISSING, ModelFileError

REQUIRED: object = object()
"""Default of a getter whose key must be present."""


def suggest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The closest of `choices` to `word`, if one is close (difflib)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


def one_of(choices: Sequence[str], given: object = None) -> str:
    """The fix for a value outside a fixed set: 'expected one of a, b (did you mean a?)'."""
    fix = "expected one of " + ", ".join(choices)
    if isinstance(given, str):
        near = suggest(given, choices, cutoff=0.7)
        if near is not None and near != given:
            fix += f" (did you mean {near}?)"
    return fix


def type_name(value: object) -> str:
    """The TOML name of a parsed value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return "date/time"


class Problems:
    """The problems found in one model file."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.items: list[tuple[str, object, str]] = []

    def add(self, key: str, value: object, fix: str) -> None:
        self.items.append((key, value, fix))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            (key, value, fix), *more = self.items
            raise ModelFileError(self.path, key, value, fix, more=more)


class Table:
    """One TOML table (a dict) at a dotted position such as ``training`` or ``layers[1]``."""

    def __init__(self, data: dict[str, object], prefix: str, problems: Problems) -> None:
        self.data = data
        self.prefix = prefix
        self.problems = problems
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def header(self) -> str:
        if not self.prefix:
            return "the top level"
        if self.prefix.endswith("]"):
            return f"a [[{self.prefix.split('[')[0]}]] table"
        return f"[{self.prefix}]"

    def problem(self, name: str, value: object, fix: str) -> None:
        self.problems.add(self.key(name), value, fix)

    def raw(self, name: str, default: object = REQUIRED, *, required_fix: str = "") -> object:
        """The value as parsed, `default` if absent; records a problem if required and absent."""
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is REQUIRED:
            self.problem(name, MISSING, required_fix or f"add {name} = ... to {self.header()}")
        return default

    def string(
        self,
        name: str,
        default: object = REQUIRED,
        *,
        choices: Sequence[str] | None = None,
        required_fix: str = "",
    ) -> str | None:
        value = self.raw(name, default, required_fix=required_fix)
        if value is REQUIRED:
            return None
        if not isinstance(value, str):
            fix = one_of(choices) if choices else "expected a string"
            self.problem(name, value, f"{fix} (a quoted string, got a TOML {type_name(value)})")
            return None
        if choices is not None and value not in choices:
            self.problem(name, value, one_of(choices, value))
            return None
        if choices is None and not value.strip():
            self.problem(name, value, "expected a non-empty string")
            return None
        return value

    def integer(
        self,
        name: str,
        default: object = REQUIRED,
        *,
        lo: int | None = None,
        hi: int | None = None,
        why: str = "",
    ) -> int | None:
        value = self.raw(name, default)
        if value is REQUIRED:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            extra = ""
            if isinstance(value, float) and value.is_integer():
                extra = f"; write {int(value)} without the decimal point"
            elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                extra = f"; write {value.strip()} without quotes"
            self.problem(name, value, f"{range_text(lo, hi)} (got a TOML {type_name(value)}){extra}")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.problem(name, value, range_text(lo, hi) + (f" ({why})" if why else ""))
            return None
        return value

    def boolean(self, name: str, default: object = REQUIRED) -> bool | None:
        value = self.raw(name, default)
        if value is REQUIRED:
            return None
        if not isinstance(value, bool):
            self.problem(name, value, f"expected true or false (got a TOML {type_name(value)})")
            return None
        return value

    def table(self, name: str, *, required: bool) -> Table | None:
        """A sub-table; an empty one when optional and absent."""
        value = self.raw(name, REQUIRED if required else {}, required_fix=f"add a [{self.key(name)}] table")
        if value is REQUIRED:
            return None
        if not isinstance(value, dict):
            self.problem(name, value, f"expected a table: write [{self.key(name)}] on a line of its own "
                                      f"and put its keys below it (got a TOML {type_name(value)})")
            return None
        return Table(value, self.key(name), self.problems)

    def finish(self, known: Iterable[str]) -> None:
        """Record every key that no getter asked for, with a 'did you mean' suggestion."""
        known = list(known)
        for name, value in self.data.items():
            if name in self.used or name in known:
                continue
            near = suggest(name, known)
            if near is not None:
                fix = f"unknown key; did you mean {near}?"
            else:
                fix = f"unknown key; remove it (the keys of {self.header()} are {', '.join(known)})"
            self.problem(name, value, fix)


def range_text(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"expected an integer from {lo} to {hi}"
    if lo is not None:
        return f"expected an integer >= {lo}"
    if hi is not None:
        return f"expected an integer <= {hi}"
    return "expected an integer"
