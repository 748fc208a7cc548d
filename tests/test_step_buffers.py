"""The training step's buffers (mcutrain/codegen/buffers.py): what shares an array and what is kept.

The generated C's bit-exactness with the twin (test_spatial_kinds.py, test_generated_c_host.py, the QEMU tests) is
the end-to-end check; these check the sharing rules themselves on several networks."""

from __future__ import annotations

import pytest

from mcutrain.arith.plan import make_plan
from mcutrain.codegen.buffers import MAPS, step_buffers
from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.model.spec import DenseLayerSpec


def _cnn() -> list:
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=2, padding="valid"),
            Conv2dLayerSpec(13, 13, 4, 8, kernel=3, stride=1, padding="same"),
            MaxPoolLayerSpec(13, 13, 8), FlattenLayerSpec(), DenseLayerSpec(16, "relu"), DenseLayerSpec(10, "linear")]


def _mlp() -> list:
    return [DenseLayerSpec(64, "relu"), DenseLayerSpec(32, "relu"), DenseLayerSpec(10, "linear")]


def _pool_net() -> list:
    return [MaxPoolLayerSpec(28, 28, 1), FlattenLayerSpec(), DenseLayerSpec(32, "relu"), DenseLayerSpec(10, "linear")]


PLANS = {
    "cnn": lambda: make_plan(784, _cnn(), weights="ternary", qbp=True, qbp_range=(-4, 3),
                             update_rounding="nearest"),
    "mlp": lambda: make_plan(784, _mlp(), weights="binary", qbp=True),
    "pool": lambda: make_plan(784, _pool_net(), weights="sign", qbp=False),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_arrays_read_together_are_never_the_same(name: str) -> None:
    plan = PLANS[name]()
    b = step_buffers(plan)
    n = len(plan.layers)
    sizes = [plan.n_inputs] + [la.n_out for la in plan.layers]
    declared = {buf.name: buf.count for buf in b.buffers}
    for k in range(n):
        # the forward pass of layer k reads activation k and writes k + 1 (one array only for an in-place flatten)
        if not plan.layers[k].output_is_input(plan):
            assert b.act[k] != b.act[k + 1], (k, b.act)
        # the backward pass of layer k reads error k + 1 and writes error k
        if b.err[k] is not None:
            assert b.err[k] != b.err[k + 1], (k, b.err)
    for k in range(n + 1):
        assert declared[b.act[k]] >= sizes[k]                      # every array holds what it is given
        if b.err[k] is not None:
            assert declared[b.err[k]] >= sizes[k]
    # an input that a layer's update reads, and the output, have arrays of their own, not a shared map
    for k in range(n):
        if plan.layers[k].update_reads_input(plan):
            assert b.act[k] not in MAPS and b.act[k] not in b.err, (k, b.act, b.err)
    assert b.act[n] not in MAPS
    # every buffer in bytes is what the memory planner counts
    assert sum(i.bytes for i in b.items()) == sum(buf.bytes for buf in b.buffers)


def test_a_cnn_keeps_masks_not_activations() -> None:
    plan = PLANS["cnn"]()
    b = step_buffers(plan)
    # x0, a1, a2 (conv inputs, the pool's input) are only in the maps; the conv after the first and the flatten
    # keep the ReLU mask of their input; the flatten's output (a4) is its input's array, kept for the dense update
    assert b.act[0] in MAPS and b.act[1] in MAPS and b.act[2] in MAPS
    assert b.mask == (None, "m1", None, "m3", None, None, None)
    assert b.act[3] == b.act[4] == "a3" and b.act[5] == "a5" and b.act[6] == "a6"
    names = {buf.name: buf for buf in b.buffers}
    assert names["m1"].count == (13 * 13 * 4 + 31) // 32 * 4       # 1 bit a value, whole words
    largest = max(plan.n_inputs, *(la.n_out for la in plan.layers[:3]))
    assert names["mt_map0"].count + names["mt_map1"].count <= 2 * largest


def test_an_mlp_keeps_its_activations_and_shares_its_errors() -> None:
    plan = PLANS["mlp"]()
    b = step_buffers(plan)
    assert b.act == ("x0", "a1", "a2", "a3") and b.mask == (None,) * 4
    assert b.err[1:] == ("mt_map0", "mt_map1", "mt_map0")          # d3 and d1 alternate with d2
    assert {buf.name: buf.count for buf in b.buffers}["mt_map0"] == 64   # max(d1 = 64, d3 = 10)


def test_the_float32_baseline_keeps_every_array() -> None:
    plan = make_plan(784, _mlp(), weights="float32")
    b = step_buffers(plan)
    assert b.act == ("x0", "a1", "a2", "a3") and b.err == (None, "d1", "d2", "d3")
    assert all(buf.ctype == "float" for buf in b.buffers)
