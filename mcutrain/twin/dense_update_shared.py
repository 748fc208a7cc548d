"""update_rounding = "stochastic_shared": the twin of templates/layers/dense_update_shared.c.j2
(docs/arithmetic.md, section 5)."""

from __future__ import annotations

import numpy as np

from ..arith.prng import XorShiftStream
from ..arith.quant import pow2_exponent_stochastic
from .dense_update import shift_stochastic


def update(twin: object, x: np.ndarray, d: np.ndarray, c: int, rng: XorShiftStream) -> np.ndarray:
    """One quantization draw a row, then one stochastically rounded vector u_e per exponent e that a row
    rounded to, in increasing e (saturated to +-update_bound); each row gets its exponent's vector."""
    plan, layer = twin.plan, twin.layer  # type: ignore[attr-defined]
    r = rng.draws(len(x)).astype(np.int64)
    ex, keep = pow2_exponent_stochastic(x, r, layer.ex_min, layer.ex_max)
    used = np.unique(ex[keep])
    draws = rng.draws(len(used) * layer.draws_per_row).reshape(len(used), layer.draws_per_row)
    if len(used) == 0:
        return np.zeros((len(x), layer.n_out), dtype=np.int64)
    bound = plan.update_bound
    vectors = np.clip(shift_stochastic(d, (used + c)[:, None], draws, layer.n_out), -bound, bound)
    u = vectors[np.searchsorted(used, np.where(keep, ex, used[0]))]
    return np.where(keep[:, None], u, 0)
