"""The global_avg_pool kind (issue 12): (H, W, C) -> C, each channel's mean over its A = H W positions rounded half
up (a shift when A = 2^g, else binary long division by 2A). Model file, plan (refusals naming the layer), twin
against a loop, the generated C compiled by the host's gcc
bit-exact with the twin in several shapes and inside conv nets (conv -> global_avg_pool -> dense), the float32
baseline bit-exact with its float twin, the ARM builds (Cortex-M0, M4F) without a multiply, the planner's buffers,
and a short `mcutrain train --verify` on the emulated board."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from test_generated_c_host import CFLAGS, compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PlanError
from mcutrain.arith.plan import make_plan, plan_from_spec
from mcutrain.build.boards import get_board
from mcutrain.codegen.generate import inference_functions, training_functions
from mcutrain.codegen.memory import plan_memory
from mcutrain.errors import ModelFileError
from mcutrain.model import DenseLayerSpec, check_against_data, load_model
from mcutrain.model.spatial import Conv2dLayerSpec, GlobalAvgPoolLayerSpec, MaxPoolLayerSpec
from mcutrain.results.multiplications import DEVICE, count_plan
from mcutrain.twin import TwinNetwork, make_twin
from mcutrain.twin.conv_float import GlobalAvgPoolFloat32Twin
from mcutrain.twin.pool import GlobalAvgPoolTwin

MODEL = """
[model]
name = "gap"
board = "{board}"
seed = 2

[data]
dataset = "mnist"
encoding = "bits"
pool = 2
train_samples = {train}
test_samples = {test}

[[layers]]
kind = "conv2d"
height = 14
width = 14
channels = 1
filters = 4
kernel = 3
padding = "valid"

[[layers]]
kind = "conv2d"
height = 12
width = 12
channels = 4
filters = 8
kernel = {k2}
padding = "valid"

[[layers]]
kind = "global_avg_pool"
height = {gh}
width = {gw}
channels = 8

[[layers]]
kind = "dense"
units = 10

[training]
weights = "{weights}"
qbp_exponent_range = [-4, 3]
learning_rate = -6

