"""Power cuts on the emulated board: kill QEMU while it trains and saves, reboot, check.

Builds ``firmware/storetest/powercut_main.c`` for the emulated ``netduinoplus2`` with a
generated model, the first ``n_samples`` MNIST training images compiled into flash, the
state store (``firmware/store/mt_store.c``) and a semihosting host-file storage device
(``firmware/boards/common/storage_semihost_file.c``): the store file lives in the work
folder, so a restarted QEMU finds what the killed one saved. The firmware trains
``total`` samples in a fixed order and saves every ``save_every``; QEMU is killed
(SIGKILL, a power cut) ``kills`` times, half of them at a random moment, half at a random
moment inside a save (just after the firmware announced it), and restarted each time.

Checked at every boot: the state loaded is one whose save had begun (same sequence number,
sample count, payload CRC-32 as the firmware printed) and is not older than the last save
reported committed, and its state digest equals the NumPy twin's after that many samples;
at the end, the final state bytes and PRNG equal the twin's after ``total`` samples.
A larger run: ``python -m mcutrain.store.powercut --kills 2000`` (scripts/store_powercut.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mcutrain.arith.plan import make_dense_plan
from mcutrain.build.boards import get_board
from mcutrain.build.resources import firmware_dir
from mcutrain.codegen.render import RenderInputs, render_sources, write_sources
from mcutrain.twin import TwinNetwork

MODEL_HASH = "5703ec0de5703ec0"
BOARD = "netduinoplus2"
STORE_FILE = "mcutrain-store.bin"


@dataclass
class PowercutConfig:
    n_samples: int = 256     # MNIST training images in flash, trained in order, cyclically
    total: int = 3000        # samples trained by the end
    save_every: int = 50
    seed: int = 5
    kills: int = 300
    rng_seed: int = 1
    max_kill_delay_s: float = 0.5   # random kills: uniform in (0, this) after boot
    sizes: tuple[int, ...] = (784, 16, 10)
    latent_bits: int = 8


@dataclass
class PowercutReport:
    cuts: int = 0
    rounds: int = 0          # runs from a blank store to the end of training, each checked against the twin
    cuts_in_save: int = 0
    cuts_in_training: int = 0
    reboots: int = 0
    boots_from_state: int = 0
    boots_empty: int = 0
    loaded_in_flight: int = 0  # boots that loaded the save cut after its commit, before it printed `S`
    states_lost: int = 0
    saves_committed: int = 0
    state_bytes: int = 0
    wall_seconds: float = 0.0
    final_bit_exact: bool = False
    problems: list[str] = field(default_factory=list)


def mnist_bits(data_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = data_dir / "mnist.npz"
    if not path.is_file():
        raise FileNotFoundError(f"MNIST not found: {path}; set MCUTRAIN_DATA_DIR to the folder holding mnist.npz")
    d = np.load(path)
    x = d["x_train"].reshape(-1, 784)[:n]
    return np.packbits(x >= 128, axis=1, bitorder="little"), (x >= 128).astype(np.int64) * 256, d["y_train"][:n]


def _samples_c(enc: np.ndarray, y: np.ndarray) -> str:
    rows = ",\n".join("{" + ",".join(str(int(b)) for b in row) + "}" for row in enc)
    labels = ",".join(str(int(v)) for v in y)
    return ('#include <stdint.h>\n#include "mt_model.h"\n'
            f"const uint8_t st_labels[{len(y)}] = {{{labels}}};\n"
            f"const uint8_t st_x[{len(y)}][MT_INPUT_BYTES] = {{\n{rows}\n}};\n")


def build_firmware(out: Path, cfg: PowercutConfig, enc: np.ndarray, y: np.ndarray,
                   extra_defines: tuple[str, ...] = ()) -> Path:
    """The power-cut test firmware as an ELF for the emulated board (extra_defines: more -D flags)."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                               "qemu-system-arm")
    plan = make_dense_plan(list(cfg.sizes), weights="binary", qbp=True, lr_start=-7, lr_min=-9,
                     latent_bits=cfg.latent_bits)
    out.mkdir(parents=True, exist_ok=True)
    write_sources(render_sources(RenderInputs(plan, "powercut", MODEL_HASH, "bits", 98)), out)
    (out / "samples.c").write_text(_samples_c(enc, y))
    fw = firmware_dir()
    board = get_board(BOARD)
    core, store, common, bdir = fw / "core", fw / "store", fw / "boards" / "common", fw / "boards" / BOARD
    elf = out / "powercut.elf"
    defs = [f"-DST_N={cfg.n_samples}u", f"-DST_TOTAL={cfg.total}u", f"-DST_SAVE_EVERY={cfg.save_every}u",
            f"-DST_SEED={cfg.seed}u", f"-DST_SPE={cfg.n_samples}u", "-DMT_SEMIHOSTING",
            *(f"-D{d}" for d in extra_defines)]
    cmd = ["arm-none-eabi-gcc", *board.cpu_flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
           "-ffreestanding", "-ffunction-sections", "-fdata-sections", "-nostartfiles", "-nostdlib", *defs,
           f"-I{core}", f"-I{store}", f"-I{common}", f"-I{bdir}", f"-I{out}",
           str(fw / "storetest" / "powercut_main.c"), str(out / "samples.c"), str(out / "mt_model.c"),
           str(core / "crc.c"), str(store / "mt_store.c"), str(common / "storage_semihost_file.c"),
           str(bdir / "startup.c"), str(bdir / "uart.c"),
           "-T", str(bdir / f"{BOARD}.ld"), "-Wl,--gc-sections", "-lgcc", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"power-cut firmware build failed:\n{' '.join(cmd)}\n{r.stderr}")
    return elf


