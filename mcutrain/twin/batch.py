"""Mini-batches (batch_size = 2^batch_shift > 1): the twin of templates/layers/batch.c.j2
(docs/arithmetic.md, section 5.7): ``update`` accumulates each sample's clamped update, ``apply_batch``
divides the sums by a rounding shift and applies them."""

from __future__ import annotations

import numpy as np

from ..arith.fixed import round_shift_right


def update(twin: object, rows: np.ndarray, u: np.ndarray) -> None:
    """l<k>_update (mini-batch): G += clamp(u, -UPDATE_MAX, UPDATE_MAX) for the active rows."""
    um = twin.plan.update_max  # type: ignore[attr-defined]
    twin.G[rows] += np.clip(u, -um, um)  # type: ignore[attr-defined]


def update_bias(twin: object, ub: np.ndarray) -> None:
    """... and GB += clamp(the bias update, +-2 bias_max)."""
    bm = twin.layer.bias_max  # type: ignore[attr-defined]
    twin.Gb += np.clip(ub, -2 * bm, 2 * bm)  # type: ignore[attr-defined]


def apply_batch(twin: object) -> None:
    """l<k>_apply_batch: W <- sat(W - round(G / batch_size)) to [-W0, W0 - 1], biases to +-bias_max; G <- 0."""
    plan, layer = twin.plan, twin.layer  # type: ignore[attr-defined]
    w0, s = plan.w0, plan.batch_shift
    twin.W = np.clip(twin.W - round_shift_right(twin.G, s), -w0, w0 - 1)  # type: ignore[attr-defined]
    twin.G[:] = 0  # type: ignore[attr-defined]
    if layer.bias:
        bm = layer.bias_max
        twin.b = np.clip(twin.b - round_shift_right(twin.Gb, s), -bm, bm)  # type: ignore[attr-defined]
        twin.Gb[:] = 0  # type: ignore[attr-defined]
