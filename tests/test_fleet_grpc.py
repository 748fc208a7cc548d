"""`mcutrain fleet server` and `mcutrain fleet client` over Flower's gRPC transport (twin clients): the final
global state equals the in-process simulation's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from fleet_helpers import fleet_model

from mcutrain.fleet.run import load_fleet_data, simulate

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_and_clients_over_grpc(data_dir: Path, tmp_path: Path) -> None:
    model = fleet_model(tmp_path, train=300, test=100)
    addr = f"127.0.0.1:{_free_port()}"
    exe = [str(Path(sys.executable).parent / "mcutrain")]
    env = {**os.environ, "MCUTRAIN_DATA_DIR": str(data_dir)}
    report = tmp_path / "server.json"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([*exe, "fleet", "server", str(model), "--rounds", "2", "--min-clients", "3",
                                       "--address", addr, "--report", str(report), "-q"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for cid in range(3):
            procs.append(subprocess.Popen([*exe, "fleet", "client", str(model), "--twin", "--server", addr,
                                           "--client-id", str(cid), "--clients", "3", "-q"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out, _ = procs[0].communicate(timeout=240)
        assert procs[0].returncode == 0, out.decode(errors="replace")[-3000:]
        for p in procs[1:]:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    got = json.loads(report.read_text())
    final, strat = simulate(load_fleet_data(model)[1], 3, 2, split="dirichlet", alpha=0.5)
    assert got["final_state_crc32"] == f"{zlib.crc32(final):08x}"
    assert [r["clients"] for r in got["round_log"]] == [[0, 1, 2], [0, 1, 2]]
    assert [r["state_crc32"] for r in got["round_log"]] == [r.as_dict()["state_crc32"] for r in strat.log]