[arithmetic]
latent_bits = 8
"""


def _model(tmp_path: Path, *, board: str = "netduinoplus2", weights: str = "ternary", k2: int = 5,
           gh: int | None = None, gw: int | None = None, train: int = 200, test: int = 100) -> Path:
    """14x14 MNIST: conv 3x3 valid (-> 12x12x4), conv k2 x k2 valid (-> (13 - k2)^2 x 8), global_avg_pool, dense 10."""
    p = tmp_path / f"gap-{board}-{weights}-{k2}.toml"
    o = 13 - k2
    p.write_text(MODEL.format(board=board, weights=weights, k2=k2, gh=gh or o, gw=gw or o, train=train, test=test))
    return p


# ---- model file, plan, memory ------------------------------------------------------------------------------
def test_global_avg_pool_from_a_model_file_plan_functions_and_buffers(tmp_path: Path) -> None:
    plan = plan_from_spec(check_against_data(load_model(_model(tmp_path)), 196, 10))
    assert [(la.kind, la.n_in, la.n_out) for la in plan.layers] == [
        ("conv2d", 196, 576), ("conv2d", 576, 512), ("global_avg_pool", 512, 8), ("dense", 8, 10)]
    gap = plan.layers[2]
    assert (gap.positions, gap.pow2, gap.log_positions, gap.n_weights) == (64, True, 6, 0)
    assert gap.out_max(plan.act_max) == gap.in_max == plan.layers[1].out_max(plan.act_max)
    assert plan.layers[3].in_max == gap.in_max
    assert {"l2_forward_train", "l2_backward"} <= set(training_functions(plan))
    assert "l2_infer" in inference_functions(plan) and "l2_div" not in training_functions(plan)
    odd = plan_from_spec(check_against_data(load_model(_model(tmp_path, k2=3)), 196, 10))   # 10x10: 100 positions
    assert (odd.layers[2].positions, odd.layers[2].pow2, odd.layers[2].divisor) == (100, False, 200)
    assert {"l2_div", "l2_backward"} <= set(training_functions(odd)) and "l2_div" in inference_functions(odd)
    counts = count_plan(plan.layers, quantized_weights=True, qbp=True, batch_norm=False, conv=DEVICE)
    assert counts[2].total == 0
    mem = plan_memory(plan, get_board("netduinoplus2"))
    items = {i.name: (i.kind, i.bytes) for i in mem.items}
    # its output is the dense layer's input (kept); its input map and the errors live in the shared map buffers
    # (mcutrain/codegen/buffers.py); what its backward pass keeps of its input is the ReLU mask, 1 bit a value
    assert items["a3"] == ("activations", 4 * 8)
    assert "a2" not in items and "d3" not in items and "d2" not in items
    assert items["m2"] == ("masks", 512 // 8)
    assert min(items["mt_map0"][1], items["mt_map1"][1]) >= 4 * 512
    assert not any(i.name.startswith("l2_") for i in mem.items)   # no buffer of its own


def test_bad_global_avg_pool_models_are_refused_naming_the_layer(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"layers\[2\]: global_avg_pool input 8x4x8 = 256 values.*gives 512"):
        check_against_data(load_model(_model(tmp_path, gh=8, gw=4)), 196, 10)
    with pytest.raises(PlanError, match=r"layers\[0\]: global_avg_pool: the sum of 65536 inputs up to 16384 "
                                        r"\(doubled, for the rounding\) overflows int32"):
        make_plan(65536, [GlobalAvgPoolLayerSpec(256, 256, 1), DenseLayerSpec(10, "linear")], weights="sign",
                  input_max=16384)
    with pytest.raises(PlanError, match=r"layers\[0\]: global_avg_pool: the sum of 40000 inputs up to 32768"):
        make_plan(40000, [GlobalAvgPoolLayerSpec(200, 200, 1), DenseLayerSpec(10, "linear")], weights="sign",
                  input_max=32768)
    make_plan(40000, [GlobalAvgPoolLayerSpec(200, 200, 1), DenseLayerSpec(10, "linear")], weights="sign",
              input_max=16384)   # 40000 x 32769 < 2^31: planned
    p = tmp_path / "m.toml"
    p.write_text(_model(tmp_path).read_text().replace("height = 8\nwidth = 8\nchannels = 8",
                                                      "height = 8\nwidth = 8\nchannels = 8\nstride = 2"))
    with pytest.raises(ModelFileError, match=r"stride"):
        load_model(p)


# ---- the twin against a loop ---------------------------------------------------------------------------------
def _half_up(v: int, area: int) -> int:
    """v / area rounded half up, by exact rationals."""
    return math.floor(Fraction(v, area) + Fraction(1, 2))


@pytest.mark.parametrize("area", [1, 2, 12, 49, 64, 100, 1024])
def test_mean_round_is_half_up_at_the_ties(area: int) -> None:
    """Every v in a range around 0 holding ties (v / A = k + 1/2) of both signs, and the error range's ends."""
    from mcutrain.twin.pool import mean_round
    err = (1 << 20) - 1
    v = np.array([*range(-3 * area - 2, 3 * area + 3), -err, err, -err + 1, err - 1], np.int64)
    assert mean_round(v, area).tolist() == [_half_up(int(t), area) for t in v]


@pytest.mark.parametrize("h,w,c", [(4, 8, 3), (2, 2, 5), (1, 1, 7), (16, 1, 2), (3, 4, 2), (7, 7, 3), (5, 1, 4)])
def test_global_avg_pool_twin_against_a_loop(h: int, w: int, c: int) -> None:
    n = h * w * c
    plan = make_plan(784, [DenseLayerSpec(n, "relu"), GlobalAvgPoolLayerSpec(h, w, c), DenseLayerSpec(10, "linear")],
                     weights="sign")
    tw = GlobalAvgPoolTwin(plan, plan.layers[1])
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    x = rng.integers(0, 700, size=n) * (rng.random(n) < 0.7)   # ReLU outputs, many zeros
    d = rng.integers(-5000, 5000, size=c)
    y = tw.forward_train(x, None)  # type: ignore[arg-type]
    g = tw.backward(d)
    def half_up(v: int) -> int:   # v / A rounded half up, by exact rationals
        return _half_up(v, h * w)

    xs = x.reshape(h * w, c)
    want_y = [half_up(int(xs[:, ch].sum())) for ch in range(c)]
    want_g = [0 if x[i] == 0 else half_up(int(d[i % c])) for i in range(n)]
    assert y.tolist() == want_y and g.tolist() == want_g
    assert tw.infer(np.stack([x, x])).tolist() == [want_y, want_y]


