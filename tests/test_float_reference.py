"""The float reference of the method learns MNIST and its power-of-two rounding is unbiased."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcutrain.data.pooling import pool_images
from mcutrain.reference import FloatMLP
from mcutrain.reference.float_mlp import pow2_stochastic


def test_pow2_stochastic_unbiased() -> None:
    rng = np.random.default_rng(0)
    x = np.full(200_000, 0.3)
    q = pow2_stochastic(x, rng, -8, 7)
    assert set(np.unique(q)) == {0.25, 0.5}
    assert abs(q.mean() - 0.3) < 0.002
    assert pow2_stochastic(np.zeros(5), rng, -8, 7).tolist() == [0.0] * 5


def test_float_reference_learns(data_dir: Path) -> None:
    d = np.load(data_dir / "mnist.npz")
    x = pool_images(d["x_train"].reshape(-1, 784)[:4000], 2) / 255.0
    xt = pool_images(d["x_test"].reshape(-1, 784)[:2000], 2) / 255.0
    y, yt = d["y_train"][:4000].astype(np.int64), d["y_test"][:2000]
    results = {}
    for weights in ("float32", "sign", "binary"):
        net = FloatMLP([196, 128, 10], weights=weights, qbp=weights != "float32", lr=2.0**-6, seed=1, w0_scale=2.0)
        for i in range(4000):  # batch 1, as streamed to the device
            net.train_batch(x[i:i + 1], y[i:i + 1])
        results[weights] = (net.predict(xt) == yt).mean()
    assert min(results.values()) > 0.75, results  # chance is 0.10
