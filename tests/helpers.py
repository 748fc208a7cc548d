"""Shared helpers of the tests: small model files and projects."""

from __future__ import annotations

from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "mnist_demo.toml"


def small_model(tmp: Path, *, weights: str = "binary", qbp: bool = True, units: int = 32,
                train: int = 600, test: int = 300, name: str = "small", extra: str = "") -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(f"""
[model]
name = "{name}"
board = "netduinoplus2"
seed = 3

[data]
dataset = "mnist"
encoding = "bits"
train_samples = {train}
test_samples = {test}

[[layers]]
kind = "dense"
units = {units}
activation = "relu"

[[layers]]
kind = "dense"
units = 10
activation = "linear"

[training]
weights = "{weights}"
quantized_backprop = {"true" if qbp else "false"}
learning_rate = -7
{extra}
""")
    return p
