"""`mcutrain modes-table`: every integer weight mode x quantized back-propagation, written into its own
section of a results file, the rest of the file kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import qemu_processes, small_model

from mcutrain.cli import main
from mcutrain.results.modes_table import MODES, SECTION
from mcutrain.results.results_doc import replace_section


def test_replace_section_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    text = "# Results\n\n## A\nkept\n"
    path.write_text(text)
    replace_section(path, SECTION, "one\n")
    once = path.read_text()
    assert once.startswith(text.rstrip("\n")) and "one" in once
    path.write_text(once + "\n## B\nalso kept\n")
    replace_section(path, SECTION, "two\n")
    twice = path.read_text()
    assert "one" not in twice and "two" in twice and "also kept" in twice and "## A\nkept" in twice
    assert twice.count(f"BEGIN generated:{SECTION}") == 1 and twice.count(f"END generated:{SECTION}") == 1


def test_modes_table_command(tmp_path: Path) -> None:
    model = small_model(tmp_path, weights="sign", units=32, train=1000, test=300, pool=2, encoding="u4", latent_bits=8)
    out = tmp_path / "results.md"
    out.write_text("# Results\n\n## Other section\nuntouched\n")
    res = CliRunner().invoke(main, ["modes-table", str(model), "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "## Other section\nuntouched" in text
    rows = re.findall(r"^\| .*\(`(\w+)`\) \| (on|off) \| (\w+) \| ([\d.]+)% \| ([\d.]+)% \|$", text, re.M)
    assert [(w, q) for w, q, *_ in rows] == [(w, q) for w in MODES for q in ("on", "off")] + [("float32", "off")]
    accs = [float(a) for *_, a, _ in rows]
    assert all(a > 25 for a in accs)  # 1000 samples: all far above chance (10%)
    assert len(set(accs)) > 1  # the modes differ
    assert all(r == "nearest" for w, q, r, *_ in rows if q == "off" and w != "float32")
    assert re.search(r"^Goal \(issue 3\): .* gap (PASS|MISS), accuracy (PASS|MISS)\.$", text, re.M)


def test_variant_model_files_are_the_variants(tmp_path: Path) -> None:
    """The model files --device trains are exactly the variants the twin measures (same model hash)."""
    from helpers import DEMO

    from mcutrain.model import load_model
    from mcutrain.results.modes_table import variant, variant_toml

    spec = load_model(DEMO)
    for weights in MODES:
        for qbp in (True, False):
            v = variant(spec, weights, qbp)
            p = tmp_path / f"{weights}-{qbp}.toml"
            p.write_text(variant_toml(DEMO.read_text(), weights, qbp, v.arithmetic.update_rounding))
            loaded = load_model(p)
            assert loaded.model_hash() == v.model_hash()
            assert (loaded.training.weights, loaded.training.quantized_backprop) == (weights, qbp)


@pytest.mark.qemu
def test_modes_table_on_the_device_verifies_every_row_and_reuses_finished_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--device: all 8 variants as `mcutrain train --verify` sessions on the emulated board, two at a time;
    every row bit-exact with its twin; a rerun reuses the finished sessions (model hash unchanged) and
    trains again the one whose report was removed; no QEMU is left."""
    monkeypatch.chdir(tmp_path)
    model = small_model(tmp_path, weights="sign", units=16, train=300, test=100, pool=2, encoding="u4",
                        latent_bits=8, name="tiny")
    out = tmp_path / "results.md"
    args = ["modes-table", str(model), "-o", str(out), "--device", "--jobs", "2", "--digest-every", "100"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    text = out.read_text()
    rows = re.findall(r"^\| .*\(`(\w+)`\) \| (on|off) \| \w+ \| ([\d.]+)% \| [\d.]+% \| ([\d.]+)% \| (yes|NO) \|",
                      text, re.M)
    assert [(w, q) for w, q, *_ in rows] == [(w, q) for w in MODES for q in ("on", "off")]
    assert all(twin == dev and exact == "yes" for _, _, twin, dev, exact in rows)
    assert "--device --jobs 2" in text
    assert qemu_processes(str(tmp_path)) == []
    reports = sorted((tmp_path / "build" / "modes-table" / "tiny").glob("*.json"))
    assert len(reports) == 8
    reports[0].unlink()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.output.count("reused the finished session") == 7
    assert out.read_text().count("| yes |") == 8
    assert qemu_processes(str(tmp_path)) == []


def _fake_rows(tmp_path: Path, n: int) -> list:
    from mcutrain.results.modes_device import DeviceRow

    return [DeviceRow((f"m{i}", True), tmp_path / f"m{i}.toml", f"hash{i}") for i in range(n)]


def test_device_rows_keep_a_session_that_was_not_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session that finished but disagreed with its twin (exit 10 with its report) is a row of the table
    (shown as not bit-exact), not a crash of the table."""
    import json
    import sys

    from mcutrain.results import modes_device

    def fake(row: modes_device.DeviceRow, digest_every: int) -> list[str]:
        rep = {"model_hash": row.model_hash, "bit_exact": False, "test_accuracy": 0.5, "wall_seconds": 1.0}
        return [sys.executable, "-c", f"import sys; open({str(row.report)!r}, 'w').write({json.dumps(rep)!r}); "
                "sys.exit(10)"]

    monkeypatch.setattr(modes_device, "train_command", fake)
    reps = modes_device.run_rows(_fake_rows(tmp_path, 2), jobs=2, poll=0.1)
    assert sorted(reps) == [("m0", True), ("m1", True)] and all(r["bit_exact"] is False for r in reps.values())


def test_a_failed_device_row_stops_the_table_and_ends_the_running_sessions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys
    import time

    from mcutrain.errors import McutrainError
    from mcutrain.results import modes_device

    pid_file = tmp_path / "running.pid"

    def fake(row: modes_device.DeviceRow, digest_every: int) -> list[str]:
        if row.key[0] == "m0":  # fails, without a report, once the other session runs
            return [sys.executable, "-c", f"import os,sys,time\nwhile not os.path.exists({str(pid_file)!r}): "
                    "time.sleep(0.05)\nprint('boom'); sys.exit(3)"]
        return [sys.executable, "-c", f"import os,time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
                "time.sleep(60)"]

    monkeypatch.setattr(modes_device, "train_command", fake)
    t0 = time.monotonic()
    with pytest.raises(McutrainError, match=r"m0: `mcutrain train` exited with 3 .*boom.*m0\.log"):
        modes_device.run_rows(_fake_rows(tmp_path, 2), jobs=2, poll=0.5)
    assert time.monotonic() - t0 < 30
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
