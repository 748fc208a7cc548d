"""The fleet's runs: emulated boards (QEMU) or twins through the same Flower client and strategy."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .backend import BoardBackend, FleetData, TwinBackend
from .client import FleetClient
from .shards import make_shards
from .sim import run_in_process
from .strategy import IntegerFedAvg


def load_fleet_data(model: Path, board: str | None = None) -> tuple[Any, FleetData]:
    """(spec, data) of a model file: its data set encoded for the link and decoded for the twin."""
    import dataclasses

    from ..data import load_dataset
    from ..model import check_against_data, load_model

    spec = load_model(model)
    if board is not None:
        from ..build.boards import get_board

        spec = dataclasses.replace(spec, board=get_board(board).name)
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    return spec, FleetData.from_spec(spec, ds)


def shards_of(data: FleetData, n_clients: int, split: str, alpha: float) -> list[Any]:
    return make_shards(data.y_train, n_clients, split=split, seed=data.seed, alpha=alpha)


def emulator_connect(emu: Any, keeper: ThreadPoolExecutor) -> Callable[[], Any]:
    """Connect to an emulated board; every later call (after a fault) restarts QEMU first: a board reset.

    QEMU dies with the thread that started it (PR_SET_PDEATHSIG, host/emulator.py), and Flower calls clients
    from short-lived worker threads, so restarts run in `keeper`, a one-thread executor that lives as long
    as the emulator."""
    from ..host.link import DeviceLink
    from ..job import restart_emulator

    restart = restart_emulator(emu)
    calls = [0]

    def connect() -> Any:
        calls[0] += 1
        if calls[0] == 1 and emu.running():
            return DeviceLink.open(emu.url)
        return keeper.submit(restart).result()

    return connect


def simulate(data: FleetData, n_clients: int, rounds: int, *, split: str, alpha: float, local_epochs: int = 1,
             test_limit: int = 0, quiet: bool = True, backend: Callable[[int], Any] | None = None,
             round_timeout: float | None = None) -> tuple[bytes, IntegerFedAvg]:
    """Twin clients (or `backend(cid)`) in one process; (final global state, strategy with the round log)."""
    shards = shards_of(data, n_clients, split, alpha)
    make = backend or (lambda cid: TwinBackend(data))
    clients = [FleetClient(c, make(c), shards[c], n_clients=n_clients) for c in range(n_clients)]
    strategy = IntegerFedAvg(data, min_clients=1, local_epochs=local_epochs, test_limit=test_limit, quiet=quiet)
    return run_in_process(strategy, clients, rounds, round_timeout=round_timeout), strategy


def run_boards(model: Path, *, boards: int, rounds: int, split: str, alpha: float, local_epochs: int = 1,
               build_dir: Path | None = None, eval_samples: int = 0, quiet: bool = True,
               round_timeout: float | None = None, wrap: Callable[[int, Any, Any], Any] | None = None,
               log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """`boards` emulated boards (one QEMU each, ended on every path), each a Flower client checked bit-exact
    against its twin every round; then the all-twin simulation of the same fleet, whose global state must
    equal the boards' after every round. `wrap(cid, backend, emulator)` may replace a backend (fault tests)."""
    from ..job import build_firmware, start_emulator

    t0 = time.monotonic()
    spec, proj, elf = build_firmware(model, None, build_dir, quiet=quiet)
    spec, data = load_fleet_data(model)
    shards = shards_of(data, boards, split, alpha)
    t_build = time.monotonic() - t0
    with ExitStack() as stack:
        emus = []
        for _ in range(boards):
            emu = start_emulator(proj, elf)
            stack.callback(emu.stop)
            emus.append(emu)
        backends: list[Any] = []
        keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qemu-keeper")
        stack.callback(keeper.shutdown)
        for cid, emu in enumerate(emus):
            b = BoardBackend(data, emulator_connect(emu, keeper))
            stack.callback(b.close)
            backends.append(wrap(cid, b, emu) if wrap is not None else b)
        clients = [FleetClient(c, backends[c], shards[c], n_clients=boards, quiet=quiet) for c in range(boards)]
        strategy = IntegerFedAvg(data, min_clients=1, local_epochs=local_epochs, eval_on_clients=True,
                                 eval_samples=eval_samples, quiet=quiet)
        t1 = time.monotonic()
        final = run_in_process(strategy, clients, rounds, round_timeout=round_timeout)
        t_boards = time.monotonic() - t1
        reconnects = [getattr(b, "reconnects", 0) for b in backends]
    # the same fleet of twins, with the same clients left out of the same rounds
    left_out = {r.round: set(range(boards)) - set(r.clients) for r in strategy.log}
    t2 = time.monotonic()

    def twin_backend(cid: int) -> Any:
        return _Dropping(TwinBackend(data), cid, left_out)

    twin_final, twin_strategy = simulate(data, boards, rounds, split=split, alpha=alpha, local_epochs=local_epochs,
                                         backend=twin_backend)
    t_twin = time.monotonic() - t2
    same_rounds = [a.state_crc32 == b.state_crc32 for a, b in zip(strategy.log, twin_strategy.log, strict=True)]
    return {
        "model": spec.name, "model_hash": data.model_hash, "board": proj.board.name, "boards": boards,
        "rounds": rounds, "split": split, "alpha": alpha if split == "dirichlet" else None,
        "shard_sizes": [int(len(s)) for s in shards],
        "round_log": [r.as_dict() for r in strategy.log],
        "bit_exact_rounds": sum(r.bit_exact_clients for r in strategy.log),
        "client_rounds": sum(len(r.clients) for r in strategy.log),
        "final_state_crc32": f"{zlib.crc32(final):08x}",
        "twin_final_state_crc32": f"{zlib.crc32(twin_final):08x}",
        "equal_to_twin_simulation": final == twin_final and all(same_rounds),
        "reconnects": reconnects,
        "seconds": {"build": round(t_build, 1), "boards": round(t_boards, 1), "twin_simulation": round(t_twin, 1),
                    "total": round(time.monotonic() - t0, 1)},
    }


class _Dropping:
    """A twin backend that fails the rounds in which the boards' run left this client out."""

    def __init__(self, inner: TwinBackend, cid: int, left_out: dict[int, set[int]]) -> None:
        self.inner, self.cid, self.left_out = inner, cid, left_out
        self.data, self.kind = inner.data, inner.kind

    def train_round(self, state: bytes, seed: int, order: Any) -> Any:
        from .backend import round_seed

        for r, out in self.left_out.items():
            if self.cid in out and round_seed(self.data.seed, r, self.cid) == seed:
                from ..errors import McutrainError

                raise McutrainError(f"client {self.cid} was left out of round {r} on the boards")
        return self.inner.train_round(state, seed, order)

    def predict(self, state: bytes, idx: Any) -> Any:
        return self.inner.predict(state, idx)
