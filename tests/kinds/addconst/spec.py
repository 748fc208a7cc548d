"""Model file: ``kind = "addconst"``, ``add = N`` (a Q(A) integer added to every input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mcutrain.model.reader import Table
from mcutrain.model.spec import LayerSpec, register_layer


@register_layer
@dataclass(frozen=True)
class AddConstLayerSpec(LayerSpec):
    kind: ClassVar[str] = "addconst"
    keys: ClassVar[tuple[str, ...]] = ("kind", "add")

    add: int

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> AddConstLayerSpec | None:
        add = table.integer("add", lo=0, hi=1 << 14)
        table.finish(cls.keys)
        return None if add is None else cls(add=add)

    def out_features(self, in_features: int) -> int:
        return in_features
