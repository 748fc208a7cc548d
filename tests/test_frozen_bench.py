"""The frozen-layers benchmark (mcutrain/bench/frozen.py): on the Cortex-M0 a training step of the network with
its hidden layer frozen (packed signs in flash) is bit-exact with the twin and costs at most 1/20 of the float32
baseline's instructions (issue 14's goal), counted in unicorn."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("unicorn")
pytest.importorskip("capstone")


def test_frozen_training_step_on_the_m0_is_a_twentieth_of_float32(tmp_path: Path) -> None:
    from mcutrain.bench.frozen import BEGIN, END, render, run_row, write_section
    from mcutrain.bench.matrix import mnist_8x8

    npz = mnist_8x8(tmp_path / "data" / "mnist_8x8.npz")
    log: list[str] = []
    rows = [run_row(tmp_path, npz, "microbit", w, f, [32], 4, 300, log.append)
            for w, f in (("float32", 0), ("sign", 1))]
    base, frozen = rows
    assert frozen.twin == "bit-exact" and base.twin == "-"
    assert sum(frozen.train) / sum(base.train) <= 1 / 20
    fns = dict(frozen.by_function)
    assert fns["l0_forward_frozen"] > 0 and "l0_update" not in fns and "l1_backward" not in fns
    assert frozen.ram_planned < base.ram_planned
    out = tmp_path / "BENCH.md"
    out.write_text("# Benchmarks\n\nother rows\n")
    body = render(rows, "microbit", "cortex-m0", [32], 4, 1.0, "python bench/frozen.py")
    write_section(out, body)
    write_section(out, body)  # replaces its own section only
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nother rows\n") and text.count(BEGIN) == 1 and text.count(END) == 1
    assert "**PASS**" in text
