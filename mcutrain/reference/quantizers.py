"""The float samplers and quantizers of the paper, each as its definition (../shared/notes/paper.md).

Weights are sampled relative to the layer's magnitude W0: w = W / W0.

- binary, stochastic:   +W0 with probability clip((w + 1) / 2, 0, 1), else -W0 (hard sigmoid)
- binary, deterministic: W0 sign(W) (sign(0) = +1, as the device's sign mode)
- ternary, stochastic:  W0 sign(w) Bernoulli(clip(|w|, 0, 1)): P(+-1) = |w|, P(0) = 1 - |w|
- ternary, deterministic: W0 round(clip(w, -1, 1)) (the most likely value of the stochastic one:
  0 for |w| < 1/2)
- quantized back-propagation: sign(x) 2^(k + Bernoulli(|x| / 2^k - 1)), k = floor(log2|x|),
  optionally within an exponent range as the device bounds it; zeros stay zero; unbiased except
  where the exponent saturates at the top of the range.
- AP2(x) = sign(x) 2^round(log2|x|), the shift-based batch norm's rounding (BNN, 2016).

All take and return float32 arrays (float64 in, float64 out for the power-of-two rounding).
"""

from __future__ import annotations

import numpy as np

from ..arith.modes import WEIGHT_MODES as DEVICE_MODES

DEVICE_MODE_NAMES = {"sign": "binary-det", "ternary_det": "ternary-det"}
"""The model file's names (mcutrain.arith.modes.WEIGHT_MODES) of the deterministic modes, and the
reference's; "binary", "ternary" and "float32" are the same in both."""

WEIGHT_MODES = tuple(DEVICE_MODE_NAMES.get(m, m) for m in DEVICE_MODES)
"""Weight modes of the float reference, the model file's under the reference's names: binary connect
(stochastic, deterministic), ternary connect (stochastic, deterministic), full precision."""


def reference_mode(mode: str) -> str:
    """The reference's name of a weight mode given either way (model file or reference)."""
    mode = DEVICE_MODE_NAMES.get(mode, mode)
    if mode not in WEIGHT_MODES:
        names = sorted(set(WEIGHT_MODES) | set(DEVICE_MODE_NAMES))
        raise ValueError(f"weight mode {mode!r}: use one of {', '.join(names)}")
    return mode


def binary_stochastic(w: np.ndarray, w0: float, rng: np.random.Generator) -> np.ndarray:
    p = np.clip((w / w0 + 1) * 0.5, 0, 1)
    u = rng.random(w.shape, dtype=np.float32)
    return np.where(u < p, np.float32(w0), np.float32(-w0)).astype(np.float32, copy=False)


def binary_deterministic(w: np.ndarray, w0: float) -> np.ndarray:
    return np.where(w >= 0, np.float32(w0), np.float32(-w0)).astype(np.float32, copy=False)


def ternary_stochastic(w: np.ndarray, w0: float, rng: np.random.Generator) -> np.ndarray:
    a = np.clip(np.abs(w) / w0, 0, 1)
    u = rng.random(w.shape, dtype=np.float32)
    return (np.sign(w) * (u < a) * np.float32(w0)).astype(np.float32, copy=False)


def ternary_deterministic(w: np.ndarray, w0: float) -> np.ndarray:
    r = np.where(np.abs(w) >= 0.5 * w0, np.sign(w), 0)
    return (r * np.float32(w0)).astype(np.float32, copy=False)


def sample_weights(w: np.ndarray, w0: float, mode: str, rng: np.random.Generator) -> np.ndarray:
    """The weights the forward and backward passes use in training (the sampled Wb)."""
    mode = reference_mode(mode)
    if mode == "float32":
        return w
    if mode == "binary":
        return binary_stochastic(w, w0, rng)
    if mode == "binary-det":
        return binary_deterministic(w, w0)
    if mode == "ternary":
        return ternary_stochastic(w, w0, rng)
    if mode == "ternary-det":
        return ternary_deterministic(w, w0)
    raise ValueError(f"weight mode {mode!r}: use one of {', '.join(WEIGHT_MODES)}")


def eval_weights(w: np.ndarray, w0: float, mode: str) -> np.ndarray:
    """The deterministic quantized weights a multiplication-free device evaluates with."""
    mode = reference_mode(mode)
    if mode == "float32":
        return w
    if mode.startswith("binary"):
        return binary_deterministic(w, w0)
    if mode.startswith("ternary"):
        return ternary_deterministic(w, w0)
    raise ValueError(f"weight mode {mode!r}: use one of {', '.join(WEIGHT_MODES)}")


def pow2_stochastic(x: np.ndarray, rng: np.random.Generator, lo: int | None = None,
                    hi: int | None = None) -> np.ndarray:
    """sign(x) 2^(k + Bernoulli(|x|/2^k - 1)), k = floor(log2|x|); zeros stay zero.

    With an exponent range [lo, hi] (None = unbounded, as the paper's code for dense layers), as the
    device does it (mcutrain/arith/quant.py, docs/arithmetic.md): below 2^lo, |x| rounds to 2^lo with
    probability |x| / 2^lo, else to zero (still unbiased); above, the exponent saturates at hi."""
    a = np.abs(x)
    nz = a > 0
    k = np.floor(np.log2(np.where(nz, a, 1)))
    u = rng.random(x.shape, dtype=np.float32)
    if lo is not None:
        small = k < lo
        k = np.where(small, lo, k)
        up = np.where(small, u < a / np.exp2(lo), u < a / np.exp2(k) - 1)
        keep = nz & ~(small & ~up)
        k = np.where(small, lo, k + up)
    else:
        k = k + (u < a / np.exp2(k) - 1)
        keep = nz
    if hi is not None:
        k = np.minimum(k, hi)
    return np.where(keep, np.sign(x) * np.exp2(k), 0).astype(x.dtype, copy=False)


def ap2(x: np.ndarray) -> np.ndarray:
    """AP2(x) = sign(x) 2^round(log2|x|); zeros stay zero."""
    a = np.abs(x)
    nz = a > 0
    return np.where(nz, np.sign(x) * np.exp2(np.round(np.log2(np.where(nz, a, 1)))), 0).astype(
        np.asarray(x).dtype, copy=False)
