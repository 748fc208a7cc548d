"""`mcutrain train` end to end on the emulated board, and its failure modes with their exit codes."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import board_model, qemu_processes, small_model, train_verified

from mcutrain.build.boards import BOARDS
from mcutrain.cli import main


@pytest.fixture()
def no_qemu_left(tmp_path: Path):
    yield
    left = qemu_processes(str(tmp_path))
    assert left == [], f"a QEMU started by the test is still running: {left}"


@pytest.mark.qemu
def test_train_verify_is_bit_exact(tmp_path: Path, no_qemu_left: None) -> None:
    model = small_model(tmp_path, train=1500, test=500)
    r = train_verified(model, tmp_path)
    for key in ("model_hash", "board", "samples_trained", "test_accuracy", "bit_exact", "digests_checked",
                "wall_seconds", "link_bytes"):
        assert key in r
    assert r["bit_exact"] is True and r["digests_checked"] == 6 and r["samples_trained"] == 1500
    assert r["test_accuracy"] == r["twin_test_accuracy"]
    assert r["test_accuracy"] > 0.4  # 1500 samples of 784-32-10: far above chance (0.1); 0.492 since hash format 3
    assert r["link_bytes"] >= 1500 * 100 + 500 * 99


@pytest.mark.qemu
@pytest.mark.parametrize("weights,qbp", [("ternary", True), ("ternary_det", True), ("ternary", False)])
def test_ternary_sessions_are_bit_exact(tmp_path: Path, no_qemu_left: None, weights: str, qbp: bool) -> None:
    """Ternary connect (stochastic and deterministic) trains on the emulated board bit for bit like the twin;
    the device evaluates with the deterministic ternarization of the latent weights."""
    model = small_model(tmp_path, weights=weights, qbp=qbp, train=1000, test=300)
    r = train_verified(model, tmp_path)
    assert r["bit_exact"] is True and r["digests_checked"] == 4 and r["samples_trained"] == 1000
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.3  # chance is 0.1


@pytest.mark.qemu
def test_batch_norm_session_is_bit_exact(tmp_path: Path, no_qemu_left: None) -> None:
    """Batch norm without multiplications in the hidden layer (running statistics, beta) on the emulated
    board, bit for bit like the twin (the statistics are part of the state bytes read back)."""
    model = small_model(tmp_path, weights="ternary", train=1000, test=300)
    model.write_text(model.read_text().replace('activation = "relu"', 'activation = "relu"\nbatch_norm = true'))
    r = train_verified(model, tmp_path)
    manifest = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())
    assert manifest["ram"]["by_kind"]["batch_norm"] == 16 * 32
    assert "l0_bn_infer" in manifest["functions"]["inference"]
    assert r["bit_exact"] is True and r["digests_checked"] == 4
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.3


@pytest.mark.qemu
def test_biases_session_is_bit_exact(tmp_path: Path, no_qemu_left: None) -> None:
    """Biases in both layers of a ternary model, trained on the emulated board bit for bit like the twin
    (the state read back at the end holds the weights and then the int32 biases)."""
    model = small_model(tmp_path, weights="ternary", train=1000, test=300)
    text = model.read_text().replace('activation = "relu"', 'activation = "relu"\nbias = true')
    model.write_text(text.replace('activation = "linear"', 'activation = "linear"\nbias = true'))
    r = train_verified(model, tmp_path)
    manifest = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())
    assert manifest["ram"]["by_kind"]["biases"] == 4 * (32 + 10)  # 784 x 32 + 32 x 10 int16 weights: no padding
    assert r["bit_exact"] is True and r["digests_checked"] == 4
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.3


@pytest.mark.qemu
@pytest.mark.parametrize("weights,batch,latent_bits", [("ternary", 8, 8), ("sign", 32, 16)])
def test_mini_batch_sessions_are_bit_exact(tmp_path: Path, no_qemu_left: None, weights: str, batch: int,
                                           latent_bits: int) -> None:
    """Mini-batches on the emulated board (int16 and int32 accumulators; 1000 samples an epoch is not a
    multiple of 32: a short last batch), bit for bit like the twin."""
    model = small_model(tmp_path, weights=weights, units=16, train=1000, test=300, latent_bits=latent_bits,
                        extra=f"batch_size = {batch}")
    r = train_verified(model, tmp_path)
    manifest = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())
    assert manifest["ram"]["by_kind"]["batch_accumulators"] > 0
    assert "l0_apply_batch" in manifest["functions"]["training"]
    assert r["bit_exact"] is True and r["digests_checked"] == 4
    # chance is 0.1; ternary 8-bit batch 8: 0.2067 with latents in [-W0, W0], 0.1967 in [-W0, W0 - 1] (format 4)
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.15


# The other emulated boards (netduinoplus2, the default, is the test above), each with a model that
# fits it: 784-32-10 on lm3s6965evb (Cortex-M3) and mps2-an505 (Cortex-M33), 196-32-10 with 8-bit
# latent weights on the micro:bit (Cortex-M0, 16 KB of RAM).
OTHER_EMULATED = [name for name, b in BOARDS.items() if b.emulated and name != "netduinoplus2"]


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", OTHER_EMULATED)
def test_train_verify_on_every_emulated_board(tmp_path: Path, no_qemu_left: None, board_name: str) -> None:
    # sized for board_name, but the file names the default board: --board picks the board
    model = board_model(tmp_path, board_name, board="netduinoplus2", train=1000, test=300)
    r = train_verified(model, tmp_path, "--board", board_name)
    assert r["board"] == board_name and r["device"] == f"qemu -M {BOARDS[board_name].qemu_machine}"
    assert r["bit_exact"] is True and r["digests_checked"] == 4 and r["samples_trained"] == 1000
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.3  # chance is 0.1


def test_malformed_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1\n")
    res = CliRunner().invoke(main, ["generate", str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "bad.toml" in res.output


def test_model_too_large_for_the_board(tmp_path: Path) -> None:
    model = small_model(tmp_path, units=200)
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "bytes of RAM" in res.output and "would fit" in res.output
    assert not (tmp_path / "o" / "generated" / "mt_model.c").exists()


def test_fixed_point_overflow_is_refused(tmp_path: Path) -> None:
    model = small_model(tmp_path, units=2100)  # 2100 x ERR_MAX exceeds the int32 error accumulator
    res = CliRunner().invoke(main, ["generate", str(model), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "overflows the int32 backward accumulator" in res.output and "layers[0]" in res.output


def test_toolchain_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_model(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    res = CliRunner().invoke(main, ["train", str(model), "--build-dir", str(tmp_path / "b"), "--quiet"])
    assert res.exit_code == 3
    assert "arm-none-eabi-gcc" in res.output and "apt-get install" in res.output


def test_port_missing(tmp_path: Path, no_qemu_left: None) -> None:
    model = small_model(tmp_path)
    res = CliRunner().invoke(main, ["train", str(model), "--port", "/dev/ttyNOPE9", "--quiet",
                                    "--build-dir", str(tmp_path / "b")])
    assert res.exit_code == 4
    assert "/dev/ttyNOPE9" in res.output


def test_device_silent(tmp_path: Path) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    conns = []
    t = threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True)
    t.start()
    model = small_model(tmp_path)
    try:
        res = CliRunner().invoke(main, ["train", str(model), "--port", f"socket://127.0.0.1:{port}", "--quiet",
                                        "--build-dir", str(tmp_path / "b")])
    finally:
        srv.close()
        for c, _ in conns:
            c.close()
    assert res.exit_code == 5
    assert "silent" in res.output.lower() or "no answer" in res.output.lower() or "did not" in res.output.lower()


@pytest.mark.qemu
def test_model_hash_mismatch(tmp_path: Path, no_qemu_left: None) -> None:
    from mcutrain.host.emulator import Emulator

    from mcutrain.build.boards import get_board

    # firmware built for one model, session started for another
    a = small_model(tmp_path, name="a", units=32)
    b = small_model(tmp_path, name="b", units=24)
    runner = CliRunner()
    res = runner.invoke(main, ["generate", str(a), "-o", str(tmp_path / "pa")])
    assert res.exit_code == 0, res.output
    from mcutrain.build.toolchain import run_pio

    run_pio(["run"], tmp_path / "pa")
    elf = tmp_path / "pa" / ".pio" / "build" / "netduinoplus2" / "firmware.elf"
    board = get_board("netduinoplus2")
    with Emulator(elf, board.qemu_machine, serial_index=board.qemu_serial_index) as emu:
        res = runner.invoke(main, ["train", str(b), "--port", emu.url, "--quiet", "--build-dir", str(tmp_path / "pb")])
    assert res.exit_code == 6, res.output
    hashes = re.findall(r"\b[0-9a-f]{16}\b", res.output)  # the message names both models' hashes
    assert len(set(hashes)) == 2 and "flash" in res.output


if os.environ.get("MCUTRAIN_SKIP_QEMU"):
    pytestmark = pytest.mark.skip(reason="MCUTRAIN_SKIP_QEMU set")


# update_rounding = "stochastic_shared" (docs/arithmetic.md, section 5) end to end: the Cortex-M4F runs the SIMD row
# update (QSUB8/QADD8/SHADD8 on 8-bit latents; QSUB16/SSAT16 on 16-bit ones), the Cortex-M0 the add-and-clamp loop.
@pytest.mark.qemu
# The first case also runs the M4's SIMD forward pass of layer 0 (u4 inputs fit a byte: SADD8/SEL/UXTAB16).
@pytest.mark.parametrize("board_name,latent_bits,weights,encoding",
                         [("netduinoplus2", 8, "sign", "u4"), ("netduinoplus2", 16, "binary", "bits"),
                          ("microbit", 8, "binary", "bits")])
def test_train_verify_shared_update_rounding(tmp_path: Path, no_qemu_left: None, board_name: str,
                                             latent_bits: int, weights: str, encoding: str) -> None:
    model = board_model(tmp_path, board_name, weights=weights, train=800, test=300, latent_bits=latent_bits,
                        update_rounding="stochastic_shared", encoding=encoding,
                        **({"pool": 2} if encoding == "u4" else {}))
    r = train_verified(model, tmp_path, digest_every=200)
    assert r["board"] == board_name and r["bit_exact"] is True and r["digests_checked"] == 4
    assert r["test_accuracy"] == r["twin_test_accuracy"] > 0.3  # chance is 0.1
