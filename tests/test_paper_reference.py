"""The float reference of the paper's methods: samplers and quantizers against their definitions,
batch norm, schedules, the gradient of a training step, and the table command on a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mcutrain.reference.batchnorm import BatchNorm
from mcutrain.reference.lr_schedule import ExpDecay, Pow2Step
from mcutrain.reference.paper_mlp import MLPConfig, PaperMLP
from mcutrain.reference.quantizers import (
    ap2,
    binary_deterministic,
    binary_stochastic,
    eval_weights,
    pow2_stochastic,
    sample_weights,
    ternary_deterministic,
    ternary_stochastic,
)

BEGIN = "<!-- BEGIN generated:paper-mnist-table -->"
N = 200_000  # draws per value: the standard error of a frequency is at most 0.0011
W0 = 0.25
LEVELS = np.array([-0.4, -0.25, -0.2, -0.05, 0.0, 0.05, 0.125, 0.2, 0.25, 0.3], np.float32)  # in units of W0 below


def _draws(fn, rng: np.random.Generator) -> np.ndarray:
    w = np.repeat(LEVELS, N).reshape(len(LEVELS), N)
    return fn(w, W0, rng)


def test_binary_stochastic_probabilities_and_mean() -> None:
    rng = np.random.default_rng(1)
    wb = _draws(binary_stochastic, rng)
    assert set(np.unique(wb)) <= {np.float32(W0), np.float32(-W0)}
    p = np.clip((LEVELS / W0 + 1) / 2, 0, 1)
    freq = (wb > 0).mean(axis=1)
    assert np.all(np.abs(freq - p) < 0.006), (freq, p)
    # unbiased inside [-W0, W0]: E[Wb] = W clipped
    assert np.all(np.abs(wb.mean(axis=1) - np.clip(LEVELS, -W0, W0)) < 0.006 * W0 * 2)
    # beyond the clip range the sample is certain
    assert np.all(wb[LEVELS <= -W0] == -np.float32(W0)) and np.all(wb[LEVELS >= W0] == np.float32(W0))


def test_ternary_stochastic_probabilities_mean_and_zeros() -> None:
    rng = np.random.default_rng(2)
    wb = _draws(ternary_stochastic, rng)
    assert set(np.unique(wb)) <= {np.float32(W0), np.float32(0), np.float32(-W0)}
    a = np.clip(np.abs(LEVELS) / W0, 0, 1)
    nonzero = (wb != 0).mean(axis=1)
    assert np.all(np.abs(nonzero - a) < 0.006), (nonzero, a)
    # never the opposite sign; zero weights always sample to zero
    assert np.all(wb[LEVELS > 0] >= 0) and np.all(wb[LEVELS < 0] <= 0)
    assert np.all(wb[LEVELS == 0] == 0)
    assert np.all(np.abs(wb.mean(axis=1) - np.clip(LEVELS, -W0, W0)) < 0.006 * W0 * 2)


def test_deterministic_weights() -> None:
    w = np.array([-0.3, -0.125, -0.124, 0.0, 0.1, 0.125, 0.3], np.float32)
    assert binary_deterministic(w, W0).tolist() == [-W0, -W0, -W0, W0, W0, W0, W0]
    assert ternary_deterministic(w, W0).tolist() == [-W0, -W0, 0, 0, 0, W0, W0]
    rng = np.random.default_rng(0)
    assert np.array_equal(sample_weights(w, W0, "ternary-det", rng), eval_weights(w, W0, "ternary"))
    assert np.array_equal(sample_weights(w, W0, "binary-det", rng), eval_weights(w, W0, "binary"))
    assert sample_weights(w, W0, "float32", rng) is w
    with pytest.raises(ValueError, match="weight mode"):
        sample_weights(w, W0, "quaternary", rng)


@pytest.mark.parametrize("x", [0.3, -0.3, 0.75, 1.0, 3.1, -0.01, 1e-3])
def test_pow2_stochastic_definition(x: float) -> None:
    rng = np.random.default_rng(3)
    q = pow2_stochastic(np.full(N, x, np.float64), rng)
    k = np.floor(np.log2(abs(x)))
    lo, hi = np.sign(x) * 2.0**k, np.sign(x) * 2.0 ** (k + 1)
    assert set(np.unique(q)) <= {lo, hi}
    p = abs(x) / 2.0**k - 1
    assert abs((q == hi).mean() - p) < 0.006
    assert abs(q.mean() - x) < 0.01 * abs(x)  # unbiased


def test_pow2_stochastic_zeros_powers_and_range() -> None:
    rng = np.random.default_rng(4)
    x = np.array([0.0, -0.0, 0.5, -2.0, 4.0, 1024.0, 2.0**-20], np.float32)
    q = pow2_stochastic(x, rng)
    assert q.dtype == np.float32
    assert q.tolist() == x.tolist()  # exact powers of two stay, zeros stay zero
    q = pow2_stochastic(x, rng, -8, 7)
    assert q[:6].tolist() == [0.0, 0.0, 0.5, -2.0, 4.0, 128.0]  # saturates at 2^7
    small = pow2_stochastic(np.full(N, 0.3 * 2.0**-8), rng, -8, 7)  # below the range: 2^-8 or 0, unbiased
    assert set(np.unique(small)) == {0.0, 2.0**-8}
    assert abs((small > 0).mean() - 0.3) < 0.006
    r = pow2_stochastic(rng.normal(0, 100, 10_000), rng, -3, 2)
    e = np.log2(np.abs(r[r != 0]))
    assert np.all(e == np.round(e)) and e.min() >= -3 and e.max() <= 2


def test_ap2() -> None:
    x = np.array([0.0, 1.0, 1.4, 1.5, -3.0, 0.3], np.float64)
    assert ap2(x).tolist() == [0.0, 1.0, 1.0, 2.0, -4.0, 0.25]


def test_batchnorm_standard_normalizes_and_tracks() -> None:
    rng = np.random.default_rng(5)
    bn = BatchNorm(6)
    bn.gamma[:] = np.arange(1, 7)
    bn.beta[:] = -1
    z = rng.normal(3, 5, (500, 6)).astype(np.float32)
    y = bn.forward_train(z)
    assert y.shape == z.shape
    assert np.allclose(y.mean(axis=0), -1, atol=1e-4)
    assert np.allclose(y.std(axis=0), np.arange(1, 7), rtol=1e-3)
    for _ in range(200):
        bn.forward_train(rng.normal(3, 5, (500, 6)).astype(np.float32))
    assert np.allclose(bn.run_mean, 3, atol=0.3) and np.allclose(bn.run_var, 25, rtol=0.1)
    ye = bn.forward_eval(z)
    want = (z - bn.run_mean) / np.sqrt(bn.run_var + bn.eps) * bn.gamma + bn.beta  # running statistics
    assert ye.shape == z.shape and np.allclose(ye, want, rtol=1e-5, atol=1e-5)


def test_batchnorm_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(6)
    bn = BatchNorm(3)
    bn.gamma[:] = [0.5, 2.0, -1.0]
    z = rng.normal(0, 2, (8, 3))
    g = rng.normal(0, 1, (8, 3))

    def loss(zz: np.ndarray) -> float:
        return float((BatchNorm.forward_train(bn, zz) * g).sum())

    loss(z)
    dz, _dg, _db = bn.backward(g)
    num = np.zeros_like(z)
    eps = 1e-3
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        num[i] = (loss(zp) - loss(zm)) / (2 * eps)
    assert np.allclose(dz, num, atol=2e-3), (dz, num)


def test_batchnorm_shift_uses_powers_of_two() -> None:
    rng = np.random.default_rng(7)
    bn = BatchNorm(4, shift=True)
    bn.gamma[:] = [0.7, 1.0, 3.0, -0.3]
    z = rng.normal(1, 3, (256, 4)).astype(np.float32)
    y = bn.forward_train(z)
    xh, s, g = bn._cache  # type: ignore[misc]
    assert np.all(np.log2(s) == np.round(np.log2(s))) and g.tolist() == [0.5, 1.0, 4.0, -0.25]
    assert np.allclose(xh.mean(axis=0), 0, atol=1e-4)
    assert np.all((xh.std(axis=0) > 0.5) & (xh.std(axis=0) < 2.0))  # within a power of two of unit variance
    assert np.allclose(y, xh * g)


def test_schedules() -> None:
    s = ExpDecay(0.3, 0.01, 10)
    assert s(0) == pytest.approx(0.3) and s(9) == pytest.approx(0.01)
    assert s(5) / s(4) == pytest.approx(s(1) / s(0))
    p = Pow2Step(shift=6, every=2, min_shift=8)
    assert [p(e) for e in range(7)] == [2.0**-6, 2.0**-6, 2.0**-7, 2.0**-7, 2.0**-8, 2.0**-8, 2.0**-8]


@pytest.mark.parametrize("bn", ["none", "standard"])
def test_training_step_is_the_gradient(bn: str) -> None:
    """float32 mode without QBP or clipping: W changes by -lr dLoss/dW (central differences)."""
    rng = np.random.default_rng(8)
    net = PaperMLP(MLPConfig(sizes=(5, 4, 3), weights="float32", batch_norm=bn, seed=3))
    net.W = [w.astype(np.float64) for w in net.W]
    x, y = rng.normal(0, 1, (16, 5)), rng.integers(0, 3, 16)
    b0 = [b.copy() for b in net.b]

    def loss(Ws: list[np.ndarray]) -> float:
        probe = PaperMLP(net.cfg)
        probe.W, probe.b = [w.copy() for w in Ws], [b.copy() for b in b0]
        out = probe._forward(x, probe.W, True)[1][-1]
        t = np.full_like(out, -1)
        t[np.arange(len(y)), y] = 1
        return float((np.maximum(0, 1 - t * out) ** 2).sum() / len(y))

    before = [w.copy() for w in net.W]
    lr = 1e-3
    net.train_batch(x, y, lr)
    eps = 1e-4
    for k in range(2):
        grad = (before[k] - net.W[k]) / lr
        num = np.zeros_like(grad)
        for i in np.ndindex(grad.shape):
            wp, wm = [w.copy() for w in before], [w.copy() for w in before]
            wp[k][i] += eps
            wm[k][i] -= eps
            num[i] = (loss(wp) - loss(wm)) / (2 * eps)
        assert np.allclose(grad, num, atol=1e-3, rtol=1e-3), (k, grad, num)


@pytest.mark.parametrize(("mode", "bn"), [("binary", "standard"), ("ternary", "standard"), ("binary-det", "standard"),
                                          ("ternary-det", "standard"), ("ternary", "shift"), ("binary", "none")])
def test_quantized_modes_clip_and_learn_a_separable_task(mode: str, bn: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(0, 1, (2000, 20)).astype(np.float32)
    y = (x[:, :3].argmax(axis=1)).astype(np.int64)
    net = PaperMLP(MLPConfig(sizes=(20, 64, 3), weights=mode, qbp=True, qbp_range=(-8, 7), batch_norm=bn, seed=1))
    err0 = net.error(x, y, real_weights=False)
    for e in range(5):
        net.train_epoch(x, y, ExpDecay(0.3, 0.01, 5)(e), 50)
    assert all(np.all(np.abs(w) <= w0) for w, w0 in zip(net.W, net.w0, strict=True))
    assert net.error(x, y) < 0.2 and net.error(x, y, real_weights=False) < min(0.35, err0), (err0, net.error(x, y))


def test_paper_table_command_writes_its_section(tmp_path: Path, data_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mcutrain.cli import main

    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    md = tmp_path / "results.md"
    md.write_text("# Results\n\n## Other section\n\nkept as it is\n")
    js = tmp_path / "table.json"
    args = ["paper-table", "--epochs", "1", "--sizes", "784-16-10", "--train-samples", "1000",
            "--results", str(md), "--json", str(js)]
    for _ in range(2):  # the second run replaces the section, it does not add one
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
    text = md.read_text()
    assert "## Other section\n\nkept as it is\n" in text
    assert text.count(BEGIN) == 1
    assert text.count("<!-- END generated:paper-mnist-table -->") == 1
    s = json.loads(js.read_text())
    assert [r["row"]["key"] for r in s["rows"]] == ["full", "binary-qbp", "ternary-qbp"]
    for r in s["rows"]:
        assert r["epochs_run"] == 1 and r["train_samples_per_second"] > 0
        assert 0 <= r["real"]["test_error_pct"] < 60  # 16 hidden units, 1000 images: well above chance
        assert f"{r['real']['test_error_pct']:.2f}% (1)" in text
        if r["row"]["weights"] != "float32":
            assert f"{r['det']['test_error_pct']:.2f}% (1) | {r['recal']['test_error_pct']:.2f}% (1)" in text
    full_rows = {r["row"]["key"]: r for r in s["rows"]}
    res = CliRunner().invoke(main, args + ["--row", "ternary-qbp", "--seed", "2"])  # one row again: merged
    assert res.exit_code == 0, res.output
    s2 = json.loads(js.read_text())
    assert [r["row"]["key"] for r in s2["rows"]] == ["full", "binary-qbp", "ternary-qbp"]
    assert s2["rows"][0]["real"] == full_rows["full"]["real"] and "--row" not in s2["rows"][0]["command"]
    assert "--seed 2" in s2["rows"][2]["command"]
    text = md.read_text()
    assert text.count(BEGIN) == 1 and "(rows full, binary-qbp)" in text and "(rows ternary-qbp)" in text
    before = md.read_text()
    md.write_text(before.replace(BEGIN, BEGIN + "\nhand edit\n"))
    res = CliRunner().invoke(main, ["paper-table", "--render-only", "--results", str(md), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert md.read_text() == before
    res = CliRunner().invoke(main, ["paper-table", "--sizes", "784-16-10"])
    assert res.exit_code != 0 and "--minutes" in res.output


def test_rows_run_as_separate_processes_merge_one_at_a_time(tmp_path: Path, data_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`paper-table --row X` runs in parallel (one process a row) take a lock on the JSON while they merge:
    a run that finishes while another holds it waits, then merges, so no row is lost."""
    import threading
    import time

    from mcutrain.reference.paper_table import json_lock, run_table

    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    md, js = tmp_path / "results.md", tmp_path / "table.json"
    md.write_text("# Results\n")
    lines: list[str] = []
    kw = dict(epochs=1, minutes=None, sizes=(784, 16, 10), train_samples=500, results_md=md, json_path=js,
              command="test")
    with json_lock(js):
        t = threading.Thread(target=run_table, kwargs=dict(kw, rows=("full",), log=lines.append))
        t.start()
        deadline = time.monotonic() + 120
        while not any(ln.startswith("full: epoch 1/1") for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(ln.startswith("full: epoch 1/1") for ln in lines), lines
        t.join(timeout=1.0)
        assert t.is_alive() and not js.exists()  # trained, waiting for the lock
    t.join(timeout=60)
    assert not t.is_alive() and js.exists()
    run_table(**kw, rows=("ternary-qbp",), log=lambda s: None)
    assert [r["row"]["key"] for r in json.loads(js.read_text())["rows"]] == ["full", "ternary-qbp"]


def test_float_and_integer_quantizers_agree_in_expectation() -> None:
    """The float samplers and the integer twin's (mcutrain/arith/quant.py) give the same distributions:
    binary connect P(+1) and power-of-two rounding inside and below the exponent range."""
    from mcutrain.arith.quant import binarize_stochastic as int_binarize
    from mcutrain.arith.quant import pow2_exponent_stochastic, pow2_value

    rng = np.random.default_rng(10)
    w0 = 64
    for w in (-80, -64, -33, -1, 0, 1, 17, 63, 64, 90):
        p_int = int_binarize(np.full(N, w), rng.integers(0, 2 * w0, N), w0).mean()
        p_flt = (binary_stochastic(np.full(N, w / w0, np.float32), 1.0, rng) > 0).mean()
        assert abs(p_int - p_flt) < 0.009, (w, p_int, p_flt)
    frac = 8  # the integer x stands for x / 2^8
    for x in (1, 3, 5, 77, 200, 1000, 4095):
        ex, keep = pow2_exponent_stochastic(np.full(N, x), rng.integers(0, 2**31, N), 2, 11)
        qi = pow2_value(ex, keep) / 2.0**frac
        qf = pow2_stochastic(np.full(N, x / 2.0**frac), rng, 2 - frac, 11 - frac)
        assert set(np.unique(qi)) == set(np.unique(qf)), x
        for v in np.unique(qi):
            assert abs((qi == v).mean() - (qf == v).mean()) < 0.009, (x, v)
        assert abs(qi.mean() - qf.mean()) < 0.02 * x / 2.0**frac + 1e-9


def test_bn_recalibration_uses_exact_statistics_of_the_evaluated_weights() -> None:
    rng = np.random.default_rng(11)
    net = PaperMLP(MLPConfig(sizes=(8, 16, 4), weights="binary", qbp=True, seed=2))
    x = rng.normal(0, 1, (300, 8)).astype(np.float32)
    rc = net.bn_recalibrated(x)
    z = x @ eval_weights(net.W[0], net.w0[0], "binary") + net.b[0]
    assert np.allclose(rc.bn[0].run_mean, z.mean(axis=0), atol=1e-5)
    assert np.allclose(rc.bn[0].run_var, z.var(axis=0), rtol=1e-4)
    assert np.array_equal(net.bn[0].run_mean, np.zeros(16, np.float32))  # the original is left alone
    y = rc.bn[0].forward_eval(z)
    assert np.allclose(y.mean(axis=0), 0, atol=1e-4) and np.allclose(y.std(axis=0), 1, rtol=1e-3)
