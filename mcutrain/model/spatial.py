"""Model file: the spatial layer kinds without weights, ``maxpool`` (2x2, stride 2), ``global_avg_pool`` and
``flatten``, and ``conv2d``.

Activations are (H, W, C) with channels innermost (docs/arithmetic.md, section 11), so a flattened map is
the same words in the same order: ``flatten`` only marks where the spatial part of a network ends.
``maxpool`` names the shape of its input (``height``, ``width``, ``channels``); the planner refuses a shape
whose size is not the previous layer's output size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .reader import Table
from .spec import LayerSpec, qbp_range_to_dict, read_qbp_range, register_layer

BN_GAMMAS = ("pow2", "one")
MAX_SIDE = 1024
MAX_CHANNELS = 1024


@dataclass(frozen=True)
class _MapInputSpec(LayerSpec):
    """A kind whose model-file table is its input map's shape (H, W, C), channels innermost: the pools."""

    keys: ClassVar[tuple[str, ...]] = ("kind", "height", "width", "channels")
    min_side: ClassVar[int] = 1

    height: int
    width: int
    channels: int = 1

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> _MapInputSpec | None:
        h = table.integer("height", lo=cls.min_side, hi=MAX_SIDE)
        w = table.integer("width", lo=cls.min_side, hi=MAX_SIDE)
        c = table.integer("channels", 1, lo=1, hi=MAX_CHANNELS)
        table.finish(cls.keys)
        return None if h is None or w is None or c is None else cls(height=h, width=w, channels=c)


@register_layer
@dataclass(frozen=True)
class MaxPoolLayerSpec(_MapInputSpec):
    """2x2 max-pool, stride 2, floor (an odd last row or column is dropped)."""

    kind: ClassVar[str] = "maxpool"
    min_side: ClassVar[int] = 2

    def out_features(self, in_features: int) -> int:
        return (self.height // 2) * (self.width // 2) * self.channels


@register_layer
@dataclass(frozen=True)
class GlobalAvgPoolLayerSpec(_MapInputSpec):
    """(H, W, C) -> C: each channel's mean over the H W positions, rounded half up (a shift when H W is a power of
    two, else binary long division by shifts and subtractions: mcutrain/arith/pool.py)."""

    kind: ClassVar[str] = "global_avg_pool"

    def out_features(self, in_features: int) -> int:
        return self.channels


@register_layer
@dataclass(frozen=True)
class FlattenLayerSpec(LayerSpec):
    """(H, W, C) -> H W C features, the same words (channels are innermost already)."""

    kind: ClassVar[str] = "flatten"
    keys: ClassVar[tuple[str, ...]] = ("kind",)

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> FlattenLayerSpec | None:
        table.finish(cls.keys)
        return cls()

    def out_features(self, in_features: int) -> int:
        return in_features


@register_layer
@dataclass(frozen=True)
class Conv2dLayerSpec(LayerSpec):
    """k x k convolution of an (H, W, C) input to ``filters`` channels, stride 1 or 2, same or valid padding,
    ReLU (docs/arithmetic.md, section 11). The input shape is named (``height``, ``width``, ``channels``)."""

    kind: ClassVar[str] = "conv2d"
    keys: ClassVar[tuple[str, ...]] = ("kind", "height", "width", "channels", "filters", "kernel", "stride",
                                       "padding", "qbp_exponent_range", "bias", "batch_norm", "bn_gamma")

    height: int
    width: int
    channels: int
    filters: int
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"
    qbp_exponent_range: tuple[int, int] | None = None  # the layer's own QBP range (the paper's conv: [-4, 3])
    bias: bool = False          # an int32 bias per output channel (docs/arithmetic.md, section 11)
    batch_norm: bool = False    # shift-based batch norm per output channel, before the ReLU
    bn_gamma: str = "pow2"      # batch norm's gamma: "pow2" a learned power of two per channel, "one" fixed to 1

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> Conv2dLayerSpec | None:
        h = table.integer("height", lo=1, hi=MAX_SIDE)
        w = table.integer("width", lo=1, hi=MAX_SIDE)
        c = table.integer("channels", 1, lo=1, hi=MAX_CHANNELS)
        f = table.integer("filters", lo=1, hi=MAX_CHANNELS)
        k = table.integer("kernel", 3, lo=1, hi=15)
        s = table.integer("stride", 1, lo=1, hi=2)
        p = table.string("padding", "valid", choices=("same", "valid"))
        ok, qr = read_qbp_range(table)
        bias = table.boolean("bias", False)
        bn = table.boolean("batch_norm", False)
        gamma = table.string("bn_gamma", "pow2", choices=BN_GAMMAS)
        table.finish(cls.keys)
        if None in (h, w, c, f, k, s, p, bias, bn, gamma) or not ok:
            return None
        return cls(height=h, width=w, channels=c, filters=f, kernel=k, stride=s, padding=p,  # type: ignore[arg-type]
                   qbp_exponent_range=qr, bias=bias, batch_norm=bn, bn_gamma=gamma)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        qbp_range_to_dict(d)  # absent when the layer uses [training]'s: earlier model hashes are unchanged
        for key in ("bias", "batch_norm"):
            if not d[key]:
                del d[key]    # the defaults: absent, as before the keys existed
        if not self.batch_norm:
            del d["bn_gamma"]
        return d

    def out_features(self, in_features: int) -> int:
        from ..twin.conv_ops import out_size  # noqa: PLC0415 (the geometry is written once)
        if self.kernel > min(self.height, self.width) and self.padding == "valid":
            return 0  # refused by the planner, naming the layer
        return (out_size(self.height, self.kernel, self.stride, self.padding)
                * out_size(self.width, self.kernel, self.stride, self.padding) * self.filters)
