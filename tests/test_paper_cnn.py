"""The float reference CNN (mcutrain/reference/paper_cnn.py): its backward pass against finite differences,
and the binary/ternary + QBP training rules."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mcutrain.reference.paper_cnn import (
    CNNConfig,
    ConvSpec,
    DenseSpec,
    PaperCNN,
    col2im,
    describe,
    im2col,
    maxpool2,
    maxpool2_backward,
    paper_cifar10_layers,
)

LAYERS = (ConvSpec(3, 3), ConvSpec(4, 2, pool=True), ConvSpec(4, 3, padding="same"), DenseSpec(5), DenseSpec(3))


def _loss(net: PaperCNN, x: np.ndarray, y: np.ndarray) -> float:
    out, _ = net._forward(x, net.W, True)
    t = np.full_like(out, -1)
    t[np.arange(len(y)), y] = 1
    return float((np.maximum(0, 1 - t * out) ** 2).sum() / len(y))


def test_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9, 9, 2))
    y = rng.integers(0, 3, 6)
    net = PaperCNN(CNNConfig(layers=LAYERS, input_shape=(9, 9, 2), weights="float32", seed=3))
    net.W = [w.astype(np.float64) for w in net.W]
    trained = copy.deepcopy(net)
    trained.train_batch(x, y, 1.0)                     # float32 mode: W <- W - 1.0 * dL/dW, no clipping
    for i in (0, 1, 2, 3, 4):
        grad = net.W[i] - trained.W[i]
        for idx in [tuple(rng.integers(0, s) for s in net.W[i].shape) for _ in range(4)]:
            plus, minus = copy.deepcopy(net), copy.deepcopy(net)
            plus.W[i][idx] += 1e-5
            minus.W[i][idx] -= 1e-5
            num = (_loss(plus, x, y) - _loss(minus, x, y)) / 2e-5
            assert grad[idx] == pytest.approx(num, rel=1e-3, abs=1e-6), (i, idx)


def test_im2col_col2im_adjoint_and_maxpool() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 6, 3))
    cols = im2col(x, 2)
    g = rng.normal(size=cols.shape)
    assert np.sum(cols * g) == pytest.approx(np.sum(x * col2im(g, x.shape, 2)))   # <Ax, g> = <x, A^T g>
    a = rng.normal(size=(2, 4, 6, 3))
    out, arg = maxpool2(a)
    assert np.array_equal(out, a.reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4)))
    d = rng.normal(size=out.shape)
    back = maxpool2_backward(d, arg)
    assert np.allclose(back.reshape(2, 2, 2, 3, 2, 3).sum(axis=(2, 4)), d) and np.count_nonzero(back) == d.size


@pytest.mark.parametrize("weights", ["binary", "ternary", "ternary_det"])
def test_quantized_modes_train_and_clip(weights: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 9, 9, 2)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    net = PaperCNN(CNNConfig(layers=LAYERS, input_shape=(9, 9, 2), weights=weights, qbp=True, seed=4))
    before = [w.copy() for w in net.W]
    losses = [net.train_batch(x, y, 0.1) for _ in range(30)]
    assert losses[-1] < losses[0]
    for w, w0, b in zip(net.W, net.w0, before, strict=True):
        assert np.abs(w).max() <= w0 + 1e-7 and not np.array_equal(w, b)
    assert 0 <= net.error(x, y, real_weights=False) <= 1


def test_paper_network_shapes() -> None:
    assert describe(paper_cifar10_layers(8)) == "16C3-16C3-MP2-32C2-32C2-MP2-64C2-64C2-MP2-128C2-FC128-FC10"
    net = PaperCNN(CNNConfig(layers=paper_cifar10_layers(32)))
    assert net.W[-3].shape == (16, 2, 2, 32) and net.W[-2].shape == (32, 32)   # 2x2 map -> 1x1 before the FCs
    with pytest.raises(ValueError, match="odd"):
        PaperCNN(CNNConfig(layers=(ConvSpec(2, 2, pool=True), DenseSpec(3)), input_shape=(4, 4, 1)))


def test_table_section_states_the_reductions_and_the_lossy_data(tmp_path) -> None:
    import json

    from mcutrain.reference import cnn_table

    def row(key: str, err: float) -> dict:
        return {"key": key, "label": key, "network": "16C3-FC10", "width_divisor": 8, "epochs": 2, "batch": 100,
                "lr": [0.3, 0.03], "train_images": 10000, "best_epoch": 2, "valid_error": err, "test_error": err,
                "history": [{"epoch": 1, "valid_error": 0.7, "test_error": 0.7}, {"epoch": 2, "valid_error": err,
                                                                                   "test_error": err}],
                "wall_seconds": 60.0, "train_images_per_second": 40.0,
                "data_source": "/d/cifar10_jpeg.npz (JPEG quality 75, lossy)", "complete": True}
    for key, err in (("float32", 0.5), ("ternary-qbp", 0.52)):
        part = tmp_path / f"{key}.json"
        part.write_text(json.dumps({"rows": {key: row(key, err)}}))
    out = tmp_path / "t.json"
    md = tmp_path / "r.md"
    cnn_table.main(["--merge", str(tmp_path / "float32.json"), str(tmp_path / "ternary-qbp.json"), "--json", str(out),
                    "--render", "--results", str(md)])
    text = md.read_text()
    assert "JPEG copy of CIFAR-10" in text and "lossy" in text
    assert "divided by 8" in text and "2 epochs instead of the paper's 300" in text and "first 10000" in text
    assert "+2.00 points" in text and "--train-limit 10000" in text
