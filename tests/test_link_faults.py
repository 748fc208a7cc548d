"""The robust link end to end on the emulated board: `mcutrain emulate`, a
fault-injecting proxy, a board reset mid-session, a host killed mid-session
(`--resume`), and the clear failures. Final weights are compared as integers
(CRC-32 of the state bytes and the twin's bytes) with an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import session_with_board_reset, small_model
from mcutrain.host.faults import FaultProxy, FaultRates
from mcutrain.host.link import DeviceLink
from mcutrain.host.session import run_session

from mcutrain.cli import main
from mcutrain.job import build_firmware, session_inputs, start_emulator

pytestmark = pytest.mark.qemu

TRAIN, TEST = 900, 200
MCUTRAIN = str(Path(sys.executable).parent / "mcutrain")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    model = small_model(tmp, train=TRAIN, test=TEST, pool=2, encoding="u4", units=32)
    spec, proj, elf = build_firmware(model, None, tmp / "b", quiet=True)
    return model, spec, proj, elf, tmp


@pytest.fixture(scope="module")
def clean(built):
    """The uninterrupted run everything is compared with."""
    model, spec, proj, elf, _ = built
    emu = start_emulator(proj, elf)
    try:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, **session_inputs(spec, verify=True, digest_every=150, quiet=True))
    finally:
        emu.stop()
    assert res.bit_exact is True and res.link_stats["retransmitted_frames"] == 0
    return res


def test_faults_both_ways_bit_identical(built, clean):
    _, spec, proj, elf, _ = built
    emu = start_emulator(proj, elf)
    proxy = FaultProxy(emu.port, FaultRates.uniform(1e-3, 0.005), seed=4)
    proxy.start()
    try:
        with DeviceLink.open(proxy.url) as link:
            res = run_session(link, checkpoint_every=300,
                              **session_inputs(spec, verify=True, digest_every=150, quiet=True))
    finally:
        proxy.stop()
        emu.stop()
    assert res.bit_exact is True  # digests, predictions and final weights equal to the twin's
    assert res.final_state_crc32 == clean.final_state_crc32
    assert list(res.device_predictions) == list(clean.device_predictions)
    assert proxy.faults_injected > 50
    c = proxy.counts()
    assert all(c[d][k] > 0 for d in c for k in ("flipped", "dropped", "duplicated", "delayed"))
    assert res.link_stats["retransmitted_frames"] > 0
    assert res.link_stats["device_receive_errors"] > 0 and res.link_stats["host_receive_errors"] > 0


def test_board_reset_mid_session(built, clean):
    """QEMU killed after 500 samples: the host restarts it, restores the checkpoint at 300, replays."""
    _, spec, proj, elf, _ = built
    res, killed = session_with_board_reset(spec, proj, elf, kill_at=500, digest_every=150)
    assert killed and res.recoveries == 1
    assert res.bit_exact is True and res.final_state_crc32 == clean.final_state_crc32
    assert res.checkpoints >= 3  # 300, 600 (again after the restore: 600), ...
    samples_of_digests = [d[0] for d in res.digests]
    assert samples_of_digests.count(450) == 2  # trained before the reset and again after the restore at 300


def test_resume_after_host_killed(built, clean, tmp_path):
    model, _, _, _, tmp = built
    session = tmp_path / "session.json"
    cmd = [MCUTRAIN, "train", str(model), "--build-dir", str(tmp / "b"),
           "--checkpoint-every", "300", "--session", str(session), "--digest-every", "150", "--quiet"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if session.exists() and json.loads(session.read_text())["checkpoint"]["samples_trained"] >= 300:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)  # no clean-up at all; QEMU dies with it (PDEATHSIG)
    finally:
        proc.wait()
    saved = json.loads(session.read_text())
    assert saved["phase"] == "train" and 300 <= saved["checkpoint"]["samples_trained"] < TRAIN
    report = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["train", "--resume", str(session), "--verify", "--report", str(report)])
    assert res.exit_code == 0, res.output
    r = json.loads(report.read_text())
    assert r["resumed_from_samples"] == saved["checkpoint"]["samples_trained"]
    assert r["bit_exact"] is True
    assert r["final_state_crc32"] == f"{clean.final_state_crc32:08x}"
    assert json.loads(session.read_text())["phase"] == "done"


def test_emulate_command_and_socket_port(built, clean, tmp_path):
    model, _, _, _, tmp = built
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([MCUTRAIN, "emulate", str(model), "--listen", str(port),
                             "--build-dir", str(tmp / "b")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url == f"socket://127.0.0.1:{port}", proc.stderr.read() if proc.poll() is not None else url
        report = tmp_path / "r.json"
        res = CliRunner().invoke(main, ["train", str(model), "--port", url, "--build-dir", str(tmp / "b"),
                                        "--digest-every", "150", "--quiet", "--report", str(report)])
        assert res.exit_code == 0, res.output
        assert json.loads(report.read_text())["final_state_crc32"] == f"{clean.final_state_crc32:08x}"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopping the emulator" in err
    left = subprocess.run(["pgrep", "-f", f"tcp:127.0.0.1:{port},server"], capture_output=True, text=True).stdout
    assert left.strip() == "", "QEMU still running after SIGTERM"


def _serve(payload_fn) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run() -> None:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            payload_fn(c)

    threading.Thread(target=run, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_garbage_device_is_a_clear_error(built):
    """A device that only sends garbage (wrong baud rate, another program): exit 5, said in words."""
    model, _, _, _, tmp = built
    stop = threading.Event()

    def spew(c: socket.socket) -> None:
        rnd = bytes((i * 73 + 11) & 0xFF for i in range(997))
        while not stop.is_set():
            try:
                c.sendall(rnd)
            except OSError:
                return
            time.sleep(0.01)

    srv, port = _serve(spew)
    try:
        res = CliRunner().invoke(main, ["train", str(model), "--port", f"socket://127.0.0.1:{port}", "--quiet",
                                        "--build-dir", str(tmp / "b")])
    finally:
        stop.set()
        srv.close()
    assert res.exit_code == 5, res.output
    assert "no answer to hello" in res.output and "baud rate" in res.output


def test_resume_of_missing_session_file(tmp_path):
    res = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "does not exist" in res.output


if os.environ.get("MCUTRAIN_SKIP_QEMU"):
    pytestmark = pytest.mark.skip(reason="MCUTRAIN_SKIP_QEMU set")
