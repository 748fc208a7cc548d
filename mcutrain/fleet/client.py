"""The Flower client of one board (or of its twin): `fit` trains a round from the global state on the
client's shard, `evaluate` runs the client's slice of the test set.

The same class serves a board over the serial link (`BoardBackend`, every round checked bit for bit
against the twin) and the twin alone (`TwinBackend`, simulation of many clients)."""

from __future__ import annotations

import sys
import zlib
from typing import Any

import numpy as np
from flwr.client import Client
from flwr.common import (
    Code,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    GetParametersIns,
    GetParametersRes,
    Parameters,
    Status,
)

from ..errors import McutrainError
from .backend import initial_state, round_order, round_seed
from .layout import StateLayout
from .wire import decode_state, encode_state

#: FitRes / EvaluateRes status of a round the board failed (Flower 1.x has no general error code;
#: the server counts every status other than OK as a failure and drops the client from that round).
FAILED = Code.FIT_NOT_IMPLEMENTED


class FleetClient(Client):
    def __init__(self, cid: int, backend: Any, shard: np.ndarray, *, n_clients: int, quiet: bool = True) -> None:
        self.cid = int(cid)
        self.backend = backend
        self.data = backend.data
        self.layout = StateLayout.from_plan(self.data.plan)
        self.shard = np.asarray(shard)
        self.n_clients = n_clients
        self.quiet = quiet
        self.rounds_failed = 0

    def _params(self, state: bytes) -> Parameters:
        tensors, kind = encode_state(self.layout, self.data.model_hash, state)
        return Parameters(tensors=tensors, tensor_type=kind)

    def _state(self, p: Parameters) -> bytes:
        return decode_state(self.layout, self.data.model_hash, list(p.tensors), p.tensor_type)

    def get_parameters(self, ins: GetParametersIns) -> GetParametersRes:
        return GetParametersRes(Status(Code.OK, "initial state"), self._params(
            initial_state(self.data.plan, self.data.seed)))

    def fit(self, ins: FitIns) -> FitRes:
        rnd = int(ins.config["round"])
        state = self._state(ins.parameters)  # a WireError is a bug of the fleet, not a board fault: raised
        order = round_order(self.data.seed, rnd, self.cid, self.shard, int(ins.config.get("local_epochs", 1)))
        try:
            res = self.backend.train_round(state, round_seed(self.data.seed, rnd, self.cid), order)
        except McutrainError as exc:
            self.rounds_failed += 1
            if not self.quiet:
                sys.stderr.write(f"client {self.cid}: round {rnd} failed: {exc}\n")
            return FitRes(Status(FAILED, f"client {self.cid}: {exc}"), Parameters([], ""), 0,
                          {"cid": self.cid})
        metrics: dict[str, Any] = {"cid": self.cid, "train_errors": res.errors, "crc32": zlib.crc32(res.state),
                                   "backend": self.backend.kind}
        if res.bit_exact is not None:
            metrics["bit_exact"] = int(res.bit_exact)
        return FitRes(Status(Code.OK, "ok"), self._params(res.state), res.samples, metrics)

    def eval_indices(self, n_test: int, limit: int) -> np.ndarray:
        """This client's slice of the test set: indices congruent to cid modulo the client count."""
        idx = np.arange(self.cid % self.n_clients, n_test, self.n_clients)
        return idx[:limit] if limit > 0 else idx

    def evaluate(self, ins: EvaluateIns) -> EvaluateRes:
        state = self._state(ins.parameters)
        idx = self.eval_indices(len(self.data.y_test), int(ins.config.get("eval_samples", 0)))
        try:
            preds = self.backend.predict(state, idx)
        except McutrainError as exc:
            return EvaluateRes(Status(Code.EVALUATE_NOT_IMPLEMENTED, f"client {self.cid}: {exc}"), 0.0, 0,
                               {"cid": self.cid})
        acc = float((preds == self.data.y_test[idx]).mean()) if len(idx) else 0.0
        metrics: dict[str, Any] = {"cid": self.cid, "accuracy": acc}
        if self.backend.kind == "board":
            metrics["bit_exact"] = int(np.array_equal(preds, self.backend.twin.predict(state, idx)))
        return EvaluateRes(Status(Code.OK, "ok"), 1.0 - acc, len(idx), metrics)
