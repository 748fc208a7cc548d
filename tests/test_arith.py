"""The twin's PRNG and quantizers against their definitions (docs/arithmetic.md 3-6)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcutrain.arith.fixed import shift
from mcutrain.arith.prng import XorShiftStream, xorshift32_step
from mcutrain.arith.quant import binarize_stochastic, msb_index, pow2_exponent_stochastic, pow2_value


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
