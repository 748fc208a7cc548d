"""The fleet on twins: Flower rounds in one process, the round computation, drop-outs, time-outs."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fleet_helpers import fleet_model

from mcutrain.cli import main
from mcutrain.errors import McutrainError
from mcutrain.fleet.aggregate import fedavg_states
from mcutrain.fleet.backend import TwinBackend, initial_state, round_order, round_seed
from mcutrain.fleet.client import FleetClient
from mcutrain.fleet.layout import LayoutError, StateLayout
from mcutrain.fleet.run import load_fleet_data, shards_of, simulate
from mcutrain.fleet.wire import WireError

pytestmark = pytest.mark.usefixtures("data_dir")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, data_dir: Path):
    return load_fleet_data(fleet_model(tmp_path_factory.mktemp("fleet"), train=400, test=200))[1]


def _round_by_hand(data, state: bytes, rnd: int, cids: list[int], shards) -> bytes:
    """One round as docs/arithmetic.md section 10 defines it, without Flower."""
    layout = StateLayout.from_plan(data.plan)
    outs = [TwinBackend(data).train_round(state, round_seed(data.seed, rnd, c),
                                          round_order(data.seed, rnd, c, shards[c], 1)) for c in cids]
    return fedavg_states(layout, [o.state for o in outs], [o.samples for o in outs])


def test_flower_rounds_compute_the_stated_rounds(data) -> None:
    final, strat = simulate(data, 4, 2, split="dirichlet", alpha=0.5)
    shards = shards_of(data, 4, "dirichlet", 0.5)
    g1 = _round_by_hand(data, initial_state(data.plan, data.seed), 1, [0, 1, 2, 3], shards)
    g2 = _round_by_hand(data, g1, 2, [0, 1, 2, 3], shards)
    assert [r.state_crc32 for r in strat.log] == [zlib.crc32(g1), zlib.crc32(g2)]
    assert final == g2 and g2 != g1
    assert strat.log[0].samples == 400 and strat.log[0].clients == [0, 1, 2, 3]
    again, _ = simulate(data, 4, 2, split="dirichlet", alpha=0.5)
    assert again == final  # reproducible bit for bit


class Flaky:
    """A twin that fails (or stalls) in chosen rounds."""

    def __init__(self, data, cid: int, fail_rounds: set[int], stall: float = 0.0) -> None:
        self.inner, self.cid, self.fail_rounds, self.stall = TwinBackend(data), cid, fail_rounds, stall
        self.data, self.kind = data, "twin"

    def train_round(self, state: bytes, seed: int, order: np.ndarray):
        if any(round_seed(self.data.seed, r, self.cid) == seed for r in self.fail_rounds):
            if self.stall:
                time.sleep(self.stall)
            else:
                raise McutrainError(f"client {self.cid}: the board reset")
        return self.inner.train_round(state, seed, order)

    def predict(self, state: bytes, idx: np.ndarray) -> np.ndarray:
        return self.inner.predict(state, idx)


def test_a_failing_client_is_left_out_of_its_round_and_rejoins(data) -> None:
    final, strat = simulate(data, 4, 3, split="iid", alpha=0.5,
                            backend=lambda c: Flaky(data, c, {2} if c == 1 else set()))
    assert [r.clients for r in strat.log] == [[0, 1, 2, 3], [0, 2, 3], [0, 1, 2, 3]]
    assert [r.failed for r in strat.log] == [0, 1, 0]
    shards = shards_of(data, 4, "iid", 0.5)
    g1 = _round_by_hand(data, initial_state(data.plan, data.seed), 1, [0, 1, 2, 3], shards)
    g2 = _round_by_hand(data, g1, 2, [0, 2, 3], shards)  # only the missing update is missing
    assert strat.log[1].state_crc32 == zlib.crc32(g2)
    assert final == _round_by_hand(data, g2, 3, [0, 1, 2, 3], shards)


def test_a_slow_client_times_out_and_rejoins(data) -> None:
    _, strat = simulate(data, 3, 2, split="iid", alpha=0.5, round_timeout=3.0,
                        backend=lambda c: Flaky(data, c, {1} if c == 2 else set(), stall=6.0))
    assert [r.clients for r in strat.log] == [[0, 1], [0, 1, 2]]
    assert strat.log[0].failed == 1


def test_a_round_without_clients_keeps_the_global_state(data) -> None:
    _, strat = simulate(data, 2, 2, split="iid", alpha=0.5, backend=lambda c: Flaky(data, c, {1}))
    assert strat.log[0].clients == [] and strat.log[0].state_crc32 == zlib.crc32(initial_state(data.plan, data.seed))
    assert strat.log[1].clients == [0, 1]


def test_client_refuses_a_state_of_another_model(data, tmp_path: Path) -> None:
    other = load_fleet_data(fleet_model(tmp_path, units=8, name="other", train=100, test=50))[1]
    a = FleetClient(0, TwinBackend(data), np.arange(10), n_clients=1)
    b = FleetClient(0, TwinBackend(other), np.arange(10), n_clients=1)
    from flwr.common import FitIns, GetParametersIns

    params = b.get_parameters(GetParametersIns({})).parameters
    with pytest.raises(WireError, match=f"of model {other.model_hash}, this is model {data.model_hash}"):
        a.fit(FitIns(params, {"round": 1}))


def test_float32_models_are_refused() -> None:
    from mcutrain.arith.plan import make_dense_plan

    with pytest.raises(LayoutError, match="integer weight modes"):
        StateLayout.from_plan(make_dense_plan([20, 8, 3], weights="float32"))


def test_fleet_sim_command(data_dir: Path, tmp_path: Path) -> None:
    model = fleet_model(tmp_path, train=300, test=100)
    res = CliRunner().invoke(main, ["fleet", "sim", str(model), "--clients", "6", "--rounds", "2",
                                    "--report", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "round 2: clients [0, 1, 2, 3, 4, 5] (0 left out), 300 samples" in res.output


class Disagreeing(Flaky):
    """A 'board' whose round differs from its twin's in round 2 (what BoardBackend reports then)."""

    kind = "board"

    def __init__(self, data, cid: int) -> None:
        super().__init__(data, cid, set())
        self.kind = "board"

    def train_round(self, state: bytes, seed: int, order: np.ndarray):
        res = self.inner.train_round(state, seed, order)
        res.bit_exact = seed != round_seed(self.data.seed, 2, self.cid)
        return res


