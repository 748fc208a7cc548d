"""bench/cnn_time.py's section (mcutrain/bench/cnn_time.py): the documented runs' sample sizes, the time arithmetic
(estimated cycles / clock, a run = trained x training image + tested x inference), and the section written between
its own markers with every other section of BENCHMARKS.md kept. The counting itself is the conv rows'
run_conv_case (checked against the twin in every run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcutrain.bench.cnn_time import BAUD, BEGIN, END, RUNS, TimeRow, render
from mcutrain.bench.conv import ConvCase, ConvResult, ConvSkip, write_section
from mcutrain.bench.matrix import Stats
from mcutrain.build.boards import get_board


def _result(train_cycles: float, infer_cycles: float, board: str = "netduinoplus2") -> ConvResult:
    return ConvResult(case=ConvCase("cifar10-cnn", "ternary", board), board=get_board(board), samples=2,
                      n_weights=100, weight_uses=1000, float_mults=0, train=Stats(1000.0, 990, 1010),
                      train_cycles=Stats(train_cycles, int(train_cycles), int(train_cycles)),
                      infer=Stats(300.0, 300, 300), muldiv_executed=0, static_findings=[], static_functions=9,
                      ram_planned=1, ram_use=1, twin_check="bit-exact",
                      infer_cycles=Stats(infer_cycles, int(infer_cycles), int(infer_cycles)))


def test_documented_runs_and_their_sample_bytes() -> None:
    by = {r.key: r for r in RUNS}
    assert by["cifar10-cnn"].sample_bytes() == 32 * 32 * 3 // 2          # u4
    assert by["cifar10-cnn-128k"].sample_bytes() == 32 * 32 * 3 // 2     # u4
    assert by["cifar10-cnn-128k-l16-w14"].sample_bytes() == 32 * 32 * 3  # u8
    assert by["mnist-cnn-l16-w18"].sample_bytes() == 98                   # bits
    assert "ram_budget = 262144" in by["cifar10-cnn-256k-l16-w23"].text()
    assert by["mnist-cnn-best"].sample_bytes() == 98                      # bits
    assert (by["mnist-cnn-best"].train_samples, by["cifar10-cnn-128k"].train_samples) == (163_458, 100_000)
    assert "ram_budget = 262144" in by["cifar10-cnn-256k"].text()
    assert by["cifar10-cnn"].link_seconds() == pytest.approx(6_000 * 1536 * 10 / BAUD)


def test_time_arithmetic_and_the_section(tmp_path: Path) -> None:
    run = next(r for r in RUNS if r.key == "cifar10-cnn")
    row = TimeRow(run, _result(21_600_000.0, 4_320_000.0), None)
    assert row.ms_train(216_000_000) == pytest.approx(100.0) and row.ms_infer(216_000_000) == pytest.approx(20.0)
    assert row.run_seconds(216_000_000) == pytest.approx(5_000 * 0.1 + 1_000 * 0.02)
    m0 = TimeRow(run, _result(1.0, 1.0, "microbit"), None)
    skip = ConvSkip(ConvCase("mnist-cnn-best", "ternary_det", "microbit"), "the model needs 112432 bytes of RAM")
    text = render([row, m0], [skip], 1.0, 2, 0, "python bench/cnn_time.py")
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    assert "**128.6 / 100.0**" in text                                    # ms at 168 / 216 MHz
    assert "| **11.1 min** | **8.7 min** |" in text                       # the run: 669 s at 168, 520 s at 216 MHz
    runs_table = text.split("The documented runs")[1]
    assert "microbit" not in runs_table.split("Builds not counted")[0]    # no M0 at 168/216 MHz
    assert "112432 bytes" in text
    out = tmp_path / "B.md"
    out.write_text("# head\n\n<!-- BEGIN other -->\nkept\n<!-- END other -->\n")
    write_section(out, text, BEGIN, END)
    write_section(out, text.replace("8.7 min", "8.8 min"), BEGIN, END)     # replaced, not appended twice
    got = out.read_text()
    assert got.count(BEGIN) == 1 and "kept" in got and "8.8 min" in got and "8.7 min" not in got


def test_counting_the_cifar_example_through_the_sample_buffer(tmp_path: Path) -> None:
    """A 1,536-byte CIFAR-10 sample does not fit the counter's 512-byte argument area: it goes into the firmware's
    own sample buffer, and the counted run is bit-exact with the twin; the M0 build is refused (16 KB) and listed."""
    import os

    from mcutrain.bench.cnn_time import run_cnn_time

    data = Path(os.environ.get("MCUTRAIN_DATA_DIR", "/nonexistent"))
    if not (data / "cifar10_jpeg.npz").is_file() and not (data / "cifar-10-python.tar.gz").is_file():
        pytest.skip("no CIFAR-10 in $MCUTRAIN_DATA_DIR")
    out = tmp_path / "B.md"
    rows, skips = run_cnn_time(out, tmp_path / "w", samples=1, keys=["cifar10-cnn"], log=lambda s: None)
    assert [(r.result.board.name, r.result.twin_check) for r in rows] == [("netduinoplus2", "bit-exact")]
    r = rows[0].result
    assert r.train.mean > 1e6 and r.infer_cycles is not None and r.train_cycles.mean > r.infer_cycles.mean > 0
    assert r.muldiv_executed == 0
    assert [s.case.board for s in skips] == ["microbit"] and "16384 bytes" in skips[0].reason
    assert f"{r.train.mean:,.0f}" in out.read_text()
