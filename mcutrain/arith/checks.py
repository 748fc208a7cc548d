"""Range checks and constants the layer kinds' plans share (docs/arithmetic.md, section 8): Glorot's W0
and its power of two, IEEE-single rounding of constants, the update-shift and batch-norm range proofs.
Kept apart from plan.py so that a kind's plan module (dense.py) imports them without importing the
planner that imports it."""

from __future__ import annotations

import math
import struct
from typing import Any

from .layers import ACC_LIMIT, PlanError


def glorot_w0(n_in: int, n_out: int) -> float:
    """The paper's W0 = h/2 with Glorot's h = sqrt(6 / (n_in + n_out)) (float64)."""
    return math.sqrt(6.0 / (n_in + n_out)) / 2.0

def float32_value(x: float) -> float:
    """x rounded to the nearest IEEE single (round half to even), as a Python float."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])

def glorot_weight_shift(n_in: int, n_out: int) -> int:
    """-log2(W0) rounded, with W0 = sqrt(6 / (n_in + n_out)) / 2 as in the paper's code."""
    return max(0, round(-math.log2(glorot_w0(n_in, n_out))))

def check_update_shifts(plan: Any, layer: Any, what: str, lo: int, hi: int, also: str) -> None:
    """An update shifts an error by lo..hi bits: right by at most 30, left without overflowing int32."""
    if -lo > 30:
        raise PlanError(
            f"layers[{layer.index}]: the {what} update shifts an error right by up to {-lo} bits (more than 30); "
            f"raise lr_min{also}")
    if hi > 0 and plan.err_max << hi > ACC_LIMIT:
        raise PlanError(
            f"layers[{layer.index}]: the {what} update shifts an error left by up to {hi} bits, which "
            f"overflows int32; lower learning_rate{also}")

def check_bn_ranges(plan: Any, layer: Any) -> None:
    """Batch norm (docs/arithmetic.md, section 8): the running mean and deviation stay within twice the
    largest |z| in Q(A + R); beta's update shift and the backward shift keep errors inside int32."""
    r, a, m = plan.bn_frac, plan.act_frac, plan.bn_momentum_shift
    z_max = (layer.n_in * layer.in_max >> layer.weight_shift) + 1
    where = f"layers[{layer.index}]"
    if a < r - m or 4 * z_max << r > ACC_LIMIT:
        raise PlanError(f"{where}: the batch-norm running statistics of |z| up to {z_max} overflow int32; "
                        "use fewer inputs or a larger weight scale (weight_scale_shift = 0)")
    k_beta = plan.lr_start + a + r - plan.err_frac
    if k_beta > 0 and plan.err_max << k_beta > ACC_LIMIT:
        raise PlanError(f"{where}: the batch-norm beta update shifts an error left by {k_beta} bits, which "
                        "overflows int32; lower learning_rate")
    if -(plan.lr_min + a + r - plan.err_frac) > 30:
        raise PlanError(f"{where}: the batch-norm beta update shifts an error right by more than 30 bits; "
                        "raise lr_min")
    if plan.err_max << a > ACC_LIMIT:
        raise PlanError(f"{where}: the batch-norm backward shift (up to {a} bits) overflows int32; "
                        "lower activation_frac_bits or error_frac_bits")
