"""Samples larger than one frame (protocol v3, docs/protocol.md "Samples larger than one frame"): the host
splits them into `Q` parts and a final `T`/`E`; the device main loop (firmware/core/main.c, built for the
host with the fake model at a CIFAR-10 u4 sample size and AddressSanitizer/UBSan) assembles them. The fake
model's hinge for such a sample is the CRC-32 of the whole sample and its prediction depends on the last
byte, so a misassembled sample changes the counts the device reports."""

from __future__ import annotations

import os
import random
import subprocess
import zlib

import pytest
from _linkbuild import build_fake_device
from mcutrain.host import messages as m
from mcutrain.host.faults import FaultInjector, FaultRates, FaultyTransport
from mcutrain.host.framing import cobs_encode, encode_frame
from mcutrain.host.link import DeviceLink, DeviceReportedError, PipeTransport
from mcutrain.host.stream import Checkpoint, Streamer
from test_device_protocol import _drive, collect_until, expect_error, fake_digest, fake_state

BIG = 1536  #: a 32x32x3 image at u4
PARTS = (BIG - 1) // m.PART_BYTES  #: 6 parts of 250 bytes, then a `T`/`E` of 36


@pytest.fixture(scope="module")
def big_exe(tmp_path_factory):
    return build_fake_device(tmp_path_factory.mktemp("fake_big"), input_bytes=BIG)


