"""End to end in QEMU: the device main loop with the fake model on the
emulated netduinoplus2, over the TCP serial link, and a throughput figure.

Run ``pytest -m qemu -s tests/test_qemu_link.py`` to see the measured rates.
"""

from __future__ import annotations

import json
import zlib

import pytest
from _linkbuild import FAKE_HASH, FAKE_INPUT_BYTES, FAKE_STATE_BYTES, arm_available, build_fake_firmware
from mcutrain.host import messages as m
from mcutrain.host.emulator import Emulator
from mcutrain.host.framing import encode_frame
from mcutrain.host.link import DeviceLink
from mcutrain.host.stream import Streamer

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    why = arm_available()
    if why:
        pytest.skip(why)
    return build_fake_firmware(tmp_path_factory.mktemp("qemu_fw"))


def sample(pred: int, hinge: int = 1) -> bytes:
    return bytes((pred, hinge)) + bytes(range(1, FAKE_INPUT_BYTES - 1))


def fake_state(steps: int) -> bytes:
    return bytes((i + steps) & 0xFF for i in range(FAKE_STATE_BYTES))


def qemu_pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_session_in_qemu(elf):
    with Emulator(elf) as emu, DeviceLink.open(emu.url) as link:
        pid = emu.pid
        link.send_raw(b"\x17garbage before hello")
        info = link.hello(timeout=10, expected_hash=FAKE_HASH)
        assert info == m.Info(m.PROTO_VERSION, FAKE_HASH, FAKE_INPUT_BYTES, 10, FAKE_STATE_BYTES, "netduinoplus2")

        link.send(m.Train(0, 1, sample(1)))  # before S
        assert link.wait_for(m.Error, 5, "train before start") == m.Error(5, "not started (send S first) for 0x54")

        link.start(seed=5, samples_per_epoch=100, digest_every=40)
        seen: list[m.Message] = []
        s = Streamer(link, on_progress=seen.append, on_digest=seen.append, on_predictions=seen.append)
        res = s.train((k % 10, sample((k + 1) % 10 if k % 4 == 0 else k % 10, 3)) for k in range(100))
        assert res.samples_trained == 100 and res.hinge_sum == 300 and res.errors == 25
        assert [d.samples_trained for d in res.digests] == [40, 80]
        assert res.digests[-1].state_crc32 == zlib.crc32(fake_state(80))
        assert [p.samples_trained for p in seen if isinstance(p, m.Progress)] == [64, 100]  # cumulative

        res = s.evaluate(sample(k % 10) for k in range(70))
        assert res.predictions == bytes(k % 10 for k in range(70))

        link.send_raw(encode_frame(b"Z"))
        assert link.wait_for(m.Error, 5, "unknown type").code == m.ERR_TYPE

        data, digest = link.read_weights()
        assert data == fake_state(100)
        assert digest == m.Digest(100, zlib.crc32(data), 105)
        assert link.bad_frames == 0 and link.retransmissions == 0
    assert not qemu_pid_alive(pid)


def test_throughput_in_qemu(elf, tmp_path):
    """Train frames (1+1+98+2 bytes, 104 on the wire) through QEMU's emulated
    USART2 with the fake model; prints and records the rate."""
    n = 600
    x = bytes(range(1, FAKE_INPUT_BYTES + 1))  # no zeros: the fake predicts the label
    with Emulator(elf) as emu, DeviceLink.open(emu.url) as link:
        pid = emu.pid
        link.hello(timeout=10)
        link.start(1, n, 0)
        frame_bytes = len(encode_frame(m.train_payload(1, x)))
        res = Streamer(link, window=64).train((k % 10, x) for k in range(n))
        assert res.samples_trained == n
    assert not qemu_pid_alive(pid)
    report = {
        "frames": n,
        "frame_bytes_on_wire": frame_bytes,
        "seconds": round(res.seconds, 3),
        "frames_per_s": round(res.frames_per_second, 1),
        "bytes_per_s": round(res.bytes_per_second),
    }
    print("\nQEMU netduinoplus2 link throughput:", json.dumps(report))
    assert frame_bytes == 106  # v2: two bytes of sequence number
    assert res.frames_per_second > 5  # only a sanity floor: QEMU's rate varies a lot with machine load
