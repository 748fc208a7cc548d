"""A layer's own quantized back-propagation exponent range (issue 12: the paper clips conv exponents to a
narrower range than the dense layers'): model file, plan, range checks, twin and generated C (host gcc),
bit-exact, and a range that changes the result."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_generated_c_host import compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PlanError
from mcutrain.arith.plan import make_plan, plan_from_spec
from mcutrain.errors import ModelFileError
from mcutrain.model import DenseLayerSpec, check_against_data, load_model
from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.twin import TwinNetwork

MODEL = """
[model]
name = "ranges"
board = "netduinoplus2"
seed = 1

[data]
dataset = "mnist"
encoding = "bits"

[[layers]]
kind = "conv2d"
height = 28
width = 28
filters = 4
stride = 2
{conv_range}

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 32
{dense_range}

[[layers]]
kind = "dense"
units = 10

[training]
weights = "ternary"
qbp_exponent_range = [-8, 7]
"""


def _spec(tmp_path: Path, conv_range: str = "", dense_range: str = ""):  # noqa: ANN202
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(conv_range=conv_range, dense_range=dense_range))
    return check_against_data(load_model(p), 784, 10)


def test_layer_ranges_from_the_model_file(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "qbp_exponent_range = [-4, 3]", "qbp_exponent_range = [-6, 2]")
    plan = plan_from_spec(spec)
    a = plan.act_frac
    assert [(la.ex_min, la.ex_max) for la in plan.layers] == [
        (a - 4, a + 3), (0, 15), (a - 6, a + 2), (0, 15)]  # the others: [training]'s [-8, 7], clipped to 0..15
    assert (plan.ex_min, plan.ex_max) == (0, 15)
    # the hash covers a layer's range, and a model without the key hashes as before the key existed
    plain = _spec(tmp_path, "qbp_exponent_range = [-4, 3]")
    assert "qbp_exponent_range" not in plain.layers[2].to_dict()
    assert spec.model_hash() != plain.model_hash()
    assert spec.layers[2].to_dict()["qbp_exponent_range"] == [-6, 2]


def test_the_manifest_names_each_layer_s_range(tmp_path: Path) -> None:
    from mcutrain.codegen.generate import generate

    spec = _spec(tmp_path, "qbp_exponent_range = [-4, 3]", "qbp_exponent_range = [-6, 2]")
    layers = generate(spec, tmp_path / "gen").manifest["arithmetic"]["layers"]
    assert [la["qbp_exponent_range_int"] for la in layers] == [[4, 11], [0, 15], [2, 10], [0, 15]]


@pytest.mark.parametrize("value,match", [
    ("[3, -4]", r"layers\[0\]\.qbp_exponent_range.*two integers \[lo, hi\]"),
    ("[-4]", r"layers\[0\]\.qbp_exponent_range.*two integers"),
    ("[-30, -20]", r"layers\[0\]\.qbp_exponent_range.*overlap the exponents an activation can have"),
])
def test_bad_layer_ranges_are_refused_naming_the_layer(tmp_path: Path, value: str, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        _spec(tmp_path, f"qbp_exponent_range = {value}")


def test_the_planner_checks_each_layer_with_its_own_range() -> None:
    """A conv layer keeps a 4-bit code an input: a 16-exponent range of its own is refused, naming the layer,
    while the same range as the model's default on a dense layer is fine."""
    net = [Conv2dLayerSpec(28, 28, 1, 4, 3, 2, qbp_exponent_range=(-8, 7)), FlattenLayerSpec(),
           DenseLayerSpec(10, "linear", qbp_exponent_range=(-8, 7))]
    with pytest.raises(PlanError, match=r"layers\[0\]: quantized inputs with exponents 0\.\.15 need more than 4 bits"):
        make_plan(784, net, weights="sign", qbp_range=(-4, 3))
    net[0] = Conv2dLayerSpec(28, 28, 1, 4, 3, 2)
    plan = make_plan(784, net, weights="sign", qbp_range=(-4, 3))
    assert (plan.layers[0].ex_min, plan.layers[2].ex_max) == (4, 15)


def _net(r0: tuple[int, int] | None, r1: tuple[int, int] | None, r3: tuple[int, int] | None) -> list:
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=2, qbp_exponent_range=r0),
            Conv2dLayerSpec(13, 13, 4, 4, kernel=3, stride=1, padding="same", qbp_exponent_range=r1),
            MaxPoolLayerSpec(13, 13, 4), FlattenLayerSpec(), DenseLayerSpec(16, "relu", qbp_exponent_range=r3),
            DenseLayerSpec(10, "linear")]


@pytest.mark.parametrize("weights,rounding,seed", [("ternary", "nearest", 3), ("sign", "stochastic_shared", 4),
                                                   ("binary", "stochastic", 5)])
def test_layers_with_different_ranges_are_bit_exact(tmp_path: Path, data_dir: Path, weights: str, rounding: str,
                                                    seed: int) -> None:
    """Two conv layers and a dense layer with three different ranges of their own (the last dense layer: the
    model's): the generated C and the twin agree on every prediction, hinge, digest and the final state; the
    same model with the model's range everywhere trains to a different state."""
    n, n_eval, spe, every = 200, 50, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    kw = dict(weights=weights, qbp=True, qbp_range=(-6, 5), lr_start=-7, lr_min=-9)
    if rounding != "nearest":
        # conv2d rounds to nearest in this version: the rounding under test is the dense layers'
        net_specs = [DenseLayerSpec(64, "relu", qbp_exponent_range=(-3, 2)), DenseLayerSpec(32, "relu"),
                     DenseLayerSpec(10, "linear", qbp_exponent_range=(-1, 4))]
        kw["latent_bits"] = 8
    else:
        net_specs = _net((-4, 3), (-2, 1), (-5, 0))
    plan = make_plan(784, net_specs, update_rounding=rounding, **kw)
    assert len({(la.ex_min, la.ex_max) for la in plan.layers if la.kind != "maxpool" and la.kind != "flatten"}) >= 3
    exe = compile_driver(plan, tmp_path)
    state, _ = run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    # the ranges matter: with the model's range in every layer the twin ends elsewhere, and this C disagrees
    plain = make_plan(784, [dataclasses.replace(s, qbp_exponent_range=None) if hasattr(s, "qbp_exponent_range")
                            else s for s in net_specs], update_rounding=rounding, **kw)
    other = TwinNetwork(plain)
    other.start(seed, spe)
    for i in range(n):
        other.train_step(x[i], int(y[i]))
    assert other.state_bytes() != state
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plain), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
