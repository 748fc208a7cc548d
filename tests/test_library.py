"""The trainer as a library (`mcutrain generate MODEL --library DIR`) and the standalone example.

* The library's layout: library.json, include/mcutrain.h, src/ with the generated model, the
  runtime and the store, none of the serial runtime (main.c, link.c); its Makefile builds it
  with arm-none-eabi-gcc -Werror, and the archive needs nothing from outside but memset.
* The multiply check and the stack estimate of the library (mcutrain/build/libcheck.py) are in
  its manifest; a multiply put into mcutrain_train is found.
* The API on the host (gcc, a RAM storage device; tests/c/library_api.c): argument checks,
  blank load, save / reboot / load goes on identically, pretrained init, damaged state refused.
* examples/standalone built from the library with PlatformIO (offline) and with the plain
  Makefile (and a float32 baseline model with the Makefile), run in QEMU boot after boot, each
  boot powering off after 120 samples (losing what it learned since its last save): each boot
  goes on from the saved state, the final state bytes equal the NumPy twin's, the store file
  read by mcutrain/store/slots.py holds them, and `mcutrain monitor`'s decoder shows every line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcutrain.host.monitor import MonitorDecoder

from mcutrain.build.libcheck import API_ENTRIES, LibraryCheckError, check_library
from mcutrain.build.library import API_FUNCTIONS
from mcutrain.build.standalone import (
    STATE_FILE,
    StandaloneConfig,
    build_with_make,
    build_with_pio,
    prepare,
    run_standalone,
    twin_state,
)
from mcutrain.cli import main as cli_main
from mcutrain.store.slots import Geometry, newest, read_slots

ROOT = Path(__file__).resolve().parents[1]
MODEL = """
[model]
name = "lib-small"
board = "netduinoplus2"
seed = 3

[data]
dataset = "mnist"
pool = 2
encoding = "bits"
train_samples = 256
test_samples = 100

[[layers]]
kind = "dense"
units = 32
activation = "relu"

[[layers]]
kind = "dense"
units = 10
activation = "linear"

[training]
weights = "binary"
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    p = tmp_path_factory.mktemp("model") / "lib_small.toml"
    p.write_text(MODEL)
    return p


