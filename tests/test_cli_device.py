"""`mcutrain ports` and `mcutrain monitor`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from types import SimpleNamespace

import pytest
from _linkbuild import FAKE_HASH, build_fake_device
from click.testing import CliRunner
from mcutrain.host import messages as m
from mcutrain.host.framing import encode_frame
from mcutrain.host.link import PipeTransport
from mcutrain.host.monitor import MonitorDecoder, monitor

from mcutrain.cli import main


def fake_ports(monkeypatch, ports):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [SimpleNamespace(**p) for p in ports])


def test_ports_table(monkeypatch):
    fake_ports(monkeypatch, [
        {"device": "/dev/ttyUSB0", "description": "CP2102 USB to UART", "hwid": "USB VID:PID=10C4:EA60"},
        {"device": "/dev/ttyACM0", "description": "STM32 STLink", "hwid": "USB VID:PID=0483:374B SER=066"},
    ])
    r = CliRunner().invoke(main, ["ports"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["device", "description", "hwid"]
    assert lines[1].startswith("/dev/ttyACM0  STM32 STLink") and lines[1].endswith("SER=066")
    assert lines[2].startswith("/dev/ttyUSB0  CP2102 USB to UART") and "10C4:EA60" in lines[2]
    r = CliRunner().invoke(main, ["ports", "--json"])
    assert [p["device"] for p in json.loads(r.stdout)] == ["/dev/ttyACM0", "/dev/ttyUSB0"]


def test_ports_none(monkeypatch):
    fake_ports(monkeypatch, [])
    r = CliRunner().invoke(main, ["ports"])
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "no serial ports found" in r.stderr and "dialout" in r.stderr
    assert json.loads(CliRunner().invoke(main, ["ports", "--json"]).stdout) == []


def test_ports_real_listing_runs():
    """pyserial's real listing on this machine: whatever it finds, each row has the three fields."""
    r = CliRunner().invoke(main, ["ports", "--json"])
    assert r.exit_code == 0
    for p in json.loads(r.stdout):
        assert set(p) == {"device", "description", "hwid"} and p["device"].startswith("/dev/")


def test_decoder_messages_text_and_garbage():
    dec = MonitorDecoder()
    stream = (
        b"boot: mcutrain v1\r\n"
        + encode_frame(m.encode(m.Info(1, FAKE_HASH, 98, 10, 500, "host")))
        + encode_frame(m.encode(m.Error(m.ERR_CRC, "bad CRC")))
        + encode_frame(m.encode(m.Progress(64, 1000, 5)))
        + encode_frame(m.encode(m.Digest(1000, 0xCAFEBABE, 7)))
        + b"\x01\x02\x03\x00"  # COBS-valid, too short
        + encode_frame(b"z" + bytes(3))  # a type this host does not know
        + b"\x00\x00"
    )
    lines = []
    for i in range(0, len(stream), 7):  # arrives in pieces
        lines += dec.feed(stream[i:i + 7])
    assert lines[0] == "text: boot: mcutrain v1"
    assert lines[1] == (f"I Info: proto_version=1 model_hash={FAKE_HASH} input_bytes=98 n_classes=10 "
                        "state_bytes=500 board=host")
    assert lines[2] == ("device error 1 (bad CRC): bad CRC - a frame was damaged on the line "
                        "(noise, a loose cable or a wrong baud rate)")
    assert lines[3] == "P Progress: samples_trained=64 hinge_sum=1000 errors=5"
    assert lines[4] == "D Digest: samples_trained=1000 state_crc32=0xcafebabe prng_state=0x00000007"
    assert lines[5].startswith("undecodable frame (short)")
    assert lines[6].startswith("message 0x7a (unknown message type 0x7a") and lines[6].endswith("7a000000")
    assert len(lines) == 7
    assert (dec.frames, dec.bad_frames, dec.text_lines) == (5, 1, 1)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_monitor_host_device(tmp_path):
    """The real device loop (host build, ASan): hello gives its info; a bad frame gives its error in words."""
    exe = build_fake_device(tmp_path)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        t = PipeTransport.from_process(proc)
        bad = bytearray(encode_frame(b"H"))
        bad[-2] ^= 0x5A
        t.write(bytes(bad) + encode_frame(b"Z"))
        lines: list[str] = []
        dec = monitor(t, lines.append, duration=1.0, hello=True, timestamps=False)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert lines[0] == ("device error 1 (bad CRC): bad CRC - a frame was damaged on the line "
                        "(noise, a loose cable or a wrong baud rate)")
    assert lines[1].startswith("device error 3 (unknown message type)") and "0x5a" in lines[1]
    assert lines[2].startswith(f"I Info: proto_version={m.PROTO_VERSION} model_hash={FAKE_HASH}")
    assert lines[2].endswith("board=host")
    assert dec.frames == 3 and dec.bad_frames == 0


def test_monitor_command_over_socket():
    """`mcutrain monitor --port socket://...` against a stand-in device on a local TCP port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = bytearray()

    def device() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(5)
            while b"\x00" not in got[1:]:  # the lone 0x00, then hello's frame
                got.extend(conn.recv(64))
            conn.sendall(b"hello from the board\n" + encode_frame(m.encode(m.Ack(16))))
            conn.recv(1)  # until the monitor closes

    th = threading.Thread(target=device, daemon=True)
    th.start()
    try:
        r = CliRunner().invoke(main, ["monitor", "--port", f"socket://127.0.0.1:{port}", "--duration", "1.5",
                                      "--no-timestamps"])
    finally:
        th.join(5)
        srv.close()
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["text: hello from the board", "A Ack: frames_done=16 token=0"]
    assert "monitor: 1 frames, 0 undecodable, 1 text lines" in r.stderr
    assert bytes(got) == b"\x00" + encode_frame(b"H")


def test_monitor_missing_port():
    r = CliRunner().invoke(main, ["monitor", "--port", "/dev/ttyMCUTRAIN-NONE", "--duration", "1"])
    assert r.exit_code == 4
    assert "cannot open serial port /dev/ttyMCUTRAIN-NONE" in r.stderr
