"""The device main loop (firmware/core/main.c) speaking protocol v2, built for
the host with the fake model (tests/c/fake_model.c) and the host board
(stdin/stdout), driven through a pipe with DeviceLink. Built with
AddressSanitizer and UBSan, so garbage that made it read or write out of
bounds would fail the test."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import zlib

import pytest
from _linkbuild import FAKE_CLASSES, FAKE_HASH, FAKE_INPUT_BYTES, FAKE_STATE_BYTES, build_fake_device
from mcutrain.host import messages as m
from mcutrain.host.emulator import free_port
from mcutrain.host.faults import FaultInjector, FaultRates, FaultyTransport
from mcutrain.host.framing import cobs_encode, encode_frame
from mcutrain.host.link import DeviceLink, DeviceReportedError, DeviceResetError, PipeTransport
from mcutrain.host.stream import Checkpoint, Streamer

from mcutrain.errors import DeviceSilentError, ModelMismatchError, PortMissingError, ProtocolError

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


@pytest.fixture(scope="module")
def fake_device_exe(tmp_path_factory):
    return build_fake_device(tmp_path_factory.mktemp("fake_device"))


@pytest.fixture
def device_proc(fake_device_exe):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.Popen([str(fake_device_exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    yield proc


@pytest.fixture
def device(device_proc):
    yield from _drive(device_proc, DeviceLink(PipeTransport.from_process(device_proc)))


def _drive(proc, link):
    try:
        yield link
    finally:
        link.close()
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == 0, f"device exited with {proc.returncode}:\n{err}"
        assert "runtime error" not in err and "Sanitizer" not in err, err


# ------------------------------------------------------------------ helpers


def sample(pred: int = 0, hinge: int = 0) -> bytes:
    """An encoded sample for the fake model: it predicts x[0] (if < 10) and
    reports hinge x[1]."""
    return bytes((pred, hinge)) + bytes(range(1, FAKE_INPUT_BYTES - 1))


def fake_state(steps: int) -> bytes:
    return bytes((i + steps) & 0xFF for i in range(FAKE_STATE_BYTES))


def fake_digest(steps: int, seed: int) -> m.Digest:
    return m.Digest(steps, zlib.crc32(fake_state(steps)), (seed + steps) & 0xFFFFFFFF)


def collect_until(link: DeviceLink, pred, timeout: float = 10.0) -> list[m.Message]:
    """Messages up to and including the first one for which pred(msg) holds."""
    out = []
    while True:
        msg = link.recv(timeout)
        assert msg is not None, f"timeout; got so far: {out}"
        out.append(msg)
        if pred(msg):
            return out


def until_ack(n: int):
    return lambda msg: isinstance(msg, m.Ack) and msg.frames_done == n


def expect_error(link: DeviceLink, code: int, timeout: float = 5.0) -> m.Error:
    msgs = collect_until(link, lambda x: isinstance(x, m.Error), timeout)
    assert len(msgs) == 1, msgs
    assert msgs[0].code == code, msgs[0]
    return msgs[0]


def flush_acks(link: DeviceLink, frames_done: int, progress: m.Progress | None = None) -> None:
    """F answers with the cumulative P, then A(frames_done, token) when nothing else is pending."""
    link.send(m.Flush(7))
    got = collect_until(link, lambda x: isinstance(x, m.Ack))
    assert got == [progress or m.Progress(0, 0, 0), m.Ack(frames_done, 7)]


def numbered(payloads: list[bytes], first: int = 0) -> list[bytes]:
    return [m.with_seq(p, first + k) for k, p in enumerate(payloads)]


# -------------------------------------------------------------------- hello


def test_hello_after_garbage(device):
    rng = random.Random(3)
    device.send_raw(bytes(rng.randrange(256) for _ in range(500)) + encode_frame(b"T\x01")[:3])
    info = device.hello(timeout=5)
    assert info == m.Info(m.PROTO_VERSION, FAKE_HASH, FAKE_INPUT_BYTES, FAKE_CLASSES, FAKE_STATE_BYTES, "host")


def test_hello_model_mismatch(device):
    with pytest.raises(ModelMismatchError) as e:
        device.hello(timeout=5, expected_hash="0123456789abcdef")
    text = str(e.value)
    assert FAKE_HASH in text and "0123456789abcdef" in text and "mcutrain train" in text
    assert e.value.exit_code == 6


def test_hello_matching_hash(device):
    assert device.hello(timeout=5, expected_hash=FAKE_HASH).board == "host"


# ---------------------------------------------------------------- sessions


def test_start_answers_ack_zero(device):
    device.send(m.Start(1, 100, 0))
    assert collect_until(device, lambda x: True) == [m.Ack(0)]


@pytest.mark.parametrize("msg", [m.Train(0, 1, sample()), m.Eval(0, sample())])
def test_data_before_start_is_refused(device, msg):
    device.send(msg)
    err = expect_error(device, m.ERR_NOT_STARTED)
    assert "not started" in err.text
    flush_acks(device, 0)


def test_training_messages_and_cadences(device):
    seed, n, digest_every = 100, 200, 50
    device.start(seed, 1000, digest_every)
    rng = random.Random(5)
    labels = [rng.randrange(10) for _ in range(n)]
    preds = [rng.choice([lab, rng.randrange(10), 200]) for lab in labels]  # 200: the fake predicts the label
    hinges = [rng.randrange(256) for _ in range(n)]
    payloads = [m.train_payload(lab, sample(p, h)) for lab, p, h in zip(labels, preds, hinges, strict=True)]
    device.send_payloads(numbered(payloads))
    device.send(m.Flush(3))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 3)

    want: list[m.Message] = []
    p_h = p_e = 0
    for k in range(1, n + 1):
        lab, p, h = labels[k - 1], preds[k - 1], hinges[k - 1]
        pred = p if p < 10 else lab
        p_h, p_e = p_h + h, p_e + (pred != lab)
        if k % 64 == 0:
            want.append(m.Progress(k, p_h, p_e))  # cumulative
        if k % digest_every == 0:
            want.append(fake_digest(k, seed))
        if k % 16 == 0:
            want.append(m.Ack(k))
    want += [m.Progress(n, p_h, p_e), m.Ack(n, 3)]  # F: P, then A with F's token
    assert got == want


def test_no_digest_when_digest_every_is_zero(device):
    device.start(1, 10, 0)
    device.send_payloads(numbered([m.train_payload(1, sample(1)) for _ in range(70)]))
    device.send(m.Flush(1))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 1)
    assert not any(isinstance(x, m.Digest) for x in got)
    assert [x for x in got if isinstance(x, m.Progress)] == [m.Progress(64, 0, 0), m.Progress(70, 0, 0)]


def test_eval_predictions(device):
    device.start(1, 10, 0)
    n = 150
    xs = [sample(k % 12) for k in range(n)]
    device.send_payloads(numbered([m.eval_payload(x) for x in xs]))
    device.send(m.Flush(1))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 1)
    classes = bytes(k % 12 if k % 12 < 10 else 0 for k in range(n))
    want: list[m.Message] = []
    for k in range(1, n + 1):
        if k % 64 == 0:
            want.append(m.Predictions(k - 64, classes[k - 64 : k]))
        if k % 16 == 0:
            want.append(m.Ack(k))
    want += [m.Progress(0, 0, 0), m.Predictions(128, classes[128:]), m.Ack(n, 1)]
    assert got == want


def test_mixed_train_and_eval_share_frame_count(device):
    device.start(9, 10, 0)
    payloads = []
    for k in range(40):
        payloads.append(m.train_payload(2, sample(2)) if k % 2 else m.eval_payload(sample(3)))
    device.send_payloads(numbered(payloads))
    device.send(m.Flush(2))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 2)
    assert got == [m.Ack(16), m.Ack(32), m.Progress(20, 0, 0), m.Predictions(0, b"\x03" * 20), m.Ack(40, 2)]


def test_restart_resets_counters(device):
    device.start(1, 10, 0)
    device.send_payloads(numbered([m.train_payload(1, sample(1)) for _ in range(20)]))
    collect_until(device, until_ack(16))
    device.start(2, 10, 0)  # waits for its A(0)
    flush_acks(device, 0)


def test_weights_dump(device):
    seed = 0xFFFFFFFE
    device.start(seed, 10, 0)
    device.send_payloads(numbered([m.train_payload(4, sample(4)) for _ in range(3)]))
    device.send(m.Weights())
    got = collect_until(device, lambda x: isinstance(x, m.Digest))
    state = fake_state(3)
    assert got == [m.WeightChunk(0, state[:192]), m.WeightChunk(192, state[192:384]),
                   m.WeightChunk(384, state[384:]), fake_digest(3, seed)]
    device.hello(timeout=5)
    data, digest = device.read_weights()
    assert data == state and digest == fake_digest(3, seed)


def test_weights_before_start(device):
    device.hello(timeout=5)
    data, digest = device.read_weights()
    assert len(data) == FAKE_STATE_BYTES and digest.samples_trained == 0


# -------------------------------------------------------------- error codes


def _bad_crc_frame() -> bytes:
    f = bytearray(encode_frame(b"H"))
    f[-2] = f[-2] ^ 0x5A or 1
    return bytes(f)


@pytest.mark.parametrize(
    "raw, code, words",
    [
        (_bad_crc_frame(), m.ERR_CRC, "bad CRC"),
        (encode_frame(m.train_payload(1, sample()))[:50] + b"\x00", m.ERR_COBS, "bad COBS"),
        (cobs_encode(b"H") + b"\x00", m.ERR_COBS, "too short"),
        (cobs_encode(b"H\x01") + b"\x00", m.ERR_COBS, "too short"),
        (cobs_encode(b"T" + bytes(300)) + b"\x00", m.ERR_COBS, "too long"),
        (cobs_encode(b"x" * 258) + b"\x00", m.ERR_COBS, "too long"),
        (encode_frame(b"Z"), m.ERR_TYPE, "0x5a"),
        (encode_frame(b"t" + bytes(99)), m.ERR_TYPE, "0x74"),
        (encode_frame(b"\xff" * 255), m.ERR_TYPE, "0xff"),
        (encode_frame(b"A\x00\x00\x00\x00\x00"), m.ERR_TYPE, "0x41"),  # a device message sent to the device
        (encode_frame(b"H\x00"), m.ERR_LENGTH, "0x48"),
        (encode_frame(b"S" + bytes(10)), m.ERR_LENGTH, "0x53"),  # a protocol v1 start
        (encode_frame(b"S" + bytes(15)), m.ERR_LENGTH, "0x53"),
        (encode_frame(b"T" + bytes(FAKE_INPUT_BYTES + 2)), m.ERR_LENGTH, "0x54"),
        (encode_frame(b"T" + bytes(FAKE_INPUT_BYTES + 1)), m.ERR_LENGTH, "0x54"),  # a protocol v1 train frame
        (encode_frame(b"T" + bytes(FAKE_INPUT_BYTES + 4)), m.ERR_LENGTH, "0x54"),
        (encode_frame(b"T"), m.ERR_LENGTH, "0x54"),
        (encode_frame(b"T" + bytes(254)), m.ERR_LENGTH, "0x54"),
        (encode_frame(b"E" + bytes(FAKE_INPUT_BYTES + 1)), m.ERR_LENGTH, "0x45"),
        (encode_frame(b"E" + bytes(FAKE_INPUT_BYTES + 3)), m.ERR_LENGTH, "0x45"),
        (encode_frame(b"F"), m.ERR_LENGTH, "0x46"),
        (encode_frame(b"F\x00\x00"), m.ERR_LENGTH, "0x46"),
        (encode_frame(b"W\x00"), m.ERR_LENGTH, "0x57"),
        (encode_frame(b"U\x00\x00\x00\x00"), m.ERR_LENGTH, "0x55"),
        (encode_frame(b"K" + bytes(31)), m.ERR_LENGTH, "0x4b"),
        (encode_frame(m.encode(m.Upload(FAKE_STATE_BYTES - 2, b"abc"))), m.ERR_VALUE, "upload outside"),
        (encode_frame(m.encode(m.Weights(FAKE_STATE_BYTES, 4))), m.ERR_VALUE, "outside"),
        (encode_frame(m.encode(m.Restore(0, 0, 0, 1234, bytes(16)))), m.ERR_RESTORE, "digest"),
        (encode_frame(m.train_payload(FAKE_CLASSES, sample())), m.ERR_VALUE, "label"),
        (encode_frame(m.train_payload(255, sample())), m.ERR_VALUE, "label"),
    ],
)
def test_error_codes(device, raw, code, words):
    device.start(1, 10, 0)
    device.send_raw(raw)
    if code in m.LINE_ERRORS:  # counted and skipped by DeviceLink.recv
        flush_acks(device, 0)
        assert device.line_errors == 1 and device.last_line_error.code == code
        err = device.last_line_error
    else:
        err = expect_error(device, code)
        flush_acks(device, 0)
    assert words in err.text
    assert err.name in str(err) and err.advice in str(err)  # the host puts the code into words
    # Nothing was counted, and the device goes on.
    assert device.hello(timeout=5).board == "host"


def test_bad_length_is_checked_before_start(device):
    device.send(b"T\x01")
    expect_error(device, m.ERR_LENGTH)


def test_truncated_frame_then_valid_frames(device):
    device.start(1, 10, 0)
    device.send_raw(encode_frame(m.train_payload(1, sample(1)))[:40])  # the sender stopped mid-frame
    device.send(m.Flush(9))  # merges with the cut frame: one error, F lost
    flush_acks(device, 0)
    assert device.line_errors == 1 and device.last_line_error.code in m.LINE_ERRORS


@pytest.mark.parametrize("seed", range(3))
def test_survives_random_garbage(device, seed):
    rng = random.Random(seed)
    garbage = bytearray(rng.randrange(256) for _ in range(20000))
    for _ in range(40):  # valid-looking pieces in between
        i = rng.randrange(len(garbage))
        garbage[i:i] = encode_frame(bytes([rng.choice(b"HSTEFWZ")]) + bytes(rng.randrange(120)))
    device.send_raw(bytes(garbage))
    info = device.hello(timeout=10)
    assert info.model_hash == FAKE_HASH
    device.start(1, 10, 0)
    device.frames_assigned = 16
    device.send_payloads(numbered([m.train_payload(1, sample(1))] * 16))
    device.wait_for(m.Ack, 5, "16 frames")
    assert device.frames_acked == 16


# ------------------------------------------------------------------ streamer


def test_streamer_train_and_eval(device):
    device.hello(timeout=5)
    device.start(11, 1000, 100)
    seen: list[m.Message] = []
    s = Streamer(device, window=64, on_progress=seen.append, on_digest=seen.append, on_predictions=seen.append)
    n = 1000
    res = s.train((k % 10, sample((k + 1) % 10, 2)) for k in range(n))
    assert res.frames == n and res.samples_trained == n
    assert res.hinge_sum == 2 * n and res.errors == n
    assert [d.samples_trained for d in res.digests] == list(range(100, n + 1, 100))
    assert res.digests[-1] == fake_digest(n, 11)
    assert [p.samples_trained for p in seen if isinstance(p, m.Progress)][-1] == n
    assert device.retransmissions == 0 and device.naks == 0  # a healthy link
    assert device.frames_acked == n
    res = s.evaluate(sample(k % 10) for k in range(130))
    assert res.predictions == bytes(k % 10 for k in range(130))
    res = s.evaluate(sample(7) for _ in range(5))
    assert res.predictions == b"\x07" * 5
    data, digest = device.read_weights()
    assert data == fake_state(n)


def test_streamer_stops_on_device_error(device):
    device.start(1, 10, 0)
    samples = [(1, sample(1))] * 100 + [(42, sample(1))] + [(1, sample(1))] * 100
    with pytest.raises(DeviceReportedError) as e:
        Streamer(device, timeout=5).train(samples)
    assert e.value.code == m.ERR_VALUE
    assert "out of range" in str(e.value) and "label" in str(e.value)


def test_streamer_window_minimum(device):
    with pytest.raises(ValueError):
        Streamer(device, window=0)


# --------------------------------------------------------------- link errors


def test_silent_device():
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    r, w = os.pipe()  # nothing will ever be written to w
    try:
        with DeviceLink(PipeTransport(r, proc.stdin.fileno(), "silent")) as link:
            with pytest.raises(DeviceSilentError, match="no answer from the device on silent within 0.5 s"):
                link.hello(timeout=0.5)
    finally:
        os.close(r)
        os.close(w)
        proc.stdin.close()
        proc.wait()


def test_closed_connection():
    proc = subprocess.Popen(["true"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc.wait()
    with DeviceLink(PipeTransport.from_process(proc)) as link:
        with pytest.raises(DeviceSilentError, match="closed"):
            link.recv(5)
    proc.stdin.close()
    proc.stdout.close()


def test_missing_port():
    with pytest.raises(PortMissingError) as e:
        DeviceLink.open("/dev/ttyMCUTRAIN-NO-SUCH-PORT")
    assert "/dev/ttyMCUTRAIN-NO-SUCH-PORT" in str(e.value) and "serial port" in str(e.value)
    assert e.value.exit_code == 4


def test_refused_socket():
    with pytest.raises(PortMissingError, match="emulator"):
        DeviceLink.open(f"socket://127.0.0.1:{free_port()}")


# ------------------------------------------------------- sequence numbers (v2)


def test_out_of_sequence_frames_are_dropped_with_one_nak(device):
    device.start(1, 10, 0)
    frames = numbered([m.train_payload(1, sample(1, 1)) for _ in range(6)])
    # 0, 1, then 3, 4 (2 lost), a duplicate of 1: one N(2) for all of them; nothing counted twice.
    device.send_payloads([frames[0], frames[1], frames[3], frames[4], frames[1]])
    device.send(m.Flush(5))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 5)
    assert got == [m.Nak(2), m.Progress(2, 2, 0), m.Ack(2, 5)]
    # Going back to 2 is accepted; a damaged frame lets the device ask again.
    device.send_payloads([frames[2], frames[3]])
    device.send_raw(_bad_crc_frame())
    device.send_payloads([frames[5], frames[4], frames[5]])
    device.send(m.Flush(6))
    got = collect_until(device, lambda x: isinstance(x, m.Ack) and x.token == 6)
    assert got == [m.Nak(4), m.Progress(6, 6, 0), m.Ack(6, 6)]
    assert device.line_errors == 1


def test_sequence_numbers_wrap(device):
    """Frame 65536 carries seq 0 again."""
    device.start(1, 10, 0)
    n = 65536 + 40
    x = m.train_payload(1, sample(1))
    for first in range(0, n, 4096):
        device.send_payloads([m.with_seq(x, k) for k in range(first, min(n, first + 4096))])
        collect_until(device, until_ack(min(n, first + 4096) // 16 * 16), timeout=30)
    flush_acks(device, n, m.Progress(n, n * 0, 0))


def test_progress_cumulative_hinge_wraps_not(device):
    device.start(1, 10, 0)
    device.send_payloads(numbered([m.train_payload(3, sample(3, 255)) for _ in range(10)]))
    flush_acks(device, 10, m.Progress(10, 2550, 0))


@pytest.mark.parametrize("rate", [1e-3, 1e-2])
def test_streamer_survives_faults_both_ways(device_proc, rate):
    """Bits flipped, bytes dropped, duplicated and delayed both ways: every
    sample is trained exactly once, in order, and every prediction arrives."""
    inner = PipeTransport.from_process(device_proc)
    rates = FaultRates.uniform(rate, delay_s=0.002)
    faulty = FaultyTransport(inner, FaultInjector(rates, seed=1), FaultInjector(rates, seed=2))
    for link in _drive(device_proc, DeviceLink(faulty, resend=0.2)):
        link.hello(timeout=10)
        link.start(7, 1000, 0)
        n = 300 if rate < 5e-3 else 100  # 1e-2: a frame of 104 bytes gets through about one time in two
        s = Streamer(link, window=16, rto=0.2)
        res = s.train((k % 10, sample((k + 1) % 10, k % 7)) for k in range(n))
        assert res.samples_trained == n and res.errors == n
        assert res.hinge_sum == sum(k % 7 for k in range(n))
        ev = s.evaluate(sample(k % 10) for k in range(n))
        assert ev.predictions == bytes(k % 10 for k in range(n))
        data, digest = link.read_weights()
        assert data == fake_state(n) and digest == fake_digest(n, 7)
        injected = faulty.to_device.counts.total + faulty.from_device.counts.total
        assert injected > 0
        assert link.retransmissions > 0 and link.line_errors + link.bad_frames > 0


# ------------------------------------------------------------- checkpoints


def test_checkpoints_and_restore(device):
    device.hello(timeout=5)
    device.start(21, 1000, 40, checkpoint_every=100)
    got: list[Checkpoint] = []
    s = Streamer(device, on_checkpoint=got.append)
    s.train((1, sample(1, 2)) for _ in range(250))
    assert [c.samples_trained for c in got] == [100, 200]
    ck = got[-1]
    assert ck.state == fake_state(200)
    assert ck.record == m.CheckpointRecord(200, 400, 0, zlib.crc32(fake_state(200)),
                                           (21).to_bytes(4, "little") + (200).to_bytes(4, "little") + bytes(8))
    # A new session elsewhere, then restore the checkpoint at 200 and replay the last 50.
    device.start(99, 1000, 0)
    Streamer(device).train((2, sample(2)) for _ in range(7))
    device.restore(21, 1000, 40, 100, ck.state, ck.record)
    digests: list[m.Digest] = []
    s = Streamer(device, on_checkpoint=got.append, on_digest=digests.append)
    res = s.train((1, sample(1, 2)) for _ in range(50))
    assert res.samples_trained == 250 and res.hinge_sum == 500  # counts continue from the checkpoint
    assert [d.samples_trained for d in digests] == [240]  # the digest cadence continues too
    assert digests[0] == fake_digest(240, 21)
    assert device.read_weights()[0] == fake_state(250)
    # Pulled rather than pushed (a pushed one lost on the line): the same record, for the state now.
    data, rec = device.read_checkpoint()
    assert data == fake_state(250)
    assert rec == m.CheckpointRecord(250, 500, 0, zlib.crc32(data),
                                     (21).to_bytes(4, "little") + (250).to_bytes(4, "little") + bytes(8))


def test_restore_rejects_wrong_bytes(device):
    device.hello(timeout=5)
    device.start(1, 10, 0)
    rec = m.CheckpointRecord(5, 0, 0, zlib.crc32(fake_state(5)), bytes(16))
    device.upload_state(fake_state(6))
    device.send(m.Restore(rec.samples_trained, 0, 0, rec.state_crc32, rec.sched))
    err = expect_error(device, m.ERR_RESTORE)
    assert "upload them again" in err.text


def test_reset_device_is_reported_as_reset(device):
    device.hello(timeout=5)
    device.start(1, 10, 0)
    Streamer(device).train((1, sample(1)) for _ in range(20))
    # A reset device has no session: the next frame is refused with X 5.
    device.send_raw(encode_frame(m.encode(m.Start(1, 10, 0)))[:5] + b"\x00")  # harmless garbage
    device_reset = subprocess.run  # noqa: F841 - (the fake device cannot reboot; emulate with a restart of S)
    with pytest.raises(DeviceResetError):
        DeviceLink.raise_for(m.Error(m.ERR_NOT_STARTED, "not started"), "streaming", started=True)


def test_other_protocol_version_is_refused():
    """A device with protocol v1 firmware: a clear error (exit 7), nothing sent after hello."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def serve() -> None:
        c, _ = srv.accept()
        with c:
            got.extend(c.recv(100))
            c.sendall(encode_frame(m.encode(m.Info(1, FAKE_HASH, FAKE_INPUT_BYTES, 10, 500, "old"))))
            c.settimeout(1.0)
            try:
                while data := c.recv(100):
                    got.extend(data)
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with DeviceLink.open(f"socket://127.0.0.1:{srv.getsockname()[1]}") as link:
        with pytest.raises(ProtocolError) as e:
            link.hello(timeout=5, expected_hash=FAKE_HASH)
    t.join(3)
    srv.close()
    assert "protocol version 1" in str(e.value) and f"speaks {m.PROTO_VERSION}" in str(e.value)
    assert e.value.exit_code == 7
    from mcutrain.host.framing import FrameDecoder

    sent = FrameDecoder().feed(bytes(got))
    assert sent and set(sent) == {b"H"}  # only the resync 0x00 and hellos went out: no session was started
