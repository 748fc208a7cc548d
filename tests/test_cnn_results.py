"""`mcutrain cnn-results` (mcutrain/results/cnn_results.py): a CNN trained by the twin over the session's order,
its test accuracy, the time bound, the planner's RAM figure, the link note, and the docs/results.md section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mcutrain.host.twin_run import sample_order, train_twin

from mcutrain.arith.plan import plan_from_spec
from mcutrain.build.boards import get_board
from mcutrain.cli import main
from mcutrain.codegen.memory import plan_memory
from mcutrain.job import encoded_data, load_data, load_spec, twin_data
from mcutrain.model import load_model
from mcutrain.results.cnn_results import (
    CnnResultsError,
    load_for_twin,
    render,
    run_cnn,
    run_modes,
    run_reference,
    write_doc,
)
from mcutrain.twin import make_twin

MODEL = """
[model]
name = "cnn-tiny"
board = "netduinoplus2"
seed = 2

[data]
dataset = "mnist"
encoding = "{encoding}"
train_samples = 300
test_samples = 200

[[layers]]
kind = "conv2d"
height = 28
width = 28
channels = 1
filters = 4
kernel = 3
stride = 2
padding = "same"

[[layers]]
kind = "maxpool"
height = 14
width = 14
channels = 4

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 10
activation = "linear"

[training]
weights = "ternary"
qbp_exponent_range = [-4, 3]
learning_rate = -7
"""


def _model(tmp_path: Path, encoding: str = "bits") -> Path:
    p = tmp_path / f"cnn-{encoding}.toml"
    p.write_text(MODEL.format(encoding=encoding))
    return p


def test_run_is_the_twin_over_the_session_order(tmp_path: Path, data_dir: Path) -> None:
    model = _model(tmp_path)
    r = run_cnn(model, samples=450, eval_every=150, curve_test=50)
    # the same twin trained directly over the session's order (1.5 epochs of 300), tested on the same images
    spec, ds = load_data(load_spec(model))
    plan, x_train, x_test = twin_data(spec, *encoded_data(spec, ds))
    net = make_twin(plan)
    order = sample_order(spec.seed, 300, 2)[:450]
    run = train_twin(net, spec.seed, 300, x_train, ds.y_train, order)
    preds = net.infer(x_test)
    assert r["samples_trained"] == 450 and r["stopped_by"] == "samples" and r["epochs_trained"] == 1.5
    assert r["test_accuracy"] == np.mean(preds == ds.y_test)
    assert r["online_train_accuracy"] == run.hits(ds.y_train, order) / 450
    assert [p["samples"] for p in r["curve"]] == [150, 300, 450]
    assert r["ram"]["planned_bytes"] == plan_memory(plan, get_board("netduinoplus2")).total()
    assert r["ram"]["budget_bytes"] == 131072 and r["ram"]["fits"] == (r["ram"]["planned_bytes"] <= 131072)
    assert r["weights_count"] == 3 * 3 * 4 + 7 * 7 * 4 * 10
    assert r["network"] == "4C3s2-MP2-F-10"


def test_minutes_bound_stops_training_and_still_tests(tmp_path: Path, data_dir: Path) -> None:
    r = run_cnn(_model(tmp_path), samples=100_000, minutes=1e-4, ram_budget=1000)
    assert r["ram"]["budget_bytes"] == 1000 and not r["ram"]["fits"]
    assert "(does NOT fit)" in render([("small budget", r)], None, "x")
    assert r["stopped_by"] == "minutes"
    assert 0 < r["samples_trained"] < 100_000
    assert r["curve"][-1]["samples"] == r["samples_trained"] and r["online_train_accuracy"] is None
    assert r["curve"][-1]["test_images"] == 200


def test_samples_larger_than_a_frame_load_and_train(tmp_path: Path, data_dir: Path) -> None:
    """Since protocol v3 a 784-byte u8 sample travels in sample parts: the device's loader accepts it."""
    model = _model(tmp_path, "u8")
    assert load_model(model).input_bytes == 784
    spec, ds = load_for_twin(model)
    assert spec.n_inputs == 784 and plan_from_spec(spec).n_inputs == 784
    r = run_cnn(model, samples=50)
    assert r["encoding"] == "u8" and r["samples_trained"] == 50


