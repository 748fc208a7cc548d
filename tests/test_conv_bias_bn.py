"""conv2d biases per output channel and batch norm per channel, with a learned power-of-two gamma or gamma = 1
(issue 12; docs/arithmetic.md, section 11): model file, plan and its refusals, twin, and the generated C
compiled by the host's gcc, bit-exact with the twin in every integer weight mode with QBP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_generated_c_host import compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PlanError
from mcutrain.arith.plan import make_plan, plan_from_spec
from mcutrain.build.boards import get_board
from mcutrain.codegen.memory import plan_memory
from mcutrain.errors import ModelFileError
from mcutrain.model import DenseLayerSpec, check_against_data, load_model
from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.twin import TwinNetwork
from mcutrain.twin.conv_bn import ConvBatchNormTwin

KW = dict(qbp=True, qbp_range=(-4, 3), lr_start=-7, lr_min=-9)


def _net(bias: tuple[bool, bool], bn: tuple[bool, bool], gamma: str = "pow2", stride: int = 2) -> list:
    o = (28 - 3) // stride + 1
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=stride, bias=bias[0], batch_norm=bn[0], bn_gamma=gamma),
            Conv2dLayerSpec(o, o, 4, 6, kernel=3, padding="same", bias=bias[1], batch_norm=bn[1], bn_gamma=gamma),
            MaxPoolLayerSpec(o, o, 6), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]


@pytest.mark.parametrize("weights,bias,bn,gamma,seed", [
    ("ternary", (True, True), (False, False), "pow2", 3),
    ("sign", (True, False), (False, True), "pow2", 4),
    ("binary", (False, False), (True, True), "pow2", 5),
    ("ternary_det", (True, False), (False, True), "pow2", 6),
    ("ternary", (False, False), (True, True), "one", 7),
    ("sign", (False, False), (True, True), "pow2", 8),
])
def test_conv_bias_and_batch_norm_generated_c_matches_its_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              data_dir: Path, weights: str, bias: tuple[bool, bool],
                                                              bn: tuple[bool, bool], gamma: str, seed: int) -> None:
    """conv2d -> conv2d (with a backward pass) -> maxpool -> flatten -> dense on MNIST: every prediction, hinge,
    digest (the biases and the batch-norm words are in the state) and the final state equal; the biases, betas
    and (learned) gammas have moved; and a twin whose gamma update is one bit coarser disagrees."""
    n, n_eval, spe, every = 200, 50, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan(784, _net(bias, bn, gamma), weights=weights, **KW)
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    run_and_compare(exe, net, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    for k in (0, 1):
        layer = net.layers[k]
        if bias[k]:
            assert layer.b.any()
        if bn[k]:
            assert layer.bn.beta.any() and (layer.bn.dev != plan.bn_dev_init).all() and layer.bn.mu.any()
            lp = plan.layers[k]
            moved = (layer.bn.lg != lp.gamma_init << lp.gamma_frac).any()   # learned: away from its start
            assert moved if gamma == "pow2" else not layer.bn.lg.any()
    if not any(bn) or gamma != "pow2":
        return
    real = ConvBatchNormTwin.bn_backward

    def coarser(self: ConvBatchNormTwin, d: np.ndarray, lr_exp: int) -> np.ndarray:
        lg = self.lg.copy()
        out = real(self, d, lr_exp)
        self.lg = lg + ((self.lg - lg) >> 1)   # half the gamma step
        return out

    monkeypatch.setattr(ConvBatchNormTwin, "bn_backward", coarser)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


MODEL = """
[model]
name = "cnn-bn"
board = "netduinoplus2"
seed = 1

[data]
dataset = "mnist"
encoding = "bits"

[[layers]]
kind = "conv2d"
height = 28
width = 28
filters = 4
stride = 2
{extra}

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 10

