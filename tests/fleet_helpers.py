"""Small model files for the fleet tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcutrain.arith.plan import plan_from_spec
from mcutrain.model import load_model
from mcutrain.model.toml_text import mlp_layers_toml


def fleet_model(tmp: Path, *, weights: str = "binary", units: int = 16, pool: int = 4, train: int = 400,
                test: int = 200, bias: bool = True, batch_norm: bool = True, name: str = "fleet",
                latent_bits: int = 8, extra: str = "") -> Path:
    p = tmp / f"{name}.toml"
    layers = mlp_layers_toml([units], hidden_extra=f"batch_norm = {str(batch_norm).lower()}",
                             output_extra=f"bias = {str(bias).lower()}")
    p.write_text(f"""
[model]
name = "{name}"
board = "netduinoplus2"
seed = 7

[data]
dataset = "mnist"
encoding = "u4"
pool = {pool}
train_samples = {train}
test_samples = {test}

{layers}
[training]
weights = "{weights}"
quantized_backprop = true
learning_rate = -6
{extra}

[arithmetic]
latent_bits = {latent_bits}
""")
    return p


def plan_of(path: Path) -> Any:
    return plan_from_spec(load_model(path))
