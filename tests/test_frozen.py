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
    assert "x0" not in kinds     # no update reads the frozen layer's input: it lives in a shared map buffer
    saved = freezing_saved(plan, board)
    assert saved["packed_sign_bytes"] == lp.n_in * 4 * ((lp.n_out + 31) // 32)  # one bit a weight, rows of words
    assert saved["frozen_latent_bytes"] == plan.latent_bytes * lp.n_in * lp.n_out
    assert saved["flash_added"] == saved["packed_sign_bytes"] + 384 - 1536  # the signs, one kernel instead of four
    assert saved["ram_saved"] >= plan.latent_bytes * lp.n_in * lp.n_out
    assert saved["ram_bytes"] == plan_memory(plan, board).total()


def test_generate_needs_the_state_and_bakes_it(tmp_path: Path) -> None:
    """`mcutrain generate` of a model with frozen layers: refused without --init (naming the fix, nothing
    written), refused with a state of another network; with the pretrained state it writes the packed signs
    and prints what freezing saved, which the manifest records."""
    import json

    # the state file of the network with every layer learning (the same file without trainable = false)
    learn = small_model(tmp_path, weights="binary", qbp=True, train=600, test=200, units=24, name="frozen")
    state = tmp_path / "pre.state"
    res = CliRunner().invoke(main, ["pretrain", str(learn), "-o", str(state), "--json"])
    assert res.exit_code == 0, res.output
    model = _frozen_model(tmp_path)  # (the same file, now with layer 0 frozen)
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "proj")])
    assert res.exit_code == 2, res.output
    assert "trainable = false" in res.output and "--init STATE" in res.output and "mcutrain pretrain" in res.output
    assert not (tmp_path / "proj" / "generated" / "manifest.json").exists()
    other = small_model(tmp_path, weights="binary", qbp=True, train=600, test=200, units=25, name="other")
    other_state = tmp_path / "other.state"
    assert CliRunner().invoke(main, ["pretrain", str(other), "-o", str(other_state), "--json"]).exit_code == 0
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "proj"), "--init", str(other_state)])
    assert res.exit_code != 0 and "model" in res.output and not (tmp_path / "proj" / "generated").exists()
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "proj"), "--init", str(state)])
    assert res.exit_code == 0, res.output
    assert "packed bits in flash" in res.output and "instead of" in res.output
    man = json.loads((tmp_path / "proj" / "generated" / "manifest.json").read_text())
    fz = man["flash"]["frozen"]
    assert fz["packed_sign_bytes"] == 784 * 4 and fz["ram_saved"] > fz["frozen_latent_bytes"] > 0
    assert man["ram"]["planned_bytes"] == fz["ram_bytes"] < fz["ram_bytes_all_trainable"]
    c = (tmp_path / "proj" / "generated" / "mt_model.c").read_text()
    assert "static const uint32_t l0_packed[784]" in c and "mt_init_state" in c
    res = CliRunner().invoke(main, ["generate", str(model), "--library", str(tmp_path / "lib")])
    assert res.exit_code != 0 and "not implemented" in res.output and "--out" in res.output
    assert not (tmp_path / "lib").exists()


# --------------------------------------------------------------------------------------------------------
# the generated C: packed signs in flash, baked by `mcutrain generate --init` (host compiler, bit-exact)
# --------------------------------------------------------------------------------------------------------
def _frozen_plan(sizes: list[int], frozen: int, **kw):
    import dataclasses

    from mcutrain.arith.plan import make_dense_plan

    plan = make_dense_plan(sizes, **kw)
    return dataclasses.replace(plan, layers=tuple(
        dataclasses.replace(lp, trainable=lp.index >= frozen) for lp in plan.layers))


def _pretrained_state(plan, x: np.ndarray, y: np.ndarray, n: int, seed: int = 3) -> bytes:
    """The full state (every layer's latents) of the same network trained with every layer learning."""
    from mcutrain.arith.plan import unfrozen_plan
    from mcutrain.twin import TwinNetwork

    net = TwinNetwork(unfrozen_plan(plan))
    net.start(seed, n)
    for i in range(n):
        net.train_step(x[i], int(y[i]))
    return net.state_bytes()


def _compile_frozen(plan, full: bytes, tmp: Path) -> Path:
    import subprocess

    from test_generated_c_host import CFLAGS, CORE, DRIVER, RUNTIME

    from mcutrain.codegen.render import RenderInputs, render_sources, write_sources

    write_sources(render_sources(RenderInputs(plan, "t", "0123456789abcdef", "bits", 98, init_state=full)), tmp)
    exe = tmp / "driver"
    subprocess.run(["gcc", *CFLAGS, "-I", str(tmp), "-I", str(CORE), str(tmp / "mt_model.c"), *RUNTIME, str(DRIVER),
                    "-o", str(exe)], check=True)
    return exe


def _twin_from(plan, full: bytes):
    """A twin that starts as the baked firmware does: the session start, then the state file's bytes."""
    from mcutrain.fleet.layout import load_twin_state
    from mcutrain.twin import TwinNetwork

    net = TwinNetwork(plan)
    start = net.start

    def start_then_load(seed: int, spe: int) -> None:
        start(seed, spe)
        load_twin_state(net, full)

    net.start = start_then_load  # type: ignore[method-assign]
    return net


