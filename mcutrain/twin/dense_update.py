"""The weight update of a dense layer, quantized back-propagation on (nearest or stochastic rounding) or off:
the twin of templates/layers/dense_update.c.j2 (``l<k>_update`` at batch size 1; batch.c.j2 accumulates the
same per-sample update). docs/arithmetic.md, section 5."""

from __future__ import annotations

import numpy as np

from ..arith.fixed import shift
from ..arith.prng import XorShiftStream
from ..arith.quant import pow2_exponent_stochastic


def update(twin: object, x: np.ndarray, d: np.ndarray, c: int, rng: XorShiftStream) -> np.ndarray:
    """The update u of every active row (x: their inputs, d: the error as a row, c: lr + update_const):
    W - u is the new weight. One quantization draw a row, then (stochastic rounding) one draw per two
    weights, taken even where x rounds to zero."""
    plan, layer = twin.plan, twin.layer  # type: ignore[attr-defined]
    if plan.qbp:
        per_row = 1 + (layer.draws_per_row if plan.stochastic_update else 0)
        draws = rng.draws(len(x) * per_row).reshape(len(x), per_row)
        r = draws[:, 0].astype(np.int64)
        ex, keep = pow2_exponent_stochastic(x, r, layer.ex_min, layer.ex_max)
        k = (ex + c)[:, None]
        u = shift_stochastic(d, k, draws[:, 1:], layer.n_out) if plan.stochastic_update else shift(d, k)
        return np.where(keep[:, None], u, 0)
    # quantized back-propagation off: x * d as a sum of shifted errors, one per set bit of x
    u = np.zeros((len(x), layer.n_out), dtype=np.int64)
    for b in range(plan.act_bits):
        bit = ((x >> b) & 1).astype(bool)
        if bit.any():
            u += np.where(bit[:, None], shift(d, b + c), 0)
    return u


def shift_stochastic(d: np.ndarray, k: np.ndarray, draws: np.ndarray, n_out: int) -> np.ndarray:
    """d * 2^k, rounded down after adding a uniform draw below 2^-k when k < 0 (unbiased): the runtime's
    mt_round_lo / mt_round_hi (firmware/core/mt_runtime.h), weight j using half j % 2 of draw j // 2."""
    r16 = np.empty((draws.shape[0], 2 * draws.shape[1]), dtype=np.int64)
    r16[:, 0::2] = draws & np.uint32(0xFFFF)
    r16[:, 1::2] = draws >> np.uint32(16)
    r16 = r16[:, :n_out]
    s = np.maximum(-k, 0)
    rr = (r16 >> np.maximum(16 - s, 0)) << np.maximum(s - 16, 0)
    return np.where(k >= 0, d << np.maximum(k, 0), (d + rr) >> s)
