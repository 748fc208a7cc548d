"""The build and board layer: offline PlatformIO set-up, the firmware build for
netduinoplus2, the C unit tests (``pio test``) on the host and in QEMU, and
``upload`` booting QEMU. Every path that starts QEMU checks that no QEMU of
its own is left running."""

from __future__ import annotations

import binascii
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from mcutrain.build.boards import BOARDS, get_board
from mcutrain.build.toolchain import (
    ensure_pio_core,
    find_tool,
    kill_process_group,
    pio_command,
    pio_env,
    run_pio,
)
from mcutrain.errors import BuildError, ToolMissingError

ROOT = Path(__file__).resolve().parent.parent
ARM_PLATFORM = ROOT / "firmware" / "platforms" / "mcutrain-arm"
HOST_PLATFORM = ROOT / "firmware" / "platforms" / "mcutrain-host"

pytestmark = pytest.mark.slow

# A trivial stand-in for the generated model code (the API of docs/contracts.md).
STUB_H = """#ifndef MT_MODEL_H
#define MT_MODEL_H
#include <stdint.h>
#define MT_MODEL_HASH   "0123456789abcdef"
#define MT_INPUT_BYTES  98
#define MT_N_INPUTS     784
#define MT_N_CLASSES    10
#define MT_STATE_BYTES  64
#define MT_SCHED_BYTES  16u
void     mt_session_start(uint32_t seed, uint32_t samples_per_epoch);
uint8_t  mt_train_step(const uint8_t *x_enc, uint8_t label);
uint8_t  mt_infer(const uint8_t *x_enc);
uint32_t mt_state_digest(void);
const uint8_t *mt_state_bytes(void);
uint32_t mt_prng_state(void);
uint32_t mt_last_hinge(void);
void     mt_sched_save(uint8_t *out);
void     mt_sched_load(const uint8_t *in);
uint8_t *mt_state_buffer(void);
#endif
"""
STUB_C = """#include "mt_model.h"
#include "crc.h"
static uint8_t state[%(state_bytes)s];
static uint32_t prng = 1u;
%(extra)s
void mt_session_start(uint32_t seed, uint32_t n) { (void)n; prng = seed; }
uint8_t mt_train_step(const uint8_t *x, uint8_t label) { state[label %% MT_STATE_BYTES] ^= x[0]; return 0u; }
uint8_t mt_infer(const uint8_t *x) { return (uint8_t)(x[0] %% MT_N_CLASSES); }
uint32_t mt_state_digest(void) { return mt_crc32(0u, state, MT_STATE_BYTES); }
const uint8_t *mt_state_bytes(void) { return state; }
uint32_t mt_prng_state(void) { return prng; }
uint32_t mt_last_hinge(void) { return 0u; }
void mt_sched_save(uint8_t *out) { uint32_t i; for (i = 0; i < MT_SCHED_BYTES; i++) out[i] = 0u; }
void mt_sched_load(const uint8_t *in) { (void)in; }
uint8_t *mt_state_buffer(void) { return state; }
"""

EMULATED = [name for name, board in BOARDS.items() if board.emulated]


def _ini_lines(args: list[str]) -> str:
    """A PlatformIO multi-line option: one argument per line."""
    return "".join(f"\n    {a}" for a in args)


def _qemu_test_command(board_name: str, limit: int) -> str:
    elf = "${platformio.build_dir}/${this.__env__}/firmware.elf"
    qemu = get_board(board_name).qemu_args(elf, "stdio", semihosting=True)
    return _ini_lines(["timeout", "--foreground", "-k", "2", str(limit), *qemu])


