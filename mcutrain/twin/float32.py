"""The float32 twin: the generated float baseline (templates/mt_model_float.c.j2) in NumPy float32.

Every float operation of the C is one IEEE single operation here too, in the same
order (docs/arithmetic.md, section 9): sums accumulate sequentially from +0.0 (row order
in the forward pass, column order in the backward pass), products are rounded before
they are added, the update is w - (lr x_i) d_j, clipped. NumPy's float32 ufuncs round
each element correctly and never fuse a multiply with an add, so the twin and the
device (x86 SSE, the Cortex-M4F's FPU with FPSCR = 0, or libgcc's soft float) agree bit
for bit. Same interface as :class:`mcutrain.twin.TwinNetwork`.
"""

from __future__ import annotations

import numpy as np

from ..arith.plan import ArithPlan
from ..arith.prng import XorShiftStream
from . import conv_float  # noqa: F401 (registers the conv2d, maxpool and flatten float32 twins)
from .dense_float import DenseFloat32Twin  # noqa: F401 (registers the dense kind's float32 twin; re-exported)
from .layer import StateDigest, twin_class
from .schedule import StepSchedule

__all__ = ["DenseFloat32Twin", "Float32Twin"]

F32 = np.float32
ZERO = F32(0.0)
Q_LIMIT = F32(2.0**32)


def _check_ieee_subnormals() -> None:
    """The twin needs gradual underflow; a process whose FPU flushes subnormals (some library
    built with -ffast-math sets FTZ/DAZ when loaded) would silently disagree with the device."""
    tiny = np.array([2.0**-126], dtype=F32)
    if (tiny * F32(0.5))[0] == 0.0:
        raise RuntimeError("this process flushes float32 subnormals to zero (FTZ/DAZ set by a loaded "
                           "library): the float32 twin cannot be bit-exact here")


class Float32Twin(StateDigest):
    """Bit-exact model of the generated float32 baseline: same seed and sample order, same bits."""

    def __init__(self, plan: ArithPlan) -> None:
        assert plan.is_float, "Float32Twin is for weights = float32; use TwinNetwork"
        self.plan = plan
        self.layers = [twin_class(plan, lp)(plan, lp) for lp in plan.layers]  # the kind names its twin
        self.inv_one = F32(2.0**-plan.act_frac)
        self.one = F32(2.0**plan.act_frac)
        self.rng: XorShiftStream | None = None
        self.schedule = StepSchedule(plan)
        self.lr = F32(2.0**plan.lr_start)
        self.last_hinge = 0

    def start(self, seed: int, samples_per_epoch: int) -> None:
        """mt_session_start: seed the generator, initialise the weights, reset the schedule."""
        _check_ieee_subnormals()
        self.rng = XorShiftStream(seed or 1, capacity=1 << 14)
        for layer in self.layers:
            layer.init(self.rng)
        self.schedule.reset(samples_per_epoch)
        self.lr = F32(2.0**self.plan.lr_start)

    def decode(self, x: np.ndarray) -> np.ndarray:
        """The decoded integer input (Q(A), docs/arithmetic.md section 7) as floats: value / 2^A, exact."""
        return np.asarray(x).astype(F32) * self.inv_one

    def _output_error(self, y: np.ndarray, label: int) -> np.ndarray:
        d = np.zeros_like(y)
        hinge = ZERO
        for j in range(len(y)):
            ty = y[j] if j == label else -y[j]
            margin = F32(1.0) - ty
            if margin > ZERO:
                hinge = hinge + margin
                d[j] = -margin if j == label else margin
        q = hinge * self.one
        self.last_hinge = int(q) if q < Q_LIMIT else 0xFFFFFFFF
        return d

    def train_step(self, x: np.ndarray, label: int) -> int:
        """mt_train_step on one decoded sample (int, Q(A)); returns the prediction made before the update."""
        assert self.rng is not None, "start() first"
        hs = [self.decode(x)]
        for layer in self.layers:
            hs.append(layer.forward(hs[-1]))
        pred = int(np.argmax(hs[-1]))
        d = self._output_error(hs[-1], label)
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            d_in = layer.backward(hs[k], d) if k > 0 else None   # before this layer's update
            layer.update(hs[k], d, self.lr)
            if d_in is not None:
                d = d_in
        if self.schedule.advance():
            self.lr = F32(2.0**self.schedule.lr_exp)   # the C halves (exactly) and clamps: the same value
        return pred

    def infer(self, x: np.ndarray) -> np.ndarray:
        """mt_infer on a batch (N, n_inputs) of decoded integer inputs: argmax (first maximum)."""
        h = self.decode(np.atleast_2d(x))
        for layer in self.layers:
            h = layer.infer(h)
        return np.argmax(h, axis=-1)

    def state_bytes(self) -> bytes:
        return b"".join(layer.W.astype("<f4").tobytes() for layer in self.layers)