[training]
weights = "ternary"
qbp_exponent_range = [-4, 3]
{training}
"""


def _spec(tmp_path: Path, extra: str, training: str = ""):  # noqa: ANN202
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(extra=extra, training=training))
    return check_against_data(load_model(p), 784, 10)


def test_conv_bias_and_batch_norm_from_the_model_file(tmp_path: Path) -> None:
    plain = _spec(tmp_path, "")
    assert set(plain.layers[0].to_dict()) == {"kind", "height", "width", "channels", "filters", "kernel", "stride",
                                              "padding"}  # files without the new keys hash as before
    spec = _spec(tmp_path, "batch_norm = true")
    assert spec.layers[0].to_dict()["bn_gamma"] == "pow2" and spec.model_hash() != plain.model_hash()
    plan = plan_from_spec(spec)
    lp = plan.layers[0]
    assert (lp.bn, lp.bn_gamma, lp.n_bn_words, lp.bn_units, lp.n_biases) == (True, True, 16, 4, 0)
    assert plan.state_bytes == plan.latent_bytes * plan.n_weights + plan.state_pad + 4 * 16
    items = {i.name: i.bytes for i in plan_memory(plan, get_board("netduinoplus2")).items}
    assert items["l0_bn_code"] == 676 and items["L0_MU/DEV/BETA/LG, l0_bn_t, l0_bn_s"] == 4 * 16 + 16 + 64
    one = plan_from_spec(_spec(tmp_path, 'batch_norm = true\nbn_gamma = "one"'))
    assert (one.layers[0].n_bn_words, one.layers[0].bn_gamma) == (12, False)
    biased = plan_from_spec(_spec(tmp_path, "bias = true"))
    assert (biased.layers[0].n_biases, biased.layers[0].bias_max) == (4, plan.act_max << biased.layers[0].weight_shift)


@pytest.mark.parametrize("extra,training,match", [
    ('batch_norm = true\nbn_gamma = "two"', "", r"layers\[0\]\.bn_gamma"),
    ("bias = true\nbatch_norm = true", "", r"layers\[0\].*batch_norm has its own learned shift"),
    ("batch_norm = true", "batch_size = 2", r"batch normalization with mini-batches is not implemented"),
    ("bias = 1", "", r"layers\[0\]\.bias"),
])
def test_bad_conv_bias_and_batch_norm_are_refused(tmp_path: Path, extra: str, training: str, match: str) -> None:
    with pytest.raises((ModelFileError, PlanError), match=match):
        plan_from_spec(_spec(tmp_path, extra, training))


def test_a_conv_batch_norm_whose_backward_shift_overflows_is_refused_naming_the_layer() -> None:
    """With a learned gamma up to 2^2 the backward pass shifts the error left by up to A + 2 bits: with A = 10,
    20-bit errors shifted by 12 bits overflow int32; with gamma = 1 (10 bits) they do not."""
    net = _net((False, False), (False, True))
    with pytest.raises(PlanError, match=r"layers\[1\]: the batch-norm backward shift \(up to 12 bits\) overflows"):
        make_plan(784, net, weights="sign", act_frac=10, **KW)
    make_plan(784, _net((False, False), (False, True), gamma="one"), weights="sign", act_frac=10, **KW)


def test_conv_bias_and_batch_norm_firmware_has_no_multiply(tmp_path: Path) -> None:
    """The ARM build of a CNN with a conv bias and a conv batch norm with a learned gamma: no multiply or divide
    instruction and no helper call in any training or inference function (mcutrain.build.mulcheck)."""
    from test_conv_mulcheck import conv_model

    from mcutrain.build.mulcheck import check_elf
    from mcutrain.build.project import build, write_project
    from mcutrain.data import load_dataset

    text = conv_model("ternary").replace('padding = "valid"\n', 'padding = "valid"\nbias = true\n', 1)
    text = text.replace('padding = "same"\n', 'padding = "same"\nbatch_norm = true\n', 1)
    p = tmp_path / "conv.toml"
    p.write_text(text)
    spec = load_model(p)
    assert spec.layers[0].bias and spec.layers[1].batch_norm
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l0_update", "l1_bn_train", "l1_bn_backward", "l1_bn_infer"} <= set(names)
    reports = check_elf(str(build(proj)), names)
    assert all(r.instructions > 0 for r in reports)
    assert [f.text for r in reports for f in r.findings] == []


def test_the_batch_norm_cnn_example_plans() -> None:
    """examples/mnist_cnn_bn.toml: both conv layers with a batch norm and a learned gamma, within the board's RAM."""
    example = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn_bn.toml"
    spec = check_against_data(load_model(example), 784, 10)
    plan = plan_from_spec(spec)
    assert [(la.kind, la.bn, getattr(la, "bn_gamma", False)) for la in plan.layers[:2]] == [
        ("conv2d", True, True), ("conv2d", True, True)]
    mem = plan_memory(plan, get_board(spec.board))
    assert mem.fits() and 0 < mem.total() < mem.ram_bytes


@pytest.mark.parametrize("weights,seed", [("ternary", 11), ("binary", 12)])
def test_byte_input_conv_generated_c_matches_its_twin(tmp_path: Path, data_dir: Path, weights: str, seed: int) -> None:
    """A first conv layer whose inputs fit a byte (14x14 pooled u4 MNIST) is generated with the Cortex-M4 SIMD
    forward pass (tests/test_conv_bn_qemu.py runs it) beside the portable one, which the host compiles and which is
    bit-exact with the twin."""
    from mcutrain.data import decode, encode
    from mcutrain.data.pooling import pool_images

    n, n_eval, spe, every = 200, 50, 100, 50
    d = np.load(data_dir / "mnist.npz")
    pixels = pool_images(d["x_train"].reshape(-1, 784)[:n], 2)
    enc = encode(pixels, "u4", 128)
    x, y = decode(enc, "u4", 196, 8), d["y_train"][:n]
    net_specs = [Conv2dLayerSpec(14, 14, 1, 8, kernel=3), Conv2dLayerSpec(12, 12, 8, 4, kernel=3, padding="same"),
                 MaxPoolLayerSpec(12, 12, 4), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]
    plan = make_plan(196, net_specs, weights=weights, input_max=240, **KW)
    exe = compile_driver(plan, tmp_path, "u4", enc.shape[1])
    assert (tmp_path / "mt_model.c").read_text().count("__uxtab16") == 4
    run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