def _host_test_command(limit: int) -> str:
    program = "${platformio.build_dir}/${this.__env__}/program"
    return _ini_lines(["timeout", "--foreground", "-k", "2", str(limit), program])


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _qemu_procs(marker: str) -> list[int]:
    """PIDs of running qemu-system-arm processes whose command line contains
    ``marker`` (a path unique to one test)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-arm") and any(marker.encode() in a for a in argv):
            pids.append(int(entry.name))
    return pids


def _assert_no_qemu(marker: str, wait: float = 5.0) -> None:
    deadline = time.monotonic() + wait
    while _qemu_procs(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _qemu_procs(marker)
    for pid in left:  # do not leave it burning a core, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"qemu-system-arm left running: {left}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_stub(gen: Path, extra: str = "", state_bytes: int | str = "MT_STATE_BYTES") -> Path:
    gen.mkdir(parents=True, exist_ok=True)
    (gen / "mt_model.h").write_text(STUB_H)
    (gen / "mt_model.c").write_text(STUB_C % {"extra": extra, "state_bytes": state_bytes})
    return gen


def _write_project(
    root: Path, gen: Path, *, test_dir: Path | None = None, port: int = 4321, limit: int = 60
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["[platformio]"]
    if test_dir is not None:
        lines.append(f"test_dir = {test_dir}")
    lines += [
        "",
        "[env]",
        "test_framework = custom",
        f"custom_generated_dir = {gen}",
        "",
    ]
    for name in EMULATED:
        lines += [
            f"[env:{name}]",
            f"platform = {ARM_PLATFORM}",
            f"board = {name}",
            f"custom_qemu_port = {port}",
            "test_testing_command =" + _qemu_test_command(name, limit),
            "",
        ]
    lines += [
        "[env:host]",
        f"platform = {HOST_PLATFORM}",
        "test_testing_command =" + _host_test_command(limit),
        "",
    ]
    (root / "platformio.ini").write_text("\n".join(lines))
    return root


@pytest.fixture(scope="module")
def fresh_core(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment with a brand-new PlatformIO core dir (proves the offline set-up)."""
    core = tmp_path_factory.mktemp("pio-core")
    return {**os.environ, "MCUTRAIN_PIO_CORE": str(core)}


@pytest.fixture(scope="module")
def arm_build(tmp_path_factory: pytest.TempPathFactory, fresh_core: dict[str, str]) -> dict:
    """The netduinoplus2 firmware built once, with the stub model, in a fresh core."""
    tmp = tmp_path_factory.mktemp("arm")
    gen = _write_stub(tmp / "generated")
    proj = _write_project(tmp / "proj", gen)
    t0 = time.monotonic()
    res = run_pio(["run", "-e", "netduinoplus2"], proj, env=fresh_core, timeout=300)
    return {"project": proj, "output": res.stdout, "seconds": time.monotonic() - t0, "env": fresh_core}


# --------------------------------------------------------------------------
# offline PlatformIO set-up
# --------------------------------------------------------------------------


