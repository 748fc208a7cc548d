"""Measured stack use (stack painting in QEMU) against the static estimate of mcutrain/codegen/stack.py.

1. The C suite test/test_stack measures, on every emulated board, the stack each entry point of the
   fixture model uses (paint below the stack pointer, call, find the deepest overwritten word); the
   estimate of the same code (same sources and flags, GCC's frame sizes along the call graph) must
   cover the measurement and exceed it by at most 5% + 8 bytes.
2. The product firmware of a model runs a whole serial session in QEMU; then the stack region is
   dumped through QEMU's QMP socket (no protocol change) and the peak since boot (Reset_Handler
   painted the region) is compared with the manifest's ram.stack_estimate_bytes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import small_model

from mcutrain.build.boards import BOARDS, get_board
from mcutrain.build.resources import firmware_dir
from mcutrain.build.toolchain import run_pio
from mcutrain.codegen.stack import board_build, estimate_stack, shipped_cflags

ROOT = Path(__file__).resolve().parent.parent
PATTERN = 0x57AC57AC  # MT_STACK_PATTERN of firmware/boards/common/mt_stack.h
ORIGINAL_BOARDS = ["netduinoplus2", "lm3s6965evb", "microbit"]
EMULATED = [b for b in ORIGINAL_BOARDS if b in BOARDS and BOARDS[b].emulated]


def within(measured: int, estimate: int) -> bool:
    """The estimate covers the measurement, and not by much: 5% + 8 bytes (two words a frame may
    reserve for alignment or a spill slot that a given run does not write)."""
    return measured <= estimate <= 1.05 * measured + 8


def _suite_estimate(board_name: str):
    fw = firmware_dir()
    build = board_build(get_board(board_name).pio_env)
    board_dir = fw / "boards" / str(build["board_dir"])
    suite = ROOT / "test" / "test_stack"
    sources = ([suite / "test_main.c", suite / "fixture_model.c"]
               + [p for p in sorted((fw / "core").glob("*.c")) if p.name != "main.c"]   # test builds: no main.c
               + sorted(board_dir.glob("*.c")))
    cflags = shipped_cflags(build, [fw / "core", board_dir, ROOT / "test"], ("MT_UNIT_TEST", "MT_SEMIHOSTING"))
    return estimate_stack(sources, cflags, build, board_dir)


SKIP_QEMU = pytest.mark.skipif(bool(os.environ.get("MCUTRAIN_SKIP_QEMU")), reason="MCUTRAIN_SKIP_QEMU set")


@pytest.mark.qemu
@SKIP_QEMU
@pytest.mark.parametrize("board_name", EMULATED)
def test_fixture_stack_use_matches_the_estimate(board_name: str) -> None:
    res = run_pio(["test", "-e", board_name, "-f", "test_stack", "-v"], ROOT, timeout=300)
    measured = {m.group(1): int(m.group(2)) for m in re.finditer(r"^STACK (\S+) (\d+)\s*$", res.stdout, re.MULTILINE)}
    assert re.search(rf"^{board_name}\s+test_stack\s+PASSED\b", res.stdout, re.MULTILINE), res.stdout[-3000:]
    est = _suite_estimate(board_name)
    # the runner calls the tests through a pointer; the printing divides (a libgcc call on the M0)
    assert all("indirect" in n or "__aeabi_" in n for n in est.notes), est.notes
    for entry in ("mt_session_start", "mt_train_step", "mt_infer", "mt_state_digest"):
        assert within(measured[entry], est.entries[entry]), (board_name, entry, measured[entry], est.entries[entry])
    assert 0 < measured["boot_peak"] < get_board(board_name).stack_bytes


def test_register_lists_and_frames() -> None:
    from mcutrain.codegen.stack import _frame_of, _regs

    assert _regs("{r4, r5, lr}") == 3 and _regs("{r4-r11, lr}") == 9 and _regs("{d8-d9}") == 2
    frame, calls = _frame_of([("push", "{r4, r5, r6, lr}"), ("vpush", "{d8-d9}"), ("sub", "sp, #24"),
                              ("str.w", "lr, [sp, #-8]!"), ("bl", "1234 <memset>"), ("pop", "{r4, r5, r6, pc}")])
    assert frame == 16 + 16 + 24 + 8 and calls == {"memset"}


def test_manifest_has_the_stack_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcutrain.build.project import write_project
    from mcutrain.model import check_against_data, load_model

    spec = check_against_data(load_model(small_model(tmp_path, units=24)), 784, 10)
    ram = write_project(spec, tmp_path / "p").generated.manifest["ram"]
    est = ram["stack_estimate"]
    assert ram["stack_estimate_bytes"] == est["bytes"] and 0 < est["bytes"] <= ram["by_kind"]["stack"]
    assert est["deepest_path"][:2] == ["Reset_Handler", "main"] and est["notes"] == []
    assert set(est["entries"]) == {"mt_session_start", "mt_train_step", "mt_infer", "mt_state_digest"}
    assert max(est["entries"].values()) < est["bytes"]
    monkeypatch.setenv("PATH", "/nonexistent")           # generation does not need the ARM toolchain
    ram = write_project(spec, tmp_path / "q").generated.manifest["ram"]
    assert ram["stack_estimate_bytes"] is None and "arm-none-eabi-gcc" in ram["stack_estimate"]["notes"][0]


def _qmp(sock_path: Path, *commands: dict) -> list[dict]:
    """Send QMP commands (after the capabilities handshake); their replies."""
    deadline = time.monotonic() + 10
    while not sock_path.exists():
        if time.monotonic() > deadline:
            raise AssertionError("QEMU did not open its QMP socket")
        time.sleep(0.05)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        f = s.makefile("rw")
        json.loads(f.readline())  # greeting
        replies = []
        for cmd in ({"execute": "qmp_capabilities"}, *commands):
            f.write(json.dumps(cmd) + "\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    replies.append(msg)
                    break
        return replies[1:]


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {p[2]: int(p[0], 16) for p in (ln.split() for ln in out.splitlines()) if len(p) == 3}


# (weights, board, pool, hidden units, latent bits): hard float on the M4F, soft float (libgcc helpers
# on the deepest path) on the M3 and the M0
SESSIONS = [("binary", "netduinoplus2", 1, 32, None), ("float32", "netduinoplus2", 1, 32, None),
            ("float32", "lm3s6965evb", 2, 32, None), ("binary", "microbit", 2, 16, 8),
            ("float32", "microbit", 4, 16, None)]


@pytest.mark.qemu
@SKIP_QEMU
@pytest.mark.parametrize("weights,board_name,pool,units,latent_bits", [s for s in SESSIONS if s[1] in EMULATED])
def test_product_firmware_peak_stack_after_a_session(tmp_path: Path, weights: str, board_name: str, pool: int,
                                                     units: int, latent_bits: int | None) -> None:
    """A real session (train, evaluate, read the weights back) on an emulated board, then a dump of the
    stack region through QMP: the peak since reset is covered by the manifest's estimate (5% + 8 bytes)."""
    from mcutrain.host.emulator import Emulator
    from mcutrain.host.link import DeviceLink
    from mcutrain.host.session import run_session

    from mcutrain.build.project import build, write_project
    from mcutrain.data import encode, load_dataset
    from mcutrain.model import check_against_data, load_model

    spec = load_model(small_model(tmp_path, weights=weights, qbp=weights != "float32", train=300, test=100,
                                  board=board_name, pool=pool, units=units, latent_bits=latent_bits))
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    proj = write_project(spec, tmp_path / "p")
    ram = proj.generated.manifest["ram"]
    estimate = ram["stack_estimate_bytes"]
    assert estimate is not None and estimate == ram["stack_estimate"]["bytes"] <= proj.board.stack_bytes
    elf = build(proj)
    sym = _symbols(elf)
    lo, hi = sym["__stack_start"], sym["__stack_end"]
    qmp = tmp_path / "qmp.sock"
    dump = tmp_path / "stack.bin"
    board = proj.board
    with Emulator(elf, board.qemu_machine, cpu=board.qemu_cpu, serial_index=board.qemu_serial_index,
                  extra_args=["-qmp", f"unix:{qmp},server=on,wait=off"]) as emu:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, model_hash=spec.model_hash(), seed=spec.seed,
                              train_enc=encode(ds.x_train, "bits", 128), train_labels=ds.y_train,
                              test_enc=encode(ds.x_test, "bits", 128), test_labels=ds.y_test, epochs=1,
                              digest_every=100, quiet=True)
            assert res.samples_trained == 300 and res.test_samples == 100
            reply = _qmp(qmp, {"execute": "memsave", "arguments": {"val": lo, "size": hi - lo,
                                                                     "filename": str(dump)}})
            assert "return" in reply[0], reply
    words = np.frombuffer(dump.read_bytes(), dtype="<u4")
    assert len(words) == (hi - lo) // 4 and words[0] == PATTERN      # painted at boot, bottom never reached
    peak = hi - (lo + 4 * int(np.argmax(words != PATTERN)))
    assert within(peak, estimate), (weights, peak, estimate, ram["stack_estimate"]["deepest_path"])

