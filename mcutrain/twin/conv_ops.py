"""Integer convolution arithmetic of the twin, for the conv layer kind to come (docs/arithmetic.md,
section 11, a draft): pure vectorized NumPy functions, no state, no PRNG of their own.

Layout: one sample's activations are (H, W, C) (channels innermost, as the device stores them); a
batch of samples (N, H, W, C) is accepted wherever the arithmetic does not depend on the sample order
(inference, tests). Weights are sampled values t in {-1, 0, +1} of shape (k, k, C_in, C_out); an
im2col row is a k x k x C_in window in (kh, kw, c) order, which is memory order in HWC, so the
weights reshape to (k * k * C_in, C_out) without a transpose.

Exactness: every product is an integer times -1, 0, +1 (forward, backward), times a power of two
(weight gradient with quantized back-propagation) or an integer x times an integer d (weight gradient
without it: |x d| <= ACT_MAX ERR_MAX < 2^35, sums over P positions below 2^53 up to P = 2^18, int64 above),
and every sum is a sum of integers. A matrix product
in IEEE floating point is exact when every product and every partial sum, in whatever order the BLAS
adds (blocked, vectorized, fused multiply-add), is an integer of magnitude at most 2^p (p = 24 for
float32, 53 for float64): such integers are representable, so every rounding is the identity. A bound
of the sum of absolute values of the terms bounds every partial sum, so :func:`exact_matmul` takes that
bound (computed from the operands' maxima and the inner dimension, never from the result) and chooses
float32 below 2^24, float64 below 2^53, and int64 (no BLAS, slow, exact) above.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ..arith.fixed import shift
from ..arith.quant import pow2_exponent_stochastic

PADDINGS = ("same", "valid")

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


# ---------------------------------------------------------------------------------------------
# exact integer products


def product_bound(a: np.ndarray, b: np.ndarray) -> int:
    """sum_k |a_ik| |b_kj| <= K max|a| max|b|: a bound of every partial sum of a @ b."""
    if a.size == 0 or b.size == 0:
        return 0
    return int(a.shape[-1]) * int(np.abs(a).max()) * int(np.abs(b).max())


def exact_matmul(a: np.ndarray, b: np.ndarray, bound: int | None = None) -> NDArray[np.int64]:
    """a @ b of integer arrays, exactly, through float32 or float64 BLAS when the bound allows it
    (module docstring); `bound` defaults to :func:`product_bound`."""
    bound = product_bound(a, b) if bound is None else bound
    if bound < F32_EXACT:
        return (np.asarray(a, np.float32) @ np.asarray(b, np.float32)).astype(np.int64)
    if bound < F64_EXACT:
        return (np.asarray(a, np.float64) @ np.asarray(b, np.float64)).astype(np.int64)
    if bound >= 1 << 63:
        raise OverflowError(f"an integer product bounded by {bound} does not fit int64; the arithmetic plan "
                            "must keep its sums smaller")
    return np.asarray(a, np.int64) @ np.asarray(b, np.int64)


# ---------------------------------------------------------------------------------------------
# geometry


def out_size(n: int, k: int, stride: int, padding: str) -> int:
    """Output side: ceil(n / stride) for "same", floor((n - k) / stride) + 1 for "valid"."""
    if padding not in PADDINGS:
        raise ValueError(f"padding {padding!r}: use one of {', '.join(PADDINGS)}")
    if padding == "same":
        return -(-n // stride)
    if n < k:
        raise ValueError(f"a {k}x{k} kernel is larger than the {n}-pixel input with valid padding; use "
                         "padding = \"same\" or a smaller kernel")
    return (n - k) // stride + 1


def pads(n: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """(before, after) zero padding of one side: for "same", total = max((out - 1) stride + k - n, 0),
    before = total // 2 (the smaller half first, as TensorFlow)."""
    if padding == "valid":
        return 0, 0
    total = max((out_size(n, k, stride, padding) - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _as_batch(x: np.ndarray) -> tuple[np.ndarray, bool]:
    if x.ndim == 3:
        return x[None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"activations must be (H, W, C) or (N, H, W, C), got shape {x.shape}")


@lru_cache(maxsize=64)
def _im2col_index(h: int, w: int, c: int, k: int, stride: int, padding: str) -> NDArray[np.intp]:
    """For every output position and window tap, in im2col order ((oh, ow) rows, (kh, kw, c) columns), the
    index of the input value in the flattened (H W C) map, or H W C (a zero appended after it) where the
    window covers the padding. Computed once a geometry; a gather with it is the whole im2col."""
    ho, wo = out_size(h, k, stride, padding), out_size(w, k, stride, padding)
    pt, pl = pads(h, k, stride, padding)[0], pads(w, k, stride, padding)[0]
    r = (np.arange(ho) * stride - pt)[:, None, None, None, None] + np.arange(k)[None, None, :, None, None]
    q = (np.arange(wo) * stride - pl)[None, :, None, None, None] + np.arange(k)[None, None, None, :, None]
    ch = np.arange(c)[None, None, None, None, :]
    inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
    idx = np.where(inside, (r * w + q) * c + ch, h * w * c)
    idx = np.broadcast_to(idx, (ho, wo, k, k, c)).reshape(ho * wo, k * k * c)
    idx.setflags(write=False)
    return idx


def im2col(x: np.ndarray, k: int, stride: int = 1, padding: str = "valid") -> np.ndarray:
    """(H, W, C) -> (Ho * Wo, k * k * C), or (N, H, W, C) -> (N * Ho * Wo, k * k * C); rows in output
    order (n, oh, ow), columns in (kh, kw, c) order; zeros where the window covers the padding."""
    xb, _ = _as_batch(x)
    n, h, w, c = xb.shape
    idx = _im2col_index(h, w, c, k, stride, padding)
    flat = np.concatenate([xb.reshape(n, h * w * c), np.zeros((n, 1), xb.dtype)], axis=1)
    return flat[:, idx].reshape(n * idx.shape[0], k * k * c)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], k: int, stride: int = 1,
           padding: str = "valid") -> NDArray[np.int64]:
    """The adjoint of :func:`im2col` in integers: each window's values are added back into the input
    positions they came from (the padding's share is dropped)."""
    batched = len(x_shape) == 4
    n, h, w, c = x_shape if batched else (1, *x_shape)
    (pt, pb), (pl, pr) = pads(h, k, stride, padding), pads(w, k, stride, padding)
    ho, wo = out_size(h, k, stride, padding), out_size(w, k, stride, padding)
    g = cols.reshape(n, ho, wo, k, k, c)
    hp, wp = h + pt + pb, w + pl + pr
    out = np.zeros((n, hp, wp, c), dtype=np.int64)
    for i in range(k):
        for j in range(k):
            out[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :] += g[:, :, :, i, j, :]
    out = out[:, pt:pt + h, pl:pl + w, :]
    return out if batched else out[0]


