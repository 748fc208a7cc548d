"""bench/cifar_finetune.py (issue 14, CIFAR part) on a tiny CIFAR-shaped data set, twin only: its figures
against a direct twin computation (pretraining on the old classes outside the shard, fine-tuning and
training from scratch on the shard, accuracies per class group)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from mcutrain.errors import McutrainError

ROOT = Path(__file__).resolve().parent.parent
OLD = 8


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("cifar_finetune_bench", ROOT / "bench" / "cifar_finetune.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_cifar(tmp: Path) -> Path:
    """32x32x3 images whose colour depends on the class (so that something is learnable), labels in turn."""
    rng = np.random.default_rng(5)

    def images(n: int, y: np.ndarray) -> np.ndarray:
        base = rng.integers(0, 256, (10, 1, 1, 3))
        return np.clip(base[y] + rng.integers(-60, 60, (n, 32, 32, 3)), 0, 255).astype(np.uint8)

    y_tr = np.arange(600) % 10
    y_te = rng.permutation(np.arange(200) % 10)
    path = tmp / "tiny_cifar.npz"
    np.savez(path, x_train=images(600, y_tr), y_train=y_tr.astype(np.uint8), x_test=images(200, y_te),
             y_test=y_te.astype(np.uint8))
    return path


def _model(tmp: Path, data: Path) -> Path:
    text = (ROOT / "examples" / "cifar10_cnn.toml").read_text()
    text = text.replace('dataset = "cifar10"', f'dataset = "{data.name}"')
    path = tmp / "cifar10_cnn.toml"
    path.write_text(text)
    return path


def _acc(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    hit = [int(p == t) for p, t in zip(pred, y, strict=True)]
    new = [h for h, t in zip(hit, y, strict=True) if t >= OLD]
    old = [h for h, t in zip(hit, y, strict=True) if t < OLD]
    return sum(hit) / len(hit), sum(new) / len(new), sum(old) / len(old)


def test_figures_match_a_direct_twin_computation(tmp_path: Path) -> None:
    from mcutrain.host.twin_run import sample_order, train_twin

    from mcutrain.data.datasets import load_file
    from mcutrain.fleet.layout import load_twin_state
    from mcutrain.job import encoded_data, twin_data
    from mcutrain.model import check_against_data, load_model
    from mcutrain.state import file as sfile
    from mcutrain.state.layout import state_layout
    from mcutrain.twin import make_twin

    model = _model(tmp_path, _tiny_cifar(tmp_path))
    state, out, js = tmp_path / "pre.state", tmp_path / "results.md", tmp_path / "fig.json"
    out.write_text("# Results\n\nkept\n")
    shard, npre, ntest, seeds = 100, 200, 150, [1, 2]
    assert _bench().main([str(model), "--shard", str(shard), "--pretrain-images", str(npre), "--test", str(ntest),
                          "--epochs", "2", "--seeds", *map(str, seeds), "--state", str(state), "--json", str(js),
                          "-o", str(out)]) == 0
    fig = json.loads(js.read_text())

    ds = load_file(tmp_path / "tiny_cifar.npz")
    spec = check_against_data(load_model(model), ds.n_inputs, ds.n_classes)
    y = ds.y_train
    pre_idx = [i for i in range(shard, len(y)) if y[i] < OLD][:npre]
    assert len(pre_idx) == npre and all(i >= shard for i in pre_idx)
    plan, x_all, x_te = twin_data(spec, *encoded_data(spec, ds))
    x_te, y_te = x_te[:ntest], ds.y_test[:ntest]
    # pretraining: the model's seed and epochs over the old-class images outside the shard
    pre = make_twin(plan)
    train_twin(pre, spec.seed, npre, x_all[pre_idx], y[pre_idx], sample_order(spec.seed, npre, spec.training.epochs))
    sf = sfile.read(state, state_layout(spec), spec.model_hash())
    assert sf.state == pre.state_bytes() and sf.header.samples_trained == npre * spec.training.epochs
    assert fig["pre_samples"] == npre * spec.training.epochs and fig["shard"] == shard and fig["test"] == ntest
    loaded = make_twin(plan)
    loaded.start(1, 0)
    load_twin_state(loaded, sf.state)
    assert loaded.state_bytes() == pre.state_bytes()
    p = _acc(pre.infer(x_te), y_te)
    assert (fig["pretrained"]["overall"], fig["pretrained"]["new"], fig["pretrained"]["old"]) == pytest.approx(p)
    assert p[1] == 0.0  # never saw classes 8-9: never predicts them
    for seed, row in zip(seeds, fig["rows"], strict=True):
        order = sample_order(seed, shard, 2)
        tuned, scratch = make_twin(plan), make_twin(plan)
        train_twin(tuned, seed, shard, x_all[:shard], y[:shard], order, init_state=sf.state)
        train_twin(scratch, seed, shard, x_all[:shard], y[:shard], order)
        assert row["seed"] == seed
        for key, net in (("fine_tuned", tuned), ("scratch", scratch)):
            a = _acc(net.infer(x_te), y_te)
            assert (row[key]["overall"], row[key]["new"], row[key]["old"]) == pytest.approx(a)
        assert tuned.state_bytes() != scratch.state_bytes()
    text = out.read_text()
    assert "kept" in text and "<!-- BEGIN generated:cifar-finetune -->" in text
    r1 = fig["rows"][0]["fine_tuned"]["new"], fig["rows"][1]["fine_tuned"]["new"]
    assert f"{np.mean(r1) * 100:.2f}% ± {np.std(r1, ddof=1) * 100:.2f}" in text
    # a second run reuses the pretraining (the state file untouched, the first run's pretraining time reported)
    mtime = state.stat().st_mtime_ns
    assert _bench().main([str(model), "--shard", str(shard), "--pretrain-images", str(npre), "--test", str(ntest),
                          "--epochs", "2", "--seeds", "1", "--state", str(state), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["pre_seconds"] == pytest.approx(fig["pre_seconds"], abs=0.06)
    assert state.stat().st_mtime_ns == mtime


def test_bad_splits_are_refused_with_the_fix(tmp_path: Path) -> None:
    from mcutrain.data.datasets import load_file
    from mcutrain.results.cifar_finetune import split

    ds = load_file(_tiny_cifar(tmp_path))
    with pytest.raises(McutrainError, match="pick 1..599"):
        split(ds, 600, OLD, 0, 0)
    with pytest.raises(McutrainError, match="pick fewer"):
        split(ds, 100, OLD, 401, 0)  # 500 images after the shard, 400 of them of classes 0-7
    with pytest.raises(McutrainError, match="some classes must be new"):
        split(ds, 100, 10, 0, 0)
    pre, tune, _ = split(ds, 100, OLD, 0, 50)
    assert len(pre.y_train) == 400 and (pre.y_train < OLD).all() and len(tune.y_train) == 100
    assert len(tune.y_test) == 50 and set(tune.y_train) == set(range(10))