# ---- generated C (host gcc) == twin -------------------------------------------------------------------------
def _conv_gap_net(hidden: bool) -> list:
    """28x28 MNIST: conv 3x3 stride 2 same (-> 14x14x4), conv 7x7 valid (-> 8x8x6), global_avg_pool (-> 6),
    [dense 16 relu], dense 10."""
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=2, padding="same"),
            Conv2dLayerSpec(14, 14, 4, 6, kernel=7, padding="valid"), GlobalAvgPoolLayerSpec(8, 8, 6),
            *([DenseLayerSpec(16, "relu")] if hidden else []), DenseLayerSpec(10, "linear")]


def _pool_conv_gap_net() -> list:
    """28x28: conv 5x5 valid (-> 24x24x4), maxpool (-> 12x12x4), conv 5x5 valid (-> 8x8x8), global_avg_pool 8x8."""
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=5), MaxPoolLayerSpec(24, 24, 4),
            Conv2dLayerSpec(12, 12, 4, 8, kernel=5), GlobalAvgPoolLayerSpec(8, 8, 8), DenseLayerSpec(10, "linear")]


def _dense_gap_net() -> list:
    """A rectangle: dense 32 relu as a 2x4x4 map, global_avg_pool (-> 4), dense 10 (no conv: any weight mode)."""
    return [DenseLayerSpec(32, "relu"), GlobalAvgPoolLayerSpec(2, 4, 4), DenseLayerSpec(10, "linear")]


def _conv7_gap_net() -> list:
    """Not a power of two: conv 3x3 stride 2 same twice (-> 7x7x8), global_avg_pool over 49 positions, dense 10."""
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=2, padding="same"),
            Conv2dLayerSpec(14, 14, 4, 8, kernel=3, stride=2, padding="same"), GlobalAvgPoolLayerSpec(7, 7, 8),
            DenseLayerSpec(10, "linear")]


def _dense_odd_gap_net() -> list:
    """Not a power of two, a rectangle: dense 36 relu as a 3x4x3 map, global_avg_pool over 12 positions."""
    return [DenseLayerSpec(36, "relu"), GlobalAvgPoolLayerSpec(3, 4, 3), DenseLayerSpec(10, "linear")]


NETS = {"conv": lambda: _conv_gap_net(False), "conv-hidden": lambda: _conv_gap_net(True),
        "pool-conv": _pool_conv_gap_net, "dense": _dense_gap_net, "conv7": _conv7_gap_net,
        "dense-odd": _dense_odd_gap_net}


