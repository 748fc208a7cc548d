"""Multiplications per training sample by formula, on a net small enough to count by hand."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mcutrain.bench.matrix import mults_formula
from mcutrain.results.multiplications import DEVICE, PAPER, count_layers, inference_total, training_total


def test_tiny_net_by_hand() -> None:
    # 2-3-2. Paper: layer 1 (2x3) forward 6, backward 6, update 6, batch norm 3 x 3 = 9 -> 27;
    # layer 2 (3x2) 6 + 6 + 6 + 3 x 2 = 24 -> 51.
    c = count_layers([2, 3, 2], quantized_weights=False, qbp=False, batch_norm=True, conv=PAPER)
    assert [(x.forward, x.backward, x.update, x.batch_norm) for x in c] == [(6, 6, 6, 9), (6, 6, 6, 6)]
    assert training_total([2, 3, 2], quantized_weights=False, qbp=False, batch_norm=True) == 51
    # binary/ternary without QBP: only the update (6 + 6) and batch norm (9 + 6) remain
    assert training_total([2, 3, 2], quantized_weights=True, qbp=False, batch_norm=True) == 27
    # + QBP: batch norm only; without batch norm nothing
    assert training_total([2, 3, 2], quantized_weights=True, qbp=True, batch_norm=True) == 15
    assert training_total([2, 3, 2], quantized_weights=True, qbp=True, batch_norm=False) == 0
    # Device (batch 1, no batch norm): no backward for layer 1, update + n_in for lr x_i:
    # 6 + 0 + (6 + 2) + 6 + 6 + (6 + 3) = 35 a training sample, 12 an inference
    assert training_total([2, 3, 2], quantized_weights=False, qbp=False, batch_norm=False, conv=DEVICE) == 35
    assert inference_total([2, 3, 2], quantized_weights=False) == 12
    assert mults_formula([2, 3, 2], "float32")[:2] == (35, 12)
    assert mults_formula([2, 3, 2], "sign")[:2] == (0, 0)


def test_paper_mnist_figures() -> None:
    """The paper's MNIST net: 3 per weight and 3 per unit a sample (1.748e9 and 1.85e6 a batch of 200)."""
    sizes = [784, 1024, 1024, 1024, 10]
    weights = 784 * 1024 + 2 * 1024 * 1024 + 1024 * 10
    units = 3 * 1024 + 10
    assert training_total(sizes, quantized_weights=False, qbp=False, batch_norm=True) == 3 * weights + 3 * units
    assert training_total(sizes, quantized_weights=True, qbp=True, batch_norm=True) == 3 * units
    assert round(200 * (3 * weights + 3 * units) / 1e6) == 1748
    assert round(200 * 3 * units / 1e4) == 185


def test_on_chip_conventions_agree() -> None:
    """The device count = the paper's minus the input layer's backward pass plus lr x_i (n_in a layer)."""
    s = [196, 512, 10]
    paper = training_total(s, quantized_weights=False, qbp=False, batch_norm=False, conv=PAPER)
    assert mults_formula(s, "float32")[0] == paper - s[0] * s[1] + s[0] + s[1]


def test_mults_table_command(tmp_path: Path) -> None:
    from mcutrain.cli import main

    md = tmp_path / "results.md"
    md.write_text("# Results\n\nmine\n")
    res = CliRunner().invoke(main, ["mults-table", "--results", str(md)])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert text.startswith("# Results\n\nmine\n")
    assert "| **float32** | **all** | 2,910,208 | 2,910,208 | 2,910,208 | 9,246 | **8,739,870** a sample" in text
    assert "196-512-10" in text and "float32 216,772 a training sample" in text
