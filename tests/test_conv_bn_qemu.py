"""On the emulated board (QEMU, Cortex-M4F): a CNN with a conv bias and a conv batch norm with a learned
power-of-two gamma, and the float32 baseline of the same CNN, each trained by `mcutrain train --verify`: the
device's digests, test predictions and final state equal the twin's (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import qemu_processes, train_verified

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.toml"


def _model(tmp_path: Path, weights: str, conv0: str = "", conv1: str = "") -> Path:
    text = EXAMPLE.read_text().replace("train_samples = 2000", "train_samples = 400").replace(
        "test_samples = 500", "test_samples = 100")
    text = text.replace('padding = "valid"\n', f'padding = "valid"\n{conv0}\n', 1)
    text = text.replace('padding = "same"\n', f'padding = "same"\n{conv1}\n', 1)
    text = text.replace('weights = "ternary"', f'weights = "{weights}"')
    if weights == "float32":
        text = text.replace("quantized_backprop = true", "quantized_backprop = false")
    p = tmp_path / "cnn.toml"
    p.write_text(text)
    return p


@pytest.mark.qemu
@pytest.mark.parametrize("weights,conv0,conv1", [
    ("ternary", "bias = true", "batch_norm = true"),
    ("float32", "", ""),
])
def test_conv_bias_batch_norm_and_float32_cnn_bit_exact_on_the_emulated_board(tmp_path: Path, weights: str,
                                                                             conv0: str, conv1: str) -> None:
    model = _model(tmp_path, weights, conv0, conv1)
    r = train_verified(model, tmp_path, digest_every=200)
    assert r["bit_exact"] is True and r["digests_checked"] == 2 and r["samples_trained"] == 400
    assert r["test_accuracy"] == r["twin_test_accuracy"]
    assert qemu_processes(str(tmp_path)) == []


SIMD_MODEL = """
[model]
name = "cnn-simd"
board = "netduinoplus2"
seed = 5

[data]
dataset = "mnist"
encoding = "u4"              # 14x14 pooled 4-bit pixels: the first conv's inputs fit a byte
pool = 2
train_samples = 400
test_samples = 100

[[layers]]
kind = "conv2d"
height = 14
width = 14
filters = 8
kernel = 3

[[layers]]
kind = "conv2d"
height = 12
width = 12
channels = 8
filters = 4
padding = "same"
batch_norm = true

[[layers]]
kind = "maxpool"
height = 12
width = 12
channels = 4

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 10

[training]
weights = "{weights}"
qbp_exponent_range = [-4, 3]
learning_rate = -7
"""


@pytest.mark.qemu
@pytest.mark.parametrize("weights", ["ternary", "sign"])
def test_conv_simd_forward_bit_exact_on_the_emulated_board(tmp_path: Path, weights: str) -> None:
    """The first conv layer's 4-bit inputs fit a byte: on the Cortex-M4 its forward pass sums four sampled weights a
    word (SSUB8/SADD8, SEL, UXTAB16; templates/layers/conv2d.c.j2); the session is bit-exact with the twin, the
    function holds those instructions, and no training or inference function multiplies."""
    from mcutrain.build.mulcheck import check_elf, disassemble

    model = tmp_path / "cnn.toml"
    model.write_text(SIMD_MODEL.format(weights=weights))
    r = train_verified(model, tmp_path, digest_every=200)
    assert r["bit_exact"] is True and r["digests_checked"] == 2 and r["test_accuracy"] == r["twin_test_accuracy"]
    src = next((tmp_path / "b").rglob("mt_model.c")).read_text()
    assert src.count("__uxtab16") == 4   # the first layer only (the second's inputs do not fit a byte)
    elf = str(next((tmp_path / "b").rglob("firmware.elf")))
    mnemonics = {m for _, m, _ in disassemble(elf, "l0_conv")}
    assert {"uxtab16", "sel"} <= mnemonics and "uxtab16" not in {m for _, m, _ in disassemble(elf, "l1_conv")}
    import json
    fns = json.loads(next((tmp_path / "b").rglob("manifest.json")).read_text())["functions"]
    reports = check_elf(elf, sorted(set(fns["training"]) | set(fns["inference"])))
    assert [f.text for rep in reports for f in rep.findings] == []
    assert qemu_processes(str(tmp_path)) == []
