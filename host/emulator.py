"""Start and stop an emulated board: :class:`Emulator`.

QEMU runs the firmware with the board's UART on a local TCP port; the host
connects with ``serial.serial_for_url(emulator.url)`` (or
``DeviceLink.open(emulator.url)``). A busy QEMU left behind eats a whole core,
so the emulator is always ended, by its own process group: on leaving the
``with`` block (exceptions and KeyboardInterrupt included), on :meth:`stop`,
at interpreter exit as a fallback, and on Linux by the kernel when the
process is killed outright (PR_SET_PDEATHSIG; it fires when the *thread*
that called :meth:`Emulator.start` ends, so start it from a thread that
outlives its use, normally the main thread).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import EmulatorError

QEMU = "qemu-system-arm"
DEFAULT_MACHINE = "netduinoplus2"

_live: dict[int, subprocess.Popen[bytes]] = {}
_live_lock = threading.Lock()


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """End ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)  # the group is ours: start_new_session=True
            except ProcessLookupError:
                break
            except PermissionError:
                proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if proc.poll() is None:  # pragma: no cover - SIGKILL failed
        proc.kill()
        proc.wait(timeout=5.0)
    with _live_lock:
        _live.pop(proc.pid, None)


@atexit.register
def _kill_all() -> None:
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        _kill_group(proc, grace=0.5)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: have the kernel SIGKILL QEMU when the thread that started it
    dies, even if Python is killed without running atexit handlers."""
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001, S110 - best effort, other systems
        pass


def _default_serial_index(machine: str) -> int:
    """Which of the machine's serial ports the firmware's link UART is,
    from the board registry (e.g. 1 for netduinoplus2: USART2); 0 if unknown."""
    try:
        from ..build.boards import BOARDS  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return 0
    for board in BOARDS.values():
        if board.qemu_machine == machine:
            return board.qemu_serial_index
    return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_binary() -> str:
    """Path of qemu-system-arm; raises :class:`EmulatorError` naming the package if absent."""
    path = shutil.which(QEMU)
    if path is None:
        raise EmulatorError(
            f"{QEMU} not found on PATH. Install it: `apt-get install qemu-system-arm` "
            "(Debian/Ubuntu package qemu-system-arm)."
        )
    return path


class Emulator:
    """QEMU running ``elf`` on ``machine``, its serial port on ``self.url``.

    >>> with Emulator("firmware.elf") as emu:
    ...     link = DeviceLink.open(emu.url)
    """

    def __init__(
        self,
        elf: str | os.PathLike[str],
        machine: str = DEFAULT_MACHINE,
        *,
        port: int | None = None,
        cpu: str | None = None,
        serial_index: int | None = None,
        semihosting: bool = False,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 10.0,
    ) -> None:
        self.elf = Path(elf)
        self.machine = machine
        self.requested_port = port
        self.port: int | None = None
        self.cpu = cpu
        self.serial_index = _default_serial_index(machine) if serial_index is None else serial_index
        self.semihosting = semihosting
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        """pyserial URL of the board's UART."""
        if self.port is None:
            raise EmulatorError("the emulator is not running")
        return f"socket://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self, port: int) -> list[str]:
        cmd = [qemu_binary(), "-M", self.machine]
        if self.cpu:
            cmd += ["-cpu", self.cpu]
        cmd += ["-nographic", "-monitor", "none"]
        # The link UART is the machine's serial_index-th serial port.
        for _ in range(self.serial_index):
            cmd += ["-serial", "null"]
        cmd += [
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off",
            "-kernel", str(self.elf),
        ]
        if self.semihosting:
            cmd += ["-semihosting-config", "enable=on,target=native"]
        return cmd + self.extra_args

    # ------------------------------------------------------------- lifecycle

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001, S110 - best effort at garbage collection
            pass

    def start(self) -> None:
        """Start QEMU and wait until its serial port accepts connections."""
        if self.proc is not None:
            raise EmulatorError("the emulator is already running")
        if not self.elf.is_file():
            raise EmulatorError(f"firmware file {self.elf} does not exist: build it first")
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            port = self.requested_port or free_port()
            try:
                self._launch(port)
                return
            except EmulatorError as e:
                # Someone took the port between free_port() and QEMU's bind.
                if attempt + 1 < attempts and "Address already in use" in str(e):
                    continue
                raise
            except BaseException:
                self.stop()  # KeyboardInterrupt while waiting, for one
                raise

    def _launch(self, port: int) -> None:
        cmd = self.command(port)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: we kill the whole group
            preexec_fn=_die_with_parent,
        )
        with _live_lock:
            _live[self.proc.pid] = self.proc
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                err = self.output()
                self.stop()
                raise EmulatorError(
                    f"{QEMU} exited with status {code} right after starting.\n"
                    f"command: {' '.join(cmd)}\n{err.strip() or '(no output)'}"
                )
            if self._port_listening(port):
                return
            if time.monotonic() > deadline:
                err = self.output()
                self.stop()
                raise EmulatorError(
                    f"{QEMU} did not open its serial port {port} within {self.startup_timeout:g} s.\n"
                    f"command: {' '.join(cmd)}\n{err.strip()}"
                )
            time.sleep(0.02)

    @staticmethod
    def _port_listening(port: int) -> bool:
        """True once something listens on 127.0.0.1:port.

        Reads /proc/net/tcp where it exists, so no connection is made (a probe
        connection would take, and lose, the guest's first output); else
        connects and closes.
        """
        try:
            with open("/proc/net/tcp") as f:
                lines = f.readlines()[1:]
        except OSError:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return False
        want = f"0100007F:{port:04X}"
        return any(ln.split()[1] == want and ln.split()[3] == "0A" for ln in lines if len(ln.split()) > 3)

    def output(self) -> str:
        """What QEMU has printed so far (stdout and stderr)."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """End QEMU (its whole process group). Safe to call more than once."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _kill_group(proc)
            self.returncode = proc.returncode
        self.port = None