def test_modes_runs_every_mode_with_and_without_qbp_and_stochastic_rows(tmp_path: Path, data_dir: Path) -> None:
    """conv2d trains without QBP too (issue 12): nine rows trained, none refused; a mode given in ``stochastic``
    runs once more with QBP and stochastic update rounding, and the section compares it with nearest rounding."""
    rows = run_modes(_model(tmp_path), samples=30, epochs=None, minutes=None, reference=False,
                     stochastic=("ternary",))
    combos = [(r["weights"], r["quantized_backprop"], r.get("update_rounding")) for r in rows]
    assert len(rows) == 10 and not [r for r in rows if "refused" in r]
    assert {(w, q) for w, q, _ in combos} == {(w, q) for w in ("binary", "sign", "ternary", "ternary_det")
                                             for q in (True, False)} | {("float32", False)}
    assert combos[-1] == ("ternary", True, "stochastic") and combos.count(("ternary", True, "nearest")) == 1
    assert all(r["samples_trained"] == 30 for r in rows)
    text = render([], rows, "x")
    assert text.count("| off |") == 5 and "`ternary` (twin), stochastic update rounding | on |" in text
    assert "Stochastic update rounding, `ternary` + QBP, 30 samples:" in text


def test_doc_section_from_the_json_files(tmp_path: Path, data_dir: Path) -> None:
    model = _model(tmp_path)
    out = tmp_path / "run.json"
    res = CliRunner().invoke(main, ["cnn-results", "run", str(model), "--samples", "60", "--json", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["samples_trained"] == 60 and r["command"].startswith("mcutrain cnn-results run")
    md = tmp_path / "results.md"
    md.write_text("# Results\n\nkept\n")
    body = write_doc(md, [("tiny", out)], None, "mcutrain cnn-results doc --run tiny run.json")
    text = md.read_text()
    assert "kept" in text and "<!-- BEGIN generated:cnn-results -->" in text and body.strip() in text
    assert f"**{100 * r['test_accuracy']:.2f}%**" in body and f"{r['ram']['planned_bytes']:,} B" in body
    assert render([("tiny", r)], None, "x").count("| tiny |") == 1
    res = CliRunner().invoke(main, ["cnn-results", "doc", "-o", str(md)])
    assert res.exit_code != 0 and "--run LABEL FILE" in res.output


def test_float_reference_rows_train_the_same_layers(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(CnnResultsError, match="stride-1"):
        run_reference(_model(tmp_path), "float32", False, samples=20)
    model = tmp_path / "s1.toml"
    model.write_text(MODEL.format(encoding="bits").replace("stride = 2", "stride = 1").replace(
        "height = 14\nwidth = 14", "height = 28\nwidth = 28"))
    rows = run_modes(model, samples=200, epochs=None, minutes=None)
    refs = [r for r in rows if "method" in r]
    assert [(r["weights"], r["quantized_backprop"]) for r in refs] == [("float32", False), ("ternary", True)]
    assert all(r["samples_trained"] == 200 and r["network"] == "4C3-MP2-FC10" for r in refs)
    # 200 samples of float SGD learn something: well above the 10% of chance on 200 test images
    assert refs[0]["test_accuracy"] > 0.3
    body = render([], rows, "x")
    assert "(float reference)" in body and "within 1.5 points of float32: twin" in body


def test_doc_rows_name_batch_norm_schedule_and_target(tmp_path: Path, data_dir: Path) -> None:
    model = tmp_path / "bn.toml"
    model.write_text(MODEL.format(encoding="bits").replace('padding = "same"', 'padding = "same"\nbatch_norm = true')
                     .replace("learning_rate = -7", "learning_rate = -7\nlr_decay_every_epochs = 2"))
    r = run_cnn(model, samples=40)
    assert r["network"] == "4C3s2BN-MP2-F-10" and r["lr_decay_every_epochs"] == 2 and r["lr_decay_shift"] == 1
    acc = 100 * r["test_accuracy"]
    row_low = render([("bn", r)], None, "x", {"bn": acc - 1}).splitlines()
    row_high = render([("bn", r)], None, "x", {"bn": acc + 2.5}).splitlines()
    assert any("| >= " in ln and ": met |" in ln for ln in row_low)
    assert any("MISSED by 2.50 points" in ln for ln in row_high)
    assert any("2^-7, /2 every 2 epochs (floor 2^-12)" in ln for ln in row_high)
    out = tmp_path / "r.json"
    out.write_text(json.dumps(r))
    md = tmp_path / "results.md"
    res = CliRunner().invoke(main, ["cnn-results", "doc", "--run", "bn", str(out), "--target", "other", "70",
                                    "-o", str(md)])
    assert res.exit_code != 0 and "--target names no --run label: other" in res.output
