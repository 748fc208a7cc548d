"""The conv rows of the benchmark (mcutrain/bench/conv.py, bench/conv_rows.py): a counted conv case on the
Cortex-M0, its weight-uses, the section written into BENCHMARKS.md and kept by the dense benchmark's rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("unicorn")
pytest.importorskip("capstone")

from mcutrain.bench.conv import (  # noqa: E402
    BEGIN,
    END,
    ConvCase,
    ConvResult,
    ConvSkip,
    kept_sections,
    render_conv,
    run_conv_case,
    write_section,
)


def test_a_conv_case_on_the_m0_is_counted_bit_exact_and_multiply_free(tmp_path: Path) -> None:
    res = run_conv_case(ConvCase("cnn-14x14", "sign", "microbit"), tmp_path, samples=2, log=lambda _s: None)
    assert isinstance(res, ConvResult), res
    assert res.twin_check == "bit-exact"
    assert res.muldiv_executed == 0 and res.static_findings == [] and res.static_functions > 10
    # 14x14 -> 3x3/2 valid conv of 4 filters: 6x6 positions of 3x3x1x4; 3x3x4x4 "same" on 6x6; dense 36 -> 10
    assert res.n_weights == 9 * 4 + 9 * 16 + 36 * 10
    assert res.weight_uses == 36 * 9 * 4 + 36 * 9 * 16 + 36 * 10
    assert res.train.min > res.weight_uses and res.per_weight_use == res.train.mean / res.weight_uses
    assert res.ms_at_216 == pytest.approx(1000 * res.train_cycles.mean / 216e6)
    assert res.ram_use is not None and res.ram_use < res.ram_planned <= res.board.ram_bytes


def test_the_section_is_written_replaced_and_kept(tmp_path: Path) -> None:
    bench = tmp_path / "BENCHMARKS.md"
    bench.write_text("# Benchmarks\n\ndense rows\n")
    skip = ConvSkip(ConvCase("mnist-cnn", "float32", "netduinoplus2"), "no float32 conv kind here")
    one = render_conv([], [skip], 1.0, 5, "python bench/conv_rows.py")
    assert one.startswith(BEGIN) and one.rstrip().endswith(END)
    assert "No float32 conv build exists in this generator" in one and "no float32 conv kind here" in one
    write_section(bench, one)
    assert bench.read_text().startswith("# Benchmarks\n\ndense rows\n") and one in bench.read_text()
    two = one.replace("no float32 conv kind here", "something else")
    write_section(bench, two)
    text = bench.read_text()
    assert text.count(BEGIN) == 1 and "something else" in text and "no float32 conv kind here" not in text
    assert kept_sections(text) == two   # what python bench/run.py carries over when it rewrites the rest
    assert kept_sections("# Benchmarks\nno sections\n") == ""


def test_the_dense_benchmark_rewrite_keeps_the_conv_section(tmp_path: Path) -> None:
    """`python bench/run.py` rewrites BENCHMARKS.md from its own run: the conv section stays, after it."""
    from mcutrain.bench.run import run_bench

    bench = tmp_path / "BENCHMARKS.md"
    section = render_conv([], [], 1.0, 5, "python bench/conv_rows.py")
    bench.write_text("# Benchmarks\n\nold dense rows\n\n" + section)
    results, _ = run_bench(bench, tmp_path / "work", samples=1, boards=["microbit"], modes=["sign"],
                           models=["mlp-64-32-10"], session=False, ablations=False, log=lambda _s: None)
    assert len(results) == 1
    text = bench.read_text()
    assert "old dense rows" not in text and "| mlp-64-32-10 | microbit" in text
    assert text.endswith(section) and text.count(BEGIN) == 1
