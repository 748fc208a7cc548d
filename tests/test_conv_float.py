"""The float32 baseline of the conv kinds (conv2d, maxpool, flatten) from the same generator (issue 12): the
generated C compiled by the host's gcc (SSE, IEEE single, no FMA contraction) and its NumPy float32 twin give the
same bits: every prediction, hinge, digest of the float weights, inference prediction and the final state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_generated_c_host import CFLAGS, compile_driver, run_and_compare

from mcutrain.arith.plan import make_plan
from mcutrain.build.boards import get_board
from mcutrain.codegen.generate import inference_functions, training_functions
from mcutrain.codegen.memory import plan_memory
from mcutrain.model import DenseLayerSpec
from mcutrain.model.spatial import Conv2dLayerSpec, FlattenLayerSpec, MaxPoolLayerSpec
from mcutrain.twin import Float32Twin, make_twin
from mcutrain.twin.conv_float import Conv2dFloat32Twin


def _net(stride: int, padding: str) -> list:
    from mcutrain.twin.conv_ops import out_size
    o = out_size(28, 3, stride, padding)
    return [Conv2dLayerSpec(28, 28, 1, 4, kernel=3, stride=stride, padding=padding),
            Conv2dLayerSpec(o, o, 4, 6, kernel=3, padding="same"), MaxPoolLayerSpec(o, o, 6), FlattenLayerSpec(),
            DenseLayerSpec(16, "relu"), DenseLayerSpec(10, "linear")]


@pytest.mark.parametrize("stride,padding,encoding,opt,seed", [
    (2, "valid", "bits", "-O2", 3), (1, "same", "u8", "-O0", 4), (2, "same", "u4", "-O3", 5),
])
def test_float32_cnn_generated_c_matches_its_float_twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        data_dir: Path, stride: int, padding: str, encoding: str,
                                                        opt: str, seed: int) -> None:
    from mcutrain.data import decode, encode

    n, n_eval, spe, every = 200, 60, 100, 50
    d = np.load(data_dir / "mnist.npz")
    pixels, y = d["x_train"].reshape(-1, 784)[:n], d["y_train"][:n]
    enc = encode(pixels, encoding, 128)
    x = decode(enc, encoding, 784, 8)
    plan = make_plan(784, _net(stride, padding), weights="float32", lr_start=-5, lr_min=-7)
    assert plan.state_bytes == 4 * plan.n_weights == 4 * (9 * 4 + 9 * 4 * 6 + plan.layers[4].n_in * 16 + 160)
    flags = [f for f in CFLAGS if f != "-O2"] + [opt, "-ffp-contract=off"]
    exe = compile_driver(plan, tmp_path, encoding, enc.shape[1], flags)
    src = (tmp_path / "mt_model.c").read_text()
    assert "l1_backward" in src and "l2_backward" in src and "l0_backward" not in src and "int32_t *x" not in src
    net = make_twin(plan)
    assert isinstance(net, Float32Twin) and isinstance(net.layers[0], Conv2dFloat32Twin)
    state, train = run_and_compare(exe, net, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    w = np.frombuffer(state, "<f4")
    assert np.isfinite(w).all() and len(np.unique(w[:36])) > 24   # real-valued conv weights (a few clipped to +-W0)
    assert len({h for _, h in train}) > n // 2   # the hinge of every step, compared above, varies
    # the comparison can fail: a twin whose conv sums its window in reverse order disagrees with this C
    def reversed_conv(self: Conv2dFloat32Twin, xb: np.ndarray) -> np.ndarray:
        cols = self._cols(xb)
        wm = self.W.reshape(-1, self.layer.filters)
        acc = np.zeros((len(cols), wm.shape[1]), np.float32)
        for k in reversed(range(wm.shape[0])):
            acc = acc + cols[:, k, None] * wm[k][None, :]
        return np.where(acc > 0, acc, np.float32(0)).astype(np.float32).reshape(len(xb), -1)

    monkeypatch.setattr(Conv2dFloat32Twin, "_conv", reversed_conv)
    with pytest.raises(AssertionError):
        run_and_compare(exe, make_twin(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)


def test_float32_cnn_functions_and_memory() -> None:
    plan = make_plan(784, _net(2, "valid"), weights="float32")
    assert {"l0_conv", "l0_update", "l1_backward", "l1_update", "l2_backward", "l3_backward"} <= set(
        training_functions(plan))
    assert {"l0_infer", "l1_conv", "l2_infer"} <= set(inference_functions(plan))
    items = {i.name: i.bytes for i in plan_memory(plan, get_board("netduinoplus2")).items}
    assert items["L0_W"] == 4 * 36 and items["L1_W"] == 4 * 216 and items["l1_g"] == 4 * 6
    assert "l0_codes" not in items and "l0_t" not in items


def test_float32_cnn_twin_learns(data_dir: Path) -> None:
    """1000 MNIST samples of the float32 CNN in its twin (the device's bits, by the test above): the test accuracy
    on 300 test images is far above chance (62.6% after 1500 samples when this was written)."""
    from mcutrain.data import decode, encode

    d = np.load(data_dir / "mnist.npz")
    n = 1000
    x = decode(encode(d["x_train"].reshape(-1, 784)[:n], "bits", 128), "bits", 784, 8)
    xt = decode(encode(d["x_test"].reshape(-1, 784)[:300], "bits", 128), "bits", 784, 8)
    plan = make_plan(784, _net(2, "valid"), weights="float32", lr_start=-6, lr_decay_every_epochs=0)
    net = make_twin(plan)
    net.start(1, n)
    for i in range(n):
        net.train_step(x[i], int(d["y_train"][i]))
    assert np.mean(net.infer(xt) == d["y_test"][:300]) > 0.4
