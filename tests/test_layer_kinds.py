"""The layer kind is the dispatch key (issue 11): an unknown or unimplemented kind is an error at every
place that reads the registry, and a kind registered only here (tests/kinds/addconst: one module per
part) is planned, generated, compiled on the host and bit-exact with its twin."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_generated_c_host import compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PLAN_KINDS, LayerPlan, PlanContext, PlanError, register_plan
from mcutrain.arith.plan import make_plan
from mcutrain.build.boards import get_board
from mcutrain.codegen.generate import inference_functions, training_functions
from mcutrain.codegen.memory import plan_memory
from mcutrain.codegen.render import RenderInputs, render_sources
from mcutrain.errors import ModelFileError
from mcutrain.model import LAYER_KINDS, DenseLayerSpec, LayerSpec, load_model
from mcutrain.results.multiplications import DEVICE, count_plan
from mcutrain.twin import TwinNetwork

MODEL = """
[model]
name = "kinds"
board = "netduinoplus2"
seed = 1

[data]
dataset = "mnist"
encoding = "bits"

{layers}

[training]
weights = "sign"
"""


@dataclasses.dataclass(frozen=True)
class MysterySpec(LayerSpec):
    """A kind a model file could name but that no part implements."""

    kind: ClassVar[str] = "mystery"
    units: int = 8

    def out_features(self, in_features: int) -> int:
        return self.units


@dataclasses.dataclass(frozen=True)
class MysteryPlan(LayerPlan):
    """A kind with a plan (sizes) but no template, twin or multiplication count."""

    kind: ClassVar[str] = "mystery"

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> MysteryPlan:
        return cls(index=ctx.index, n_in=ctx.n_in, n_out=spec.units, relu=True)


def _layers(*tables: str) -> str:
    return "\n".join(f"[[layers]]\n{t}\n" for t in tables)


def test_unknown_kind_in_a_model_file_is_refused_by_the_loader(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "conv"\nunits = 8', 'kind = "dense"\nunits = 10')))
    with pytest.raises(ModelFileError, match=r"layers\[0\]\.kind.*conv.*dense"):
        load_model(p)


def test_a_kind_without_a_plan_is_a_plan_error_never_a_dense_layer(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    layers = [MysterySpec(units=8), DenseLayerSpec(10, "linear")]
    with pytest.raises(PlanError, match=r"layers\[0\]: layer kind .mystery. has no arithmetic plan.*"
                                        r"use one of conv2d, dense, flatten, global_avg_pool, maxpool"):
        make_plan(64, layers)
    # through a model file: the loader knows the kind, the planner does not -> a model-file error naming it
    monkeypatch.setitem(LAYER_KINDS, "mystery", type("M", (MysterySpec,), {
        "from_toml": classmethod(lambda cls, t, i, n: (t.integer("units", lo=1, hi=99), t.finish(("kind", "units")),
                                                       MysterySpec(8))[2])}))
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "mystery"\nunits = 8', 'kind = "dense"\nunits = 10')))
    with pytest.raises(ModelFileError, match="no arithmetic plan"):
        load_model(p)


def test_a_kind_that_cannot_give_class_scores_cannot_be_last(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setitem(LAYER_KINDS, "mystery", type("M", (MysterySpec,), {
        "from_toml": classmethod(lambda cls, t, i, n: (t.integer("units", lo=1, hi=99), t.finish(("kind", "units")),
                                                       MysterySpec(8))[2])}))
    assert not MysterySpec.can_be_output and DenseLayerSpec.can_be_output
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "dense"\nunits = 10', 'kind = "mystery"\nunits = 8')))
    with pytest.raises(ModelFileError, match=r"layers\[1\]\.kind.*mystery layer cannot be the last layer.*\(dense\)"):
        load_model(p)


def test_a_kind_with_only_a_plan_is_an_error_at_the_generator_twin_and_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLAN_KINDS, "mystery", MysteryPlan)
    plan = make_plan(64, [MysterySpec(units=8), DenseLayerSpec(10, "linear")], weights="sign")
    assert [type(la).__name__ for la in plan.layers] == ["MysteryPlan", "DensePlan"]
    assert plan.layers[1].n_in == 8 and plan.n_weights == 8 * 10    # the dense layer after it is planned as usual
    with pytest.raises(PlanError, match=r"layers\[0\]: layer kind 'mystery' names no C template"):
        render_sources(RenderInputs(plan, "t", "0123456789abcdef", "bits", 8))
    with pytest.raises(PlanError, match=r"layers\[0\]: layer kind 'mystery' names no twin class"):
        TwinNetwork(plan)
    with pytest.raises(PlanError, match=r"layers\[0\]: layer kind 'mystery' has no multiplication count"):
        count_plan(plan.layers, quantized_weights=True, qbp=True, batch_norm=False, conv=DEVICE)
    # the memory planner asks the kind: the base class plans no buffer of its own, and (saying nothing of what
    # its backward pass reads) keeps its input x0 and output a1 in their own arrays; the errors share two maps
    names = [i.name for i in plan_memory(plan, get_board("netduinoplus2")).items]
    assert {"x0", "a1", "a2", "mt_map0", "mt_map1"} <= set(names) and "d1" not in names
    assert "l0_rows" not in names and "l1_rows" in names
    with pytest.raises(ValueError, match="needs a new, non-empty kind"):
        register_plan(MysteryPlan)  # already registered under "mystery" (monkeypatched)


# ---- the extension point: tests/kinds/addconst --------------------------------------------------
@pytest.fixture
def addconst(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Register the test-only kind for one test (and take it out of both registries afterwards)."""
    import kinds.addconst as mod  # registers on first import
    spec_cls, plan_cls = mod.spec.AddConstLayerSpec, mod.plan.AddConstPlan
    LAYER_KINDS.pop("addconst", None)
    PLAN_KINDS.pop("addconst", None)
    monkeypatch.setitem(LAYER_KINDS, "addconst", spec_cls)
    monkeypatch.setitem(PLAN_KINDS, "addconst", plan_cls)
    yield mod


