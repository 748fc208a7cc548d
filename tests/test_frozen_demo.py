"""The larger-than-RAM results section (mcutrain/results/frozen_demo.py) on a small pair of model files: it
pretrains, fine-tunes the frozen model's head on the emulated board bit-exactly, and writes its section only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import small_model

pytestmark = [pytest.mark.qemu]
if os.environ.get("MCUTRAIN_SKIP_QEMU"):
    pytestmark.append(pytest.mark.skip(reason="MCUTRAIN_SKIP_QEMU set"))


def test_frozen_demo_section(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from mcutrain.results.frozen_demo import KEY, measure, write_section

    pre = small_model(tmp_path, weights="sign", units=48, train=600, test=300, name="pre", pool=2, encoding="u4",
                      latent_bits=8, update_rounding="stochastic")
    text = pre.read_text()
    tune = tmp_path / "tune.toml"
    parts = text.replace('name = "pre"', 'name = "tune"').replace('dataset = "mnist"', 'dataset = "digits"') \
        .replace("train_samples = 600", "train_samples = 0").replace("test_samples = 300", "test_samples = 0") \
        .split("[[layers]]")
    parts[1] = parts[1].replace('kind = "dense"\n', 'kind = "dense"\ntrainable = false\n', 1)
    tune.write_text("[[layers]]".join(parts))
    d = measure(pre, tune, tmp_path / "pre.state", tmp_path / "b", [1, 2], log=lambda s: None)
    assert d.device["bit_exact"] is True and d.pretrain_samples == 600
    assert d.saved["frozen_latent_bytes"] == 196 * 48 and d.saved["ram_bytes"] < d.saved["ram_bytes_all_trainable"]
    assert 0.0 < d.pretrained_digits < 1.0 and len(d.seeds) == 2
    assert d.device["twin_test_accuracy"] == d.device["test_accuracy"]
    out = tmp_path / "results.md"
    out.write_text("# Results\n\nkept\n")
    write_section(out, d, "cmd")
    body = out.read_text()
    assert body.startswith("# Results\n\nkept\n") and f"generated:{KEY}" in body
    assert "bit-exact with the twin | yes" in body
