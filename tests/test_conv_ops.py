"""The twin's integer conv arithmetic (mcutrain/twin/conv_ops.py) against naive loops: integer equality."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from mcutrain.arith.fixed import shift
from mcutrain.arith.quant import pow2_exponent_stochastic
from mcutrain.twin import conv_ops as co

GEOMETRIES = [(5, 6, 3, 1, "valid"), (5, 6, 3, 1, "same"), (7, 5, 3, 2, "valid"), (7, 6, 3, 2, "same"),
              (4, 4, 1, 2, "same"), (6, 6, 2, 2, "same"), (5, 5, 5, 1, "valid")]


def naive_pads(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "valid":
        return 0, (n - k) // s + 1
    out = -(-n // s)
    return max((out - 1) * s + k - n, 0) // 2, out


def naive_forward(x: np.ndarray, t: np.ndarray, s: int, padding: str) -> np.ndarray:
    h, w, c = x.shape
    k, _, _, cout = t.shape
    pt, ho = naive_pads(h, k, s, padding)
    pl, wo = naive_pads(w, k, s, padding)
    out = np.zeros((ho, wo, cout), np.int64)
    for oh, ow, o in itertools.product(range(ho), range(wo), range(cout)):
        acc = 0
        for kh, kw, ci in itertools.product(range(k), range(k), range(c)):
            ih, iw = oh * s + kh - pt, ow * s + kw - pl
            if 0 <= ih < h and 0 <= iw < w:
                wt = int(t[kh, kw, ci, o])          # add, subtract or skip
                acc += int(x[ih, iw, ci]) if wt == 1 else -int(x[ih, iw, ci]) if wt == -1 else 0
        out[oh, ow, o] = acc
    return out


def naive_backward(d: np.ndarray, t: np.ndarray, x_shape: tuple[int, int, int], s: int, padding: str) -> np.ndarray:
    h, w, c = x_shape
    k = t.shape[0]
    pt, _ = naive_pads(h, k, s, padding)
    pl, _ = naive_pads(w, k, s, padding)
    g = np.zeros(x_shape, np.int64)
    ho, wo, cout = d.shape
    for oh, ow, kh, kw in itertools.product(range(ho), range(wo), range(k), range(k)):
        ih, iw = oh * s + kh - pt, ow * s + kw - pl
        if 0 <= ih < h and 0 <= iw < w:
            for ci, o in itertools.product(range(c), range(cout)):
                g[ih, iw, ci] += int(t[kh, kw, ci, o]) * int(d[oh, ow, o])
    return g


def naive_weight_grad(xs: np.ndarray, d: np.ndarray, k: int, s: int, padding: str) -> np.ndarray:
    h, w, c = xs.shape
    pt, _ = naive_pads(h, k, s, padding)
    pl, _ = naive_pads(w, k, s, padding)
    ho, wo, cout = d.shape
    g = np.zeros((k, k, c, cout), np.int64)
    for oh, ow, kh, kw in itertools.product(range(ho), range(wo), range(k), range(k)):
        ih, iw = oh * s + kh - pt, ow * s + kw - pl
        if 0 <= ih < h and 0 <= iw < w:
            for ci, o in itertools.product(range(c), range(cout)):
                g[kh, kw, ci, o] += int(xs[ih, iw, ci]) * int(d[oh, ow, o])
    return g


@pytest.mark.parametrize("h,w,k,s,padding", GEOMETRIES)
def test_conv_forward_backward_grad_equal_naive_loops(h: int, w: int, k: int, s: int, padding: str) -> None:
    rng = np.random.default_rng(h * 100 + w * 10 + k + s)
    cin, cout = 3, 4
    x = rng.integers(0, 1 << 15, (h, w, cin)) * (rng.random((h, w, cin)) < 0.7)   # ReLU outputs, some zero
    t = rng.integers(-1, 2, (k, k, cin, cout))
    acc = co.conv2d_forward(x, t, s, padding)
    assert np.array_equal(acc, naive_forward(x, t, s, padding))
    d = rng.integers(-(1 << 20) + 1, 1 << 20, acc.shape)
    want = naive_backward(d, t, x.shape, s, padding)
    assert np.array_equal(co.conv2d_backward_input(d, t, x.shape, s, padding), want)
    assert np.array_equal(co.conv2d_weight_grad(x, d, k, s, padding), naive_weight_grad(x, d, k, s, padding))
    # a batch gives each sample's result
    xb = np.stack([x, x[::-1]])
    assert np.array_equal(co.conv2d_forward(xb, t, s, padding)[1], naive_forward(x[::-1], t, s, padding))


def test_exact_matmul_picks_a_precision_that_stays_exact() -> None:
    rng = np.random.default_rng(1)
    # sums past 2^24 (float32 rounds them: the bound sends them to float64) and near 2^45
    for hi, k in ((1 << 15, 3000), ((1 << 20) - 1, 4000)):
        a = rng.integers(hi - 64, hi, (3, k)) | 1
        b = np.ones((k, 2), np.int64)
        b[1::2, 1] = -1
        want = (a.astype(object) @ b.astype(object)).astype(np.int64)
        assert co.product_bound(a, b) >= co.F32_EXACT
        assert np.array_equal(co.exact_matmul(a, b), want)
        # a float32 running sum of the same terms does round: the bound is what keeps the BLAS exact
        run32 = np.cumsum((a * b[:, 0]).astype(np.float32), axis=1, dtype=np.float32)[:, -1].astype(np.int64)
        assert not np.array_equal(run32, want[:, 0])
    small = rng.integers(-100, 100, (5, 50))
    assert co.product_bound(small, np.ones((50, 3), np.int64)) < co.F32_EXACT
    assert np.array_equal(co.exact_matmul(small, np.ones((50, 3), np.int64)), small.sum(axis=1)[:, None].repeat(3, 1))
    big = np.array([[1 << 40, 1 << 40]])
    assert co.exact_matmul(big, np.array([[1 << 13], [1]]))[0, 0] == (1 << 53) + (1 << 40)   # int64 path
    with pytest.raises(OverflowError, match="does not fit int64"):
        co.exact_matmul(np.array([[1 << 40] * 4]), np.full((4, 1), 1 << 22))


def test_qbp_gradient_is_shifts_and_equals_naive() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 1 << 12, (6, 6, 2)) * (rng.random((6, 6, 2)) < 0.6)
    nz = int(np.count_nonzero(x))
    r = rng.integers(0, 1 << 32, nz, dtype=np.uint64).astype(np.int64)
    ex_min, ex_max = 4, 11
    ex, keep = co.qbp_quantize(x, r, ex_min, ex_max)
    # one draw per non-zero input, in memory order
    e2, k2 = pow2_exponent_stochastic(x.reshape(-1)[np.flatnonzero(x)], r, ex_min, ex_max)
    nzi = np.flatnonzero(x)
    assert np.array_equal(ex.reshape(-1)[nzi], e2) and np.array_equal(keep.reshape(-1)[nzi], k2)
    assert not keep[x == 0].any()
    xs = co.qbp_scaled(ex, keep, ex_min)
    codes = co.qbp_codes(ex, keep, ex_min, ex_max)
    packed = co.pack_nibbles(codes)
    assert len(packed) == (x.size + 1) // 2                       # 4 bits an input
    assert np.array_equal(co.codes_scaled(co.unpack_nibbles(packed, x.size)).reshape(x.shape), xs)
    d = rng.integers(-(1 << 20) + 1, 1 << 20, (6, 6, 3))
    g = co.conv2d_weight_grad(xs, d, 3, 1, "same")
    # the device's loop: for each product, d shifted left by ex - EX_MIN, added
    naive = np.zeros((3, 3, 2, 3), np.int64)
    for oh, ow, kh, kw, ci in itertools.product(range(6), range(6), range(3), range(3), range(2)):
        ih, iw = oh + kh - 1, ow + kw - 1
        if 0 <= ih < 6 and 0 <= iw < 6 and keep[ih, iw, ci]:
            naive[kh, kw, ci] += d[oh, ow] << int(ex[ih, iw, ci] - ex_min)
    assert np.array_equal(g, naive)
    w = rng.integers(-64, 64, g.shape)
    upd = co.apply_update(w, g, -20, 6)
    assert np.array_equal(upd, np.clip(w - shift(g, -20), -64, 63))
    with pytest.raises(ValueError, match="need 3 draws"):
        co.qbp_quantize(np.array([[[1, 2, 3]]]), np.array([1, 2]), 0, 7)


def test_maxpool_masks_and_backward_equal_naive() -> None:
    rng = np.random.default_rng(3)
    for h, w in ((4, 6), (5, 7)):
        x = rng.integers(0, 4, (h, w, 3))                       # many ties: the first maximum wins
        out, bits = co.maxpool2_forward(x)
        assert len(bits) == (x.size + 7) // 8                   # one bit an input pixel
        mask = co.unpack_bits(bits, x.shape)
        d = rng.integers(-1000, 1000, out.shape)
        want_out = np.zeros(out.shape, np.int64)
        want_dx = np.zeros(x.shape, np.int64)
        for i, j, c in itertools.product(range(h // 2), range(w // 2), range(3)):
            win = [(2 * i + a, 2 * j + b) for a in (0, 1) for b in (0, 1)]
            vals = [x[p][c] for p in win]
            best = win[int(np.argmax(vals))]
            want_out[i, j, c] = max(vals)
            want_dx[best][c] = d[i, j, c]
            assert mask[best][c] and sum(mask[p][c] for p in win) == 1
        assert np.array_equal(out, want_out)
        assert np.array_equal(co.maxpool2_backward(d, bits, x.shape), want_dx)
        if h % 2:
            assert not mask[-1].any()                            # the dropped row has no winner


def test_relu_mask_and_global_avgpool() -> None:
    rng = np.random.default_rng(5)
    z = rng.integers(-50, 50, (4, 4, 3))
    bits = co.pack_bits(z > 0)
    d = rng.integers(-9, 9, z.shape)
    assert np.array_equal(co.relu_backward(d, bits), np.where(z > 0, d, 0))
    x = rng.integers(0, 1000, (4, 4, 3))
    assert np.array_equal(co.global_avgpool_forward(x), (x.sum(axis=(0, 1)) + 8) >> 4)
    dg = np.array([17, -17, 8])
    back = co.global_avgpool_backward(dg, x.shape)
    assert back.shape == x.shape and np.array_equal(back[2, 3], (dg + 8) >> 4)
    with pytest.raises(ValueError, match="not a shift"):
        co.global_avgpool_forward(np.zeros((3, 3, 1), np.int64))


def test_channel_hooks() -> None:
    z = np.arange(24).reshape(2, 4, 3) - 12
    assert np.array_equal(co.add_channel_bias(z, np.array([1, 2, 3]))[1, 2], z[1, 2] + [1, 2, 3])
    t = np.array([1, -2, 0])
    got = co.channel_shift(z, t)
    assert np.array_equal(got[..., 0], z[..., 0] << 1) and np.array_equal(got[..., 1], (z[..., 1] + 2) >> 2)
    s, n = co.channel_stats(z)
    assert np.array_equal(s, z.reshape(-1, 3).sum(axis=0)) and (n == 8).all()
    d = np.arange(12).reshape(2, 2, 3)
    assert np.array_equal(co.bias_grad(d), d.reshape(-1, 3).sum(axis=0))


def test_bad_geometry_is_refused() -> None:
    with pytest.raises(ValueError, match="larger than the 2-pixel input"):
        co.conv2d_forward(np.zeros((2, 2, 1), np.int64), np.zeros((3, 3, 1, 1), np.int64))
    with pytest.raises(ValueError, match="expect 2"):
        co.conv2d_forward(np.zeros((4, 4, 1), np.int64), np.zeros((3, 3, 2, 1), np.int64))


def test_cnn_training_step_of_the_speed_benchmark() -> None:
    """bench/conv_twin_speed.py's whole step on a tiny CNN: repeatable from the seed, and it learns a weight
    update (not a timing of nothing)."""
    import importlib.util
    from pathlib import Path

    from mcutrain.arith.prng import XorShiftStream

    path = Path(__file__).resolve().parent.parent / "bench" / "conv_twin_speed.py"
    spec = importlib.util.spec_from_file_location("conv_twin_speed", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod                          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3))
    runs = []
    for _ in range(2):
        layers = mod.parse_net("4C3-MP2-6C3-MP2-10", (8, 8, 3), np.random.default_rng(1))
        init = [L.W.copy() for L in layers]
        rng = XorShiftStream(5, capacity=1 << 12)
        preds = [mod.train_step(layers, x[i], i % 10, rng) for i in range(3)]
        runs.append(([L.W for L in layers], preds, rng.state))
        assert all(not np.array_equal(w, w0) for w, w0 in zip(runs[-1][0], init, strict=True))
        assert all((w >= -64).all() and (w <= 63).all() for w in runs[-1][0])
    assert runs[0][1] == runs[1][1] and runs[0][2] == runs[1][2]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0], strict=True))


def test_one_position_update_is_the_dense_rule() -> None:
    """docs/arithmetic.md section 11: with one output position the exact sum and one rounding give the dense
    layer's update shift_round(d, ex + c) (section 5.5b)."""
    rng = np.random.default_rng(11)
    ex_min, ex_max = 4, 11
    for c in (-30, -25, -19, -12, -6, 0, 2):
        x = rng.integers(1, 1 << 15, (1, 1, 16))
        r = rng.integers(0, 1 << 32, 16, dtype=np.uint64).astype(np.int64)
        ex, keep = co.qbp_quantize(x, r, ex_min, ex_max)
        d = rng.integers(-(1 << 20) + 1, 1 << 20, (1, 1, 5))
        g = co.conv2d_weight_grad(co.qbp_scaled(ex, keep, ex_min), d, 1)
        w = rng.integers(-64, 64, g.shape)
        dense = np.clip(w - np.where(keep.reshape(16, 1), shift(d.reshape(1, 5), ex.reshape(16, 1) + c), 0), -64, 63)
        assert np.array_equal(co.apply_update(w, g, ex_min + c, 6), dense.reshape(g.shape))