@pytest.mark.parametrize(
    "weights,sizes,frozen,biases,latent_bits,rounding,batch",
    [
        ("sign", [200, 10], 1, (False, False), 8, "stochastic", 1),
        ("binary", [70, 33, 10], 1, (True, True, False), 16, "nearest", 1),      # stochastic head, frozen bias
        ("binary", [64, 40, 10], 2, (False, False, False), 8, "stochastic", 1),  # two frozen layers
        ("ternary", [45, 10], 1, (False, True), 8, "stochastic", 1),
        ("ternary_det", [64, 33, 10], 2, (True, False, True), 12, "stochastic_shared", 1),
        ("sign", [48, 10], 1, (True, True), 8, "stochastic", 8),                # mini-batches: the head's only
    ],
)
def test_generated_c_with_frozen_layers_matches_twin(tmp_path: Path, data_dir: Path, weights: str, sizes: list[int],
                                                     frozen: int, biases: tuple[bool, ...], latent_bits: int,
                                                     rounding: str, batch: int) -> None:
    """The frozen layers' packed signs (const, baked from a pretrained state) and the trainable layers'
    baked initial latents: training, digests, PRNG, evaluation and final state bit-exact with the twin; the
    state holds only the trainable layers; a twin whose frozen signs differ in one row is told apart."""
    from test_generated_c_host import mnist_bits, run_and_compare

    from mcutrain.fleet.layout import device_state, full_layout

    n, n_eval, spe, every = 300, 120, 120, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = _frozen_plan([784, *sizes], frozen, weights=weights, qbp=True, lr_start=-6, lr_min=-8,
                        latent_bits=latent_bits, update_rounding=rounding, biases=biases, batch_size=batch)
    full = _pretrained_state(plan, x, y, 200)
    exe = _compile_frozen(plan, full, tmp_path)
    text = (tmp_path / "mt_model.c").read_text()
    assert "static const uint32_t l0_packed[" in text and "L0_W" not in text and "l0_update" not in text
    assert f"l{frozen}_backward" not in text  # back-propagation stops at the first trainable layer
    assert "l0_G[" not in text and "l0_apply_batch" not in text  # no batch accumulators for a frozen layer
    c_state, _ = run_and_compare(exe, _twin_from(plan, full), enc, x, y, seed=9, spe=spe, n=n, every=every,
                                 n_eval=n_eval)
    assert len(c_state) == plan.state_bytes < full_layout(plan).nbytes
    assert c_state != device_state(plan, full)  # the head learned
    # the frozen signs (ternary: values) of one input's row changed in the state the twin reads: caught
    layout = full_layout(plan)
    arrays = layout.split(full)
    w = arrays[0].reshape(784, sizes[0])
    row = int(np.argmax(np.count_nonzero(x[:n], axis=0)))  # the input most often non-zero
    w[row] = -w[row] - 1 if weights in ("sign", "binary") else np.where(w[row] < plan.w0 // 2, plan.w0 - 1, 0)
    with pytest.raises(AssertionError):
        run_and_compare(exe, _twin_from(plan, layout.join(arrays)), enc, x, y, seed=9, spe=spe, n=n, every=every,
                        n_eval=n_eval)


def test_generated_packed_bits_are_the_signs_of_the_latents(tmp_path: Path, data_dir: Path) -> None:
    """The words in the generated C's l0_packed are the signs of the state file's latents, read bit by bit."""
    import re

    from test_generated_c_host import mnist_bits

    from mcutrain.codegen.render import RenderInputs, render_sources
    from mcutrain.fleet.layout import full_layout

    _, x, y = mnist_bits(100, data_dir)
    for weights in ("sign", "ternary_det"):
        plan = _frozen_plan([784, 40, 10], 1, weights=weights, latent_bits=8, update_rounding="stochastic")
        full = _pretrained_state(plan, x, y, 100)
        c = render_sources(RenderInputs(plan, "t", "0123456789abcdef", "bits", 98, init_state=full))["mt_model.c"]
        body = re.search(r"l0_packed\[\d+\] = \{(.*?)\};", c, re.S).group(1)
        words = np.array([int(t, 16) for t in re.findall(r"0x([0-9a-f]{8})u", body)], dtype=np.uint64)
        W = full_layout(plan).split(full)[0].reshape(784, 40)
        nw, planes = 2, (2 if weights == "ternary_det" else 1)  # 40 outputs: two words a plane
        assert len(words) == 784 * nw * planes
        row = words.reshape(784, planes, nw)
        half = plan.w0 // 2
        for i in range(0, 784, 13):
            for j in range(40):
                bit0 = (int(row[i, 0, j // 32]) >> (j % 32)) & 1
                if planes == 1:
                    assert bit0 == int(W[i, j] >= 0)
                else:
                    nz = (int(row[i, 1, j // 32]) >> (j % 32)) & 1
                    assert bit0 == int(W[i, j] >= half)
                    assert nz == int(W[i, j] >= half or W[i, j] <= -half)


def test_pretrain_of_a_frozen_model_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """A frozen model's state file is its network's with every layer learning: pretraining the frozen model
    itself (its frozen layers have no pretrained latents) is refused, naming what to pretrain, nothing written."""
    model = _frozen_model(tmp_path)
    out = tmp_path / "x.state"
    res = CliRunner().invoke(main, ["pretrain", str(model), "-o", str(out)])
    assert res.exit_code != 0 and "without trainable = false" in res.output and "--init STATE" in res.output
    assert not out.exists()
