"""conv2d weight-update variants (issue 12; docs/arithmetic.md, section 11 "Weight update"): quantized
back-propagation off (the exact sum over positions of x d, formed on the device as shifted errors, one per set bit
of x, then one rounding) and stochastic update rounding (one 16-bit draw a weight, rows (kh, kw, ci) in order).
The generated C compiled by the host's gcc is bit-exact with the twin in every integer weight mode, several
shapes, stride 1 and 2, valid and same padding; the refusals name the layer and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_generated_c_host import compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PlanError
from mcutrain.arith.plan import make_plan
from mcutrain.model import DenseLayerSpec
from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.twin import TwinNetwork
from mcutrain.twin.conv import Conv2dTwin
from mcutrain.twin.conv_ops import out_size

KW = dict(qbp_range=(-4, 3), lr_start=-7, lr_min=-9)


def _net(stride: int, padding: str, filters: int = 4) -> list:
    """conv2d (28x28 MNIST) -> conv2d (same, with a backward pass and multi-bit inputs) -> maxpool -> flatten ->
    dense."""
    o = out_size(28, 3, stride, padding)
    return [Conv2dLayerSpec(28, 28, 1, filters, kernel=3, stride=stride, padding=padding),
            Conv2dLayerSpec(o, o, filters, 5, kernel=3, stride=1, padding="same"),
            MaxPoolLayerSpec(o, o, 5), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]


def _deep_net() -> list:
    """Four conv layers down to a 2x2 map and a 5x5 same-padded conv on it: taps no output window reaches (the
    stochastic rounding still takes their draws); odd filter counts (a half draw a row)."""
    return [Conv2dLayerSpec(28, 28, 1, 3, kernel=3, stride=2), Conv2dLayerSpec(13, 13, 3, 5, kernel=3, stride=2,
                                                                                padding="same"),
            Conv2dLayerSpec(7, 7, 5, 4, kernel=3, stride=2, padding="same"), MaxPoolLayerSpec(4, 4, 4),
            Conv2dLayerSpec(2, 2, 4, 3, kernel=5, padding="same"), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]


CASES = [  # weights, qbp, rounding, net, seed
    ("ternary", False, "nearest", ("n", 2, "valid"), 3),
    ("binary", False, "nearest", ("n", 1, "same"), 4),
    ("sign", False, "nearest", ("n", 2, "same"), 5),
    ("ternary_det", False, "nearest", ("n", 1, "valid"), 6),
    ("ternary", False, "nearest", ("deep",), 7),
    ("ternary", True, "stochastic", ("n", 2, "valid"), 8),
    ("binary", True, "stochastic", ("n", 1, "same"), 9),
    ("sign", True, "stochastic", ("n", 2, "same"), 10),
    ("ternary_det", True, "stochastic", ("n", 1, "valid"), 11),
    ("binary", True, "stochastic", ("deep",), 12),
]


def _specs(net: tuple) -> list:
    return _deep_net() if net[0] == "deep" else _net(net[1], net[2])


@pytest.mark.parametrize("weights,qbp,rounding,net,seed", CASES)
def test_conv_update_variants_generated_c_match_the_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         data_dir: Path, weights: str, qbp: bool, rounding: str,
                                                         net: tuple, seed: int) -> None:
    """Every prediction, hinge, digest (every 50 samples) and the final state equal; and a twin whose conv update
    is one bit coarser disagrees, so the comparison can fail."""
    n, n_eval, spe, every = 200, 50, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan(784, _specs(net), weights=weights, qbp=qbp, update_rounding=rounding, **KW)
    exe = compile_driver(plan, tmp_path)
    src = (tmp_path / "mt_model.c").read_text()
    assert ("l0_codes" in src) == qbp
    if net[0] == "deep":
        lp = plan.layers[4]
        assert lp.tap_range(0, True) == (0, 0), "the 5x5 conv on 2x2 has taps no window reaches"
        if rounding == "stochastic":
            assert "no output window reaches it" in src
    twin = TwinNetwork(plan)
    run_and_compare(exe, twin, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert twin.layers[0].W.any() and twin.layers[1].W.any()

    real = Conv2dTwin.update

    def coarser(self: Conv2dTwin, d: np.ndarray, lr_exp: int, rng=None) -> None:  # noqa: ANN001
        real(self, d, lr_exp - 1, rng)

    monkeypatch.setattr(Conv2dTwin, "update", coarser)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


def test_stochastic_rounding_twin_draws_in_row_order() -> None:
    """The draws of a stochastic conv update: ceil(C_out / 2) a row, rows (kh, kw, ci) in order; each weight's
    update is floor((G + rr) / 2^s) with rr below 2^s, so it is floor or ceil of G / 2^s, and its mean over many
    draws is G / 2^s (unbiased)."""
    from mcutrain.arith.prng import XorShiftStream

    plan = make_plan(36, [Conv2dLayerSpec(6, 6, 1, 3, kernel=3, padding="same"), FlattenLayerSpec(),
                          DenseLayerSpec(10, "linear")], weights="sign", qbp=True, update_rounding="stochastic", **KW)
    twin = Conv2dTwin(plan, plan.layers[0])
    lp = plan.layers[0]
    x = np.arange(36).reshape(6, 6, 1) * 37 % 300
    d = (np.arange(6 * 6 * 3).reshape(6, 6, 3) * 7919 % 4001) - 2000
    k = -7 + lp.update_shift_const(plan)
    assert k < 0
    ups = []
    rng, ref = XorShiftStream(7, capacity=64), XorShiftStream(7, capacity=64)
    twin._x = x.astype(np.int64)
    twin._q = x.astype(np.int64)   # the update's input as QBP off would have it: G = sum x d
    for _ in range(400):
        twin.W = np.zeros_like(twin.W)
        twin.update(d.reshape(-1), -7, rng)
        ref.draws(9 * 2)
        assert rng.state == ref.state   # 9 rows x ceil(3 / 2) draws
        ups.append(-twin.W.copy())
    ups_a = np.array(ups)
    from mcutrain.twin.conv_ops import conv2d_weight_grad
    g = conv2d_weight_grad(x.astype(np.int64), d.astype(np.int64), 3, 1, "same")
    exact = g / 2.0**-k
    lo = np.clip(np.floor(exact), -(1 << plan.latent_shift), (1 << plan.latent_shift) - 1)
    hi = np.clip(np.ceil(exact), -(1 << plan.latent_shift), (1 << plan.latent_shift) - 1)
    assert ((ups_a == lo) | (ups_a == hi)).all()
    frac = exact - np.floor(exact)
    assert (ups_a != lo).any() and np.abs(ups_a.mean(axis=0) - exact).max() < 0.12
    assert frac.max() > 0.2


def test_no_qbp_gradient_overflow_is_refused_with_the_largest_size_that_fits() -> None:
    """Without QBP the update sums P products x d of up to in_max x ERR_MAX in int64, shifted left by up to
    lr_start + C_l bits: refused past 2^62, naming the layer and the most output positions that fit. (A dense
    layer after it refuses such a learning rate first, so the conv's own check is called with it here.)"""
    import dataclasses

    def layer1(side: int, lr_start: int):  # noqa: ANN202
        specs = [Conv2dLayerSpec(side, side, 1, 2, kernel=1), Conv2dLayerSpec(side, side, 2, 2, kernel=1)]
        h = side
        while h * h * 2 > 20000:
            specs.append(MaxPoolLayerSpec(h, h, 2))
            h //= 2
        plan = make_plan(side * side, [*specs, FlattenLayerSpec(), DenseLayerSpec(10, "linear")], weights="sign",
                         qbp=False, qbp_range=(-4, 3), lr_start=-7, lr_min=-9)
        return plan.layers[1], dataclasses.replace(plan, lr_start=lr_start)

    lp, hot = layer1(128, 20)
    hi = 20 + lp.update_shift_const(hot)
    fit = ((1 << 62) - 1) // (32767 * 1048575 << hi)
    assert 64 * 64 <= fit < 128 * 128
    with pytest.raises(PlanError, match=rf"^layers\[1\]: without quantized back-propagation the weight gradient sums "
                                        rf"16384 products x d of up to 32767 x 1048575 \(shifted left by up to {hi} "
                                        rf"bits\), which overflows int64; use at most {fit} output positions"):
        lp.check(hot)
    lp64, hot64 = layer1(64, 20)
    lp64.check(hot64)     # 4096 positions fit
    lp.check(dataclasses.replace(hot, lr_start=-7))   # and at an ordinary learning rate 16384 positions fit


def test_conv_refuses_shared_stochastic_rounding_naming_the_fix() -> None:
    with pytest.raises(PlanError, match=r"layers\[0\]: conv2d rounds its updates .*use update_rounding = "
                                        r"\"nearest\" or \"stochastic\""):
        make_plan(784, _net(2, "valid"), weights="ternary", qbp=True, update_rounding="stochastic_shared", **KW)


def test_no_qbp_conv_keeps_no_codes_and_reads_its_input() -> None:
    plan = make_plan(784, _net(2, "valid"), weights="ternary", qbp=False, **KW)
    items = {m.name: m.bytes for m in plan.layers[0].memory_items(plan)}
    assert items.get("l0_codes", 0) == 0
    plan_q = make_plan(784, _net(2, "valid"), weights="ternary", qbp=True, **KW)
    assert {m.name: m.bytes for m in plan_q.layers[0].memory_items(plan_q)}["l0_codes"] == 784 // 2   # 4 bits each
    # without QBP the update reads x itself, so that activation keeps its own array (mcutrain/codegen/buffers.py)
    assert plan.layers[1].kind == "conv2d" and plan.layers[1].update_reads_input(plan)
    assert not plan_q.layers[1].update_reads_input(plan_q)
    # the update shift: EX_MIN more with QBP (G in units of 2^EX_MIN), the same scale in expectation
    lq, ln = plan_q.layers[1], plan.layers[1]
    assert lq.update_shift_const(plan_q) - ln.update_shift_const(plan) == lq.ex_min > 0


@pytest.mark.parametrize("weights,qbp,rounding,seed", [("ternary", False, "nearest", 21),
                                                       ("sign", True, "stochastic", 22)])
def test_multi_bit_pixels_conv_update_variants_match_the_twin(tmp_path: Path, data_dir: Path, weights: str,
                                                              qbp: bool, rounding: str, seed: int) -> None:
    """14x14 pooled u4 MNIST: the first layer's inputs have several set bits (x d as several shifted errors
    without QBP), the host C bit-exact with the twin."""
    from mcutrain.data import decode, encode
    from mcutrain.data.pooling import pool_images

    n, n_eval, spe, every = 200, 50, 100, 50
    d = np.load(data_dir / "mnist.npz")
    pixels = pool_images(d["x_train"].reshape(-1, 784)[:n], 2)
    enc = encode(pixels, "u4", 128)
    x, y = decode(enc, "u4", 196, 8), d["y_train"][:n]
    assert len({bin(int(v)).count("1") for v in np.unique(x)}) >= 3   # inputs of 1, 2 and more set bits
    specs = [Conv2dLayerSpec(14, 14, 1, 6, kernel=3, stride=2, padding="same"),
             Conv2dLayerSpec(7, 7, 6, 4, kernel=3, padding="same"), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]
    plan = make_plan(196, specs, weights=weights, qbp=qbp, update_rounding=rounding, input_max=240, **KW)
    exe = compile_driver(plan, tmp_path, "u4", enc.shape[1])
    twin = TwinNetwork(plan)
    run_and_compare(exe, twin, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert twin.layers[0].W.any()
