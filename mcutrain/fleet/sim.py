"""Many clients in one process, driven by Flower's own `Server` (rounds, client sampling, failures) and the
fleet strategy: each client is a `FleetClient` behind an in-process `ClientProxy` (what Flower's Ray
simulation does, without Ray: Ray is too heavy for a 2-core machine). The boards' clients and the twins'
clients are the same class."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flwr.common import Code as FlwrCode
from flwr.common import (
    DisconnectRes,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    GetParametersIns,
    GetParametersRes,
    GetPropertiesIns,
    GetPropertiesRes,
    ReconnectIns,
    Status,
)
from flwr.server import Server, SimpleClientManager
from flwr.server.client_proxy import ClientProxy

from .client import FleetClient
from .strategy import IntegerFedAvg


class RoundTimeout(TimeoutError):
    pass


class InProcessProxy(ClientProxy):
    """A FleetClient called directly; a call longer than the round's time-out is abandoned (the board's link
    is closed, so its streaming stops) and counted as a failure of that client."""

    def __init__(self, client: FleetClient) -> None:
        super().__init__(str(client.cid))
        self.client = client

    def _call(self, fn: Any, ins: Any, timeout: float | None) -> Any:
        if timeout is None:
            return fn(ins)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["res"] = fn(ins)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["exc"] = exc

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            abort = getattr(self.client.backend, "abort", None)
            if abort is not None:
                abort()
            t.join(30.0)
            raise RoundTimeout(f"client {self.cid} took longer than the round time-out of {timeout} s")
        if "exc" in box:
            raise box["exc"]
        return box["res"]

    def get_properties(self, ins: GetPropertiesIns, timeout: float | None, group_id: int | None) -> GetPropertiesRes:
        return GetPropertiesRes(Status(FlwrCode.OK, "ok"), {"cid": self.client.cid})

    def get_parameters(self, ins: GetParametersIns, timeout: float | None, group_id: int | None) -> GetParametersRes:
        return self.client.get_parameters(ins)

    def fit(self, ins: FitIns, timeout: float | None, group_id: int | None) -> FitRes:
        return self._call(self.client.fit, ins, timeout)

    def evaluate(self, ins: EvaluateIns, timeout: float | None, group_id: int | None) -> EvaluateRes:
        return self._call(self.client.evaluate, ins, timeout)

    def reconnect(self, ins: ReconnectIns, timeout: float | None, group_id: int | None) -> DisconnectRes:
        return DisconnectRes("")


def run_in_process(strategy: IntegerFedAvg, clients: list[FleetClient], rounds: int, *,
                   round_timeout: float | None = None, max_workers: int | None = None) -> bytes:
    """Flower rounds over in-process clients; returns the final global state (the strategy keeps the log)."""
    logging.getLogger("flwr").setLevel(logging.WARNING)
    cm = SimpleClientManager()
    for c in clients:
        cm.register(InProcessProxy(c))
    server = Server(client_manager=cm, strategy=strategy)
    server.set_max_workers(max_workers)
    server.fit(num_rounds=rounds, timeout=round_timeout)
    return strategy.global_state
