"""COBS + CRC-16 framing: Python (host/framing.py) alone, and against the C
implementation (firmware/core/link.c) compiled for the host."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess

import pytest
from _linkbuild import build_link_driver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcutrain.host.framing import (
    MAX_PAYLOAD,
    MAX_RAW,
    FrameDecoder,
    FrameError,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_frame,
    encode_frame,
)

from mcutrain.errors import ProtocolError

payloads = st.binary(min_size=1, max_size=MAX_PAYLOAD)


def code_positions(encoded: bytes) -> set[int]:
    """Indices of the COBS code bytes in an encoded frame (no delimiter)."""
    pos, i = set(), 0
    while i < len(encoded):
        pos.add(i)
        i += encoded[i]
    return pos


# ----------------------------------------------------------------- CRC, COBS


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


@pytest.mark.parametrize(
    "data, encoded",
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
        (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
        (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
        (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
    ],
)
def test_cobs_known_vectors(data, encoded):
    """The examples of the COBS article (Cheshire and Baker's encoding)."""
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@settings(deadline=None)
@given(st.binary(max_size=1200))
def test_cobs_round_trip(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


def test_cobs_decoder_accepts_trailing_empty_block():
    # Some encoders add an empty block after a full one that ends the data.
    assert cobs_decode(b"\xff" + bytes(range(1, 255)) + b"\x01") == bytes(range(1, 255))


@pytest.mark.parametrize("bad", [b"\x05\x11\x22", b"\x02\x11\x00", b"\x00"])
def test_cobs_decode_rejects(bad):
    with pytest.raises(FrameError) as e:
        cobs_decode(bad)
    assert e.value.kind == "cobs"
    assert isinstance(e.value, ProtocolError)


# --------------------------------------------------------------------- frames


@settings(deadline=None)
@given(payloads)
def test_frame_round_trip(payload):
    frame = encode_frame(payload)
    assert frame.endswith(b"\x00") and 0 not in frame[:-1]
    assert len(frame) <= MAX_RAW + 3
    assert decode_frame(frame[:-1]) == payload


def test_max_frame_size():
    frame = encode_frame(b"\x01" * MAX_PAYLOAD)
    assert len(frame) == 260  # 255 + 2 CRC + 2 COBS + delimiter


@pytest.mark.parametrize("bad", [b"", b"x" * (MAX_PAYLOAD + 1)])
def test_encode_frame_rejects_bad_sizes(bad):
    with pytest.raises(ValueError):
        encode_frame(bad)


@settings(deadline=None)
@given(st.lists(payloads, max_size=8), st.data())
def test_stream_decoder_any_chunking(frames, data):
    """Frames split at arbitrary points come out whole and in order."""
    stream = b"".join(encode_frame(p) for p in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    dec = FrameDecoder()
    got = []
    prev = 0
    for c in [*cuts, len(stream)]:
        got += dec.feed(stream[prev:c])
        prev = c
    assert got == frames
    assert dec.bad_frames == 0 and dec.pending == 0


@settings(deadline=None, derandomize=True, max_examples=300)
@given(payloads, st.data())
def test_corrupted_data_byte_detected(payload, data):
    """Any change of one data byte (not a COBS code byte) is caught by the CRC."""
    enc = encode_frame(payload)[:-1]
    positions = sorted(set(range(len(enc))) - code_positions(enc))
    i = data.draw(st.sampled_from(positions))
    flip = data.draw(st.integers(1, 255).filter(lambda x: enc[i] ^ x != 0))
    bad = bytearray(enc)
    bad[i] ^= flip
    dec = FrameDecoder()
    assert dec.feed(bytes(bad) + b"\x00") == []
    assert dec.bad_frames == 1 and dec.errors["crc"] == 1


@settings(deadline=None, derandomize=True, max_examples=300)
@given(payloads, st.data())
def test_corrupted_any_byte_never_gives_a_wrong_payload(payload, data):
    enc = encode_frame(payload)[:-1]
    i = data.draw(st.integers(0, len(enc) - 1))
    new = data.draw(st.integers(1, 255).filter(lambda x: x != enc[i]))
    bad = bytearray(enc)
    bad[i] = new
    dec = FrameDecoder()
    assert dec.feed(bytes(bad) + b"\x00") == []
    assert dec.bad_frames == 1


def test_truncated_frame_detected_and_next_frame_survives():
    a, b = encode_frame(b"Hhello"), encode_frame(b"Tworld")
    dec = FrameDecoder()
    # The sender died mid-frame and a 0x00 ended it: COBS (truncated block).
    assert dec.feed(a[:4] + b"\x00" + b) == [b"Tworld"]
    assert dec.errors == {"cobs": 1}


def test_truncated_frame_without_delimiter_costs_one_frame():
    a, b, c = encode_frame(b"Aaaaa"), encode_frame(b"Bbbbb"), encode_frame(b"Ccccc")
    dec = FrameDecoder()
    # The cut frame merges with the next one: both lost, the third one decodes.
    assert dec.feed(a[:3] + b + c) == [b"Ccccc"]
    assert dec.bad_frames == 1


def test_resync_after_garbage():
    rng = random.Random(1)
    garbage = bytes(rng.randrange(1, 256) for _ in range(1000))
    frame = encode_frame(b"Hx")
    dec = FrameDecoder()
    assert dec.feed(garbage + b"\x00" + frame + frame) == [b"Hx", b"Hx"]
    assert dec.errors == {"overlong": 1}


def test_short_and_empty_frames():
    dec = FrameDecoder()
    events = dec.feed_events(b"\x00\x00\x00" + cobs_encode(b"ab") + b"\x00" + cobs_encode(b"") + b"\x00")
    assert events == [("short", b""), ("short", b"")]  # empty frames give nothing


def test_overlong_frame():
    raw = b"T" + bytes(range(1, 256)) + b"\x01\x02"  # 258 bytes > 257
    dec = FrameDecoder()
    assert dec.feed_events(cobs_encode(raw) + b"\x00" + encode_frame(b"F")) == [("overlong", b""), ("frame", b"F")]


# ------------------------------------------------------------ C against Python


def _records(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<H", len(x)) + x for x in items)


def _parse_records(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from("<H", data, i)
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    exe = build_link_driver(tmp_path_factory.mktemp("link_driver"))

    def run(mode: str, data: bytes) -> bytes:
        r = subprocess.run([str(exe), mode], input=data, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout

    return run


def _edge_data() -> list[bytes]:
    rng = random.Random(7)
    items = [b"", b"\x00", b"\x00" * 300, b"\x01" * 1000]
    for n in (1, 2, 3, 253, 254, 255, 256, 257, 507, 508, 509, 762, 1000):
        items.append(bytes(rng.randrange(1, 256) for _ in range(n)))  # no zeros
        items.append(bytes(rng.randrange(0, 4) for _ in range(n)))  # many zeros
        items.append(bytes(rng.randrange(1, 256) for _ in range(n - 1)) + b"\x00")
        items.append(b"\x00" + bytes(rng.randrange(1, 256) for _ in range(n - 1)))
    return items


def test_c_cobs_matches_python(driver):
    items = _edge_data()
    assert _parse_records(driver("cobs", _records(items))) == [cobs_encode(x) for x in items]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(payloads, min_size=1, max_size=20))
def test_c_frames_match_python(driver, items):
    want = [encode_frame(p) for p in items]
    assert _parse_records(driver("encode", _records(items))) == want
    assert driver("send", _records(items)) == b"".join(want)


def test_c_frames_match_python_edges(driver):
    items = [x for x in _edge_data() if 1 <= len(x) <= MAX_PAYLOAD]
    items += [b"\xff" * MAX_PAYLOAD, b"\x00" * MAX_PAYLOAD, b"T" + bytes(254)]
    assert _parse_records(driver("encode", _records(items))) == [encode_frame(p) for p in items]
    # A payload of 256 bytes is refused by C (length 0) and by Python.
    assert _parse_records(driver("encode", _records([b"x" * 256]))) == [b""]


def test_c_cobs_decode_matches_python(driver):
    items = [cobs_encode(x) for x in _edge_data()]
    items += [b"\x05\x11\x22", b"\x02\x11\x00", b"\x00", b"\x03\x01", b"\xff" + b"\x01" * 254 + b"\xff" + b"\x02" * 10]
    out = driver("cobsdec", _records(items))
    i = 0
    for enc in items:
        (r,) = struct.unpack_from("<h", out, i)
        i += 2
        try:
            want = cobs_decode(enc, MAX_RAW)
        except FrameError as e:
            assert r == {"cobs": -2, "overlong": -4}[e.kind], (enc, e)
            continue
        assert r == len(want), enc
        assert out[i : i + r] == want
        i += r
    assert i == len(out)


_C_RESULTS = {1: "frame", -1: "crc", -2: "cobs", -3: "short", -4: "overlong"}


def _c_rx_events(driver, stream: bytes) -> list[tuple[str, bytes]]:
    out = driver("rx", stream)
    events, i = [], 0
    while i < len(out):
        code = struct.unpack_from("<b", out, i)[0]
        (n,) = struct.unpack_from("<H", out, i + 1)
        events.append((_C_RESULTS[code], out[i + 3 : i + 3 + n]))
        i += 3 + n
    return events


def _mixed_stream(seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    for _ in range(300):
        p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, MAX_PAYLOAD + 1)))
        f = bytearray(encode_frame(p))
        kind = rng.randrange(10)
        if kind == 0:  # corrupt a byte (keep it nonzero)
            j = rng.randrange(len(f) - 1)
            f[j] = rng.randrange(1, 256)
        elif kind == 1:  # truncate
            f = f[: rng.randrange(1, len(f))]
        elif kind == 2:  # garbage
            f = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        elif kind == 3:  # overlong
            f = bytearray(cobs_encode(bytes(rng.randrange(256) for _ in range(rng.randrange(258, 700))))) + b"\x00"
        elif kind == 4:  # short / empty
            f = bytearray(cobs_encode(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3))))) + b"\x00"
        parts.append(bytes(f))
    return b"".join(parts) + b"\x00"


@pytest.mark.parametrize("seed", range(5))
def test_c_receiver_matches_python(driver, seed):
    stream = _mixed_stream(seed)
    want = FrameDecoder().feed_events(stream)
    got = _c_rx_events(driver, stream)
    assert got == want
    kinds = {k for k, _ in want}
    assert {"frame", "crc", "cobs", "overlong", "short"} <= kinds or seed > 0


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.binary(max_size=800))
def test_c_receiver_matches_python_on_noise(driver, noise):
    stream = noise + b"\x00" + encode_frame(b"Hok")
    assert _c_rx_events(driver, stream) == FrameDecoder().feed_events(stream)
