"""The standalone example (examples/standalone/) on a generated library: build, run, check.

Builds ``examples/standalone/main.c`` for an emulated board on the library of
``mcutrain generate MODEL --library`` in two ways: with PlatformIO (offline, mcutrain's
``mcutrain-arm`` platform with ``custom_runtime = no`` and the library as a ``lib_deps``
symlink) and with the example's plain Makefile (arm-none-eabi-gcc; the library's own
Makefile builds ``libmcutrain.a``). The first ``n`` training samples of the model's data
set are compiled into flash (``samples.c``), standing in for a sensor. Runs the firmware
in QEMU with a semihosted host file as its storage, boot after boot (built with a
``boot_limit`` each boot stops after that many samples, losing what it learned since its
last save, and the next boot must go on from the saved state), and checks the final state bytes
against the NumPy twin trained on the same samples in the same order.

Host command: ``python -m mcutrain.build.standalone MODEL [--how make|pio] [--total N]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildError
from .boards import Board
from .library import Library
from .resources import firmware_dir
from .toolchain import find_tool, run_pio

STATE_FILE = "mcutrain-state.bin"


def example_dir() -> Path:
    """examples/standalone in a source checkout."""
    d = firmware_dir().parent / "examples" / "standalone"
    if not (d / "main.c").is_file():
        raise BuildError(f"the standalone example is not at {d} (it ships with the source tree)")
    return d


@dataclass(frozen=True)
class StandaloneConfig:
    n: int = 128             # samples in flash, trained cyclically
    total: int = 300         # samples trained by the end
    save_every: int = 50
    seed: int = 1
    samples_per_epoch: int = 128
    boot_limit: int = 0      # > 0: each boot stops ("power off") after training this many samples

    def defines(self) -> dict[str, int]:
        return {"SA_N": self.n, "SA_TOTAL": self.total, "SA_SAVE_EVERY": self.save_every,
                "SA_SEED": self.seed, "SA_SPE": self.samples_per_epoch, "SA_BOOT_LIMIT": self.boot_limit}


def samples_c(enc: np.ndarray, y: np.ndarray) -> str:
    """The dataset image in flash: sa_labels[n], sa_x[n][MT_INPUT_BYTES]."""
    rows = ",\n".join("{" + ",".join(map(str, row.tolist())) + "}" for row in enc)
    return ('#include <stdint.h>\n#include "mt_model.h"\n'
            f"const uint8_t sa_labels[{len(y)}] = {{{','.join(map(str, np.asarray(y).tolist()))}}};\n"
            f"const uint8_t sa_x[{len(y)}][MT_INPUT_BYTES] = {{\n{rows}\n}};\n")


def build_with_make(lib: Library, samples: Path, cfg: StandaloneConfig, out: Path) -> Path:
    """examples/standalone/Makefile (and the library's Makefile): the ELF."""
    find_tool("arm-none-eabi-gcc")
    make = shutil.which("make")
    if make is None:
        raise BuildError("make not found: apt-get install make")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [make, "-f", str(example_dir() / "Makefile"), f"LIB={lib.root.resolve()}", f"SAMPLES={samples.resolve()}",
           f"BOARD={lib.board.name}", f"OUT={out.resolve()}", f"FW={firmware_dir()}",
           *(f"{k}={v}" for k, v in cfg.defines().items())]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elf = out / "standalone.elf"
    if r.returncode != 0 or not elf.is_file():
        raise BuildError(f"make of the standalone example failed:\n{' '.join(cmd)}\n"
                         f"{r.stdout[-2000:]}{r.stderr[-3000:]}")
    return elf


def write_pio_project(lib: Library, samples: Path, cfg: StandaloneConfig, root: Path) -> Path:
    """A PlatformIO project of the example: src/ = main.c, samples.c, the semihosted storage driver."""
    fw = firmware_dir()
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(example_dir() / "main.c", src / "main.c")
    shutil.copyfile(samples, src / "samples.c")
    shutil.copyfile(fw / "boards" / "common" / "storage_semihost_file.c", src / "storage_semihost_file.c")
    flags = " ".join(f"-D{k}={v}u" for k, v in cfg.defines().items())
    (root / "platformio.ini").write_text(
        "; the standalone example on a generated library (mcutrain.build.standalone)\n"
        f"[env:{lib.board.pio_env}]\n"
        f"platform = {fw / 'platforms' / 'mcutrain-arm'}\n"
        f"board = {lib.board.name}\n"
        f"custom_firmware_dir = {fw}\n"
        "custom_runtime = no\n"
        "custom_semihosting = yes\n"
        f"lib_deps = symlink://{lib.root.resolve()}\n"
        f"build_flags = -I{fw / 'boards' / 'common'} {flags}\n")
    return root


def build_with_pio(lib: Library, samples: Path, cfg: StandaloneConfig, root: Path) -> Path:
    find_tool("arm-none-eabi-gcc")
    write_pio_project(lib, samples, cfg, root)
    run_pio(["run", "-e", lib.board.pio_env], root)
    elf = root / ".pio" / "build" / lib.board.pio_env / "firmware.elf"
    if not elf.is_file():
        raise BuildError(f"the PlatformIO build reported success but {elf} is missing")
    return elf


@dataclass
class Run:
    lines: list[str] = field(default_factory=list)
    boots: list[str] = field(default_factory=list)      # the `boot:` line of each boot
    final_samples: int | None = None
    final_state: bytes | None = None
    final_crc32: int | None = None                     # as the firmware computed it


def _boot(board: Board, elf: Path, workdir: Path, timeout: float) -> list[str]:
    """One QEMU boot to its exit; its UART lines. QEMU is ended on every path."""
    args = board.qemu_args(str(elf.resolve()), "stdio", semihosting=True)
    proc = subprocess.Popen(args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"the standalone firmware ran longer than {timeout} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = out.decode("ascii", "replace").splitlines()
    if proc.returncode != 0:
        raise BuildError(f"QEMU exited with status {proc.returncode}: {err.decode(errors='replace')[-500:]}; "
                         f"UART: {lines[-5:]}")
    return lines


def run_standalone(board: Board, elf: Path, workdir: Path, *, max_boots: int = 20, timeout: float = 300.0) -> Run:
    """Boot from a blank store, again and again until the firmware prints `done` (at most max_boots)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / STATE_FILE).unlink(missing_ok=True)
    run = Run()
    for _ in range(max_boots):
        lines = _boot(board, elf, workdir, timeout)
        run.lines += lines
        run.boots += [ln for ln in lines if ln.startswith("boot:")][:1]
        done = [k for k, ln in enumerate(lines) if ln.startswith("done ")]
        if done:
            parts = lines[done[-1]].split()   # done <n> samples, state <bytes> bytes crc32 <hex>
            run.final_samples, run.final_crc32 = int(parts[1]), int(parts[7], 16)
            run.final_state = bytes.fromhex("".join(ln[6:] for ln in lines[done[-1] + 1:]
                                                    if ln.startswith("state ")))
            break
    return run


def twin_state(plan: Any, x: np.ndarray, y: np.ndarray, cfg: StandaloneConfig) -> bytes:
    """The twin's state bytes after cfg.total samples, sample i = i mod n, as the firmware trains."""
    from ..twin import make_twin

    twin = make_twin(plan)
    twin.start(cfg.seed, cfg.samples_per_epoch)
    for i in range(cfg.total):
        twin.train_step(x[i % cfg.n], int(y[i % cfg.n]))
    return bytes(twin.state_bytes())


@dataclass(frozen=True)
class Prepared:
    lib: Library
    samples: Path
    x: np.ndarray   # decoded samples, what the twin computes on
    y: np.ndarray


def prepare(model: Path, work: Path, cfg: StandaloneConfig, board: str | None = None) -> Prepared:
    """The library of MODEL in work/library and the first cfg.n training samples in work/samples.c."""
    from ..job import encoded_data, load_data, load_spec, twin_data
    from .library import write_library

    spec, ds = load_data(load_spec(model, board))
    lib = write_library(spec, work / "library")
    train_enc, test_enc = encoded_data(spec, ds)
    _, x, _ = twin_data(spec, train_enc[:cfg.n], test_enc[:1])
    samples = work / "samples.c"
    samples.write_text(samples_c(train_enc[:cfg.n], ds.y_train[:cfg.n]))
    return Prepared(lib, samples, x, np.asarray(ds.y_train[:cfg.n]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--how", choices=("make", "pio"), default="make")
    ap.add_argument("--work-dir", type=Path, default=Path("build/standalone"))
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--total", type=int, default=300)
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--boot-limit", type=int, default=0,
                    help="each boot stops after this many samples (a power cut); the next one goes on")
    a = ap.parse_args(argv)
    from ..job import load_spec

    seed = load_spec(a.model).seed
    cfg = StandaloneConfig(n=a.n, total=a.total, save_every=a.save_every, seed=seed, samples_per_epoch=a.n,
                           boot_limit=a.boot_limit)
    prep = prepare(a.model, a.work_dir, cfg)
    build = build_with_make if a.how == "make" else build_with_pio
    elf = build(prep.lib, prep.samples, cfg, a.work_dir / a.how)
    run = run_standalone(prep.lib.board, elf, a.work_dir / "run")
    print("\n".join(ln if len(ln) < 120 else ln[:117] + "..." for ln in run.lines))
    ok = run.final_state == twin_state(prep.lib.generated.plan, prep.x, prep.y, cfg) and run.final_samples == cfg.total
    print(f"final state ({len(run.final_state or b'')} bytes) {'EQUALS' if ok else 'DIFFERS FROM'} the twin's")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
