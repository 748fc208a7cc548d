"""Conv models on every core (issue 12): the multiply check of the conv kinds on the Cortex-M0 (microbit), the
Cortex-M0+ (nucleo_l053r8), the Cortex-M4F (netduinoplus2) and the Cortex-M33 (mps2-an505) builds, in every integer
weight mode; and bad conv models (fixed-point overflow, no quantized back-propagation) refused by `mcutrain
generate` naming the file, the layer and the fix.

Quantized back-propagation is on in the first test; the update variants (QBP off: x d as shifted errors; stochastic
update rounding) are checked on the Cortex-M0 and the Cortex-M4F builds in every integer mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mcutrain.arith.modes import WEIGHT_MODES
from mcutrain.bench.conv import SMALL_CNN_TEMPLATE
from mcutrain.build.boards import get_board
from mcutrain.build.mulcheck import check_elf
from mcutrain.build.project import build, write_project
from mcutrain.cli import main as cli
from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model

# 14x14 MNIST (pool = 2): conv 3x3 stride 2 (-> 6x6x4), conv 3x3 same (-> 6x6x4, with a backward pass), 2x2
# max-pool (-> 3x3x4), flatten, dense 10; 8-bit latent weights: small enough for the 16 KB micro:bit and the
# 8 KB Nucleo-L053R8 (mcutrain/bench/conv.py's template, which the benchmark's cnn-14x14 rows use too).

INTEGER_MODES = [w for w in WEIGHT_MODES if w != "float32"]
BOARDS = ["microbit", "nucleo_l053r8", "netduinoplus2", "mps2-an505"]


def _model(tmp_path: Path, board: str, weights: str, *, filters: int = 4, qbp: bool = True) -> Path:
    p = tmp_path / f"conv-{board}-{weights}.toml"
    p.write_text(SMALL_CNN_TEMPLATE.format(name=f"conv-{board}", board=board, weights=weights, filters=filters,
                                          qbp="true" if qbp else "false"))
    return p


def test_every_integer_mode_is_checked() -> None:
    assert set(INTEGER_MODES) == {"binary", "sign", "ternary", "ternary_det"}
    assert {get_board(b).core for b in BOARDS} == {"cortex-m0", "cortex-m0plus", "cortex-m4f", "cortex-m33"}


@pytest.mark.parametrize("weights", INTEGER_MODES)
@pytest.mark.parametrize("board_name", BOARDS)
def test_conv_training_path_has_no_multiply_on_every_core(tmp_path: Path, board_name: str, weights: str) -> None:
    spec = load_model(_model(tmp_path, board_name, weights))
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    assert proj.generated.memory.fits() and proj.generated.memory.total() <= proj.board.ram_bytes
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l0_conv", "l0_update", "l1_backward", "l1_update", "l2_backward", "l3_backward"} <= set(names)
    reports = check_elf(str(build(proj)), names)
    assert sum(r.instructions for r in reports) > 500
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide on {board_name} ({get_board(board_name).core}), {weights}: {bad}"


def test_the_check_sees_a_multiply_in_a_conv_build(tmp_path: Path) -> None:
    """The float32 dense baseline multiplies on the M0 (a libgcc call): the check finds it, so a pass above
    is not a blind spot of the M0 disassembly."""
    from helpers import small_model

    spec = load_model(small_model(tmp_path, weights="float32", qbp=False, board="microbit", pool=4, units=16))
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    fns = proj.generated.manifest["functions"]["training"]
    reports = check_elf(str(build(proj)), fns)
    assert any("__aeabi_fmul" in f.text for r in reports for f in r.findings)


# ------------------------------------------------------------------------------------------ bad conv models


def _generate(tmp_path: Path, model: Path):
    return CliRunner().invoke(cli, ["generate", str(model), "-o", str(tmp_path / "out")])


def test_too_many_filters_for_the_backward_accumulator_is_refused_naming_the_layer(tmp_path: Path) -> None:
    """The second conv's input error sums ceil(k/S)^2 x filters errors of up to ERR_MAX: 228 filters overflow
    int32 (227 fit; the first layer has no input error, so its filters are not bounded by it)."""
    ok = _generate(tmp_path, _model(tmp_path, "mps2-an505", "sign", filters=227))
    assert ok.exit_code == 0, ok.output
    res = _generate(tmp_path, _model(tmp_path, "mps2-an505", "sign", filters=228))
    assert res.exit_code == 2, res.output
    assert "conv-mps2-an505-sign.toml" in res.output
    assert ("layers[1]: 228 channels x 9 covering windows x 1048575 (max error) overflow the int32 backward "
            "accumulator; use at most 227 filters") in res.output


def test_too_wide_a_window_for_the_forward_accumulator_is_refused_naming_the_layer(tmp_path: Path) -> None:
    """A 15x15 window over 292 channels of hidden activations (up to 32767) overflows the int32 forward sum."""
    from mcutrain.arith.layers import PlanError
    from mcutrain.arith.plan import make_plan
    from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec
    from mcutrain.model.spec import DenseLayerSpec

    def net(channels: int):
        return [Conv2dLayerSpec(28, 28, 1, channels, kernel=3, padding="same"),
                Conv2dLayerSpec(28, 28, channels, 4, kernel=15, padding="same"), FlattenLayerSpec(),
                DenseLayerSpec(10, "linear")]

    plan = make_plan(784, net(291), weights="sign", qbp_range=(-4, 3))
    assert plan.layers[1].fan_in * plan.layers[1].in_max <= (1 << 31) - 1
    with pytest.raises(PlanError, match=r"^layers\[1\]: a 15x15x292 window x 32767 \(max input\) overflows the int32 "
                                        r"forward accumulator; use at most 291 input channels"):
        make_plan(784, net(292), weights="sign", qbp_range=(-4, 3))


@pytest.mark.parametrize("variant", ["no-qbp", "stochastic"])
@pytest.mark.parametrize("weights", INTEGER_MODES)
@pytest.mark.parametrize("board_name", ["microbit", "netduinoplus2"])
def test_conv_update_variants_have_no_multiply(tmp_path: Path, board_name: str, weights: str, variant: str) -> None:
    """QBP off (the update forms x d as shifted errors, one per set bit of x) and stochastic update rounding: no
    multiply or divide instruction and no helper call in the training and inference functions, M0 and M4F."""
    p = _model(tmp_path, board_name, weights, qbp=variant != "no-qbp")
    if variant == "stochastic":
        p.write_text(p.read_text().replace("latent_bits = 8", 'latent_bits = 8\nupdate_rounding = "stochastic"'))
    spec = load_model(p)
    assert spec.training.quantized_backprop == (variant != "no-qbp")
    assert spec.arithmetic.update_rounding == ("stochastic" if variant == "stochastic" else "nearest")
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    src = (proj.generated.out_dir / "mt_model.c").read_text()
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l0_update", "l1_update", "l1_backward"} <= set(names)
    reports = check_elf(str(build(proj)), names)
    assert sum(r.instructions for r in reports) > 500
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide on {board_name}, {weights}, {variant}: {bad}"
    assert ("l1_codes" in src) == (variant != "no-qbp")


def test_a_conv_model_over_the_board_is_refused_naming_the_largest_buffers(tmp_path: Path) -> None:
    """The wide MNIST CNN (124 KB) on the 16 KB micro:bit."""
    src = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn_wide.toml"
    p = tmp_path / "wide.toml"
    p.write_text(src.read_text().replace('board = "netduinoplus2"', 'board = "microbit"'))
    res = _generate(tmp_path, p)
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "but board microbit's 16384 bytes are available" in out
    maps = 26 * 26 * 8 * 4                          # layer 0's 26x26x8 int32 outputs (and as many errors)
    # the largest map (layer 0's output; then its error) is one of the two shared map buffers (codegen/buffers.py)
    assert f"Largest buffers: mt_map1 {maps} (shared by the layers, feature_maps), L5_W 11520 (layers[5] dense" in out
    assert "the layer holding the most is layers[5] (dense, " in out
    assert f"fewer filters (layers[0] conv2d has 8; its output map takes {maps} bytes, and its error as much)" in out
    assert "or a board with more RAM" in out


def test_a_float32_conv_model_generates_its_float32_baseline(tmp_path: Path) -> None:
    """conv2d, maxpool and flatten have a float32 baseline (mt_model_float.c.j2): the generator builds it (the
    refusal of a kind without one is tested with the test-only kind, tests/test_layer_kinds.py)."""
    p = _model(tmp_path, "netduinoplus2", "float32", qbp=False)
    res = _generate(tmp_path, p)
    assert res.exit_code == 0, res.output


# ------------------------------------------------------------------------------------------ the examples themselves

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CNN_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.toml")
                      if 'kind = "conv2d"' in p.read_text() and 'weights = "float32"' not in p.read_text())


def test_the_cnn_examples_are_found() -> None:
    assert {"cifar10_cnn.toml", "cifar10_cnn_256k_l16_w23.toml", "mnist_cnn_l16_w18.toml"} <= set(CNN_EXAMPLES)


@pytest.mark.parametrize("name", CNN_EXAMPLES)
def test_every_cnn_example_builds_without_a_multiply(tmp_path: Path, name: str) -> None:
    """Each CNN example file on its own board (and ram_budget), built as the product builds it: no multiply or
    divide instruction in any training or inference function. GCC once re-derived a conv loop's row offset from its
    row index by a multiplication for 23 input channels on the Cortex-M33 (cifar10_cnn_256k_l16_w23.toml); the conv
    kernels now mark their running offsets opaque (MT_OPAQUE, firmware/core/mt_runtime.h)."""
    text = (EXAMPLES / name).read_text()
    if "_256k" in name and "ram_budget" not in text:
        # the 256 KB files trained on the twin with --ram-budget 262144: built where that budget is linked
        text = text.replace('board = "netduinoplus2"', 'board = "mps2-an505"\nram_budget = 262144', 1)
    (tmp_path / name).write_text(text)
    spec = load_model(tmp_path / name)
    first = spec.layers[0]
    n_in = first.height * first.width * first.channels
    proj = write_project(check_against_data(spec, n_in, 10), tmp_path / "proj")
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    reports = check_elf(str(build(proj)), names)
    assert sum(r.instructions for r in reports) > 500
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"{name} on {spec.board}: {bad}"
