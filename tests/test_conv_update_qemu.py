"""On the emulated board (QEMU, Cortex-M4F): the conv update variants (issue 12) trained by `mcutrain train
--verify`, examples/mnist_cnn.toml with quantized back-propagation off (x d as shifted errors), and with QBP and
stochastic update rounding: the device's digests, test predictions and final state equal the twin's."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import qemu_processes, train_verified

from mcutrain.results.modes_table import variant_toml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.toml"


@pytest.mark.qemu
@pytest.mark.parametrize("weights,qbp,rounding", [("ternary", False, "nearest"), ("binary", True, "stochastic")])
def test_conv_update_variants_bit_exact_on_the_emulated_board(tmp_path: Path, weights: str, qbp: bool,
                                                              rounding: str) -> None:
    text = EXAMPLE.read_text().replace("train_samples = 2000", "train_samples = 400").replace(
        "test_samples = 500", "test_samples = 100")
    model = tmp_path / "cnn.toml"
    model.write_text(variant_toml(text, weights, qbp, rounding))
    r = train_verified(model, tmp_path, digest_every=200)
    assert r["bit_exact"] is True and r["digests_checked"] == 2 and r["samples_trained"] == 400
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.1
    assert qemu_processes(str(tmp_path)) == []
    src = (tmp_path / "b").rglob("mt_model.c")
    c = next(src).read_text()
    # the firmware is the variant: no QBP codes without QBP, the stochastic rounding's draw in the conv update
    assert ("l0_codes" in c) == qbp and ("(int64_t)(h >> q)" in c) == (rounding == "stochastic")
