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
