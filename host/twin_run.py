"""The twin trained over a session's sample order: the one loop every part uses.

`mcutrain train --verify` runs it beside the device (digests every N samples), `mcutrain modes-table`
runs it instead of the device (its test accuracy is the device's), and the benchmark runs it over the
samples it counted (predictions and final weights compared with the emulated run). The order is fixed by
the seed: epoch e visits a permutation drawn from numpy's PCG64 seeded with (seed, e).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def sample_order(seed: int, n: int, epochs: int) -> np.ndarray:
    """The training order of a session: epoch e visits a permutation from PCG64 seeded with (seed, e)."""
    return np.concatenate([np.random.default_rng([seed, e]).permutation(n) for e in range(epochs)])


@dataclass
class TwinRun:
    """What one pass of the twin over a sample order gave."""

    predictions: np.ndarray  #: the prediction made before each update, in the order's sequence
    digests: dict[int, tuple[int, int]] = field(default_factory=dict)  #: samples -> (state CRC-32, PRNG state)

    def hits(self, labels: np.ndarray, order: np.ndarray) -> int:
        """Predictions that were right (the online training accuracy's numerator)."""
        return int(np.count_nonzero(self.predictions == labels[order]))


def train_twin(net: Any, seed: int, samples_per_epoch: int, x: np.ndarray, y: np.ndarray, order: np.ndarray,
               digest_every: int = 0, *, init_state: bytes | None = None, sched: bytes | None = None,
               first: int = 0, on_step: Callable[[int, Any], None] | None = None) -> TwinRun:
    """Start ``net`` (a twin of mcutrain.twin.make_twin) as the device's session start does, then train it on
    ``x[i], y[i]`` for each ``i`` of ``order``; with ``digest_every``, the digest after every that many.

    ``init_state`` replaces the state bytes after the start (`U` + `K` on the device: `mcutrain train --init`),
    ``sched`` the schedule words too (a resumed session), and training begins at position ``first`` of the
    order; ``on_step(k, net)`` is called after each step with the samples trained so far. The predictions
    returned are those of positions ``first`` onwards."""
    net.start(seed, samples_per_epoch)
    if init_state is not None:
        from ..fleet.layout import load_twin_state

        load_twin_state(net, init_state)
    if sched is not None:
        from ..state.sched import load_sched

        load_sched(net, sched)
    preds = np.empty(len(order) - first, dtype=np.int64)
    digests: dict[int, tuple[int, int]] = {}
    for k in range(first, len(order)):
        idx = order[k]
        preds[k - first] = net.train_step(x[idx], int(y[idx]))
        if digest_every and (k + 1) % digest_every == 0:
            digests[k + 1] = (net.digest(), net.prng_state)
        if on_step is not None:
            on_step(k + 1, net)
    return TwinRun(preds, digests)
