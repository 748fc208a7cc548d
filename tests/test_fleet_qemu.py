"""The fleet on emulated boards: every board round bit-exact with its twin, the global state equal to the
all-twin simulation's; a killed QEMU, a dropped connection and a stalled board are left out of their round
and rejoin from the global state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fleet_helpers import fleet_model
from helpers import qemu_processes

from mcutrain.fleet.backend import round_seed
from mcutrain.fleet.run import run_boards

pytestmark = pytest.mark.qemu


def test_boards_bit_exact_and_equal_to_the_twin_simulation(data_dir: Path, tmp_path: Path) -> None:
    model = fleet_model(tmp_path, train=400, test=200)
    rep = run_boards(model, boards=2, rounds=2, split="dirichlet", alpha=0.5, build_dir=tmp_path / "b")
    assert rep["client_rounds"] == 4 and rep["bit_exact_rounds"] == 4
    assert rep["equal_to_twin_simulation"] and rep["final_state_crc32"] == rep["twin_final_state_crc32"]
    assert all(r["board_accuracy"] is not None for r in rep["round_log"])
    assert qemu_processes(str(tmp_path)) == []


class FaultAt:
    """A board backend that suffers `action` after 64 samples of round `rnd`."""

    def __init__(self, inner: Any, emu: Any, cid: int, faults: dict[int, Any]) -> None:
        self.inner, self.emu, self.cid, self.faults = inner, emu, cid, faults

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def train_round(self, state: bytes, seed: int, order: Any) -> Any:
        action = next((a for r, a in self.faults.items() if round_seed(self.inner.data.seed, r, self.cid) == seed),
                      None)
        fired = [False]

        def hook(n: int) -> None:
            if action is not None and n >= 64 and not fired[0]:
                fired[0] = True
                action(self.inner, self.emu)

        self.inner.on_samples = hook
        return self.inner.train_round(state, seed, order)


def kill_qemu(backend: Any, emu: Any) -> None:
    emu.proc.kill()


def disconnect(backend: Any, emu: Any) -> None:
    backend.link.close()


def stall(backend: Any, emu: Any) -> None:
    time.sleep(25.0)  # longer than the round time-out: the server gives up on this board


def test_killed_disconnected_and_stalled_boards_rejoin(data_dir: Path, tmp_path: Path) -> None:
    model = fleet_model(tmp_path, train=400, test=100)
    faults = {1: {2: kill_qemu, 4: stall}, 0: {3: disconnect}}
    rep = run_boards(model, boards=2, rounds=5, split="iid", alpha=0.5, build_dir=tmp_path / "b",
                     round_timeout=15.0, wrap=lambda cid, b, emu: FaultAt(b, emu, cid, faults[cid]))
    assert [r["clients"] for r in rep["round_log"]] == [[0, 1], [0], [1], [0], [0, 1]]
    assert [r["failed"] for r in rep["round_log"]] == [0, 1, 1, 1, 0]
    assert rep["reconnects"] == [1, 2]
    assert rep["bit_exact_rounds"] == rep["client_rounds"] == 7
    assert rep["equal_to_twin_simulation"]  # the twins with the same clients left out
    assert qemu_processes(str(tmp_path)) == []


def test_grpc_clients_on_boards(data_dir: Path, tmp_path: Path) -> None:
    """`fleet server` with a `fleet client --emulate` (its own QEMU) and a `fleet client --port` (a board
    booted here): their rounds are bit-exact and the global state is the twins' one."""
    import json
    import os
    import subprocess
    import sys
    import zlib

    from test_fleet_grpc import _free_port

    from mcutrain.fleet.run import load_fleet_data, simulate
    from mcutrain.job import build_firmware, start_emulator

    model = fleet_model(tmp_path, train=300, test=60)
    _, proj, elf = build_firmware(model, None, tmp_path / "b", quiet=True)
    exe = str(Path(sys.executable).parent / "mcutrain")
    env = {**os.environ, "MCUTRAIN_DATA_DIR": str(data_dir)}
    addr = f"127.0.0.1:{_free_port()}"
    report = tmp_path / "server.json"
    emu = start_emulator(proj, elf)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([exe, "fleet", "server", str(model), "--rounds", "2", "--min-clients", "2",
                                       "--address", addr, "--board-eval", "--report", str(report), "-q"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        common = ["--server", addr, "--clients", "2", "--build-dir", str(tmp_path / "b"), "-q"]
        procs.append(subprocess.Popen([exe, "fleet", "client", str(model), "--emulate", "--client-id", "0", *common],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen([exe, "fleet", "client", str(model), "--port", emu.url, "--client-id", "1",
                                       *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out, _ = procs[0].communicate(timeout=300)
        assert procs[0].returncode == 0, out.decode(errors="replace")[-3000:]
        for p in procs[1:]:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        emu.stop()
    got = json.loads(report.read_text())
    final, _ = simulate(load_fleet_data(model)[1], 2, 2, split="dirichlet", alpha=0.5)
    assert got["final_state_crc32"] == f"{zlib.crc32(final):08x}"
    assert all(r["bit_exact_clients"] == 2 and r["board_accuracy"] is not None for r in got["round_log"])
    assert qemu_processes(str(tmp_path)) == []


def test_a_board_behind_the_fault_proxy_stays_bit_exact(data_dir: Path, tmp_path: Path) -> None:
    """Bytes flipped, dropped, duplicated and delayed on board 1's line: the link's retransmissions keep its
    rounds (and its evaluation) bit-exact, and the global state is the twins' one."""
    from mcutrain.host.faults import FaultProxy, FaultRates
    from mcutrain.host.link import DeviceLink

    proxies: list[Any] = []

    def behind_proxy(cid: int, b: Any, emu: Any) -> Any:
        if cid == 1:
            proxy = FaultProxy(emu.port, FaultRates.uniform(1e-3, 0.005), seed=9)
            proxy.start()
            proxies.append(proxy)
            b.connect = lambda: DeviceLink.open(proxy.url)
        return b

    model = fleet_model(tmp_path, train=400, test=100)
    try:
        rep = run_boards(model, boards=2, rounds=2, split="iid", alpha=0.5, build_dir=tmp_path / "b",
                         wrap=behind_proxy)
    finally:
        for p in proxies:
            p.stop()
    assert proxies[0].faults_injected > 0
    assert rep["bit_exact_rounds"] == rep["client_rounds"] == 4 and rep["equal_to_twin_simulation"]


def test_fleet_demo_command(data_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mcutrain.cli import main

    model = fleet_model(tmp_path, train=300, test=100)
    res = CliRunner().invoke(main, ["fleet", "demo", str(model), "--boards", "2", "--rounds", "1", "--build-dir",
                                    str(tmp_path / "b"), "--report", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "bit-exact: 2 of 2 board rounds equal to their twin's" in res.output
    assert "equal to the all-twin simulation's" in res.output
    assert qemu_processes(str(tmp_path)) == []
