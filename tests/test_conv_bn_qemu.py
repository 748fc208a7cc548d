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
