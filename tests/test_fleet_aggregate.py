"""Integer federated averaging (docs/arithmetic.md, section 10), the state layout and the wire format."""

from __future__ import annotations

import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from fleet_helpers import fleet_model, plan_of
from hypothesis import given, settings
from hypothesis import strategies as st

from mcutrain.fleet.aggregate import AggregationError, div_round_half_even, fedavg_arrays, fedavg_states
from mcutrain.fleet.layout import LayoutError, Segment, StateLayout, load_twin_state
from mcutrain.fleet.wire import TENSOR_TYPE, WireError, decode_state, encode_state
from mcutrain.twin import TwinNetwork

SMALL = StateLayout((Segment("w", "<i1", 5, -64, 63), Segment("b", "<i4", 3, -1000, 1000)))


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory):
    return plan_of(fleet_model(tmp_path_factory.mktemp("fleet")))


def _random_state(layout: StateLayout, rng: np.random.Generator) -> bytes:
    return layout.join([rng.integers(s.lo, s.hi + 1, s.count) for s in layout.segments])


@settings(deadline=None)
@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=20), st.integers(1, 1 << 20))
def test_div_round_half_even_matches_fractions(nums: list[int], den: int) -> None:
    got = div_round_half_even(np.array(nums, dtype=np.int64), den)
    assert got.tolist() == [round(Fraction(n, den)) for n in nums]  # Python's round(): ties to even


def test_ties_go_to_the_even_neighbour() -> None:
    assert div_round_half_even(np.array([1, 3, -1, -3, 5]), 2).tolist() == [0, 2, 0, -2, 2]


client_values = st.lists(st.tuples(st.lists(st.integers(-64, 63), min_size=5, max_size=5),
                                   st.lists(st.integers(-1000, 1000), min_size=3, max_size=3),
                                   st.integers(1, 60000)), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(client_values, st.randoms(use_true_random=False))
def test_order_of_clients_does_not_change_the_result(clients, rnd) -> None:
    states = [[np.array(w), np.array(b)] for w, b, _ in clients]
    weights = [n for _, _, n in clients]
    ref = fedavg_arrays(SMALL, states, weights)
    perm = list(range(len(clients)))
    rnd.shuffle(perm)
    got = fedavg_arrays(SMALL, [states[i] for i in perm], [weights[i] for i in perm])
    assert all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True))
    # and it is the exact weighted mean, ties to even, inside the clients' range
    total = sum(weights)
    for k, seg in enumerate(ref):
        for j, v in enumerate(seg.tolist()):
            vals = [int(s[k][j]) for s in states]
            assert v == round(Fraction(sum(x * n for x, n in zip(vals, weights, strict=True)), total))
            assert min(vals) <= v <= max(vals)


def test_identical_clients_give_their_state(plan) -> None:
    layout = StateLayout.from_plan(plan)
    s = _random_state(layout, np.random.default_rng(1))
    assert fedavg_states(layout, [s, s, s], [5, 100, 7]) == s


def test_saturation_to_the_segment_range() -> None:
    wide = StateLayout((Segment("w", "<i2", 2, -300, 300),))
    narrow = StateLayout((Segment("w", "<i2", 2, -64, 63),))
    got = fedavg_arrays(narrow, [[np.array([300, -300])], [np.array([200, -200])]], [1, 1])
    assert got[0].tolist() == [63, -64]
    assert fedavg_arrays(wide, [[np.array([300, -300])], [np.array([200, -200])]], [1, 1])[0].tolist() == [250, -250]


@pytest.mark.parametrize(("weights", "words"), [([], "no client"), ([0, 1], ">= 1"), ([1 << 30, 1 << 30], "exceeds 2")])
def test_bad_weights_named(weights: list[int], words: str) -> None:
    states = [[np.zeros(5, np.int64), np.zeros(3, np.int64)] for _ in weights]
    with pytest.raises(AggregationError, match=words):
        fedavg_arrays(SMALL, states, weights)


def test_layout_round_trip_and_twin_load(plan) -> None:
    layout = StateLayout.from_plan(plan)
    assert layout.nbytes == plan.state_bytes
    net = TwinNetwork(plan)
    net.start(3, 100)
    s = _random_state(layout, np.random.default_rng(2))
    assert layout.join(layout.split(s)) == s
    load_twin_state(net, s)
    assert net.state_bytes() == s
    with pytest.raises(LayoutError, match="state bytes"):
        layout.split(s[:-1])
    bad = layout.split(s)
    bad[0][0] = plan.w0  # one above the largest latent weight
    with pytest.raises(LayoutError, match="outside"):
        layout.join(bad)


def test_wire_round_trip_and_segments_are_the_state(plan) -> None:
    layout = StateLayout.from_plan(plan)
    s = _random_state(layout, np.random.default_rng(3))
    tensors, kind = encode_state(layout, "abc123", s)
    assert kind == TENSOR_TYPE and b"".join(tensors[1:]) == s
    assert [len(t) for t in tensors[1:]] == [seg.nbytes for seg in layout.segments]
    assert decode_state(layout, "abc123", tensors, kind) == s


def test_wire_refuses_damage_and_other_models(plan, tmp_path: Path) -> None:
    layout = StateLayout.from_plan(plan)
    s = _random_state(layout, np.random.default_rng(4))
    tensors, kind = encode_state(layout, "abc123", s)
    with pytest.raises(WireError, match="of model abc123, this is model zzz"):
        decode_state(layout, "abc123".replace("abc123", "zzz"), tensors, kind)
    flipped = list(tensors)
    flipped[1] = bytes([flipped[1][0] ^ 1]) + flipped[1][1:]
    with pytest.raises(WireError, match="CRC-32"):
        decode_state(layout, "abc123", flipped, kind)
    with pytest.raises(WireError, match="damaged"):
        decode_state(layout, "abc123", tensors[:-1], kind)
    with pytest.raises(WireError, match="header is damaged"):
        decode_state(layout, "abc123", [b"{not json"] + tensors[1:], kind)
    with pytest.raises(WireError, match="not an mcutrain state"):
        decode_state(layout, "abc123", tensors, "numpy.ndarray")
    other = StateLayout.from_plan(plan_of(fleet_model(tmp_path, units=8, name="other")))
    with pytest.raises(WireError, match="damaged"):
        decode_state(other, "abc123", tensors, kind)
    assert zlib.crc32(decode_state(layout, "abc123", tensors, kind)) == zlib.crc32(s)
