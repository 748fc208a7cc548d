"""Quantizers of the method, in integers (docs/arithmetic.md, sections 4 and 5)."""

from __future__ import annotations

import numpy as np


def binarize_stochastic(w: np.ndarray, r: np.ndarray, w0: int) -> np.ndarray:
    """True (+1) where r < w + w0, with r uniform in [0, 2 w0): P(+1) = clip((w/w0 + 1)/2, 0, 1)."""
    return r < (w + w0)


def ternarize_stochastic(w: np.ndarray, r: np.ndarray, w0: int) -> np.ndarray:
    """Stochastic ternary connect: sign(w) where r < |w|, else 0, with r uniform in [0, w0).

    So P(+1) = w / w0 for w > 0, P(-1) = -w / w0 for w < 0, and P(0) = 1 - |w| / w0: the paper's
    W0 sign(W) Bernoulli(clip(|W| / W0, 0, 1)). Returns int64 in {-1, 0, +1}."""
    w = np.asarray(w, dtype=np.int64)
    return np.where(np.asarray(r, dtype=np.int64) < np.abs(w), np.sign(w), 0)


def ternarize_deterministic(w: np.ndarray, w0: int) -> np.ndarray:
    """Deterministic ternary connect: +1 where w >= w0/2, -1 where w <= -w0/2, else 0 (thresholds at
    +-0.5 W0; a tie goes to the non-zero value, as the rounding of |w|/W0 half up). int64 in {-1, 0, +1}."""
    w = np.asarray(w, dtype=np.int64)
    half = w0 >> 1
    return np.where(w >= half, 1, np.where(w <= -half, -1, 0))


def msb_index(x: np.ndarray) -> np.ndarray:
    """floor(log2 x) for x >= 1 (what CLZ gives on the device)."""
    x = np.asarray(x, dtype=np.int64)
    k = np.zeros(x.shape, dtype=np.int64)
    for b in (16, 8, 4, 2, 1):
        big = (x >> (k + b)) > 0
        k = np.where(big, k + b, k)
    return k


def pow2_exponent_stochastic(
    x: np.ndarray, r: np.ndarray, ex_min: int, ex_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic power-of-two rounding of positive integers x, unbiased inside the range.

    With k = floor(log2 x), x rounds to 2^(k+1) with probability (x - 2^k) / 2^k, else to 2^k,
    decided by comparing the low k bits of the draw r with x - 2^k. Below 2^ex_min x rounds to
    2^ex_min with probability x / 2^ex_min, else to zero (keep = False). Above, the exponent
    saturates at ex_max. Returns (exponent, keep).
    """
    x = np.asarray(x, dtype=np.int64)
    k = msb_index(x)
    small = k < ex_min
    kk = np.where(small, ex_min, k)
    low = r & ((np.int64(1) << kk) - 1)
    rem = np.where(small, x, x - (np.int64(1) << k))
    up = low < rem
    ex = np.where(small, ex_min, k + up)
    keep = np.where(small, up, True)
    return np.minimum(ex, ex_max), keep


def pow2_value(ex: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, np.int64(1) << ex, 0)
