"""Fault injection on a byte stream: :class:`FaultInjector`, :class:`FaultyTransport`, :class:`FaultProxy`.

A :class:`FaultInjector` damages the bytes going one way with given rates per
byte: a bit flipped, the byte dropped, the byte sent twice, or a pause
(``delay_s``) before it. Its random generator is seeded, so a run is
reproducible byte for byte given the same chunks.

- :class:`FaultyTransport` wraps a :class:`~mcutrain.host.link.Transport`
  (e.g. the pipes of the host-built device in the tests).
- :class:`FaultProxy` is a TCP proxy between the host and an emulated board
  (``socket://127.0.0.1:LISTEN`` -> ``127.0.0.1:TARGET``), one injector per
  direction; ``mcutrain soak`` and the fault tests use it.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FaultRates:
    """Probabilities per byte (each 0 .. 0.5)."""

    flip: float = 0.0
    drop: float = 0.0
    dup: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.02  #: length of one pause

    @classmethod
    def uniform(cls, rate: float, delay_s: float = 0.02) -> FaultRates:
        """Faults at ``rate`` per byte in all, a quarter of each kind."""
        return cls(rate / 4, rate / 4, rate / 4, rate / 4, delay_s)

    @property
    def total(self) -> float:
        return self.flip + self.drop + self.dup + self.delay

    def __post_init__(self) -> None:
        for name in ("flip", "drop", "dup", "delay"):
            v = getattr(self, name)
            if not 0.0 <= v <= 0.5:
                raise ValueError(f"fault rate {name} = {v}: must be between 0 and 0.5 per byte")


@dataclass
class FaultCounts:
    bytes: int = 0
    flipped: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.flipped + self.dropped + self.duplicated + self.delayed

    def as_dict(self) -> dict[str, int]:
        return {"bytes": self.bytes, "flipped": self.flipped, "dropped": self.dropped,
                "duplicated": self.duplicated, "delayed": self.delayed, "faults": self.total}


@dataclass
class FaultInjector:
    """Damages chunks of a byte stream; :meth:`apply` returns pieces ``(delay_s, bytes)``."""

    rates: FaultRates
    seed: int = 0
    counts: FaultCounts = field(default_factory=FaultCounts)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def apply(self, data: bytes) -> list[tuple[float, bytes]]:
        """The bytes to send for ``data``: a list of (pause before, bytes)."""
        n = len(data)
        self.counts.bytes += n
        r = self.rates
        if n == 0:
            return []
        u = self._rng.random((4, n))
        flip = u[0] < r.flip
        drop = u[1] < r.drop
        dup = (u[2] < r.dup) & ~drop
        delay = u[3] < r.delay
        if not (flip.any() or drop.any() or dup.any() or delay.any()):
            return [(0.0, bytes(data))]
        arr = np.frombuffer(bytes(data), dtype=np.uint8).copy()
        nf = int(flip.sum())
        if nf:
            arr[flip] ^= (1 << self._rng.integers(0, 8, nf)).astype(np.uint8)
        self.counts.flipped += nf
        self.counts.dropped += int(drop.sum())
        self.counts.duplicated += int(dup.sum())
        self.counts.delayed += int(delay.sum())
        reps = np.where(drop, 0, np.where(dup, 2, 1))
        pieces: list[tuple[float, bytes]] = []
        start = 0
        for i in np.flatnonzero(delay):
            pieces.append((0.0, np.repeat(arr[start:i], reps[start:i]).tobytes()))
            pieces.append((r.delay_s, b""))
            start = int(i)
        pieces.append((0.0, np.repeat(arr[start:], reps[start:]).tobytes()))
        return [(d, b) for d, b in pieces if d or b]


class FaultyTransport:
    """A transport whose bytes are damaged both ways (pauses are slept)."""

    def __init__(self, inner: Any, to_device: FaultInjector, from_device: FaultInjector) -> None:
        self.inner = inner
        self.to_device = to_device
        self.from_device = from_device
        self.description = f"{inner.description} (with injected faults)"

    def write(self, data: bytes) -> None:
        for pause, chunk in self.to_device.apply(data):
            if pause:
                time.sleep(pause)
            if chunk:
                self.inner.write(chunk)

    def read_some(self) -> bytes:
        data = self.inner.read_some()
        return b"".join(chunk for _, chunk in self.from_device.apply(data))

    def close(self) -> None:
        self.inner.close()


class FaultProxy:
    """TCP proxy injecting faults: listens on 127.0.0.1:``port`` (0: any free
    port), connects each client to ``target`` and damages the bytes both ways.

    One client at a time; when either side closes, the other is closed too
    (a board reset looks the same through the proxy as without it).
    """

    def __init__(self, target_port: int, rates: FaultRates, *, seed: int = 0, port: int = 0,
                 target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.rates = rates
        self.to_device = FaultInjector(rates, seed=seed * 2 + 1)
        self.from_device = FaultInjector(rates, seed=seed * 2 + 2)
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", port))
        self._srv.listen(1)
        self.port = int(self._srv.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mcutrain-fault-proxy", daemon=True)
        self.connections = 0

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, dict[str, int]]:
        return {"to_device": self.to_device.counts.as_dict(), "from_device": self.from_device.counts.as_dict()}

    @property
    def faults_injected(self) -> int:
        return self.to_device.counts.total + self.from_device.counts.total

    def retarget(self, target_port: int) -> None:
        """Connect the next clients to another port (a restarted emulator)."""
        self.target = (self.target[0], target_port)

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._srv.close()
        except OSError:
            pass
        self._thread.join(timeout=2.0)

    def _serve(self) -> None:
        self._srv.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                board = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                client.close()
                continue
            self.connections += 1
            self._pump(client, board)

    def _pump(self, client: socket.socket, board: socket.socket) -> None:
        """Both directions in one thread; a pause holds back only its direction."""
        pairs = {client: (board, self.to_device), board: (client, self.from_device)}
        queues: dict[socket.socket, list[tuple[float, bytes]]] = {board: [], client: []}  # by destination
        ready_at = {board: 0.0, client: 0.0}
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = 0.05
                for dst, q in queues.items():
                    while q and now >= ready_at[dst]:
                        pause, chunk = q[0]
                        if pause:
                            ready_at[dst] = now + pause
                            q[0] = (0.0, chunk)
                            break
                        q.pop(0)
                        if chunk:
                            dst.sendall(chunk)
                    if q:
                        wait = min(wait, max(ready_at[dst] - now, 0.0))
                rlist, _, _ = select.select([client, board], [], [], wait)
                for src in rlist:
                    data = src.recv(65536)
                    if not data:
                        return
                    dst, inj = pairs[src]
                    queues[dst].extend(inj.apply(data))
        except OSError:
            return
        finally:
            client.close()
            board.close()

