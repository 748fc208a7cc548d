"""The float32 baseline (`[training] weights = "float32"`): the NumPy float32 twin is SGD on the
squared hinge loss (checked against the float64 reference), its memory plan matches the linker,
and a session on the emulated Cortex-M4F is bit-exact with the twin (hard-float VFP).
The host build's bit-exactness is in test_generated_c_host.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import small_model, train_verified

from mcutrain.arith.plan import make_dense_plan
from mcutrain.build.project import build, write_project
from mcutrain.cli import main
from mcutrain.model import check_against_data, load_model
from mcutrain.reference import FloatMLP
from mcutrain.twin import Float32Twin, TwinNetwork, make_twin


def test_make_twin_chooses_by_weight_mode() -> None:
    assert isinstance(make_twin(make_dense_plan([20, 8, 3], weights="float32")), Float32Twin)
    assert isinstance(make_twin(make_dense_plan([20, 8, 3], weights="sign")), TwinNetwork)


def test_float32_plan_ignores_fixed_point_settings() -> None:
    plan = make_dense_plan([784, 100, 10], weights="float32", qbp=True, update_rounding="stochastic",
                           weight_scale_shift=1)
    assert plan.is_float and not plan.qbp and not plan.stochastic_update
    assert plan.latent_bytes == 4 and plan.latent_ctype == "float" and plan.latent_dtype == "<f4"
    # W0: Glorot h/2 x 2^weight_scale_shift, not rounded to a power of two, as a float32
    w0 = np.sqrt(6.0 / 884) / 2 * 2
    assert plan.layers[0].w0_float == float(np.float32(w0))


def test_float32_twin_is_sgd_on_the_squared_hinge(data_dir: Path) -> None:
    """Same start, same samples: the twin (float32, sequential sums) follows the float64 reference
    (FloatMLP, weights = float32 mode, batch 1) to float32 rounding."""
    d = np.load(data_dir / "mnist.npz")
    x = (d["x_train"].reshape(-1, 784)[:60] >> 4).astype(np.int64) << 4   # u4-decoded values, Q8
    y = d["y_train"][:60]
    plan = make_dense_plan([784, 24, 10], weights="float32", lr_start=-5, lr_decay_every_epochs=0)
    twin = Float32Twin(plan)
    twin.start(5, 60)
    ref = FloatMLP([784, 24, 10], weights="float32", qbp=False, lr=2.0**-5)
    ref.w0 = [layer.w0_float for layer in plan.layers]
    ref.W = [layer.W.astype(np.float64) for layer in twin.layers]
    init = [w.copy() for w in ref.W]
    for i in range(len(x)):
        twin.train_step(x[i], int(y[i]))
        ref.train_batch(x[i:i + 1] / 256.0, y[i:i + 1])
    for k, layer in enumerate(twin.layers):
        moved = np.abs(ref.W[k] - init[k]).max()
        assert moved > 1e-3                                        # it trained
        assert np.abs(layer.W - ref.W[k]).max() < 1e-4 * moved + 1e-6
        assert np.abs(layer.W).max() <= layer.w0                  # clipped to [-W0, W0]
    p_twin = twin.infer(x)
    assert (p_twin == ref.predict(x / 256.0)).mean() > 0.95


def test_float32_init_is_uniform_in_w0(tmp_path: Path) -> None:
    plan = make_dense_plan([300, 100, 10], weights="float32")
    twin = Float32Twin(plan)
    twin.start(123, 10)
    w, w0 = twin.layers[0].W, twin.layers[0].w0
    assert w.dtype == np.float32 and w.min() >= -w0 and w.max() < w0
    assert abs(float(w.mean())) < 0.01 * w0 and abs(float(np.abs(w).mean()) - w0 / 2) < 0.01 * w0
    assert len(twin.state_bytes()) == 4 * (300 * 100 + 100 * 10)


def _elf_sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    return {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}


def test_float32_memory_plan_matches_linker(tmp_path: Path) -> None:
    spec = load_model(small_model(tmp_path, weights="float32", qbp=False, units=24))
    spec = check_against_data(spec, 784, 10)
    proj = write_project(spec, tmp_path / "p")
    ram = proj.generated.manifest["ram"]
    assert ram["by_kind"]["latent_weights"] == 4 * (784 * 24 + 24 * 10)   # float weights, 4 bytes each
    assert "sign_bits" not in ram["by_kind"] and "row_index" not in ram["by_kind"]
    elf = build(proj)
    sec = _elf_sections(elf)
    linked = sum(v for k, v in sec.items() if k in (".data", ".bss", ".stack"))
    assert abs(linked - ram["planned_bytes"]) <= 0.05 * ram["planned_bytes"], (linked, ram["planned_bytes"])
    flash = sum(v for k, v in sec.items() if k in (".isr_vector", ".text", ".rodata", ".data"))
    estimate = proj.generated.manifest["flash"]["planned_bytes_estimate"]
    assert abs(flash - estimate) <= 0.25 * estimate, (flash, estimate)


def test_model_too_large_suggests_a_binarized_mode(tmp_path: Path) -> None:
    model = small_model(tmp_path, weights="float32", qbp=False, units=64)   # 784 x 64 floats: 200 KB
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "bytes of RAM" in res.output and 'weights = "sign"' in res.output


@pytest.mark.qemu
@pytest.mark.skipif(bool(os.environ.get("MCUTRAIN_SKIP_QEMU")), reason="MCUTRAIN_SKIP_QEMU set")
def test_float32_session_on_qemu_is_bit_exact(tmp_path: Path) -> None:
    """netduinoplus2 (Cortex-M4F, -mfloat-abi=hard): the device's float SGD and the float32 twin agree
    on every digest, every test prediction and the final weights."""
    model = small_model(tmp_path, weights="float32", qbp=False, train=1000, test=300)
    r = train_verified(model, tmp_path)
    assert r["bit_exact"] is True and r["digests_checked"] == 4 and r["samples_trained"] == 1000
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.5


@pytest.mark.qemu
@pytest.mark.skipif(bool(os.environ.get("MCUTRAIN_SKIP_QEMU")), reason="MCUTRAIN_SKIP_QEMU set")
@pytest.mark.parametrize("board,pool,encoding,units", [("lm3s6965evb", 2, "u4", 32), ("microbit", 4, "u8", 16)])
def test_float32_soft_float_session_is_bit_exact(tmp_path: Path, board: str, pool: int, encoding: str,
                                                 units: int) -> None:
    """Soft float (libgcc's __aeabi_f* helpers) on the Cortex-M3 and the Cortex-M0: bit-exact too."""
    model = small_model(tmp_path, weights="float32", qbp=False, train=400, test=200, board=board, pool=pool,
                        encoding=encoding, units=units)
    res = CliRunner().invoke(main, ["train", str(model), "--verify", "--digest-every", "100",
                                    "--build-dir", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "bit-exact: yes (4 digests" in res.output
