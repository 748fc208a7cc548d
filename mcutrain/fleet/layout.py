"""The device's state bytes (docs/arithmetic.md, section 7) as named integer arrays, and back.

Order: every layer's latent weights (int8 or int16, row-major n_in x n_out), zero padding to 4 bytes,
every biased layer's int32 biases, then every batch-norm layer's int32 mean, deviation and beta.
Each segment has the range its values live in on the device, which federated averaging saturates to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import McutrainError

INT32 = (-(1 << 31), (1 << 31) - 1)


class LayoutError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class Segment:
    name: str      #: "l0.W", "pad", "l1.b", "l0.bn.mu", ...
    dtype: str     #: little-endian numpy dtype of one value on the device
    count: int     #: values
    lo: int        #: smallest value the device holds
    hi: int        #: largest

    @property
    def nbytes(self) -> int:
        return self.count * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class StateLayout:
    segments: tuple[Segment, ...]

    @classmethod
    def from_plan(cls, plan: Any) -> StateLayout:
        if plan.is_float:
            raise LayoutError("federated averaging is defined for the integer weight modes (binary, sign, ternary, "
                              "ternary_det); the float32 baseline has no integer state: pick another [training] "
                              "weights")
        segs = [Segment(f"l{lp.index}.W", plan.latent_dtype, lp.n_in * lp.n_out, -plan.w0, plan.w0 - 1)
                for lp in plan.layers]
        if plan.state_pad:
            segs.append(Segment("pad", "<u1", plan.state_pad, 0, 0))
        segs += [Segment(f"l{lp.index}.b", "<i4", lp.n_out, -lp.bias_max, lp.bias_max)
                 for lp in plan.layers if lp.bias]
        beta_max = plan.act_max << plan.bn_frac
        for lp in plan.layers:
            if lp.bn:
                segs += [Segment(f"l{lp.index}.bn.mu", "<i4", lp.n_out, *INT32),
                         Segment(f"l{lp.index}.bn.dev", "<i4", lp.n_out, plan.bn_dev_min, INT32[1]),
                         Segment(f"l{lp.index}.bn.beta", "<i4", lp.n_out, -beta_max, beta_max)]
        layout = cls(tuple(segs))
        if layout.nbytes != plan.state_bytes:  # pragma: no cover - the plan and this file disagree
            raise LayoutError(f"state layout of {layout.nbytes} bytes, the plan says {plan.state_bytes}")
        return layout

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.segments)

    def split(self, state: bytes) -> list[np.ndarray]:
        """The state bytes as one int64 array per segment."""
        if len(state) != self.nbytes:
            raise LayoutError(f"{len(state)} state bytes, this model's state has {self.nbytes}")
        out, off = [], 0
        for s in self.segments:
            out.append(np.frombuffer(state, dtype=s.dtype, count=s.count, offset=off).astype(np.int64))
            off += s.nbytes
        return out

    def join(self, arrays: list[np.ndarray]) -> bytes:
        """The state bytes of one array per segment (each value must lie in its segment's range)."""
        if len(arrays) != len(self.segments):
            raise LayoutError(f"{len(arrays)} arrays for a state of {len(self.segments)} segments")
        parts = []
        for s, a in zip(self.segments, arrays, strict=True):
            a = np.asarray(a)
            if a.shape != (s.count,):
                raise LayoutError(f"segment {s.name}: shape {a.shape}, expected ({s.count},)")
            if len(a) and (a.min() < s.lo or a.max() > s.hi):
                raise LayoutError(f"segment {s.name}: values {a.min()}..{a.max()} outside {s.lo}..{s.hi}")
            parts.append(a.astype(s.dtype).tobytes())
        return b"".join(parts)


def load_twin_state(net: Any, state: bytes) -> None:
    """Set a TwinNetwork's weights, biases and batch-norm statistics from state bytes (the twin of `U` + `K`)."""
    layout = StateLayout.from_plan(net.plan)
    arrays = dict(zip((s.name for s in layout.segments), layout.split(state), strict=True))
    for layer in net.layers:
        lp = layer.layer
        layer.W = arrays[f"l{lp.index}.W"].reshape(lp.n_in, lp.n_out).copy()
        if lp.bias:
            layer.b = arrays[f"l{lp.index}.b"].copy()
        if layer.bn is not None:
            layer.bn.mu = arrays[f"l{lp.index}.bn.mu"].copy()
            layer.bn.dev = arrays[f"l{lp.index}.bn.dev"].copy()
            layer.bn.beta = arrays[f"l{lp.index}.bn.beta"].copy()
    if net.state_bytes() != state:  # pragma: no cover - a layout bug
        raise LayoutError("the twin's state after loading differs from the state loaded")