@pytest.fixture
def big_proc(big_exe):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.Popen([str(big_exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    yield proc


@pytest.fixture
def big(big_proc):
    yield from _drive(big_proc, DeviceLink(PipeTransport.from_process(big_proc)))


def big_sample(k: int, pred: int | None = None) -> bytes:
    """A distinct pseudo-random sample; x[0] = pred (the fake model's prediction if < 10), else >= 10."""
    rng = random.Random(k)
    x = bytearray(rng.randbytes(BIG))
    x[0] = pred if pred is not None else 10 + (x[0] % 200)
    return bytes(x)


def expected_eval(x: bytes) -> int:
    return x[0] if x[0] < 10 else x[-1] & 7


# ------------------------------------------------------------------ host split


@pytest.mark.parametrize("n", [1, 98, 250, 251, 252, 500, 501, 502, 1536, 3072, 65535])
def test_split_covers_the_sample_in_frames_that_fit(n: int) -> None:
    x = bytes(random.Random(n).randbytes(n))
    for kind, payloads in (("T", m.train_payloads(7, x)), ("E", m.eval_payloads(x))):
        assert len(payloads) == m.frames_per_sample(n)
        assert all(len(p) <= 255 for p in payloads)  # one frame's payload each
        *parts, last = payloads
        assert last[:1] == kind.encode() and all(p[:1] == b"Q" for p in parts)
        assert [int.from_bytes(p[3:5], "little") for p in parts] == [k * m.PART_BYTES for k in range(len(parts))]
        assert all(len(p) == 5 + m.PART_BYTES for p in parts)
        tail = last[4:] if kind == "T" else last[3:]
        assert b"".join(p[5:] for p in parts) + tail == x
        assert 1 <= len(tail) <= m.TAIL_MAX
        decoded = [m.decode(m.with_seq(p, 1000 + i)) for i, p in enumerate(payloads)]
        assert [d.seq for d in decoded] == list(range(1000, 1000 + len(payloads)))
    assert m.frames_per_sample(251) == 1 and m.frames_per_sample(252) == 2 and m.frames_per_sample(BIG) == 7
    with pytest.raises(ValueError, match="1..65535"):
        m.sample_parts(65536)


# ------------------------------------------------------------------- device


def test_info_and_training_over_parts(big):
    info = big.hello(timeout=5)
    assert info.input_bytes == BIG and info.proto_version == m.PROTO_VERSION
    big.start(11, 1000, 50)
    xs = [big_sample(k) for k in range(200)]
    s = Streamer(big, window=64)
    res = s.train((k % 10, x) for k, x in enumerate(xs))
    assert res.frames == 200 * (PARTS + 1) and big.frames_acked == res.frames
    assert res.samples_trained == 200  # `P` counts samples, not frames
    assert res.hinge_sum == sum(zlib.crc32(x) for x in xs) % 2**32  # every byte of every sample arrived
    assert res.errors == 0  # x[0] >= 10: the fake model predicts the label
    assert [d.samples_trained for d in res.digests] == [50, 100, 150, 200]
    assert res.digests[-1] == fake_digest(200, 11)
    assert big.retransmissions == 0 and big.naks == 0
    ev = s.evaluate(xs[:130] + [big_sample(999, pred=4)])
    assert ev.predictions == bytes(expected_eval(x) for x in xs[:130]) + b"\x04"  # `R` indices are samples
    assert big.read_weights()[0] == fake_state(200)


@pytest.mark.parametrize("rate", [1e-3, 3e-3])
def test_parts_survive_faults_both_ways(big_proc, rate):
    """Bits flipped, bytes dropped, duplicated and delayed both ways: each sample is assembled from the right
    parts, trained once and in order; every prediction arrives."""
    inner = PipeTransport.from_process(big_proc)
    rates = FaultRates.uniform(rate, delay_s=0.002)
    faulty = FaultyTransport(inner, FaultInjector(rates, seed=5), FaultInjector(rates, seed=6))
    for link in _drive(big_proc, DeviceLink(faulty, resend=0.2)):
        link.hello(timeout=10)
        link.start(7, 1000, 0)
        n = 60
        xs = [big_sample(k) for k in range(n)]
        s = Streamer(link, window=16, rto=0.2)
        res = s.train((k % 10, x) for k, x in enumerate(xs))
        assert res.samples_trained == n and res.errors == 0
        assert res.hinge_sum == sum(zlib.crc32(x) for x in xs) % 2**32
        ev = s.evaluate(xs)
        assert ev.predictions == bytes(expected_eval(x) for x in xs)
        data, digest = link.read_weights()
        assert data == fake_state(n) and digest == fake_digest(n, 7)
        assert faulty.to_device.counts.total + faulty.from_device.counts.total > 0
        assert link.retransmissions > 0 and link.line_errors + link.bad_frames > 0


def test_checkpoint_restore_discards_a_partial_sample(big):
    big.hello(timeout=5)
    big.start(21, 1000, 0, checkpoint_every=20)
    got: list[Checkpoint] = []
    xs = [big_sample(k) for k in range(30)]
    Streamer(big, on_checkpoint=got.append).train((1, x) for x in xs)
    ck = got[-1]
    assert ck.samples_trained == 20 and ck.state == fake_state(20)
    # Three parts of a sample arrive, then the board is restored: the partial sample is dropped.
    payloads = m.train_payloads(1, big_sample(500))
    for k, p in enumerate(payloads[:3]):
        big.send_raw(encode_frame(m.with_seq(p, big.frames_assigned + k)))
    big.restore(21, 1000, 0, 20, ck.state, ck.record)
    res = Streamer(big).train((1, x) for x in xs[20:])  # the samples after the checkpoint, whole
    assert res.samples_trained == 30
    assert res.hinge_sum == sum(zlib.crc32(x) for x in xs) % 2**32
    assert big.read_weights()[0] == fake_state(30)


def _send_numbered(link: DeviceLink, payloads: list[bytes]) -> None:
    link.send_raw(b"".join(encode_frame(m.with_seq(p, k)) for k, p in enumerate(payloads)))


def test_out_of_order_part_is_refused(big):
    big.hello(timeout=5)
    big.start(1, 10, 0)
    parts = m.train_payloads(2, big_sample(1))
    _send_numbered(big, [parts[0], parts[2]])  # in sequence, but the second skips a part's bytes
    err = expect_error(big, m.ERR_VALUE)
    assert err.text.startswith("sample part out of order") and "0x51" in err.text
    with pytest.raises(DeviceReportedError, match="sample part out of order"):
        big.raise_for(err, "streaming", started=True)


def test_part_beyond_the_sample_is_refused(big):
    big.hello(timeout=5)
    big.start(1, 10, 0)
    beyond = b"Q\x00\x00" + (PARTS * m.PART_BYTES).to_bytes(2, "little") + bytes(m.PART_BYTES)
    _send_numbered(big, [beyond])
    assert "beyond the sample's parts" in expect_error(big, m.ERR_VALUE).text


def test_oversize_and_short_parts_are_refused(big):
    big.hello(timeout=5)
    big.start(1, 10, 0)
    part = m.train_payloads(2, big_sample(1))[0]
    for bad in (part[:-1], part[:5], part[:3]):
        _send_numbered(big, [bad])
        err = expect_error(big, m.ERR_LENGTH)
        assert "bad body length" in err.text and "0x51" in err.text
    # One byte more is a frame over the 255-byte payload: refused by the framing, a line error.
    big.send_raw(cobs_encode(part + bytes(3)) + b"\x00")  # 256 payload bytes and a CRC: 258 decoded
    big.send(m.Flush(3))
    collect_until(big, lambda x: isinstance(x, m.Ack) and x.token == 3)
    assert big.line_errors == 1 and "too long" in big.last_line_error.text
    assert big.frames_acked == 0


def test_tail_without_its_parts_is_refused(big):
    big.hello(timeout=5)
    big.start(1, 10, 0)
    payloads = m.train_payloads(2, big_sample(1))
    _send_numbered(big, [*payloads[:PARTS - 1], payloads[-1]])  # one part missing, numbered in sequence
    msgs = collect_until(big, lambda x: isinstance(x, m.Error))
    assert msgs[-1].code == m.ERR_VALUE and msgs[-1].text.startswith("sample incomplete")
    # Nothing was trained; the next whole sample trains normally (the partial one was discarded).
    x = big_sample(2)
    for k, p in enumerate(m.train_payloads(3, x)):
        big.send_raw(encode_frame(m.with_seq(p, PARTS - 1 + k)))
    big.send(m.Flush(9))
    got = collect_until(big, lambda x: isinstance(x, m.Ack) and x.token == 9)
    assert got[-2:] == [m.Progress(1, zlib.crc32(x), 0), m.Ack(PARTS - 1 + PARTS + 1, 9)]


def test_wrong_tail_length_is_refused(big):
    big.hello(timeout=5)
    big.start(1, 10, 0)
    _send_numbered(big, [m.train_payload(1, bytes(BIG - PARTS * m.PART_BYTES + 1))])
    assert "bad body length" in expect_error(big, m.ERR_LENGTH).text


def test_parts_to_a_one_frame_model_are_refused(tmp_path):
    exe = build_fake_device(tmp_path)  # the default fake model: 98-byte samples, one frame each
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for link in _drive(proc, DeviceLink(PipeTransport.from_process(proc))):
        link.hello(timeout=5)
        link.start(1, 10, 0)
        _send_numbered(link, [b"Q\x00\x00\x00\x00" + bytes(m.PART_BYTES)])
        err = expect_error(link, m.ERR_LENGTH)
        assert "fit one frame" in err.text and "0x51" in err.text
