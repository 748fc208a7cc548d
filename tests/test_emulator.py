"""Emulator (host/emulator.py): start, clear errors, and QEMU always ended."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from _linkbuild import ROOT, arm_available, build_fake_firmware
from mcutrain.host.emulator import Emulator

from mcutrain.errors import EmulatorError

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")


def gone(pid: int, wait: float = 5.0) -> bool:
    """True once no process (not even a zombie of ours) has this pid."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return True  # dead; its parent has not reaped it yet
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    why = arm_available()
    if why:
        pytest.skip(why)
    return build_fake_firmware(tmp_path_factory.mktemp("emu_fw"))


def test_missing_qemu(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "fw.elf").write_bytes(b"x")
    with pytest.raises(EmulatorError, match="apt-get install qemu-system-arm") as e:
        Emulator(tmp_path / "fw.elf").start()
    assert e.value.exit_code == 8


def test_missing_elf(tmp_path):
    with pytest.raises(EmulatorError, match="does not exist"):
        Emulator(tmp_path / "nope.elf").start()


@needs_qemu
def test_qemu_exits_early_reports_its_output(tmp_path):
    (tmp_path / "fw.elf").write_bytes(b"not an elf")
    emu = Emulator(tmp_path / "fw.elf", machine="no-such-machine")
    with pytest.raises(EmulatorError, match="exited with status") as e:
        emu.start()
    assert "no-such-machine" in str(e.value)  # QEMU's own complaint is included
    assert not emu.running()


@needs_qemu
def test_ended_on_normal_exit_and_exceptions(elf):
    with Emulator(elf) as emu:
        pid = emu.pid
        assert emu.running() and emu.url.startswith("socket://127.0.0.1:")
    assert gone(pid)

    with pytest.raises(RuntimeError):
        with Emulator(elf) as emu:
            pid = emu.pid
            raise RuntimeError("boom")
    assert gone(pid)

    with pytest.raises(KeyboardInterrupt):
        with Emulator(elf) as emu:
            pid = emu.pid
            raise KeyboardInterrupt
    assert gone(pid)


@needs_qemu
def test_ended_when_python_forgets_it_or_is_killed(elf):
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from mcutrain.host.emulator import Emulator
        emu = Emulator({str(elf)!r})
        emu.start()
        print(emu.pid, flush=True)
        if sys.argv[1] == "hang":
            time.sleep(60)
        # "exit": leave without stop(): the atexit hook ends QEMU
        """
    )
    for mode in ("exit", "hang"):
        proc = subprocess.Popen([sys.executable, "-c", script, mode], stdout=subprocess.PIPE, text=True)
        pid = int(proc.stdout.readline())
        if mode == "hang":
            assert not gone(pid, wait=0.3)
            os.kill(proc.pid, signal.SIGKILL)  # no atexit: the kernel's parent-death signal
        proc.wait(timeout=30)
        proc.stdout.close()
        assert gone(pid), f"QEMU {pid} survived ({mode})"