# ---------------------------------------------------------------------------------------------
# convolution: forward, backward to the input, weight and bias gradients


def conv2d_forward(x: np.ndarray, t: np.ndarray, stride: int = 1, padding: str = "valid") -> NDArray[np.int64]:
    """acc[oh, ow, o] = sum_{kh, kw, c} t[kh, kw, c, o] x[oh s + kh - pt, ow s + kw - pl, c] (zero outside):
    additions and subtractions only (t in {-1, 0, +1}). (H, W, C) -> (Ho, Wo, C_out); batches too.
    |acc| <= k^2 C_in max|x|."""
    k, _, cin, cout = t.shape
    if x.shape[-1] != cin:
        raise ValueError(f"the input has {x.shape[-1]} channels, the weights expect {cin}")
    cols = im2col(x, k, stride, padding)
    acc = exact_matmul(cols, t.reshape(-1, cout))
    lead = x.shape[:-3]
    h, w = x.shape[-3], x.shape[-2]
    return acc.reshape(*lead, out_size(h, k, stride, padding), out_size(w, k, stride, padding), cout)


def conv2d_backward_input(d: np.ndarray, t: np.ndarray, x_shape: tuple[int, ...], stride: int = 1,
                          padding: str = "valid") -> NDArray[np.int64]:
    """g[h, w, c] = sum over the outputs (oh, ow) whose window covers (h, w) of sum_o t[kh, kw, c, o] d[oh, ow, o]:
    the error at the input before any rounding (the layer then shifts and saturates it). At most
    ceil(k / s)^2 windows cover a pixel, so |g| <= ceil(k/s)^2 C_out max|d|."""
    k, _, cin, cout = t.shape
    dc = d.reshape(-1, cout)
    tm = t.reshape(-1, cout)
    per_window = exact_matmul(dc, tm.T)                                    # (P, k k C_in)
    return col2im(per_window, x_shape, k, stride, padding)