@pytest.mark.parametrize("net,weights,lr,seed", [
    ("conv", "ternary", -6, 3), ("conv-hidden", "sign", -7, 4), ("pool-conv", "ternary_det", -6, 5),
    ("dense", "binary", -7, 6), ("conv7", "ternary", -6, 7), ("dense-odd", "sign", -7, 8),
])
def test_global_avg_pool_generated_c_matches_its_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      data_dir: Path, net: str, weights: str, lr: int,
                                                      seed: int) -> None:
    """conv -> (maxpool) -> conv -> global_avg_pool -> dense, and dense -> global_avg_pool -> dense: the generated C
    (host gcc, -Wall -Wextra -Werror) and the twin give every prediction, hinge, digest and test prediction equal."""
    n, n_eval, spe, every = 200, 60, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan(784, NETS[net](), weights=weights, qbp=True, qbp_range=(-4, 3), lr_start=lr, lr_min=lr - 2,
                     latent_bits=8)
    exe = compile_driver(plan, tmp_path)
    gap = next(la for la in plan.layers if la.kind == "global_avg_pool")
    src = (tmp_path / "mt_model.c").read_text()
    # the backward pass is in the step: its error from one shared map buffer into the other, the input's mask read
    call = re.search(rf"l{gap.index}_backward\((mt_map[01]), (mt_map[01])\);\s+/\* layer {gap.index}: "
                     rf"d{gap.index + 1} -> d{gap.index}", src)
    assert call is not None and call.group(1) != call.group(2)
    assert f"m{gap.index}[i >> 3]" in src
    twin = TwinNetwork(plan)
    _, train = run_and_compare(exe, twin, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert len({h for _, h in train}) > 20                      # the hinge of every step, compared above, varies
    assert twin.layers[gap.index - 1].W.any()                   # the layer below learned through the pool's error
    assert (f"l{gap.index}_div" in src) == (not gap.pow2)
    # the comparison can fail: a twin that truncates the spread error d / A toward zero disagrees with this C
    def truncated(self: GlobalAvgPoolTwin, d: np.ndarray) -> np.ndarray:
        dd = np.asarray(d, np.int64)
        e = np.sign(dd) * (np.abs(dd) // self.layer.positions)
        return np.where(self._x != 0, e[None, :], 0).reshape(-1)

    monkeypatch.setattr(GlobalAvgPoolTwin, "backward", truncated)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


@pytest.mark.parametrize("net,opt,seed,lr", [("conv-hidden", "-O2", 3, -5), ("pool-conv", "-O0", 4, -5),
                                             ("dense", "-O3", 5, -5), ("conv7", "-O2", 6, -7),
                                             ("dense-odd", "-O0", 7, -5)])
def test_float32_global_avg_pool_generated_c_matches_its_float_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                    data_dir: Path, net: str, opt: str,
                                                                    seed: int, lr: int) -> None:
    n, n_eval, spe, every = 150, 50, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan(784, NETS[net](), weights="float32", lr_start=lr, lr_min=lr - 2)
    flags = [f for f in CFLAGS if f != "-O2"] + [opt, "-ffp-contract=off"]
    exe = compile_driver(plan, tmp_path, "bits", enc.shape[1], flags)
    gi = next(la.index for la in plan.layers if la.kind == "global_avg_pool")
    src = (tmp_path / "mt_model.c").read_text()
    assert f"l{gi}_backward" in src and "int32_t *x" not in src
    twin = make_twin(plan)
    assert isinstance(twin.layers[gi], GlobalAvgPoolFloat32Twin)
    state, train = run_and_compare(exe, twin, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert np.isfinite(np.frombuffer(state, "<f4")).all() and len({h for _, h in train}) > 5
    fresh = make_twin(plan)
    fresh.start(seed, spe)
    below = twin.layers[gi - 1].W
    assert np.count_nonzero(below != fresh.layers[gi - 1].W) > below.size // 2   # learned through the pool's error
    # the comparison can fail: a float twin that sums the positions in reverse order disagrees with this C
    def reversed_pool(self: GlobalAvgPoolFloat32Twin, xb: np.ndarray) -> np.ndarray:
        lp = self.layer
        xs = np.asarray(xb, np.float32).reshape(len(xb), lp.positions, lp.channels)
        s = np.zeros((len(xb), lp.channels), np.float32)
        for p in reversed(range(lp.positions)):
            s = s + xs[:, p]
        return (s / self._area()).astype(np.float32)

    monkeypatch.setattr(GlobalAvgPoolFloat32Twin, "_pool", reversed_pool)
    with pytest.raises(AssertionError):
        run_and_compare(exe, make_twin(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


# ---- ARM builds: no multiply ----------------------------------------------------------------------------------
@pytest.mark.parametrize("board_name,weights,k2", [("microbit", "ternary", 5), ("microbit", "sign", 7),
                                                   ("netduinoplus2", "ternary_det", 5), ("netduinoplus2", "binary", 7)])
def test_global_avg_pool_firmware_has_no_multiply(tmp_path: Path, board_name: str, weights: str, k2: int) -> None:
    """8x8 (a shift) and 6x6 (36 positions: the long division) on the Cortex-M0 and M4F."""
    from mcutrain.build.mulcheck import check_elf
    from mcutrain.build.project import build, write_project
    from mcutrain.data import load_dataset

    spec = load_model(_model(tmp_path, board=board_name, weights=weights, k2=k2))
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    assert proj.generated.memory.fits()
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l2_forward_train", "l2_backward", "l2_infer", "l1_backward"} <= set(names)
    assert ("l2_div" in names) == (k2 == 7)
    reports = check_elf(str(build(proj)), names)
    assert all(r.instructions > 0 for r in reports)
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide on {board_name} ({get_board(board_name).core}), {weights}: {bad}"


# ---- the emulated board ---------------------------------------------------------------------------------------
@pytest.mark.qemu
@pytest.mark.parametrize("k2", [5, 7])
def test_conv_global_avg_pool_net_bit_exact_on_the_emulated_board(tmp_path: Path, k2: int) -> None:
    """conv -> conv -> global_avg_pool (8x8: a shift; 6x6: the long division) -> dense on 14x14 MNIST, 300 samples
    with `mcutrain train --verify` on the emulated Cortex-M4F: digests, test predictions and final state equal the
    twin's."""
    from helpers import qemu_processes, train_verified

    r = train_verified(_model(tmp_path, k2=k2, train=300, test=100), tmp_path, digest_every=100)
    assert r["bit_exact"] is True and r["digests_checked"] == 3 and r["samples_trained"] == 300
    assert r["test_accuracy"] == r["twin_test_accuracy"]
    assert qemu_processes(str(tmp_path)) == []
