"""The state store (firmware/store/mt_store.c) under simulated power cuts, on the host.

tests/c/store_sim.c cuts power at every program/erase operation of four saves, and inside
each operation at every byte (torn writes), on four geometries; reboots and checks that the
loaded state is always the last complete one or the one being saved; flips every bit of both
slots; and checks that another model's, another length's and another format's state is
reported and never loaded. Compiled with gcc -Wall -Wextra -Werror -pedantic and ASan/UBSan.
A deliberately broken store (overwrites the newest slot in place) must lose states: the
simulation can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "firmware" / "core"
STORE = ROOT / "firmware" / "store"
SIM = ROOT / "tests" / "c" / "store_sim.c"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def build_sim(tmp: Path, *flags: str, name: str = "store_sim") -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed for this test: apt-get install gcc")
    exe = tmp / name
    r = subprocess.run(["gcc", *WARN, "-O2", "-g", *flags, f"-I{CORE}", f"-I{STORE}", str(SIM),
                        str(STORE / "mt_store.c"), str(CORE / "crc.c"), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def figures(out: str) -> dict[str, int]:
    line = next(ln for ln in out.splitlines() if ln.startswith("TOTAL "))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_power_cuts_at_every_write_boundary_lose_no_state(tmp_path: Path) -> None:
    exe = build_sim(tmp_path, "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    f = figures(r.stdout)
    assert f["states_lost"] == 0 and f["wrong_state"] == 0 and f["checks_failed"] == 0
    assert f["misuse"] == 0  # no byte programmed twice without an erase
    assert f["flip_lost"] == 0
    # every operation of four saves, whole and torn at every byte: tens of thousands of cuts
    assert f["cuts"] > 30000 and f["torn"] > 30000
    assert f["reboots"] == 2 * f["cuts"]
    assert f["flips"] > 100000
    per_geo = [ln for ln in r.stdout.splitlines() if ln.startswith("geometry ")]
    assert len(per_geo) == 4 and all(ln.endswith("states_lost=0") for ln in per_geo)


def test_the_simulation_catches_a_store_that_overwrites_its_newest_state(tmp_path: Path) -> None:
    exe = build_sim(tmp_path, "-DMT_STORE_TEST_SAME_SLOT", name="store_sim_same_slot")
    r = subprocess.run([str(exe), "quick"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout
    f = figures(r.stdout)
    assert f["states_lost"] > 1000
    assert f["flip_lost"] > 0


def _sim_payload(length: int, g: int) -> bytes:
    """make_payload() of tests/c/store_sim.c: u32 generation, then xorshift32 bytes."""
    x = (0x9E3779B9 ^ (g * 2654435761)) & 0xFFFFFFFF
    out = bytearray()
    for _ in range(length):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x >> 24)
    out[0:4] = g.to_bytes(4, "little")
    return bytes(out)


def test_host_reader_agrees_with_the_c_store_on_every_geometry(tmp_path: Path) -> None:
    """The C store's images (three saves, four geometries: program sizes 1 to 16, the wrap of the
    sequence number) read by mcutrain/store/slots.py: the newest is generation 3, the other 2."""
    from mcutrain.store.slots import Geometry, newest, read_slots

    exe = build_sim(tmp_path, name="store_sim_dump")
    r = subprocess.run([str(exe), "dump", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("image")]
    assert len(lines) == 4
    for ln in lines:
        name = ln.split()[0]
        f = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", ln)}
        geo = Geometry(f["block_size"], f["prog_size"], f["payload"])
        slots = read_slots((tmp_path / f"{name}.bin").read_bytes(), geo, "0123456789abcdef")
        assert [s.status for s in slots] == ["valid", "valid"], (name, slots)
        last = newest(slots)
        assert last is not None and last.seq == (f["seq_start"] + 3) % 2**32, (name, last.seq)
        assert last.payload == _sim_payload(f["payload"], 3)
        other = slots[1 - last.index]
        assert other.payload == _sim_payload(f["payload"], 2)
