"""Frozen layers (`trainable = false`, issue 14, first step): the model file's rules, the packed signs a
frozen layer keeps, the twin's training with them, and the memory plan's RAM and flash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import small_model

from mcutrain.cli import main
from mcutrain.errors import ModelFileError
from mcutrain.model import load_model


def _frozen_model(tmp: Path, *, weights: str = "binary", name: str = "frozen", frozen: tuple[int, ...] = (0,),
                  extra_layer: bool = False, bn: bool = False) -> Path:
    p = small_model(tmp, weights=weights, qbp=weights != "float32", train=600, test=200, units=24, name=name)
    text = p.read_text()
    if extra_layer:
        text = text.replace('[[layers]]\nkind = "dense"\nunits = 10',
                            '[[layers]]\nkind = "dense"\nunits = 16\nactivation = "relu"\n\n'
                            '[[layers]]\nkind = "dense"\nunits = 10')
    parts = text.split("[[layers]]")
    for k in frozen:
        parts[k + 1] = parts[k + 1].replace('kind = "dense"\n', 'kind = "dense"\ntrainable = false\n'
                                            + ("batch_norm = true\n" if bn else ""), 1)
    p.write_text("[[layers]]".join(parts))
    return p


def test_model_file_rules(tmp_path: Path) -> None:
    plain = load_model(small_model(tmp_path, train=600, test=200, units=24, name="frozen"))
    frozen = load_model(_frozen_model(tmp_path))
    assert frozen.layer_trainable() == (False, True) and plain.layer_trainable() == (True, True)
    assert frozen.model_hash() != plain.model_hash()
    explicit = _frozen_model(tmp_path, name="explicit", frozen=())
    explicit.write_text(explicit.read_text().replace('kind = "dense"\n', 'kind = "dense"\ntrainable = true\n'))
    assert load_model(explicit).model_hash() == plain.model_hash()  # the default changes no existing hash
    for kw, words in [(dict(frozen=(1,), name="last"), "the last layer must learn"),
                      (dict(frozen=(1,), extra_layer=True, name="middle"), "frozen layers must come first"),
                      (dict(weights="float32", name="float"), "float32"),
                      (dict(bn=True, name="bn"), "batch_norm")]:
        with pytest.raises(ModelFileError) as e:
            load_model(_frozen_model(tmp_path, **kw))
        assert "trainable" in str(e.value) and words in str(e.value), str(e.value)
    assert load_model(_frozen_model(tmp_path, frozen=(0, 1), extra_layer=True, name="two")).layer_trainable() \
        == (False, False, True)


@pytest.mark.parametrize("weights", ["binary", "ternary"])
def test_frozen_layer_packed_bits_are_the_signs_of_the_pretrained_latents(tmp_path: Path, weights: str) -> None:
    """Pretrain the unfrozen network, load its state into the frozen one: layer 0's packed bits are the signs
    of the pretrained latents (read bit by bit here), training leaves them, and layer 1 still learns."""
    from mcutrain.host.twin_run import sample_order, train_twin

    from mcutrain.fleet.layout import load_twin_state
    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.state import file as sfile
    from mcutrain.twin import TwinNetwork

    learn = small_model(tmp_path, weights=weights, train=600, test=200, units=24, name="frozen")
    state = tmp_path / "pre.state"
    res = CliRunner().invoke(main, ["pretrain", str(learn), "-o", str(state), "--json"])
    assert res.exit_code == 0, res.output
    spec, ds = load_data(load_spec(_frozen_model(tmp_path, weights=weights)))
    plan, x, x_te = twin_data(spec, *encoded_data(spec, ds))
    pre = sfile.read(state).state
    net = TwinNetwork(plan)
    net.start(spec.seed, len(x))
    load_twin_state(net, pre)
    W = net.layers[0].W.copy()
    words = np.frombuffer(net.layers[0].packed_signs(), dtype="<u4").reshape(W.shape[0], -1)
    nw = (W.shape[1] + 31) // 32
    bit = lambda plane, i, j: (int(words[i, plane * nw + j // 32]) >> (j % 32)) & 1  # noqa: E731
    for i in range(0, W.shape[0], 7):
        for j in range(W.shape[1]):
            if weights == "binary":
                assert bit(0, i, j) == int(W[i, j] >= 0)
            else:
                half = plan.w0 >> 1
                assert bit(1, i, j) == int(W[i, j] >= half or W[i, j] <= -half)
                assert bit(0, i, j) == int(W[i, j] >= half)
    # training: the frozen latents stay, the head learns, the frozen forward pass is its inference
    W1 = net.layers[1].W.copy()
    order = sample_order(spec.seed, len(x), 1)[:200]
    tuned = TwinNetwork(plan)
    train_twin(tuned, spec.seed, len(x), x, ds.y_train, order, init_state=pre)
    np.testing.assert_array_equal(tuned.layers[0].W, W)
    assert not np.array_equal(tuned.layers[1].W, W1)
    h = tuned.layers[0].forward_train(x[0], tuned.rng)
    np.testing.assert_array_equal(h, tuned.layers[0].infer(x[:1])[0])


def test_frozen_layer_draws_no_random_numbers(tmp_path: Path) -> None:
    """Stochastic binary connect: a frozen layer samples nothing, so a session's PRNG advances only for the
    trainable layers (their init and their updates)."""
    from mcutrain.arith.plan import plan_from_spec
    from mcutrain.arith.prng import XorShiftStream
    from mcutrain.twin import TwinNetwork

    spec = load_model(_frozen_model(tmp_path))
    plan = plan_from_spec(spec)
    net = TwinNetwork(plan)
    net.start(5, 100)
    only_layer1 = XorShiftStream(5)
    only_layer1.draws(plan.layers[1].n_in * plan.layers[1].n_out)  # layer 1's init; layer 0 draws nothing
    assert net.rng.state == only_layer1.state
    assert np.array_equal(net.layers[0].W, np.zeros_like(net.layers[0].W))  # no latents drawn for it
    x = np.zeros(plan.n_inputs, dtype=np.int64)
    x[:3] = 256
    before = net.rng.state
    net.layers[0].forward_train(x, net.rng)
    assert net.rng.state == before


def test_memory_plan_counts_flash_and_ram(tmp_path: Path) -> None:
    from mcutrain.arith.plan import plan_from_spec
    from mcutrain.build.boards import get_board
    from mcutrain.codegen.memory import freezing_saved, plan_memory

    spec = load_model(_frozen_model(tmp_path))
    plan = plan_from_spec(spec)
    lp = plan.layers[0]
    board = get_board("netduinoplus2")
    kinds = {i.name: i.bytes for i in plan_memory(plan, board).items}
    assert "L0_W" not in kinds and "l0_rows" not in kinds and "d1" not in kinds and kinds["a1"] == 4 * lp.n_out
    saved = freezing_saved(plan, board)
    assert saved["flash_added"] == lp.n_in * 4 * ((lp.n_out + 31) // 32)  # one bit a weight, rows of words
    assert saved["ram_saved"] >= plan.latent_bytes * lp.n_in * lp.n_out
    assert saved["ram_bytes"] == plan_memory(plan, board).total()


def test_generate_refuses_frozen_layers_with_the_figures(tmp_path: Path) -> None:
    model = _frozen_model(tmp_path)
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "proj")])
    assert res.exit_code == 2, res.output
    assert "trainable = false" in res.output and "not yet in the generated C" in res.output
    assert "bytes of RAM" in res.output
    assert not (tmp_path / "proj" / "manifest.json").exists()