def conv2d_weight_grad(xs: np.ndarray, d: np.ndarray, k: int, stride: int = 1,
                       padding: str = "valid") -> NDArray[np.int64]:
    """G[kh, kw, c, o] = sum over outputs p of xs[window_p(kh, kw), c] d[p, o]: the exact sum, for the one
    rounding shift of the update. `xs` is the layer input as the update sees it: the integer input
    (quantized back-propagation off: the device forms the products as shifted errors, one per set bit)
    or :func:`qbp_scaled` (on: every product is d shifted left by ex - EX_MIN)."""
    cin = xs.shape[-1]
    cout = d.shape[-1]
    cols = im2col(xs, k, stride, padding)                                  # (P, k k C_in)
    g = exact_matmul(cols.T, d.reshape(-1, cout), bound=product_bound(cols.T, d.reshape(-1, cout)))
    return g.reshape(k, k, cin, cout)


def bias_grad(d: np.ndarray) -> NDArray[np.int64]:
    """sum over positions of d, per output channel: a bias's input is 1."""
    return np.asarray(d, np.int64).reshape(-1, d.shape[-1]).sum(axis=0)


def apply_update(w: np.ndarray, g: np.ndarray, k_shift: int, lw: int) -> NDArray[np.int64]:
    """W <- clamp(W - shift_round(G, k_shift), -2^LW, 2^LW - 1): one rounding a weight, after the exact sum."""
    return np.clip(np.asarray(w, np.int64) - shift(np.asarray(g, np.int64), k_shift), -(1 << lw), (1 << lw) - 1)


# ---------------------------------------------------------------------------------------------
# quantized back-propagation: the input of the weight gradient as sign x 2^ex, 4 bits an element


def qbp_quantize(x: np.ndarray, r: np.ndarray, ex_min: int, ex_max: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """docs/arithmetic.md section 6 for every element of x (>= 0): one draw per non-zero element, in memory
    (h, w, c) order, taken from `r` (as many draws as x has non-zero elements). Returns (ex, keep) of x's
    shape; keep is False for zeros and for small values that rounded to zero."""
    x = np.asarray(x, np.int64)
    if (x < 0).any():
        raise ValueError("qbp_quantize takes layer inputs >= 0 (after a ReLU, or pixels)")
    flat = x.reshape(-1)
    nz = np.flatnonzero(flat)
    r = np.asarray(r, np.int64).reshape(-1)
    if len(r) != len(nz):
        raise ValueError(f"{len(nz)} non-zero inputs need {len(nz)} draws, got {len(r)}")
    ex = np.zeros(flat.shape, np.int64)
    keep = np.zeros(flat.shape, bool)
    if len(nz):
        e, kp = pow2_exponent_stochastic(flat[nz], r, ex_min, ex_max)
        ex[nz], keep[nz] = e, kp
    return ex.reshape(x.shape), keep.reshape(x.shape)


def qbp_scaled(ex: np.ndarray, keep: np.ndarray, ex_min: int) -> NDArray[np.int64]:
    """2^(ex - EX_MIN) where kept, else 0: the quantized input in units of 2^EX_MIN (the weight
    gradient's products are then left shifts of d by ex - EX_MIN >= 0)."""
    return np.where(keep, np.int64(1) << (np.asarray(ex, np.int64) - ex_min), 0)


def qbp_codes(ex: np.ndarray, keep: np.ndarray, ex_min: int, ex_max: int) -> NDArray[np.uint8]:
    """The 4-bit code the backward pass keeps of an input: 0 for zero, else ex - EX_MIN + 1 (needs
    EX_MAX - EX_MIN <= 14); packed two a byte, low nibble first, with :func:`pack_nibbles`."""
    if ex_max - ex_min > 14:
        raise ValueError(f"exponents {ex_min}..{ex_max} need more than 4 bits; narrow qbp_exponent_range")
    return np.where(keep, np.asarray(ex, np.int64) - ex_min + 1, 0).astype(np.uint8)


def codes_scaled(codes: np.ndarray) -> NDArray[np.int64]:
    """Inverse of :func:`qbp_codes` composed with :func:`qbp_scaled`: code c -> 2^(c - 1), 0 -> 0."""
    c = np.asarray(codes, np.int64)
    return np.where(c > 0, np.int64(1) << np.maximum(c - 1, 0), 0)


def pack_nibbles(codes: np.ndarray) -> NDArray[np.uint8]:
    flat = np.asarray(codes, np.uint8).reshape(-1)
    if len(flat) % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, n: int) -> NDArray[np.uint8]:
    p = np.asarray(packed, np.uint8)
    out = np.empty(2 * len(p), np.uint8)
    out[0::2], out[1::2] = p & 0x0F, p >> 4
    return out[:n]


# ---------------------------------------------------------------------------------------------
# ReLU and 2x2 max-pool masks as bits; global average pooling


