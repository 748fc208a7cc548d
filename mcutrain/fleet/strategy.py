"""The Flower strategy of the fleet: integer federated averaging (aggregate.py) of the clients' states,
the global state evaluated on the host by the twin (bit-exact with every board) and, optionally, on the
boards; a client that fails or times out in a round is left out of that round's average."""

from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.common import EvaluateIns, EvaluateRes, FitIns, FitRes, Parameters, Scalar
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy

from .aggregate import fedavg_states
from .backend import FleetData, NotBitExactError, TwinBackend, initial_state
from .layout import StateLayout
from .wire import decode_state, encode_state


@dataclass
class RoundLog:
    round: int
    clients: list[int] = field(default_factory=list)      #: whose states were averaged
    failed: int = 0                                       #: clients dropped from the round
    samples: int = 0
    state_crc32: int = 0
    accuracy: float | None = None                         #: global state, twin, on the test set
    board_accuracy: float | None = None                   #: global state, on the boards' test slices
    bit_exact_clients: int = 0                            #: board rounds equal to their twin's
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: (f"{v:08x}" if k == "state_crc32" else v) for k, v in self.__dict__.items()}


class IntegerFedAvg(Strategy):
    def __init__(self, data: FleetData, *, min_clients: int, local_epochs: int = 1, eval_on_clients: bool = False,
                 eval_samples: int = 0, test_limit: int = 0, quiet: bool = True) -> None:
        self.data = data
        self.layout = StateLayout.from_plan(data.plan)
        self.min_clients = min_clients
        self.local_epochs = local_epochs
        self.eval_on_clients = eval_on_clients
        self.eval_samples = eval_samples
        self.test_idx = np.arange(len(data.y_test) if test_limit <= 0 else min(test_limit, len(data.y_test)))
        self.quiet = quiet
        self.twin = TwinBackend(data)
        self.log: list[RoundLog] = []
        self.global_state = initial_state(data.plan, data.seed)
        self._t0 = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text + "\n")

    def _params(self, state: bytes) -> Parameters:
        tensors, kind = encode_state(self.layout, self.data.model_hash, state)
        return Parameters(tensors=tensors, tensor_type=kind)

    def _state(self, p: Parameters) -> bytes:
        return decode_state(self.layout, self.data.model_hash, list(p.tensors), p.tensor_type)

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return self._params(self.global_state)

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        self._t0 = time.monotonic()
        clients = client_manager.sample(max(client_manager.num_available(), self.min_clients), self.min_clients)
        ins = FitIns(parameters, {"round": server_round, "local_epochs": self.local_epochs})
        return [(c, ins) for c in clients]

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Scalar]]:
        rec = RoundLog(server_round, failed=len(failures))
        for f in failures:
            self.say(f"round {server_round}: a client is left out: "
                     f"{f[1].status.message if isinstance(f, tuple) else repr(f)}")
        got = sorted(((int(r.metrics["cid"]), self._state(r.parameters), r.num_examples, r.metrics)
                      for _, r in results), key=lambda t: t[0])
        bad = [cid for cid, _, _, m in got if m.get("bit_exact") == 0]
        if bad:
            raise NotBitExactError(f"round {server_round}: the boards of clients {bad} and their twins disagree "
                                   "(not bit-exact)")
        rec.bit_exact_clients = sum(1 for *_, m in got if m.get("bit_exact") == 1)
        if got:
            self.global_state = fedavg_states(self.layout, [s for _, s, _, _ in got], [n for _, _, n, _ in got])
        rec.clients = [cid for cid, *_ in got]
        rec.samples = sum(n for _, _, n, _ in got)
        rec.state_crc32 = zlib.crc32(self.global_state)
        self.log.append(rec)
        return (self._params(self.global_state) if got else None), {"clients": len(got), "failed": len(failures)}

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, Scalar]] | None:
        state = self._state(parameters)
        preds = self.twin.predict(state, self.test_idx)
        acc = float((preds == self.data.y_test[self.test_idx]).mean())
        if self.log and self.log[-1].round == server_round:
            self.log[-1].accuracy = acc
            self.log[-1].seconds = round(time.monotonic() - self._t0, 2)
            r = self.log[-1]
            self.say(f"round {server_round}: {len(r.clients)} clients averaged ({r.failed} left out), "
                     f"{r.samples} samples, global test accuracy {acc * 100:.2f}% (twin), state {r.state_crc32:08x}, "
                     f"{r.seconds:.1f} s")
        return 1.0 - acc, {"accuracy": acc}

    def configure_evaluate(self, server_round: int, parameters: Parameters,
                           client_manager: ClientManager) -> list[tuple[ClientProxy, EvaluateIns]]:
        if not self.eval_on_clients:
            return []
        clients = client_manager.sample(max(client_manager.num_available(), self.min_clients), self.min_clients)
        ins = EvaluateIns(parameters, {"round": server_round, "eval_samples": self.eval_samples})
        return [(c, ins) for c in clients]

    def aggregate_evaluate(self, server_round: int, results: list[tuple[ClientProxy, EvaluateRes]],
                           failures: list[Any]) -> tuple[float | None, dict[str, Scalar]]:
        if not results:
            return None, {}
        bad = [int(r.metrics["cid"]) for _, r in results if r.metrics.get("bit_exact") == 0]
        if bad:
            raise NotBitExactError(f"round {server_round}: the test predictions of the boards of clients {bad} "
                                   "differ from their twins'")
        n = sum(r.num_examples for _, r in results)
        acc = sum(float(r.metrics["accuracy"]) * r.num_examples for _, r in results) / max(n, 1)
        for rec in self.log:
            if rec.round == server_round:
                rec.board_accuracy = acc
        self.say(f"round {server_round}: test accuracy on {len(results)} boards ({n} images) {acc * 100:.2f}%")
        return 1.0 - acc, {"accuracy": acc}