@dataclass
class TwinTrace:
    digests: dict[int, int]   # samples trained -> state digest, at every save point and the end
    final_state: bytes
    final_prng: int
    state_bytes: int


def twin_trace(cfg: PowercutConfig, x: np.ndarray, y: np.ndarray) -> TwinTrace:
    plan = make_dense_plan(list(cfg.sizes), weights="binary", qbp=True, lr_start=-7, lr_min=-9,
                     latent_bits=cfg.latent_bits)
    net = TwinNetwork(plan)
    net.start(cfg.seed, cfg.n_samples)
    digests = {0: net.digest()}
    for i in range(cfg.total):
        net.train_step(x[i % cfg.n_samples], int(y[i % cfg.n_samples]))
        if (i + 1) % cfg.save_every == 0 or i + 1 == cfg.total:
            digests[i + 1] = net.digest()
    return TwinTrace(digests, net.state_bytes(), net.prng_state, plan.state_bytes)


def _fields(line: str, tag: str, n: int) -> list[int] | None:
    """The n hex fields of a complete `tag` line (a line cut by the kill gives None)."""
    parts = line.split()
    if len(parts) != n + 1 or parts[0] != tag or any(len(p) != 8 for p in parts[1:]):
        return None
    try:
        return [int(p, 16) for p in parts[1:]]
    except ValueError:
        return None


