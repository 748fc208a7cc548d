"""The twin's PRNG and quantizers against their definitions (docs/arithmetic.md 3-6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcutrain.arith.fixed import shift
from mcutrain.arith.plan import make_dense_plan
from mcutrain.arith.prng import XorShiftStream, xorshift32_step
from mcutrain.arith.quant import (
    binarize_stochastic,
    msb_index,
    pow2_exponent_stochastic,
    pow2_value,
    ternarize_deterministic,
    ternarize_stochastic,
)
from mcutrain.twin.dense import DenseTwin


@given(st.integers(1, 2**32 - 1), st.integers(1, 300), st.integers(1, 300))
@settings(max_examples=40, deadline=None)
def test_stream_equals_sequential_xorshift(seed: int, n1: int, n2: int) -> None:
    stream = XorShiftStream(seed, capacity=128)  # small table: runs longer than it are chained
    got = list(stream.draws(n1)) + list(stream.draws(n2))
    s, want = seed, []
    for _ in range(n1 + n2):
        s = xorshift32_step(s)
        want.append(s)
    assert got == want
    assert stream.state == want[-1]


def test_xorshift_known_value() -> None:
    # 1 -> 270369 is xorshift32(13,17,5)'s first output from state 1 (Marsaglia 2003)
    assert xorshift32_step(1) == 270369


@given(st.integers(1, 2**15 - 1))
def test_msb_index(x: int) -> None:
    assert int(msb_index(np.array([x]))[0]) == x.bit_length() - 1


@given(st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=20), st.integers(-12, 8))
def test_shift_round_half_up(vals: list[int], k: int) -> None:
    got = shift(np.array(vals), k)
    for v, g in zip(vals, got, strict=False):
        if k >= 0:
            assert g == v * 2**k
        else:
            assert g == (2 * v + 2**-k) // 2 ** (1 - k)  # floor(v / 2^-k + 1/2)


def test_binarization_follows_hard_sigmoid() -> None:
    lw = 14
    w0 = 1 << lw
    rng = XorShiftStream(99)
    n = 200_000
    for w in (-w0, -12000, -3000, 0, 5000, 15000, w0):
        r = rng.draws(n).astype(np.int64) & (2 * w0 - 1)
        p = binarize_stochastic(np.full(n, w), r, w0).mean()
        expected = min(max((w / w0 + 1) / 2, 0.0), 1.0)
        assert abs(p - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-9, (w, p, expected)


@given(st.integers(1, 2**15 - 1))
@settings(max_examples=30, deadline=None)
def test_pow2_rounding_is_unbiased_and_brackets_x(x: int) -> None:
    n = 40_000
    r = XorShiftStream(x + 7).draws(n).astype(np.int64)
    ex, keep = pow2_exponent_stochastic(np.full(n, x), r, 0, 15)
    q = pow2_value(ex, keep)
    k = x.bit_length() - 1
    assert set(np.unique(q)) <= {1 << k, 1 << min(k + 1, 15)}
    if x == 1 << k:
        assert (q == x).all()  # powers of two are exact
    elif k + 1 <= 15:
        p_up = (x - (1 << k)) / (1 << k)
        sd = (1 << k) * np.sqrt(p_up * (1 - p_up) / n)
        assert abs(q.mean() - x) < 4.5 * sd


def test_pow2_rounding_below_range_is_unbiased_to_zero() -> None:
    n = 100_000
    r = XorShiftStream(5).draws(n).astype(np.int64)
    ex, keep = pow2_exponent_stochastic(np.full(n, 3), r, 4, 15)  # 3 < 2^4
    q = pow2_value(ex, keep)
    assert set(np.unique(q)) == {0, 16}
    assert abs(q.mean() - 3) < 4 * 16 * np.sqrt((3 / 16) * (13 / 16) / n)


def test_pow2_saturates_at_ex_max() -> None:
    r = np.arange(64, dtype=np.int64)
    ex, keep = pow2_exponent_stochastic(np.full(64, 1000), r, 0, 5)
    assert (ex == 5).all() and keep.all()


# -- weight samplers, exactly: every latent value against every value of its draw -----------------
# The draw r of a weight is uniform over its range (a masked 16-bit half of a xorshift32 output,
# see test_masked_half_draw_is_uniform), so counting outcomes over all r gives the probabilities exactly.

@pytest.mark.parametrize("lw", [6, 10, 14])
def test_binary_sampler_counts_exactly(lw: int) -> None:
    w0 = 1 << lw
    ws = np.arange(-w0, w0 + 1) if lw <= 10 else np.r_[-w0:-w0 + 40, -20:21, w0 - 40:w0 + 1]
    r = np.arange(2 * w0)
    plus = binarize_stochastic(ws[:, None], r[None, :], w0).sum(axis=1)
    # P(+1) = (w + W0) / 2W0 = clip((w/W0 + 1)/2, 0, 1), counted over the 2W0 draws
    assert (plus == ws + w0).all()
    # unbiased: E[W0 b] = w exactly
    assert (2 * plus - 2 * w0 == 2 * ws).all()


@pytest.mark.parametrize("lw", [6, 10, 14])
def test_ternary_sampler_counts_exactly(lw: int) -> None:
    w0 = 1 << lw
    ws = np.arange(-w0, w0 + 1) if lw <= 10 else np.r_[-w0:-w0 + 40, -20:21, w0 - 40:w0 + 1]
    r = np.arange(w0)  # the ternary draw is uniform in [0, W0)
    t = ternarize_stochastic(ws[:, None], r[None, :], w0)
    assert set(np.unique(t)) <= {-1, 0, 1}
    n_plus, n_zero, n_minus = (t == 1).sum(axis=1), (t == 0).sum(axis=1), (t == -1).sum(axis=1)
    # the paper: for w > 0 P(+1) = w/W0, P(0) = 1 - w/W0; for w < 0 P(-1) = -w/W0, P(0) = 1 + w/W0
    assert (n_plus == np.maximum(ws, 0)).all()
    assert (n_minus == np.maximum(-ws, 0)).all()
    assert (n_zero == w0 - np.abs(ws)).all()
    assert (t.sum(axis=1) == ws).all()  # unbiased: E[W0 t] = w exactly


@pytest.mark.parametrize("lw", [6, 14])
def test_ternary_deterministic_thresholds(lw: int) -> None:
    w0 = 1 << lw
    ws = np.arange(-w0, w0 + 1)
    t = ternarize_deterministic(ws, w0)
    # nearest of {-1, 0, +1} to w/W0, a tie (|w| = W0/2) to the non-zero value
    want = np.sign(ws) * (2 * np.abs(ws) >= w0)
    assert (t == want).all()
    assert t[0] == -1 and t[-1] == 1 and t[w0] == 0
    assert t[w0 + w0 // 2] == 1 and t[w0 + w0 // 2 - 1] == 0 and t[w0 - w0 // 2] == -1 and t[w0 - w0 // 2 + 1] == 0


@pytest.mark.parametrize("mask_bits", [7, 11, 14, 15])
def test_masked_half_draw_is_uniform(mask_bits: int) -> None:
    """Every 16-bit half maps onto [0, 2^mask_bits) equally often: the masked draw is uniform."""
    halves = np.arange(1 << 16)
    counts = np.bincount(halves & ((1 << mask_bits) - 1), minlength=1 << mask_bits)
    assert (counts == (1 << (16 - mask_bits))).all()


@pytest.mark.parametrize("weights", ["binary", "ternary"])
def test_twin_sampling_follows_the_draw_order(weights: str) -> None:
    """The twin's vectorized sampling equals the definition applied draw by draw (scalar xorshift):
    rows in order, one draw per two weights, low half for even j, high half for odd j."""
    plan = make_dense_plan([5, 7], weights=weights, latent_bits=8)
    layer = DenseTwin(plan, plan.layers[0])
    w0 = plan.w0
    layer.W = np.arange(5 * 7).reshape(5, 7) * 7 % (2 * w0 + 1) - w0
    rows = np.array([0, 2, 3])
    seed = 12345
    got = layer._mode.forward_backward(layer, rows, XorShiftStream(seed, capacity=16))  # binary.py / ternary.py
    s = seed
    for a, i in enumerate(rows):
        for j in range(0, 7, 2):
            s = xorshift32_step(s)
            for h in range(2):
                if j + h >= 7:
                    continue
                half = (s >> (16 * h)) & 0xFFFF
                w = int(layer.W[i, j + h])
                if weights == "binary":
                    want = 1 if (half & (2 * w0 - 1)) < w + w0 else -1
                else:
                    want = (1 if w > 0 else -1) if (half & (w0 - 1)) < abs(w) else 0
                assert got[a, j + h] == want, (i, j + h)


def test_batch_norm_scale_is_the_nearest_power_of_two() -> None:
    """2^t with t = A + R - round2(dev): round2 is log2 rounded at 1.5 x 2^k, so 2^(A + R - t) / dev lies in
    (2/3, 4/3] for every deviation the running average can hold (dev >= 2^R, exhaustively up to 2^22)."""
    from mcutrain.twin.batchnorm import BatchNormTwin

    plan = make_dense_plan([4, 2], batch_norm=(True,))
    bn = BatchNormTwin(plan, plan.layers[0])
    dev = np.arange(plan.bn_dev_min, 1 << 22, dtype=np.int64)
    bn.dev = dev
    t = bn.scale_exponents()
    ratio = np.exp2((plan.act_frac + plan.bn_frac - t).astype(np.float64)) / dev
    assert (ratio > 2 / 3).all() and (ratio <= 4 / 3).all()
    assert t.max() == plan.act_frac  # dev >= 2^R: the scale never exceeds 2^A
    bn.reset()
    assert (bn.scale_exponents() == 0).all()  # deviation 1.0 at the start: no scaling