def pack_bits(mask: np.ndarray) -> NDArray[np.uint8]:
    """A boolean mask in memory order, 8 elements a byte, LSB first (as the `bits` encoding)."""
    return np.packbits(np.asarray(mask, bool).reshape(-1), bitorder="little")


def unpack_bits(packed: np.ndarray, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    n = int(np.prod(shape))
    return np.unpackbits(np.asarray(packed, np.uint8), count=n, bitorder="little").astype(bool).reshape(shape)


def relu_backward(d: np.ndarray, active_bits: np.ndarray) -> NDArray[np.int64]:
    """The error where the layer's output was > 0 (the packed mask of the forward pass), else 0."""
    return np.where(unpack_bits(active_bits, d.shape), np.asarray(d, np.int64), 0)


def maxpool2_forward(x: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """2x2, stride 2 max-pool of (H, W, C) (odd last row/column dropped: floor) or (N, H, W, C). Returns the
    output and the winners as a packed bit mask of the input's shape: one bit a pixel, set at the first
    maximum of each window in (row, column) order."""
    xb, single = _as_batch(np.asarray(x, np.int64))
    n, h, w, c = xb.shape
    if h < 2 or w < 2:
        raise ValueError(f"a 2x2 max-pool needs at least 2x2 pixels, got {h}x{w}")
    h2, w2 = h // 2, w // 2
    win = xb[:, :2 * h2, :2 * w2].reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h2, w2, c, 4)
    arg = win.argmax(axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    onehot = (arg[..., None] == np.arange(4)).reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    mask = np.zeros((n, h, w, c), bool)
    mask[:, :2 * h2, :2 * w2] = onehot.reshape(n, 2 * h2, 2 * w2, c)
    return (out[0] if single else out), pack_bits(mask[0] if single else mask)


def maxpool2_backward(d: np.ndarray, mask_bits: np.ndarray, x_shape: tuple[int, ...]) -> NDArray[np.int64]:
    """Each output's error to its window's winner (the mask of :func:`maxpool2_forward`), 0 elsewhere."""
    mask = unpack_bits(mask_bits, x_shape)
    db, single = _as_batch(np.asarray(d, np.int64))
    mb = mask[None] if single else mask
    n, h2, w2, c = db.shape
    up = np.zeros(mb.shape, np.int64)
    up[:, :2 * h2, :2 * w2] = np.repeat(np.repeat(db, 2, axis=1), 2, axis=2)
    out = np.where(mb, up, 0)
    return out[0] if single else out


def global_avgpool_forward(x: np.ndarray) -> NDArray[np.int64]:
    """shift_round(sum over (H, W), -log2(H W)) per channel; H W must be a power of two (a shift)."""
    h, w = x.shape[-3], x.shape[-2]
    s = _log2_exact(h * w)
    return shift(np.asarray(x, np.int64).sum(axis=(-3, -2)), -s)


def global_avgpool_backward(d: np.ndarray, x_shape: tuple[int, ...]) -> NDArray[np.int64]:
    """shift_round(d, -log2(H W)) to every pixel of its channel."""
    h, w = x_shape[-3], x_shape[-2]
    g = shift(np.asarray(d, np.int64), -_log2_exact(h * w))
    return np.broadcast_to(g[..., None, None, :], x_shape).copy()


def _log2_exact(n: int) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"global average pooling over {n} pixels is not a shift; use a map of 2^k pixels "
                         "(or a 2x2 max-pool first)")
    return n.bit_length() - 1


# ---------------------------------------------------------------------------------------------
# per-channel hooks (bias, batch norm)


def add_channel_bias(acc: np.ndarray, b: np.ndarray) -> NDArray[np.int64]:
    """acc + b[c] at every position (the bias in accumulator units, as a dense layer's)."""
    return np.asarray(acc, np.int64) + np.asarray(b, np.int64)


def channel_shift(z: np.ndarray, t: np.ndarray) -> NDArray[np.int64]:
    """shift_round(z, t[c]) at every position: a per-channel power-of-two scale (batch norm's 2^t, a
    learned power-of-two gamma)."""
    z = np.asarray(z, np.int64)
    return shift(z, np.broadcast_to(np.asarray(t, np.int64), z.shape))


def channel_stats(z: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(sum of z, number of positions) per channel: what a per-channel running mean needs from one sample."""
    z2 = np.asarray(z, np.int64).reshape(-1, z.shape[-1])
    return z2.sum(axis=0), np.full(z.shape[-1], len(z2), np.int64)