def test_ensure_pio_core_is_complete_and_idempotent(tmp_path: Path) -> None:
    from platformio.dependencies import get_core_dependencies

    core = tmp_path / "core"
    ensure_pio_core(core)
    pkg = core / "packages" / "tool-scons"
    manifest = json.loads((pkg / "package.json").read_text())
    meta = json.loads((pkg / ".piopm").read_text())
    want = get_core_dependencies()["tool-scons"].lstrip("~^=")
    assert manifest["name"] == "tool-scons" and manifest["version"] == want and manifest["system"] == "*"
    assert meta["spec"]["owner"] == "platformio" and meta["version"] == want
    assert (pkg / "scons.py").is_file() and (pkg / "SCons" / "Script" / "__init__.py").is_file()
    stamp = (pkg / ".piopm").stat().st_mtime_ns
    ensure_pio_core(core)  # second call: nothing to do
    assert (pkg / ".piopm").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (core / "packages").iterdir()) == ["tool-scons"]
    # PlatformIO itself accepts it (no registry look-up)
    probe = subprocess.run(
        [*pio_command(), "pkg", "list", "-g", "--only-tools"],
        env={**pio_env(), "PLATFORMIO_CORE_DIR": str(core)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "tool-scons" in probe.stdout, probe.stdout + probe.stderr


def test_pio_env_is_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MCUTRAIN_PIO_CORE", str(tmp_path / "c"))
    env = pio_env()
    assert env["PLATFORMIO_CORE_DIR"] == str(tmp_path / "c")
    assert env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] == "no"
    assert env["PLATFORMIO_DISABLE_UPGRADE_CHECK"] == "true"
    monkeypatch.delenv("MCUTRAIN_PIO_CORE")
    assert pio_env()["PLATFORMIO_CORE_DIR"].endswith(os.path.join(".cache", "mcutrain", "pio-core"))


def test_find_tool_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.path.isabs(find_tool("qemu-system-arm"))
    monkeypatch.setenv("PATH", "/nonexistent")
    for tool, fix in [
        ("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi"),
        ("qemu-system-arm", "apt-get install qemu-system-arm"),
        ("pio", "pip install platformio"),
    ]:
        with pytest.raises(ToolMissingError) as info:
            find_tool(tool)
        assert tool in str(info.value) and fix in str(info.value)
        assert info.value.exit_code == 3


# --------------------------------------------------------------------------
# firmware build
# --------------------------------------------------------------------------


def test_firmware_builds_offline_and_quickly(arm_build: dict) -> None:
    out = arm_build["output"]
    build = arm_build["project"] / ".pio" / "build" / "netduinoplus2"
    assert "SUCCESS" in out
    # a registry or upgrade-check stall costs about 61 s; a cold build is ~2 s
    assert arm_build["seconds"] < 40, out
    assert "text" in out and "bss" in out  # arm-none-eabi-size table
    elf = build / "firmware.elf"
    binary = build / "firmware.bin"
    assert elf.is_file() and binary.is_file()
    board = get_board("netduinoplus2")
    sp, reset = struct.unpack("<II", binary.read_bytes()[:8])
    assert sp == board.ram_origin + board.ram_bytes  # stack at the top of RAM
    assert reset & 1 and board.flash_origin <= reset < board.flash_origin + board.flash_bytes
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    symbols = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    assert {"Reset_Handler", "main", "board_init", "mt_crc16", "mt_train_step"} <= symbols
    assert not {"malloc", "_sbrk", "end", "__heap_start"} & symbols  # no heap


def test_host_build(tmp_path: Path, fresh_core: dict[str, str]) -> None:
    proj = _write_project(tmp_path / "proj", _write_stub(tmp_path / "gen"))
    run_pio(["run", "-e", "host"], proj, env=fresh_core, timeout=300)
    program = proj / ".pio" / "build" / "host" / "program"
    # the host "UART" is stdin/stdout; end of input ends the program
    res = subprocess.run([str(program)], input=b"", capture_output=True, timeout=10)
    assert res.returncode == 0


def test_link_fails_when_ram_is_exceeded(tmp_path: Path, fresh_core: dict[str, str]) -> None:
    board = get_board("netduinoplus2")
    big = board.ram_bytes - board.stack_bytes + 4096  # .bss alone eats into the stack
    gen = _write_stub(tmp_path / "gen", state_bytes=big)
    proj = _write_project(tmp_path / "proj", gen)
    with pytest.raises(BuildError) as info:
        run_pio(["run", "-e", "netduinoplus2"], proj, env=fresh_core, timeout=300)
    assert "RAM overflow" in str(info.value) or "overflow" in str(info.value)


def test_heap_use_fails_the_link(tmp_path: Path, fresh_core: dict[str, str]) -> None:
    gen = _write_stub(tmp_path / "gen", extra="#include <stdlib.h>")
    c = gen / "mt_model.c"
    c.write_text(c.read_text().replace("return state; }", "uint8_t *p = malloc(16); return p ? p : state; }"))
    proj = _write_project(tmp_path / "proj", gen)
    with pytest.raises(BuildError) as info:
        run_pio(["run", "-e", "netduinoplus2"], proj, env=fresh_core, timeout=300)
    assert "_sbrk" in str(info.value) or "undefined reference" in str(info.value)


# --------------------------------------------------------------------------
# C unit tests (pio test)
# --------------------------------------------------------------------------


# The suites of test/ (each must run, and pass, on every env) and one test
# case of each that must show up in the output.
C_SUITES = {
    "test_crc": "test_crc16_check_value",
    "test_link": "test_flipped_bit_is_rejected",
    "test_kernels": "test_training_learns_a_separable_pattern",
    "test_stack": "test_scan_finds_the_deepest_written_word",
}


def test_every_c_suite_is_listed() -> None:
    """A new suite in test/ must be added to C_SUITES (so it is checked below)."""
    suites = {p.name for p in (ROOT / "test").iterdir() if p.is_dir() and p.name.startswith("test_")}
    assert suites == set(C_SUITES)


def _assert_all_suites_passed(out: str, env_name: str) -> None:
    assert "FAILED" not in out and "ERRORED" not in out, out
    for suite, case in C_SUITES.items():
        # the summary table: "<env>  <suite>  PASSED  <duration>"
        assert re.search(rf"^{env_name}\s+{suite}\s+PASSED\b", out, re.MULTILINE), (suite, out)
        assert re.search(rf"^{case}\s+\[PASSED\]", out, re.MULTILINE), (case, out)


def test_pio_test_host(fresh_core: dict[str, str]) -> None:
    res = run_pio(["test", "-e", "host"], ROOT, env=fresh_core, timeout=600)
    _assert_all_suites_passed(res.stdout, "host")


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", EMULATED)
def test_pio_test_in_qemu(fresh_core: dict[str, str], board_name: str) -> None:
    try:
        res = run_pio(["test", "-e", board_name], ROOT, env=fresh_core, timeout=600)
        _assert_all_suites_passed(res.stdout, board_name)
    finally:
        _assert_no_qemu(str(ROOT / ".pio" / "build" / board_name))


@pytest.fixture()
def bad_suites(tmp_path: Path) -> Path:
    """A test folder with the runner, mt_test.h and suites that fail, fault and hang."""
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    for name in ("test_custom_runner.py", "mt_test.h"):
        shutil.copy(ROOT / "test" / name, test_dir / name)
    suites = {
        "test_fails": """
static void t_ok(void) { MT_ASSERT_EQ_U32(4u, 2u + 2u); }
static void t_wrong(void) { MT_ASSERT_EQ_I32(-3, 4); }
int main(void) { MT_TEST_BEGIN(); MT_RUN(t_ok); MT_RUN(t_wrong); MT_TEST_END(); return 0; }
""",
        "test_faults": """
static void t_crash(void) { volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)0x30000000u; *p = 1u;
                            volatile int *q = (volatile int *)0; *q = 1; }
int main(void) { MT_TEST_BEGIN(); MT_RUN(t_crash); MT_TEST_END(); return 0; }
""",
        "test_hangs": """
static void t_hang(void) { volatile int x = 1; while (x) { } }
int main(void) { MT_TEST_BEGIN(); MT_RUN(t_hang); MT_TEST_END(); return 0; }
""",
    }
    for name, body in suites.items():
        (test_dir / name).mkdir()
        (test_dir / name / "test_main.c").write_text('#include <stdint.h>\n#include "mt_test.h"\n' + body)
    return test_dir


@pytest.mark.qemu
@pytest.mark.parametrize("env_name", ["host", "netduinoplus2"])
def test_failures_faults_and_hangs_are_reported(
    tmp_path: Path, bad_suites: Path, fresh_core: dict[str, str], env_name: str
) -> None:
    proj = _write_project(tmp_path / "proj", _write_stub(tmp_path / "gen"), test_dir=bad_suites, limit=3)
    try:
        res = run_pio(["test", "-e", env_name], proj, env=fresh_core, timeout=300, check=False)
        out = res.stdout
        assert res.returncode != 0
        assert "t_wrong: 4: expected -3 got 4" in out and "[FAILED]" in out
        assert "test `t_crash` was running" in out
        assert "test `t_hang` was running" in out and "timed out" in out
        if env_name == "netduinoplus2":
            assert "fault handler" in out  # MT_EXIT_FAULT through semihosting
    finally:
        _assert_no_qemu(str(proj))


@pytest.mark.qemu
def test_killed_test_run_leaves_no_qemu(tmp_path: Path, bad_suites: Path, fresh_core: dict[str, str]) -> None:
    proj = _write_project(tmp_path / "proj", _write_stub(tmp_path / "gen"), test_dir=bad_suites, limit=120)
    # build first, so that the run below is in QEMU when it is killed
    run_pio(["test", "-e", "netduinoplus2", "-f", "test_hangs", "--without-testing"], proj, env=fresh_core)
    t0 = time.monotonic()
    with pytest.raises(BuildError, match="did not finish"):
        run_pio(["test", "-e", "netduinoplus2", "-f", "test_hangs"], proj, env=fresh_core, timeout=5)
    assert time.monotonic() - t0 < 30
    _assert_no_qemu(str(proj), wait=2.0)


# --------------------------------------------------------------------------
# upload boots QEMU
# --------------------------------------------------------------------------


def _cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def _cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        out += data[i + 1 : i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def _frame(payload: bytes) -> bytes:
    crc = binascii.crc_hqx(payload, 0xFFFF)
    return _cobs_encode(payload + struct.pack("<H", crc)) + b"\x00"


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", EMULATED)
def test_upload_boots_qemu_with_the_link_on_tcp(
    tmp_path: Path, fresh_core: dict[str, str], board_name: str
) -> None:
    port = _free_port()
    proj = _write_project(tmp_path / "proj", _write_stub(tmp_path / "gen"), port=port)
    env = pio_env(fresh_core)
    proc = subprocess.Popen(
        [*pio_command(), "run", "-e", board_name, "-t", "upload"],
        cwd=proj,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        sock = None
        while sock is None:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            assert time.monotonic() < deadline, "QEMU did not open the TCP port"
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                time.sleep(0.2)
        with sock:
            sock.settimeout(0.5)
            reply = b""
            # QEMU drops bytes that arrive before the firmware enables USART2:
            # repeat the hello until the board answers.
            while b"\x00" not in reply:
                assert time.monotonic() < deadline, f"no answer to hello; got {reply!r}"
                sock.sendall(_frame(b"H"))
                try:
                    reply += sock.recv(4096)
                except TimeoutError:
                    pass
        raw = _cobs_decode(reply.split(b"\x00")[0])
        payload, crc = raw[:-2], struct.unpack("<H", raw[-2:])[0]
        assert crc == binascii.crc_hqx(payload, 0xFFFF)
        assert payload[:1] == b"I"
        assert payload.endswith(board_name.encode())
    finally:
        kill_process_group(proc)
        if proc.stdout:
            proc.stdout.close()
        _assert_no_qemu(str(proj))


# --------------------------------------------------------------------------
# upload flashes a real board (openocd or st-flash; faked here: no board attached)
# --------------------------------------------------------------------------

REAL = [name for name, board in BOARDS.items() if not board.emulated]


def _write_real_project(root: Path, gen: Path, board_name: str, protocol: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        f"[env:{board_name}]",
        f"platform = {ARM_PLATFORM}",
        f"board = {board_name}",
        f"custom_generated_dir = {gen}",
    ]
    if protocol is not None:
        lines.append(f"upload_protocol = {protocol}")
    (root / "platformio.ini").write_text("\n".join(lines) + "\n")
    return root


def _fake_tools(folder: Path, log: Path) -> dict[str, str]:
    """`openocd` and `st-flash` stand-ins that write their argv to ``log``; the environment
    that puts them first on PATH."""
    folder.mkdir()
    for tool in ("openocd", "st-flash"):
        script = folder / tool
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool}" "$@" > "{log}"\n')
        script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("protocol", [None, "stlink"])
@pytest.mark.parametrize("board_name", REAL)
def test_upload_flashes_a_real_board(
    tmp_path: Path, fresh_core: dict[str, str], board_name: str, protocol: str | None
) -> None:
    """Default (board JSON): Debian's openocd through the ST-LINK; upload_protocol = stlink:
    st-flash with the raw image at the start of flash. Product firmware: no semihosting."""
    log = tmp_path / "argv.txt"
    env = {**fresh_core, **_fake_tools(tmp_path / "bin", log)}
    proj = _write_real_project(tmp_path / "proj", _write_stub(tmp_path / "gen"), board_name, protocol)
    res = run_pio(["run", "-e", board_name, "-t", "upload"], proj, env=env, timeout=300)
    build = proj / ".pio" / "build" / board_name
    argv = log.read_text().splitlines()
    board_json = json.loads((ARM_PLATFORM / "boards" / f"{board_name}.json").read_text())
    if protocol is None:
        target = board_json["upload"]["openocd_target"]
        assert argv[:5] == ["openocd", "-f", "interface/stlink.cfg", "-f", f"target/{target}.cfg"], argv
        assert argv[5] == "-c" and re.fullmatch(r"program \{(.+)\} verify reset exit", argv[6]), argv
        elf = re.fullmatch(r"program \{(.+)\} verify reset exit", argv[6]).group(1)  # type: ignore[union-attr]
        assert (proj / elf).resolve() == (build / "firmware.elf").resolve()
    else:
        assert argv[:3] == ["st-flash", "--reset", "write"] and len(argv) == 5, argv
        assert (proj / argv[3]).resolve() == (build / "firmware.bin").resolve()
        assert int(argv[4], 16) == get_board(board_name).flash_origin
    nm = subprocess.run(["arm-none-eabi-nm", str(build / "firmware.elf")], capture_output=True, text=True,
                        check=True).stdout
    assert "board_init" in nm and "SUCCESS" in res.stdout
    objdump = subprocess.run(["arm-none-eabi-objdump", "-d", str(build / "firmware.elf")], capture_output=True,
                             text=True, check=True).stdout
    assert "bkpt\t0x00ab" not in objdump  # no semihosting call in firmware for a real board


@pytest.mark.skipif(shutil.which("openocd") is not None, reason="openocd is installed here")
def test_upload_names_the_missing_flash_tool(tmp_path: Path, fresh_core: dict[str, str]) -> None:
    proj = _write_real_project(tmp_path / "proj", _write_stub(tmp_path / "gen"), "nucleo_f401re", None)
    with pytest.raises(BuildError) as info:
        run_pio(["run", "-e", "nucleo_f401re", "-t", "upload"], proj, env=fresh_core, timeout=300)
    assert "openocd not found on PATH" in str(info.value) and "apt-get install openocd" in str(info.value)
