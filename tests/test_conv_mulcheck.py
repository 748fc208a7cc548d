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

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_cnn.toml"


def conv_model(weights: str) -> str:
    """examples/mnist_cnn.toml in another weight mode, with fewer samples (the build needs only the data's shape)."""
    text = EXAMPLE.read_text()
    for old, new in (('weights = "ternary"', f'weights = "{weights}"'), ("train_samples = 2000", "train_samples = 200"),
                     ("test_samples = 500", "test_samples = 100")):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize("weights", ["binary", "sign", "ternary", "ternary_det"])
def test_conv_firmware_has_no_multiply(tmp_path: Path, weights: str) -> None:
    p = tmp_path / "conv.toml"
    p.write_text(conv_model(weights))
    spec = load_model(p)
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert {"l0_conv", "l0_update", "l1_backward", "l2_backward", "l3_backward"} <= set(names)
    reports = check_elf(str(build(proj)), names)
    assert all(r.instructions > 0 for r in reports)
    assert [f.text for r in reports for f in r.findings] == [], "multiply/divide found in a conv model"