def test_a_board_that_disagrees_with_its_twin_stops_the_server(data) -> None:
    from mcutrain.fleet.backend import NotBitExactError

    with pytest.raises(NotBitExactError, match="round 2: the boards of clients \\[0, 1\\]"):
        simulate(data, 2, 3, split="iid", alpha=0.5, backend=lambda c: Disagreeing(data, c))


def test_fleet_results_command_writes_its_section(data_dir: Path, tmp_path: Path) -> None:
    model = fleet_model(tmp_path, train=200, test=100)
    out = tmp_path / "results.md"
    out.write_text("# Results\n\nkept\n")
    res = CliRunner().invoke(main, ["fleet", "results", str(model), "-o", str(out), "--rounds", "2",
                                    "--clients", "2,5"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "kept" in text and "<!-- BEGIN generated:fleet -->" in text and "<!-- END generated:fleet -->" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "%" in ln]
    assert [r.split(" | ")[0] for r in rows] == ["| 2 clients, IID", "| 2 clients, non-IID (Dirichlet 0.5)",
                                                 "| 5 clients, IID", "| 5 clients, non-IID (Dirichlet 0.5)",
                                                 "| 1 board, all the data (same samples)"]
    bad = CliRunner().invoke(main, ["fleet", "results", str(model), "-o", str(out), "--clients", "4,x"])
    assert bad.exit_code == 1 and "write fleet sizes like 4,100" in bad.output