def _addconst_net(mod: Any, add0: int = 64, add2: int = 32) -> list[Any]:
    A = mod.spec.AddConstLayerSpec
    return [A(add=add0), DenseLayerSpec(17, "relu"), A(add=add2), DenseLayerSpec(10, "linear")]


def test_addconst_from_a_model_file(addconst: Any, tmp_path: Path) -> None:
    """The model file names the kind; the loader, planner, memory planner, generator's function lists and the
    multiplication count all take it from the registry."""
    from mcutrain.arith.plan import plan_from_spec
    from mcutrain.model import check_against_data

    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "addconst"\nadd = 64', 'kind = "dense"\nunits = 17',
                                             'kind = "addconst"\nadd = 32', 'kind = "dense"\nunits = 10')))
    spec = check_against_data(load_model(p), 784, 10)
    assert [la.kind for la in spec.layers] == ["addconst", "dense", "addconst", "dense"]
    plan = plan_from_spec(spec)
    assert [la.kind for la in plan.layers] == ["addconst", "dense", "addconst", "dense"]
    assert [(la.n_in, la.n_out) for la in plan.layers] == [(784, 784), (784, 17), (17, 17), (17, 10)]
    assert plan.n_weights == 784 * 17 + 17 * 10
    assert "l0_forward_train" in training_functions(plan) and "l0_backward" not in training_functions(plan)
    assert "l2_backward" in training_functions(plan) and "l2_infer" in inference_functions(plan)
    counts = count_plan(plan.layers, quantized_weights=False, qbp=False, batch_norm=False, conv=DEVICE)
    assert [c.total for c in counts] == [0, 3 * 784 * 17 + 784, 0, 3 * 17 * 10 + 17]  # dense l1 has a backward
    items = {i.name for i in plan_memory(plan, get_board("netduinoplus2")).items}
    assert {"x0", "a1", "a2", "a3", "a4", "mt_map0", "l1_rows", "l3_rows"} <= items and "l0_rows" not in items


def test_a_kind_without_a_float32_baseline_is_refused_in_float32(addconst: Any) -> None:
    """A kind that declares no float32 baseline (LayerPlan.float32_baseline) is a clear plan error in float32 mode,
    naming the layer, not a crash in the float32 generator."""
    assert addconst.plan.AddConstPlan.float32_baseline is False
    make_plan(784, _addconst_net(addconst), weights="binary")            # the integer modes plan it
    with pytest.raises(PlanError, match=r"layers\[0\]: addconst has no float32 baseline in this version; use an "
                                        r"integer weight mode"):
        make_plan(784, _addconst_net(addconst), weights="float32", qbp=False)


@pytest.mark.parametrize("weights,qbp,rounding,seed", [
    ("binary", True, "nearest", 3), ("sign", False, "nearest", 4), ("ternary", True, "stochastic", 5),
])
def test_addconst_generated_c_matches_its_twin(addconst: Any, tmp_path: Path, data_dir: Path, weights: str,
                                              qbp: bool, rounding: str, seed: int) -> None:
    n, n_eval, spe, every = 300, 100, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    kw = dict(weights=weights, qbp=qbp, lr_start=-7, lr_min=-9, update_rounding=rounding)
    plan = make_plan(784, _addconst_net(addconst), **kw)
    exe = compile_driver(plan, tmp_path)
    assert "l2_backward" in (tmp_path / "mt_model.c").read_text()
    run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    # the comparison can fail: a twin whose second addconst adds 33 instead of 32 disagrees with this C
    other = make_plan(784, _addconst_net(addconst, add2=33), **kw)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(other), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
