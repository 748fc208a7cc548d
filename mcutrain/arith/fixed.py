"""Fixed-point primitives: rounding shifts and saturation (docs/arithmetic.md, section 2)."""

from __future__ import annotations

import numpy as np


def round_shift_right(v: np.ndarray, k: int) -> np.ndarray:
    """floor((v + 2^(k-1)) / 2^k) for k > 0, v for k == 0 (arithmetic shift, round half up)."""
    if k < 0:
        raise ValueError(f"negative shift {k}")
    if k == 0:
        return v
    return (v + (1 << (k - 1))) >> k


def shift(v: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """v << k for k >= 0, round_shift_right(v, -k) for k < 0; k may be an array (elementwise)."""
    v = np.asarray(v, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    if k.ndim == 0:
        kk = int(k)
        return v << kk if kk >= 0 else round_shift_right(v, -kk)
    left = np.maximum(k, 0)
    right = np.maximum(-k, 0)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    return np.where(k >= 0, v << left, (v + half) >> right)


def saturate(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(v, lo, hi)
