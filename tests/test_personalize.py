"""The personalization demo's data (scikit-learn's 8x8 digits as 28x28) and its measurement (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import small_model

pytest.importorskip("sklearn")


def test_digits_are_resampled_into_mnists_frame() -> None:
    from sklearn.datasets import load_digits as sk

    from mcutrain.data.digits import DEVICE_TRAIN, load_digits, to_mnist_frame

    d = load_digits()
    raw = sk()
    assert d.x_train.shape == (DEVICE_TRAIN, 784) and d.x_test.shape == (len(raw.target) - DEVICE_TRAIN, 784)
    assert set(np.unique(d.y_train)) == set(range(10)) == set(np.unique(d.y_test)) and d.n_classes == 10
    imgs = np.concatenate([d.x_train, d.x_test]).reshape(-1, 28, 28)
    ring = np.ones((28, 28), bool)
    ring[4:24, 4:24] = False
    assert imgs[:, ring].max() == 0  # the digit fills the 20x20 box only, as MNIST's
    # every image once: the split is a permutation of scikit-learn's images
    flat = to_mnist_frame(raw.images)
    key = {row.tobytes(): i for i, row in enumerate(flat)}
    idx = [key[row.tobytes()] for row in np.concatenate([d.x_train, d.x_test])]
    assert len(set(idx)) == len(raw.target)
    np.testing.assert_array_equal(raw.target[idx], np.concatenate([d.y_train, d.y_test]))
    # full ink (16) becomes 255 inside the box; a linear ramp stays monotonic after resampling
    full = to_mnist_frame(np.full((1, 8, 8), 16)).reshape(28, 28)
    assert (full[4:24, 4:24] == 255).all()
    ramp = to_mnist_frame(np.tile(np.arange(0, 16, 2), (1, 8, 1))).reshape(28, 28)[10, 4:24].astype(int)
    assert (np.diff(ramp) >= 0).all() and ramp[-1] > ramp[0]


def _digits_model(tmp: Path, mnist: Path, epochs: int = 2) -> Path:
    text = mnist.read_text().replace('dataset = "mnist"', 'dataset = "digits"')
    text = text.replace("train_samples = 900", "train_samples = 0").replace("test_samples = 300", "test_samples = 0")
    p = tmp / "digits.toml"
    assert "epochs" not in text and text.rstrip().splitlines()[-1].startswith("learning_rate")  # [training] last
    p.write_text(text.replace('name = "small"', 'name = "digits"') + f"epochs = {epochs}\n")
    return p


def test_personalization_figures(tmp_path: Path) -> None:
    from mcutrain.errors import McutrainError
    from mcutrain.fleet.layout import load_twin_state
    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.results.personalize import measure, render
    from mcutrain.state import file as sfile
    from mcutrain.twin import TwinNetwork

    pre_m = small_model(tmp_path, train=900, test=300, units=24)
    tune_m = _digits_model(tmp_path, pre_m)
    pre, pre_ds = load_data(load_spec(pre_m))
    tune, tune_ds = load_data(load_spec(tune_m))
    assert pre.model_hash() == tune.model_hash()  # the data set is not in the hash
    state = tmp_path / "pre.state"
    res = measure(pre, pre_ds, tune, tune_ds, state, [1, 2], [50, 1000])
    assert [(r.samples, r.seed) for r in res.rows] == [(50, 1), (50, 2), (1000, 1), (1000, 2)]
    assert res.tune_train == 1000 and res.tune_test == 797
    # the pretrained figure is the state file's net on the held-out digits
    plan, _, x_te = twin_data(tune, *encoded_data(tune, tune_ds))
    net = TwinNetwork(plan)
    net.start(1, 0)
    load_twin_state(net, sfile.read(state).state)
    assert res.pretrained == float((net.infer(x_te) == tune_ds.y_test).mean())
    assert res.rows[0].fine_tuned != res.rows[0].scratch  # different starting points, different results
    assert all(0.0 < r.last_layer <= 1.0 for r in res.rows) and res.rows[2].last_layer != res.rows[2].fine_tuned
    before = state.read_bytes()
    again = measure(pre, pre_ds, tune, tune_ds, state, [2], [1000])  # the state file is reused, figures repeat
    assert state.read_bytes() == before and again.rows[0] == res.rows[3]
    text = render(res, "mcutrain personalize")
    assert f"{res.pretrained * 100:.2f}%" in text and "| 50 |" in text and "| 1000 |" in text
    with pytest.raises(McutrainError, match="1001 device-training images"):
        measure(pre, pre_ds, tune, tune_ds, state, [1], [1001])


def test_personalization_refuses_two_different_networks(tmp_path: Path) -> None:
    from mcutrain.errors import McutrainError
    from mcutrain.job import load_data, load_spec
    from mcutrain.results.personalize import measure

    pre_m = small_model(tmp_path, train=900, test=300, units=24)
    other = small_model(tmp_path, train=900, test=300, units=20, name="other")
    tune_m = _digits_model(tmp_path, other)
    pre, pre_ds = load_data(load_spec(pre_m))
    tune, tune_ds = load_data(load_spec(tune_m))
    with pytest.raises(McutrainError, match="different networks"):
        measure(pre, pre_ds, tune, tune_ds, tmp_path / "s.state", [1])
    assert not (tmp_path / "s.state").exists()
