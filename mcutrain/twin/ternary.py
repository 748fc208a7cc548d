"""Ternary connect (weights = "ternary" | "ternary_det") of a dense layer: the twin of
templates/layers/ternary.c.j2 (docs/arithmetic.md, section 4).

``forward_backward``: the weights of ``l<k>_forward_train`` / ``l<k>_backward``; ``infer``: those of
``l<k>_infer``. In units of W0, as float64 for the exact matrix product: -1, 0 or +1.
"""

from __future__ import annotations

import numpy as np

from ..arith.prng import XorShiftStream
from ..arith.quant import ternarize_deterministic, ternarize_stochastic


def forward_backward(twin: object, rows: np.ndarray, rng: XorShiftStream) -> np.ndarray:
    """ternary: t = sign(w) with P = |w| / W0, else 0, a 14-bit draw a weight; ternary_det: thresholds +-W0/2."""
    w = twin.W[rows]  # type: ignore[attr-defined]
    plan = twin.plan  # type: ignore[attr-defined]
    if plan.weights == "ternary_det":
        return ternarize_deterministic(w, plan.w0).astype(np.float64)
    draws = twin.row_draws(len(rows), rng, plan.w0 - 1)  # type: ignore[attr-defined]
    return ternarize_stochastic(w, draws, plan.w0).astype(np.float64)


def infer(W: np.ndarray, w0: int) -> np.ndarray:
    """The deterministic ternarization: +1 if w >= W0/2, -1 if w <= -W0/2, else 0."""
    return ternarize_deterministic(W, w0).astype(np.float64)
