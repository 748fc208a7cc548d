"""The state layout (mcutrain/fleet/layout.py: federated averaging, state files) asks each layer kind for its
counts: a CNN's conv weights are k*k*C_in*C_out, max-pool and flatten have none, a conv batch norm has its words
per output channel and its learned log2 gammas. Checked against the twin's own arrays after training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcutrain.arith.plan import plan_from_spec
from mcutrain.fleet.layout import StateLayout
from mcutrain.model import load_model
from mcutrain.twin import TwinNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["mnist_cnn.toml", "mnist_cnn_bn.toml"])
def test_cnn_state_layout_splits_into_the_twins_arrays(name: str, tmp_path: Path) -> None:
    text = (EXAMPLES / name).read_text()
    if name == "mnist_cnn.toml":  # and a conv bias
        text = text.replace('padding = "same"\n', 'padding = "same"\nbias = true\n', 1)
    (tmp_path / name).write_text(text)
    plan = plan_from_spec(load_model(tmp_path / name))
    layout = StateLayout.from_plan(plan)
    assert layout.nbytes == plan.state_bytes
    net = TwinNetwork(plan)
    net.start(7, 50)
    rng = np.random.default_rng(1)
    for _ in range(20):
        net.train_step(rng.integers(0, 2, plan.n_inputs) << plan.act_frac, int(rng.integers(0, 10)))
    parts = dict(zip((s.name for s in layout.segments), layout.split(net.state_bytes()), strict=True))
    assert layout.join(list(parts.values())) == net.state_bytes()
    want: dict[str, np.ndarray] = {}
    for k, layer in enumerate(net.layers):
        W = getattr(layer, "W", None)
        if W is not None:
            want[f"l{k}.W"] = W.reshape(-1)
        if plan.layers[k].bias:
            want[f"l{k}.b"] = layer.b  # type: ignore[attr-defined]
        bn = getattr(layer, "bn", None)
        if bn is not None and plan.layers[k].kind == "conv2d":
            want.update({f"l{k}.bn.mu": bn.mu, f"l{k}.bn.dev": bn.dev, f"l{k}.bn.beta": bn.beta})
            if plan.layers[k].bn_gamma:  # type: ignore[attr-defined]
                want[f"l{k}.bn.lg"] = bn.lg
    assert set(want) <= set(parts) and set(parts) - set(want) <= {"pad"}
    for key, arr in want.items():
        assert parts[key].tolist() == np.asarray(arr).reshape(-1).tolist(), key
    if name == "mnist_cnn_bn.toml":
        assert {"l0.bn.lg", "l1.bn.lg", "l1.bn.mu"} <= set(parts) and "l2.W" not in parts


def test_a_cnn_state_with_learned_gammas_loads_into_a_fresh_twin(tmp_path: Path) -> None:
    """load_twin_state (train --init, fleet rounds, cifar-finetune) restores a conv batch norm's statistics and
    learned log2 gammas: a fresh twin loaded with a trained twin's state has the same state bytes """
    from mcutrain.fleet.layout import load_twin_state

    plan = plan_from_spec(load_model(EXAMPLES / "mnist_cnn_bn.toml"))
    rng = np.random.default_rng(2)
    xs = [rng.integers(0, 2, plan.n_inputs) << plan.act_frac for _ in range(20)]
    ys = [int(y) for y in rng.integers(0, 10, 20)]
    a = TwinNetwork(plan)
    a.start(5, 40)
    for x, y in zip(xs, ys, strict=True):
        a.train_step(x, y)
    state = a.state_bytes()
    lg = [layer.bn.lg.copy() for layer in a.layers if getattr(layer, "bn", None) is not None]
    assert any(np.any(g != lg[0].flat[0]) for g in lg) or any(np.any(g != 0) for g in lg)  # not all at start
    b = TwinNetwork(plan)
    b.start(9, 40)                   # other draws: every loaded value must come from the state
    load_twin_state(b, state)        # raised LayoutError before the gammas were restored
    assert b.state_bytes() == state
    assert [layer.bn.lg.tolist() for layer in b.layers if getattr(layer, "bn", None) is not None] == \
        [g.tolist() for g in lg]
