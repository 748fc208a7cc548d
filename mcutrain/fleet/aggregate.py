"""Federated averaging of integer states (docs/arithmetic.md, section 10).

For every value v of the state, with client k's value v_k and weight n_k (the samples it trained in
the round, n_k >= 1, sum N <= 2^31 - 1):

    avg = round_half_even( sum_k n_k v_k / N ),  then saturated to the segment's range.

The sum is exact in int64 (|v_k| < 2^31, N < 2^31), so the result does not depend on the order of the
clients; the quotient is floored, and the remainder r (0 <= r < N) decides: 2r > N rounds up, 2r = N
rounds to the even neighbour, 2r < N keeps the floor. The average of values inside a range stays in it,
so the saturation only guards against states from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import McutrainError
from .layout import StateLayout

MAX_TOTAL_WEIGHT = (1 << 31) - 1


class AggregationError(McutrainError):
    exit_code = 1


def div_round_half_even(num: np.ndarray, den: int) -> np.ndarray:
    """round(num / den), ties to even, for int64 num and a positive int den; exact."""
    if den <= 0:
        raise AggregationError(f"divisor {den}: the total weight must be positive")
    num = np.asarray(num, dtype=np.int64)
    q = num // den
    r2 = 2 * (num - q * den)
    return q + ((r2 > den) | ((r2 == den) & (q & 1 == 1))).astype(np.int64)


def fedavg_arrays(layout: StateLayout, states: Sequence[list[np.ndarray]], weights: Sequence[int]) -> list[np.ndarray]:
    """The weighted average of clients' split states, segment by segment (see the module's rule)."""
    if not states:
        raise AggregationError("no client state to average: every client of the round failed")
    if len(states) != len(weights):
        raise AggregationError(f"{len(states)} states but {len(weights)} weights")
    w = [int(x) for x in weights]
    if min(w) < 1:
        raise AggregationError(f"client weights {w}: each must be >= 1 (the samples it trained)")
    total = sum(w)
    if total > MAX_TOTAL_WEIGHT:
        raise AggregationError(f"total weight {total} exceeds 2^31 - 1: the int64 sums could overflow")
    out = []
    for i, seg in enumerate(layout.segments):
        acc = np.zeros(seg.count, dtype=np.int64)
        for st, n in zip(states, w, strict=True):
            acc += np.asarray(st[i], dtype=np.int64) * n
        out.append(np.clip(div_round_half_even(acc, total), seg.lo, seg.hi))
    return out


def fedavg_states(layout: StateLayout, states: Sequence[bytes], weights: Sequence[int]) -> bytes:
    """fedavg_arrays on state bytes: the global state bytes."""
    return layout.join(fedavg_arrays(layout, [layout.split(s) for s in states], weights))
