"""The device's state bytes (docs/arithmetic.md, section 7) as named integer arrays, and back.

Order: every layer's latent weights (int8 or int16, row-major n_in x n_out), zero padding to 4 bytes,
every biased layer's int32 biases, then every batch-norm layer's int32 mean, deviation and beta. A frozen
layer (``trainable = false``) has no segment: its packed signs and biases are constants in flash; a state
*file* of such a model holds every layer (the layout of :func:`mcutrain.arith.plan.unfrozen_plan`), and
:func:`device_state` takes the device's part of it.
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
        learns = [lp for lp in plan.layers if getattr(lp, "trainable", True)]  # frozen layers: flash only
        # each kind gives its own counts (n_weights: k*k*C_in*C_out for conv2d, none for maxpool/flatten)
        segs = [Segment(f"l{lp.index}.W", plan.latent_dtype, lp.n_weights, -plan.w0, plan.w0 - 1)
                for lp in learns if lp.n_weights]
        if plan.state_pad:
            segs.append(Segment("pad", "<u1", plan.state_pad, 0, 0))
        segs += [Segment(f"l{lp.index}.b", "<i4", lp.n_biases, -lp.bias_max, lp.bias_max)
                 for lp in learns if lp.bias]
        beta_max = plan.act_max << plan.bn_frac
        for lp in plan.layers:
            if lp.bn:
                units = lp.bn_units  # every output (dense), every output channel (conv2d)
                segs += [Segment(f"l{lp.index}.bn.mu", "<i4", units, *INT32),
                         Segment(f"l{lp.index}.bn.dev", "<i4", units, plan.bn_dev_min, INT32[1]),
                         Segment(f"l{lp.index}.bn.beta", "<i4", units, -beta_max, beta_max)]
                if getattr(lp, "bn_gamma", False):  # conv2d: the latent log2 gamma, Q(gamma_frac), clamped
                    segs.append(Segment(f"l{lp.index}.bn.lg", "<i4", units, lp.gamma_min << lp.gamma_frac,
                                        lp.gamma_max << lp.gamma_frac))
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


def full_layout(plan: Any) -> StateLayout:
    """The layout of a state file of ``plan``'s network: every layer's latents, the frozen ones too."""
    from ..arith.plan import unfrozen_plan

    return StateLayout.from_plan(unfrozen_plan(plan))


def device_state(plan: Any, full: bytes) -> bytes:
    """The device's state bytes (``plan``'s layout: no frozen segments) of a full state (:func:`full_layout`)."""
    layout, whole = StateLayout.from_plan(plan), full_layout(plan)
    arrays = dict(zip((s.name for s in whole.segments), whole.split(full), strict=True))
    return layout.join([arrays[s.name] if s.name != "pad" else np.zeros(s.count, dtype=np.int64)
                        for s in layout.segments])


def merge_device_state(plan: Any, full: bytes, device: bytes) -> bytes:
    """A full state (:func:`full_layout`) whose trainable segments are the device's ``device`` bytes and whose
    frozen segments (which the device keeps as signs only) are those of ``full``."""
    layout, whole = StateLayout.from_plan(plan), full_layout(plan)
    arrays = dict(zip((s.name for s in whole.segments), whole.split(full), strict=True))
    arrays.update(zip((s.name for s in layout.segments), layout.split(device), strict=True))
    return whole.join([arrays[s.name] if s.name != "pad" else np.zeros(s.count, dtype=np.int64)
                       for s in whole.segments])


def load_twin_state(net: Any, state: bytes) -> None:
    """Set a TwinNetwork's weights, biases and batch-norm statistics from state bytes (the twin of `U` + `K`):
    the device's state bytes, or for a network with frozen layers also a full state (a state file's,
    :func:`full_layout`), whose frozen latents give the frozen layers' signs."""
    layout = StateLayout.from_plan(net.plan)
    if net.plan.first_trainable > 0 and len(state) != layout.nbytes and len(state) == full_layout(net.plan).nbytes:
        layout, full = full_layout(net.plan), state
        state = device_state(net.plan, full)
    else:
        full = state
    arrays = dict(zip((s.name for s in layout.segments), layout.split(full), strict=True))
    for layer in net.layers:
        lp = layer.layer
        if f"l{lp.index}.W" not in arrays:
            continue  # a frozen layer, loaded from a device state: its signs stay
        # dense (n_in, n_out), conv (k, k, C_in, C_out): the layer's own shape
        layer.W = arrays[f"l{lp.index}.W"].reshape(layer.W.shape).copy()
        if lp.bias:
            layer.b = arrays[f"l{lp.index}.b"].copy()
        if layer.bn is not None:
            layer.bn.mu = arrays[f"l{lp.index}.bn.mu"].copy()
            layer.bn.dev = arrays[f"l{lp.index}.bn.dev"].copy()
            layer.bn.beta = arrays[f"l{lp.index}.bn.beta"].copy()
            if f"l{lp.index}.bn.lg" in arrays:  # conv2d batch norm's learned log2 gammas
                layer.bn.lg = arrays[f"l{lp.index}.bn.lg"].copy()
    if net.state_bytes() != state:  # pragma: no cover - a layout bug
        raise LayoutError("the twin's state after loading differs from the state loaded")
