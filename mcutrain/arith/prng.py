"""The device's pseudo-random generator, xorshift32 (13, 17, 5), and a vectorized stream.

The device advances one 32-bit state with three shift/xor steps per draw and uses
the new state as the draw. xorshift32 is linear over GF(2), so the twin computes
a whole run of draws at once: draw k from state s is T^k s, and T^k s is the XOR
of the columns T^k e_b for the set bits b of s. `XorShiftStream` keeps a table of
those columns (built by doubling) and produces n draws with 32 vectorized XORs.
"""

from __future__ import annotations

import numpy as np

MASK32 = 0xFFFFFFFF


def xorshift32_step(s: int) -> int:
    """One step on a Python int; the reference definition."""
    s ^= (s << 13) & MASK32
    s ^= s >> 17
    s ^= (s << 5) & MASK32
    return s & MASK32


def _step_vec(v: np.ndarray) -> np.ndarray:
    v = v ^ (v << np.uint32(13))
    v = v ^ (v >> np.uint32(17))
    return v ^ (v << np.uint32(5))


def _apply(cols: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """Apply the GF(2) matrix given by its 32 columns `cols` to every uint32 in `vecs`."""
    out = np.zeros_like(vecs)
    for b in range(32):
        bit = (vecs >> np.uint32(b)) & np.uint32(1)
        out ^= np.where(bit.astype(bool), cols[b], np.uint32(0))
    return out


class XorShiftStream:
    """A xorshift32 generator whose draws are produced in vectorized runs."""

    def __init__(self, seed: int, capacity: int = 1 << 16) -> None:
        if not 0 < seed <= MASK32:
            raise ValueError("xorshift32 seed must be in 1..2^32-1")
        self.state = int(seed)
        self._table = self._build_table(capacity)

    @staticmethod
    def _build_table(capacity: int) -> np.ndarray:
        # table[k, b] = T^k e_b for k = 0..capacity
        table = np.zeros((capacity + 1, 32), dtype=np.uint32)
        table[0] = np.uint32(1) << np.arange(32, dtype=np.uint32)
        table[1] = _step_vec(table[0])
        filled = 2
        while filled <= capacity:
            n = min(filled, capacity + 1 - filled)
            # T^(filled + k) = T^filled T^k : apply the columns of T^filled to rows 0..n-1
            power = _apply(table[filled - 1], table[1])  # columns of T^filled
            table[filled:filled + n] = _apply(power, table[0:n])
            filled += n
        return table

    def draws(self, n: int) -> np.ndarray:
        """The next n draws (uint32), advancing the state."""
        if n == 0:
            return np.zeros(0, dtype=np.uint32)
        out = np.empty(n, dtype=np.uint32)
        cap = self._table.shape[0] - 1
        done = 0
        while done < n:
            m = min(cap, n - done)
            rows = self._table[1:m + 1]
            acc = np.zeros(m, dtype=np.uint32)
            s = self.state
            for b in range(32):
                if (s >> b) & 1:
                    acc ^= rows[:, b]
            out[done:done + m] = acc
            self.state = int(acc[-1])
            done += m
        return out