class _Board:
    """One QEMU run of the firmware; its UART lines arrive on a queue."""

    def __init__(self, elf: Path, workdir: Path) -> None:
        args = get_board(BOARD).qemu_args(str(elf.resolve()), "stdio", semihosting=True)
        self.stderr_path = workdir.resolve() / "qemu-stderr.log"
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(args, cwd=workdir.resolve(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("ascii", "replace").rstrip("\n"))
        self.lines.put(None)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._t.join(timeout=10)

    def wait_line(self, tag: str, timeout: float) -> tuple[list[str], bool]:
        """Lines until one starting with `tag` (included); (lines, found)."""
        got: list[str] = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got, False
            try:
                ln = self.lines.get(timeout=left)
            except queue.Empty:
                return got, False
            if ln is None:
                self.lines.put(None)
                return got, False
            got.append(ln)
            if ln.startswith(tag):
                return got, True

    def drain(self) -> list[str]:
        got = []
        while True:
            ln = self.lines.get()
            if ln is None:
                return got
            got.append(ln)


def _check_final(line: str, cfg: PowercutConfig, trace: TwinTrace, rep: PowercutReport) -> bool:
    """The `F` line: final samples, digest, state bytes and PRNG against the twin. True if complete."""
    parts = line.split()
    if len(parts) != 4 or len(parts[3]) != 2 * (trace.state_bytes + 16):
        return False
    samples, digest = int(parts[1], 16), int(parts[2], 16)
    raw = bytes.fromhex(parts[3])
    state, prng = raw[:trace.state_bytes], int.from_bytes(raw[trace.state_bytes:trace.state_bytes + 4], "little")
    rep.final_bit_exact = (samples == cfg.total and digest == trace.digests[cfg.total]
                           and state == trace.final_state and prng == trace.final_prng)
    if not rep.final_bit_exact:
        rep.problems.append("final state differs from the twin's")
    return True


def _round(elf: Path, workdir: Path, cfg: PowercutConfig, trace: TwinTrace, rep: PowercutReport,
           rng: random.Random, log: bool) -> None:
    """From a blank store file to the end of training, killing QEMU until rep.cuts reaches cfg.kills."""
    begun: dict[int, tuple[int, int, int]] = {}   # seq -> (samples, payload crc, digest)
    committed = -1                                # newest seq reported committed
    last_loaded_samples = 0
    store = workdir / STORE_FILE
    store.unlink(missing_ok=True)
    finished = False
    boots = 0
    while not finished:
        if boots > cfg.kills * 3 + 200:
            rep.problems.append("no progress: too many boots")
            break
        board = _Board(elf, workdir)
        boots += 1
        killed = False
        try:
            lines: list[str] = []
            if rep.cuts < cfg.kills:  # else: this round runs to its end uncut
                if rng.random() < 0.5:
                    got, found = board.wait_line("B ", timeout=30)
                    lines += got
                    time.sleep(rng.uniform(0.0, 0.03))
                else:
                    time.sleep(rng.uniform(0.0, cfg.max_kill_delay_s))
                if board.proc.poll() is None:
                    board.kill()
                    rep.cuts += 1
                    killed = True
                lines += board.drain()
            else:
                got, found = board.wait_line("F ", timeout=600)
                lines += got
                try:
                    board.proc.wait(timeout=30)  # it ends itself (exit 0) after `F`
                except subprocess.TimeoutExpired:
                    pass
                board.kill()
                lines += board.drain()
        finally:
            board.kill()
        if not killed and board.proc.returncode != 0:
            err = board.stderr_path.read_text(errors="replace").strip()[-500:]
            rep.problems.append(f"boot {boots}: QEMU exited with status {board.proc.returncode}: {err}")
            rep.final_bit_exact = False
            return
        # what this boot printed
        boot_line = next((ln for ln in lines if ln.startswith("L ")), None)
        if boot_line is not None:
            if boot_line.startswith("L ok"):
                f = _fields(boot_line[2:], "ok", 4)
                if f is None:
                    pass  # cut while printing the boot line: checked at the next boot
                else:
                    rep.boots_from_state += 1
                    seq, samples, crc, digest = f
                    ok = begun.get(seq) == (samples, crc, digest) and seq >= committed
                    ok = ok and trace.digests.get(samples) == digest and samples >= last_loaded_samples
                    if not ok:
                        rep.states_lost += 1
                        rep.problems.append(f"boot {boots}: loaded seq {seq} samples {samples} crc {crc:08x}; "
                                            f"begun {begun.get(seq)}, newest committed {committed}")
                    last_loaded_samples = samples
                    rep.loaded_in_flight += int(ok and seq > committed)
            elif boot_line == "L empty":
                rep.boots_empty += 1
                if committed >= 0:
                    rep.states_lost += 1
                    rep.problems.append(f"boot {boots}: store empty after save {committed} was committed")
            elif committed >= 0:
                rep.states_lost += 1
                rep.problems.append(f"boot {boots}: {boot_line} after save {committed} was committed")
            else:
                rep.boots_empty += 1  # the first save was cut: a damaged slot, nothing to load yet
        in_save = False  # the last complete line was a save's announcement: the cut landed in that save
        for ln in lines:
            b = _fields(ln, "B", 4)
            s = _fields(ln, "S", 3)
            if b is not None:
                begun[b[0]] = (b[1], b[2], b[3])
                in_save = True
            elif s is not None:
                committed = max(committed, s[0])
                rep.saves_committed += 1
                in_save = False
                if begun.get(s[0], (-1, -1, -1))[:2] != (s[1], s[2]):
                    rep.problems.append(f"save {s[0]} committed with other fields than announced")
            elif ln.startswith("E "):
                in_save = False
                rep.problems.append(f"boot {boots}: save failed: {ln}")
            elif ln.startswith("F "):
                finished = _check_final(ln, cfg, trace, rep)
        if killed:
            if in_save:
                rep.cuts_in_save += 1
            else:
                rep.cuts_in_training += 1
        if log:
            print(f"boot {boots}: cuts {rep.cuts} committed {committed} lost {rep.states_lost}", file=sys.stderr)
    rep.reboots += boots - 1
    rep.rounds += 1
    if not finished:
        rep.final_bit_exact = False


def run_powercuts(elf: Path, workdir: Path, cfg: PowercutConfig, trace: TwinTrace,
                  log: bool = False) -> PowercutReport:
    """Rounds of training from a blank store, each to its end and checked against the twin, until
    cfg.kills cuts have been injected (at least one round)."""
    rep = PowercutReport(state_bytes=trace.state_bytes)
    rng = random.Random(cfg.rng_seed)
    t0 = time.monotonic()
    all_exact = True
    while rep.rounds == 0 or rep.cuts < cfg.kills:
        _round(elf, workdir, cfg, trace, rep, rng, log)
        all_exact = all_exact and rep.final_bit_exact
        if rep.problems and (len(rep.problems) > 20 or "QEMU exited" in rep.problems[-1]):
            break
    rep.final_bit_exact = all_exact
    rep.wall_seconds = round(time.monotonic() - t0, 1)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=300)
    ap.add_argument("--total", type=int, default=3000)
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--rng-seed", type=int, default=1)
    ap.add_argument("--work-dir", type=Path, default=Path("build/store-powercut"))
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MCUTRAIN_DATA_DIR", "../shared/data")))
    ap.add_argument("--report", type=Path)
    a = ap.parse_args(argv)
    cfg = PowercutConfig(total=a.total, save_every=a.save_every, kills=a.kills, rng_seed=a.rng_seed)
    enc, x, y = mnist_bits(a.data_dir, cfg.n_samples)
    elf = build_firmware(a.work_dir, cfg, enc, y)
    rep = run_powercuts(elf, a.work_dir, cfg, twin_trace(cfg, x, y))
    text = json.dumps({"config": asdict(cfg), **asdict(rep)}, indent=2)
    print(text)
    if a.report:
        a.report.write_text(text + "\n")
    return 0 if rep.states_lost == 0 and rep.final_bit_exact and not rep.problems else 1


if __name__ == "__main__":
    sys.exit(main())