@pytest.fixture(scope="module")
def library(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lib") / "mylib"
    res = CliRunner().invoke(cli_main, ["generate", str(model_file), "--library", str(out)])
    assert res.exit_code == 0, res.output
    assert "include/mcutrain.h" in res.output
    return out


def test_library_layout(library: Path) -> None:
    meta = json.loads((library / "library.json").read_text())
    assert meta["name"] == "mcutrain-lib-small"
    assert meta["build"]["srcDir"] == "src" and meta["build"]["includeDir"] == "include"
    assert sorted(p.name for p in (library / "include").iterdir()) == [
        "crc.h", "mcutrain.h", "mt_model.h", "mt_storage.h", "mt_store.h"]
    assert sorted(p.name for p in (library / "src").iterdir()) == [
        "crc.c", "mcutrain.c", "mt_model.c", "mt_runtime.h", "mt_store.c"]
    assert sorted(p.name for p in (library / "drivers").iterdir()) == [
        "storage_stm32f4_flash.c", "storage_stm32f4_flash.h"]
    manifest = json.loads((library / "manifest.json").read_text())
    assert manifest["model"]["model"]["name"] == "lib-small"
    assert f"#define MT_MODEL_HASH   \"{manifest['model_hash']}\"" in (library / "include" / "mt_model.h").read_text()
    header = (library / "include" / "mcutrain.h").read_text()
    for fn in ("mcutrain_init", "mcutrain_train", "mcutrain_infer", "mcutrain_last_loss", "mcutrain_save",
               "mcutrain_load"):
        assert f"{fn}(" in header
    assert "interrupt handler" in header and "no heap" in header.lower()


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_library_makefile_arm(library: Path, tmp_path: Path) -> None:
    r = subprocess.run(["make", "-C", str(library), f"OUT={tmp_path}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "-Werror" in r.stdout and "arm-none-eabi-gcc" in r.stdout
    archive = tmp_path / "libmcutrain.a"
    nm = subprocess.run(["arm-none-eabi-nm", str(archive)], capture_output=True, text=True, check=True).stdout
    defined = {ln.split()[-1] for ln in nm.splitlines() if len(ln.split()) == 3 and ln.split()[1] in "TDRB"}
    undefined = {ln.split()[-1] for ln in nm.splitlines() if ln.strip().startswith("U ")}
    assert set(API_FUNCTIONS) <= defined
    assert undefined - defined == {"memset"}, "the library must not depend on the serial runtime or the board"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_library_checks(library: Path, tmp_path: Path) -> None:
    manifest = json.loads((library / "manifest.json").read_text())
    checks = manifest["library"]
    mult, stack = checks["multiply_check"], checks["stack_estimate"]
    assert {"mcutrain_train", "mcutrain_infer", "mt_train_step"} <= set(mult["functions"])
    assert mult["multiplies"] == [] and mult["instructions"] > 100
    entries = stack["entries"]
    assert set(API_ENTRIES) <= set(entries)
    assert entries["mt_train_step"] < entries["mcutrain_train"] <= stack["bytes"] <= stack["board_stack_bytes"]
    assert entries["mcutrain_save"] > 0 and entries["mcutrain_load"] > 0

    bad = tmp_path / "bad"
    shutil.copytree(library, bad)
    api = bad / "src" / "mcutrain.c"
    text = api.read_text()
    assert "    samples++;\n" in text
    api.write_text(text.replace("    samples++;\n", "    samples = samples * (uint32_t)label + 1u;\n"))
    with pytest.raises(LibraryCheckError, match="mcutrain_train"):
        check_library(bad, "netduinoplus2", manifest, is_float=False)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_library_api_on_host(library: Path, tmp_path: Path) -> None:
    r = subprocess.run(["make", "-C", str(library), f"OUT={tmp_path}", "CC=gcc", "CPU_FLAGS="],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    exe = tmp_path / "api"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{library / 'include'}",
                    str(ROOT / "tests" / "c" / "library_api.c"), str(tmp_path / "libmcutrain.a"), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_readme_main_c_builds(library: Path, tmp_path: Path) -> None:
    """The README's minimal main.c compiles with -Werror and links with the library and the STM32F4 driver."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("A complete minimal `main.c`")
    code = readme[readme.index("```c\n", start) + 5:readme.index("```\n", readme.index("```c\n", start) + 5)]
    assert "mcutrain_train(" in code and "mcutrain_save(" in code
    (tmp_path / "main.c").write_text(code)
    (tmp_path / "sensor.c").write_text('#include "mt_model.h"\nvoid read_sensor(uint8_t x[MT_INPUT_BYTES]) '
                                       '{ x[0]++; }\nuint8_t label_of(void) { return 1u; }\n')
    bdir = ROOT / "firmware" / "boards" / "netduinoplus2"
    cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99",
           "-Wall", "-Wextra", "-Werror", "-O2", f"-I{library / 'include'}", f"-I{library / 'drivers'}",
           f"-I{ROOT / 'firmware' / 'core'}", f"-I{ROOT / 'firmware' / 'boards' / 'common'}", f"-I{bdir}",
           str(tmp_path / "main.c"), str(tmp_path / "sensor.c"), *map(str, sorted((library / "src").glob("*.c"))),
           str(library / "drivers" / "storage_stm32f4_flash.c"), str(bdir / "startup.c"), str(bdir / "uart.c"),
           "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-T", str(bdir / "netduinoplus2.ld"),
           "-o", str(tmp_path / "readme.elf")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    syms = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "readme.elf")], capture_output=True, text=True,
                          check=True).stdout
    assert " mcutrain_save" in syms and " mt_stm32f4_flash_storage" in syms


def test_library_bad_folder(model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    res = CliRunner().invoke(cli_main, ["generate", str(model_file), "--library", str(tmp_path)])
    assert res.exit_code != 0 and "not empty" in res.output and "library.json" in res.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
    res = CliRunner().invoke(cli_main, ["generate", str(model_file), "--library", str(tmp_path / "a"),
                                        "-o", str(tmp_path / "b")])
    assert res.exit_code != 0 and "not both" in res.output
    # a model that does not fit the board: a clear error, no half library left behind
    res = CliRunner().invoke(cli_main, ["generate", str(model_file), "--board", "nucleo_l053r8",
                                        "--library", str(tmp_path / "c")])
    assert res.exit_code != 0 and "RAM" in res.output and not (tmp_path / "c").exists()


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="QEMU or the ARM GCC not installed")
@pytest.mark.parametrize(("how", "weights"), [("make", "binary"), ("pio", "binary"), ("make", "float32")])
def test_standalone_example_bit_exact(how: str, weights: str, model_file: Path, tmp_path: Path) -> None:
    cfg = StandaloneConfig(n=128, total=300, save_every=50, seed=3, samples_per_epoch=128, boot_limit=120)
    model = tmp_path / f"lib_{weights}.toml"
    model.write_text(model_file.read_text().replace('weights = "binary"', f'weights = "{weights}"'))
    prep = prepare(model, tmp_path, cfg)
    build = build_with_make if how == "make" else build_with_pio
    elf = build(prep.lib, prep.samples, cfg, tmp_path / how)
    run = run_standalone(prep.lib.board, elf, tmp_path / "run")
    # boot 1 trains 0..120, saves at 50 and 100; boot 2 goes on from 100 to 220; boot 3 from 200 to 300
    assert run.boots == ["boot: no saved state, starting fresh", "boot: loaded state 2 at sample 100",
                         "boot: loaded state 4 at sample 200"]
    assert [ln for ln in run.lines if ln.startswith("power off")] == ["power off at sample 120",
                                                                       "power off at sample 220"]
    assert [ln for ln in run.lines if ln.startswith("saved state")][-1] == "saved state 6 at sample 300"
    assert run.final_samples == cfg.total
    expected = twin_state(prep.lib.generated.plan, prep.x, prep.y, cfg)
    assert run.final_state == expected
    assert run.final_crc32 == zlib.crc32(expected)
    # the store file, read by the host's independent slot reader: the newest slot holds the final state
    plan = prep.lib.generated.plan
    geo = Geometry(block_size=1024, prog_size=1, payload_len=plan.state_bytes + 16 + 4)
    image = (tmp_path / "run" / STATE_FILE).read_bytes()
    last = newest(read_slots(image, geo, prep.lib.generated.manifest["model_hash"]))
    assert last is not None and last.seq == 6 and last.payload is not None
    assert last.payload[:plan.state_bytes] == expected and int.from_bytes(last.payload[-4:], "little") == cfg.total
    # `mcutrain monitor` shows the plain-text lines as they are, none too long for it
    dec = MonitorDecoder()
    shown = dec.feed("".join(ln + "\n" for ln in run.lines).encode("ascii"))
    assert shown == ["text: " + ln for ln in run.lines] and dec.bad_frames == 0
