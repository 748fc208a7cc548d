"""One client's round, on its twin or on its board (docs/arithmetic.md, section 10).

A round of client c in round r starts from the global state: the session is started with the round
seed (`round_seed`), the global state bytes replace the freshly initialised ones (`U` + `K` on the
board: the link's checkpoint restore, with the schedule of a session just started with that seed), then
the client's samples are trained in the order `round_order` and the state is read back (`W`).
The twin does the same in NumPy, so a board's round is checked bit for bit against it.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DeviceSilentError, McutrainError
from .layout import StateLayout, load_twin_state


class NotBitExactError(McutrainError):
    exit_code = 10


class BoardLostError(DeviceSilentError):
    """The connection to a board broke in a round (its emulator killed, its cable pulled)."""


@dataclass
class FleetData:
    """A model's data, encoded for the link and decoded for the twin."""

    plan: Any
    model_hash: str
    seed: int
    train_enc: np.ndarray
    y_train: np.ndarray
    test_enc: np.ndarray
    y_test: np.ndarray
    x_train: np.ndarray  #: decoded, Q(A) integers
    x_test: np.ndarray

    @classmethod
    def from_spec(cls, spec: Any, ds: Any) -> FleetData:
        from ..arith.plan import plan_from_spec
        from ..data import decode, encode

        enc, thr, n, a = spec.data.encoding, spec.data.threshold, spec.n_inputs, spec.arithmetic.activation_frac_bits
        train_enc, test_enc = encode(ds.x_train, enc, thr), encode(ds.x_test, enc, thr)
        return cls(plan_from_spec(spec), spec.model_hash(), spec.seed, train_enc, np.asarray(ds.y_train), test_enc,
                   np.asarray(ds.y_test), decode(train_enc, enc, n, a), decode(test_enc, enc, n, a))


def round_seed(model_seed: int, server_round: int, cid: int) -> int:
    """The xorshift32 seed of client `cid`'s session in round `server_round`: PCG64([seed, round, cid]), 1..2^32-1."""
    return int(np.random.default_rng([model_seed, server_round, cid]).integers(1, 1 << 32))


def round_order(model_seed: int, server_round: int, cid: int, shard: np.ndarray, local_epochs: int) -> np.ndarray:
    """The sample indices client `cid` trains in a round: per local epoch e a PCG64([seed, round, cid, e])
    permutation of its shard."""
    return np.concatenate([shard[np.random.default_rng([model_seed, server_round, cid, e]).permutation(len(shard))]
                           for e in range(local_epochs)])


def initial_state(plan: Any, model_seed: int) -> bytes:
    """The global state of round 0: the weights `S` with the model's seed initialises (the device's own)."""
    from ..twin import TwinNetwork

    net = TwinNetwork(plan)
    net.start(model_seed, 0)
    return net.state_bytes()


@dataclass
class RoundResult:
    state: bytes
    samples: int
    errors: int          #: training samples mispredicted before their update
    bit_exact: bool | None = None  #: board rounds: the state equal to the twin's


class TwinBackend:
    """A client's round on the NumPy twin."""

    kind = "twin"

    def __init__(self, data: FleetData) -> None:
        from ..twin import TwinNetwork

        StateLayout.from_plan(data.plan)  # refuses float32 with the reason
        self.data = data
        self.net = TwinNetwork(data.plan)

    def begin(self, state: bytes, seed: int, n: int) -> bytes:
        """Start a session with `seed` and load `state`; returns the schedule bytes (MT_SCHED_BYTES) the device
        must load to continue identically."""
        net = self.net
        net.start(seed, n)
        load_twin_state(net, state)
        epoch_left = net.epoch_left if net.plan.batch_shift else 0
        return struct.pack("<IiII", net.rng.state, net.schedule.lr_exp, net.schedule.countdown, epoch_left)

    def train_round(self, state: bytes, seed: int, order: np.ndarray) -> RoundResult:
        self.begin(state, seed, len(order))
        errors = 0
        x, y = self.data.x_train, self.data.y_train
        for i in order:
            errors += self.net.train_step(x[i], int(y[i])) != int(y[i])
        return RoundResult(self.net.state_bytes(), len(order), errors)

    def predict(self, state: bytes, idx: np.ndarray) -> np.ndarray:
        self.net.start(1, 0)
        load_twin_state(self.net, state)
        return self.net.infer(self.data.x_test[idx]).astype(np.uint8)

    def close(self) -> None:
        pass


class BoardBackend:
    """A client's round on a board over the serial link, checked against the twin.

    `connect()` gives a link to the board (a port opened, or an emulator (re)started); after a fault the
    next round connects again, so a reset or lost board rejoins from the global state."""

    kind = "board"

    def __init__(self, data: FleetData, connect: Callable[[], Any], *, window: int = 64) -> None:
        self.data = data
        self.twin = TwinBackend(data)
        self.connect = connect
        self.window = window
        self.link: Any = None
        self.reconnects = 0
        self.on_samples: Callable[[int], None] | None = None  #: called with the samples trained so far in a round
        self._lock = threading.Lock()

    def _link(self) -> Any:
        if self.link is None:
            self.link = self.connect()
            self.link.hello(expected_hash=self.data.model_hash)
        return self.link

    def _drop_link(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            self.reconnects += 1
            link.close()

    def abort(self) -> None:
        """Give up the round in progress (a time-out): close the link, so the streaming stops."""
        link = self.link
        if link is not None:
            link.close()

    @contextmanager
    def _board(self) -> Iterator[Any]:
        """The link to the board for one exchange; on any failure the link is dropped (reopened next time),
        and a closed or broken connection becomes BoardLostError."""
        from ..host.link import DeviceResetError

        try:
            yield self._link()
        except (DeviceSilentError, DeviceResetError, McutrainError):
            self._drop_link()
            raise
        except (OSError, ValueError) as exc:  # a closed or broken connection
            self._drop_link()
            raise BoardLostError(f"the connection to the board broke: {exc}") from exc

    def _restore(self, link: Any, state: bytes, seed: int, n: int, sched: bytes) -> None:
        from ..host import messages as m

        rec = m.CheckpointRecord(0, 0, 0, zlib.crc32(state), sched)
        link.restore(seed, n, 0, 0, state, rec)

    def train_round(self, state: bytes, seed: int, order: np.ndarray) -> RoundResult:
        from ..host.stream import Streamer

        want = self.twin.train_round(state, seed, order)
        sched = self.twin.begin(state, seed, len(order))  # the schedule after S (the twin's state is reloaded)
        last_p: list[Any] = [None]

        def progress(p: Any) -> None:
            last_p[0] = p
            if self.on_samples is not None:
                self.on_samples(p.samples_trained)
        with self._lock, self._board() as link:
            self._restore(link, state, seed, len(order), sched)
            enc, y = self.data.train_enc, self.data.y_train
            Streamer(link, window=self.window, on_progress=progress).train(
                (int(y[i]), enc[i].tobytes()) for i in order)
            got, _ = link.read_weights()
        errors = last_p[0].errors if last_p[0] is not None else -1
        return RoundResult(got, len(order), errors, bit_exact=got == want.state and errors == want.errors)

    def predict(self, state: bytes, idx: np.ndarray) -> np.ndarray:
        from ..host.stream import Streamer

        with self._lock, self._board() as link:
            self._restore(link, state, 1, 0, bytes(16))
            ev = Streamer(link, window=self.window).evaluate(self.data.test_enc[i].tobytes() for i in idx)
        return np.frombuffer(ev.predictions, dtype=np.uint8)

    def close(self) -> None:
        self._drop_link()
