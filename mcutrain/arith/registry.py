"""Registries keyed by a class's ``kind`` (layer kinds: mcutrain/model/spec.py, mcutrain/arith/layers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C", bound=type)


def registrar(registry: dict[str, Any], what: str) -> Callable[[C], C]:
    """A class decorator that files a class under its ``kind`` in ``registry``; a second class for a
    kind, or an empty kind, is an error naming the class (``what``: "layer", "plan", ...)."""

    def register(cls: C) -> C:
        kind = getattr(cls, "kind", "")
        if not kind or kind in registry:
            raise ValueError(f"{what} class {cls.__name__} needs a new, non-empty kind (got {kind!r})")
        registry[kind] = cls
        return cls

    return register
