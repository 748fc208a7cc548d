"""No multiplications in the conv kinds, shown on the ARM build (the tests/test_mulcheck.py pattern): a
conv2d -> conv2d -> maxpool -> flatten -> dense model, generated and built for the default board, holds no
multiply or divide instruction and calls no helper in its training and inference functions, every integer
weight mode (quantized back-propagation is on: conv2d requires it in this version)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcutrain.build.mulcheck import check_elf
from mcutrain.build.project import build, write_project
from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model

CONV_MODEL = """
[model]
name = "conv"
board = "netduinoplus2"
seed = 3

[data]
dataset = "mnist"
encoding = "bits"
train_samples = 200
test_samples = 100

[[layers]]
kind = "conv2d"
height = 28
width = 28
channels = 1
filters = 4
kernel = 3
stride = 2
padding = "valid"

[[layers]]
kind = "conv2d"
height = 13
width = 13
channels = 4
filters = 4
kernel = 3
padding = "same"

[[layers]]
kind = "maxpool"
height = 13
width = 13
channels = 4

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 10

[training]
weights = "{weights}"
quantized_backprop = true
qbp_exponent_range = [-4, 3]
learning_rate = -7
"""


@pytest.mark.parametrize("weights", ["binary", "sign", "ternary", "ternary_det"])
def test_conv_firmware_has_no_multiply(tmp_path: Path, weights: str) -> None:
    p = tmp_path / "conv.toml"
    p.write_text(CONV_MODEL.format(weights=weights))
    spec = load_model(p)
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l0_conv", "l0_update", "l1_backward", "l2_backward", "l3_backward"} <= set(names)
    reports = check_elf(str(build(proj)), names)
    assert all(r.instructions > 0 for r in reports)
    assert [f.text for r in reports for f in r.findings] == [], "multiply/divide found in a conv model"
