"""host/faults.py: the fault injector is reproducible and injects what it is asked to."""

from __future__ import annotations

import pytest
from mcutrain.host.faults import FaultInjector, FaultRates


def _run(rates: FaultRates, seed: int, data: bytes) -> tuple[list[tuple[float, bytes]], FaultInjector]:
    inj = FaultInjector(rates, seed=seed)
    out = []
    for k in range(0, len(data), 1000):
        out += inj.apply(data[k : k + 1000])
    return out, inj


def test_clean_rates_pass_bytes_through():
    data = bytes(range(256)) * 40
    out, inj = _run(FaultRates(), 1, data)
    assert b"".join(b for _, b in out) == data and inj.counts.total == 0 and inj.counts.bytes == len(data)


def test_same_seed_same_faults_and_counts_add_up():
    data = bytes((i * 7 + 3) & 0xFF for i in range(200_000))
    rates = FaultRates(flip=1e-3, drop=2e-3, dup=3e-3, delay=1e-3, delay_s=0.5)
    a, ia = _run(rates, 5, data)
    b, _ = _run(rates, 5, data)
    c, _ = _run(rates, 6, data)
    assert a == b and a != c
    got = b"".join(x for _, x in a)
    n = ia.counts
    assert len(got) == len(data) - n.dropped + n.duplicated
    assert sum(1 for d, _ in a if d == 0.5) == n.delayed
    # Binomial counts within 5 standard deviations of the expected number.
    for count, p in ((n.flipped, 1e-3), (n.dropped, 2e-3), (n.duplicated, 3e-3 * (1 - 2e-3)), (n.delayed, 1e-3)):
        mean = p * len(data)
        assert abs(count - mean) < 5 * (mean ** 0.5), (count, mean)


def test_flips_change_one_bit():
    data = bytes(100_000)
    out, inj = _run(FaultRates(flip=1e-2), 3, data)
    got = b"".join(x for _, x in out)
    assert len(got) == len(data)
    changed = [b for b in got if b]
    assert len(changed) == inj.counts.flipped > 0 and all(bin(b).count("1") == 1 for b in changed)


def test_rate_out_of_range():
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        FaultRates(drop=0.7)


def test_uniform_splits_the_rate():
    r = FaultRates.uniform(1e-2)
    assert r.total == pytest.approx(1e-2) and r.flip == r.drop == r.dup == r.delay
