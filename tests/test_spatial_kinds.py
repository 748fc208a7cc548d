"""The maxpool (2x2) and flatten kinds (issue 12): model file, plan, twin, C compiled with the host's gcc and
bit-exact with the twin on MNIST, and the errors a bad model file gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_generated_c_host import compile_driver, mnist_bits, run_and_compare

from mcutrain.arith.layers import PlanError
from mcutrain.arith.plan import make_plan, plan_from_spec
from mcutrain.build.boards import get_board
from mcutrain.codegen.generate import inference_functions, training_functions
from mcutrain.codegen.memory import plan_memory
from mcutrain.errors import ModelFileError
from mcutrain.model import DenseLayerSpec, check_against_data, load_model
from mcutrain.model.spatial import FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.results.multiplications import DEVICE, count_plan
from mcutrain.twin import TwinNetwork
from mcutrain.twin.pool import MaxPoolTwin

MODEL = """
[model]
name = "pool"
board = "netduinoplus2"
seed = 1

[data]
dataset = "mnist"
encoding = "bits"

{layers}

[training]
weights = "sign"
"""


DENSE10 = 'kind = "dense"\nunits = 10'


def _layers(*tables: str) -> str:
    return "\n".join(f"[[layers]]\n{t}\n" for t in tables)


def test_maxpool_flatten_from_a_model_file(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "maxpool"\nheight = 28\nwidth = 28', 'kind = "flatten"',
                                             'kind = "dense"\nunits = 32', 'kind = "dense"\nunits = 10')))
    plan = plan_from_spec(check_against_data(load_model(p), 784, 10))
    assert [(la.kind, la.n_in, la.n_out) for la in plan.layers] == [
        ("maxpool", 784, 196), ("flatten", 196, 196), ("dense", 196, 32), ("dense", 32, 10)]
    assert plan.n_weights == 196 * 32 + 32 * 10
    assert "l0_backward" not in training_functions(plan) and "l1_backward" in training_functions(plan)
    assert {"l0_infer", "l1_infer"} <= set(inference_functions(plan))
    counts = count_plan(plan.layers, quantized_weights=True, qbp=True, batch_norm=False, conv=DEVICE)
    assert [c.total for c in counts][:2] == [0, 0]
    items = {i.name for i in plan_memory(plan, get_board("netduinoplus2")).items}
    # the flatten's output a2 is its input's array a1, kept (the dense layer's update reads it); the flatten's
    # backward pass reads the mask m1; x0 (read by nothing after the forward pass) lives in a shared map buffer
    assert {"mt_map0", "m1", "a1", "l2_rows"} <= items and "a2" not in items and "x0" not in items
    assert "l0_mask" not in items


def test_a_maxpool_whose_shape_is_not_its_input_is_refused_naming_the_layer(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers('kind = "maxpool"\nheight = 28\nwidth = 27', DENSE10)))
    with pytest.raises(ModelFileError, match=r"layers\[0\]: maxpool input 28x27x1 = 756 values.*gives 784"):
        check_against_data(load_model(p), 784, 10)
    p.write_text(MODEL.format(layers=_layers('kind = "maxpool"\nheight = 1\nwidth = 784', DENSE10)))
    with pytest.raises(ModelFileError, match=r"height"):
        load_model(p)
    with pytest.raises(PlanError, match=r"layers\[1\]: maxpool input 14x14x3 = 588 values.*gives 392"):
        make_plan(784, [DenseLayerSpec(392, "relu"), MaxPoolLayerSpec(14, 14, 3), DenseLayerSpec(10, "linear")])


def test_maxpool_twin_routes_the_error_to_the_first_maximum() -> None:
    """Against a loop over the windows, with channels and an odd row and column (dropped)."""
    plan = make_plan(5 * 7 * 3, [DenseLayerSpec(105, "relu"), MaxPoolLayerSpec(5, 7, 3), FlattenLayerSpec(),
                                 DenseLayerSpec(10, "linear")], weights="sign")
    tw = MaxPoolTwin(plan, plan.layers[1])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=105)  # many ties, many zeros
    y = tw.forward_train(x, None)  # type: ignore[arg-type]
    d = rng.integers(-50, 50, size=y.size)
    g = tw.backward(d)
    xs, want_y, want_g = x.reshape(5, 7, 3), [], np.zeros((5, 7, 3), np.int64)
    k = 0
    for oh in range(2):
        for ow in range(3):
            for c in range(3):
                win = [(2 * oh, 2 * ow), (2 * oh, 2 * ow + 1), (2 * oh + 1, 2 * ow), (2 * oh + 1, 2 * ow + 1)]
                best = max(win, key=lambda hw: (xs[hw[0], hw[1], c], -win.index(hw)))
                want_y.append(xs[best[0], best[1], c])
                want_g[best[0], best[1], c] = d[k] if xs[best[0], best[1], c] != 0 else 0
                k += 1
    assert y.tolist() == want_y and g.tolist() == want_g.reshape(-1).tolist()


def _net(hidden: int = 32) -> list:  # noqa: D103
    return [MaxPoolLayerSpec(28, 28, 1), DenseLayerSpec(588, "relu"), MaxPoolLayerSpec(14, 14, 3),
            FlattenLayerSpec(), DenseLayerSpec(hidden, "relu"), DenseLayerSpec(10, "linear")]


@pytest.mark.parametrize("weights,qbp,rounding,seed", [
    ("ternary", True, "stochastic", 5), ("binary", True, "nearest", 3), ("sign", False, "nearest", 4),
])
def test_maxpool_flatten_generated_c_matches_its_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path,
                                                     weights: str, qbp: bool,
                                                     rounding: str, seed: int) -> None:
    """maxpool -> dense (as a 1x1 conv of 3 channels on 14x14) -> maxpool (with a backward pass) -> flatten ->
    dense -> dense, trained by the generated C and by the twin: every prediction, hinge and digest equal."""
    n, n_eval, spe, every = 300, 100, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    kw = dict(weights=weights, qbp=qbp, lr_start=-7, lr_min=-9, update_rounding=rounding)
    plan = make_plan(784, _net(), **kw)
    exe = compile_driver(plan, tmp_path)
    src = (tmp_path / "mt_model.c").read_text()
    assert "l2_backward" in src and "l3_backward" in src and "l0_backward" not in src
    run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    # the comparison can fail: a twin whose max-pool routes the error to the LAST maximum of a window
    def last_max_backward(self: MaxPoolTwin, d: np.ndarray) -> np.ndarray:
        lp = self.layer
        xs = self._x[:2 * lp.out_height, :2 * lp.out_width]
        win = xs.reshape(lp.out_height, 2, lp.out_width, 2, lp.channels).transpose(0, 2, 4, 1, 3).reshape(
            lp.out_height, lp.out_width, lp.channels, 4)
        last = 3 - np.argmax(win[..., ::-1], axis=-1)
        g = np.zeros(win.shape, np.int64)
        np.put_along_axis(g, last[..., None], np.asarray(d, np.int64).reshape(last.shape)[..., None], axis=-1)
        out = np.zeros(self._x.shape, np.int64)
        g = g.reshape(lp.out_height, lp.out_width, lp.channels, 2, 2).transpose(0, 3, 1, 4, 2)
        out[:2 * lp.out_height, :2 * lp.out_width] = g.reshape(2 * lp.out_height, 2 * lp.out_width, lp.channels)
        return np.where(self._x != 0, out, 0).reshape(-1)

    monkeypatch.setattr(MaxPoolTwin, "backward", last_max_backward)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


# ---- conv2d -------------------------------------------------------------------------------------
def _conv_net(stride: int = 2, padding: str = "valid", filters: int = 4) -> list:  # noqa: D103
    from mcutrain.model.spatial import Conv2dLayerSpec
    from mcutrain.twin.conv_ops import out_size
    o = out_size(28, 3, stride, padding)
    c2 = Conv2dLayerSpec(o, o, filters, 4, kernel=3, stride=1, padding="same")
    return [Conv2dLayerSpec(28, 28, 1, filters, kernel=3, stride=stride, padding=padding), c2,
            MaxPoolLayerSpec(o, o, 4), FlattenLayerSpec(), DenseLayerSpec(10, "linear")]


@pytest.mark.parametrize("weights,stride,padding,seed,filters", [
    ("ternary_det", 2, "valid", 5, 4), ("sign", 1, "same", 3, 4), ("ternary", 2, "same", 7, 4),
    ("binary", 1, "valid", 9, 4),
    ("ternary", 2, "valid", 11, 3),   # the second conv's input 13x13x3 = 507 values: an odd count of 4-bit codes
])
def test_conv2d_generated_c_matches_its_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path,
                                             weights: str, stride: int, padding: str, seed: int, filters: int) -> None:
    """conv2d (MNIST 28x28) -> conv2d (same, with a backward pass) -> maxpool -> flatten -> dense, QBP on:
    the generated C (host gcc, -Wall -Wextra -Werror) and the twin give every prediction, hinge and digest equal."""
    n, n_eval, spe, every = 200, 50, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan(784, _conv_net(stride, padding, filters), weights=weights, qbp=True, qbp_range=(-4, 3),
                     lr_start=-7, lr_min=-9, update_rounding="nearest")
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    run_and_compare(exe, net, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert net.layers[0].W.any()
    # the comparison can fail: a twin whose conv2d update rounds one bit coarser disagrees with this C
    from mcutrain.twin.conv import Conv2dTwin
    real_update = Conv2dTwin.update
    monkeypatch.setattr(Conv2dTwin, "update", lambda self, d, lr_exp, rng=None: real_update(self, d, lr_exp - 1, rng))
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


def test_bad_conv2d_models_are_refused_naming_the_layer(tmp_path: Path) -> None:
    from mcutrain.model.spatial import Conv2dLayerSpec
    with pytest.raises(PlanError, match=r"layers\[0\]: conv2d kernel 5x5 is larger than its 4x4 input"):
        make_plan(16, [Conv2dLayerSpec(4, 4, 1, 2, kernel=5), FlattenLayerSpec(), DenseLayerSpec(10, "linear")],
                  weights="sign", qbp_range=(-4, 3))
    with pytest.raises(PlanError, match=r"layers\[1\]: 2048 channels .*overflow the int32 backward accumulator.*"
                                        r"use at most \d+ filters"):
        make_plan(64, [Conv2dLayerSpec(8, 8, 1, 4, kernel=3, padding="same"),
                       Conv2dLayerSpec(8, 8, 4, 2048, kernel=3, padding="same"), FlattenLayerSpec(),
                       DenseLayerSpec(10, "linear")], weights="sign", qbp_range=(-4, 3))
    with pytest.raises(PlanError, match=r"layers\[0\]: conv2d rounds its updates to nearest or stochastically"):
        make_plan(784, _conv_net(), weights="binary", qbp=True, qbp_range=(-4, 3),
                  update_rounding="stochastic_shared")
    p = tmp_path / "m.toml"
    p.write_text(MODEL.format(layers=_layers(
        'kind = "conv2d"\nheight = 28\nwidth = 28\nfilters = 4\nkernel = 3\nstride = 3', DENSE10)))
    with pytest.raises(ModelFileError, match=r"stride"):
        load_model(p)
    p.write_text(MODEL.format(layers=_layers(
        'kind = "conv2d"\nheight = 28\nwidth = 28\nfilters = 4\nkernel = 15\nstride = 1',
        'kind = "conv2d"\nheight = 14\nwidth = 14\nchannels = 4\nfilters = 4\nkernel = 15', 'kind = "flatten"',
        DENSE10)))
    with pytest.raises(ModelFileError, match=r"layers\[1\]: conv2d kernel 15x15 is larger than its 14x14 input"):
        check_against_data(load_model(p), 784, 10)


@pytest.mark.qemu
def test_cnn_example_trains_bit_exact_on_the_emulated_board(tmp_path: Path) -> None:
    """examples/mnist_cnn.toml (600 samples of it): `mcutrain train --verify` on QEMU ends bit-exact, and the
    device's test accuracy is the twin's and above chance."""
    from helpers import qemu_processes, train_verified
    model = tmp_path / "cnn.toml"
    text = (Path(__file__).resolve().parent.parent / "examples" / "mnist_cnn.toml").read_text()
    model.write_text(text.replace("train_samples = 2000", "train_samples = 600").replace(
        "test_samples = 500", "test_samples = 200"))
    r = train_verified(model, tmp_path, digest_every=200)
    assert r["bit_exact"] is True and r["digests_checked"] == 3 and r["samples_trained"] == 600
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.2  # chance is 0.1
    assert qemu_processes(str(tmp_path)) == []
