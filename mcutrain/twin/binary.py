"""The binary weight modes of a dense layer (weights = "binary" | "sign"): the twin of
templates/layers/binary.c.j2 (docs/arithmetic.md, section 4).

``forward_backward`` gives the weights the C's forward pass samples and its backward pass reads
(``l<k>_forward_train``, ``l<k>_backward``); ``infer`` those of ``l<k>_infer``. In units of W0, as
float64 for the exact matrix product: +1 or -1.
"""

from __future__ import annotations

import numpy as np

from ..arith.prng import XorShiftStream
from ..arith.quant import binarize_stochastic


def forward_backward(twin: object, rows: np.ndarray, rng: XorShiftStream) -> np.ndarray:
    """binary: P(+1) = (w + W0) / 2W0, a 15-bit draw per weight, two weights a 32-bit draw; sign: w >= 0."""
    w = twin.W[rows]  # type: ignore[attr-defined]
    plan = twin.plan  # type: ignore[attr-defined]
    if plan.weights == "sign":
        return np.where(w >= 0, 1.0, -1.0)
    draws = twin.row_draws(len(rows), rng, 2 * plan.w0 - 1)  # type: ignore[attr-defined]
    return np.where(binarize_stochastic(w, draws, plan.w0), 1.0, -1.0)


def infer(W: np.ndarray, w0: int) -> np.ndarray:
    """Deterministic signs, sign(w) with w = 0 as +1."""
    return np.where(W >= 0, 1.0, -1.0)
