"""Time per training image of the CNN examples on a real chip (issue 12): BENCHMARKS.md's own section.

For each CNN example with a documented run (examples/cifar10_cnn.toml's device run, the `mcutrain cnn-results`
runs of examples/cifar10_cnn_128k.toml, cifar10_cnn_256k.toml and mnist_cnn_best.toml in docs/results.md), the
firmware ``mcutrain`` builds is counted in unicorn exactly as the conv rows are (mcutrain/bench/conv.py's
``run_conv_case``: ``mt_train_step`` on the first N training images, ``mt_infer`` on the first N test images,
checked bit for bit against the twin). The executed-instruction profile goes through the core's cycle table
(mcutrain/bench/cycles.py: the ARM TRMs' per-instruction cycles, zero wait states) to ESTIMATED cycles; those
at 168 MHz (STM32F405) and 216 MHz (STM32F746, the Tiny Training Engine's 373 ms an image) give ms an image and
the estimated time of each documented run on such a chip. Optionally (``--emulate N``) a short session of N
samples on the emulated board (``mcutrain train``, QEMU) measures samples/s there, to set the emulated time of
the run beside the chip's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..build.boards import get_board
from .conv import TTE_HZ, TTE_MS, ConvCase, ConvModel, ConvResult, ConvSkip, run_conv_case, trim_text, write_section
from .matrix import REPO, _set_key

EXAMPLES = REPO / "examples"
SECTION = "cnn time per image (issue 12)"
BEGIN, END = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
CLOCKS_HZ = (168_000_000, 216_000_000)   # STM32F405/407 (the netduinoplus2's chip), STM32F746 (TTE's)
BAUD = 115_200                           # the link's UART, 8N1: 10 bits a byte (docs/protocol.md)
DEFAULT_SAMPLES = 5


@dataclass(frozen=True)
class DocumentedRun:
    """An example and the run documented for it (samples trained, test images evaluated, where it is told)."""

    key: str
    example: str
    board: str              # the board counted (the example's, or one with the RAM the run's budget names)
    train_samples: int
    test_samples: int
    run: str                # what the run is, and where it is documented
    ram_budget: int | None = None
    m0: bool = True         # also try the Cortex-M0 build (the micro:bit)
    fallback_board: str | None = None   # counted there when the board refuses the model (the refusal is listed)

    def sample_bytes(self) -> int:
        """Bytes of one encoded sample on the link (the first layer's input shape, the data's encoding)."""
        import tomllib

        from ..model.spec import input_bytes

        doc = tomllib.loads(self.text())
        first = doc["layers"][0]
        return input_bytes(doc["data"].get("encoding", "bits"),
                           first["height"] * first["width"] * first.get("channels", 1))

    def link_seconds(self) -> float:
        """The run's samples on the link alone at BAUD (payload bytes; the framing adds a few percent)."""
        return (self.train_samples + self.test_samples) * self.sample_bytes() * 10 / BAUD

    def text(self) -> str:
        t = (EXAMPLES / self.example).read_text()
        if self.ram_budget is not None:
            t = _set_key(t, "model", "ram_budget", str(self.ram_budget))
        return t


RUNS: tuple[DocumentedRun, ...] = (
    DocumentedRun("cifar10-cnn", "cifar10_cnn.toml", "netduinoplus2", 5_000, 1_000,
                  "its device run with `--verify` (the example's header): 5,000 samples, 1,000 test images"),
    DocumentedRun("cifar10-cnn-2ep", "cifar10_cnn.toml", "netduinoplus2", 100_000, 10_000,
                  "the same network for 2 epochs of CIFAR-10's 50,000 (10,000 test images)", m0=False),
    DocumentedRun("cifar10-cnn-128k", "cifar10_cnn_128k.toml", "netduinoplus2", 100_000, 10_000,
                  "docs/results.md, CNN accuracy: 2 epochs of 50,000, 10,000 test images", m0=False,
                  fallback_board="mps2-an505"),
    DocumentedRun("cifar10-cnn-256k", "cifar10_cnn_256k.toml", "mps2-an505", 100_000, 10_000,
                  "docs/results.md, CNN accuracy: 2 epochs of 50,000, 10,000 test images; counted on the "
                  "Cortex-M33 board with `ram_budget = 262144` (no emulated M4F has 256 KB)",
                  ram_budget=262_144, m0=False),
    DocumentedRun("mnist-cnn-best", "mnist_cnn_best.toml", "netduinoplus2", 163_458, 10_000,
                  "docs/results.md, CNN accuracy: 163,458 samples (2.72 epochs), 10,000 test images"),
    DocumentedRun("cifar10-cnn-128k-l16-w14", "cifar10_cnn_128k_l16_w14.toml", "netduinoplus2", 200_000, 10_000,
                  "docs/results.md, CNN accuracy: the best in 128 KB, 4 epochs of 50,000, 10,000 test images",
                  m0=False),
    DocumentedRun("cifar10-cnn-256k-l16-w23", "cifar10_cnn_256k_l16_w23.toml", "mps2-an505", 200_000, 10_000,
                  "docs/results.md, CNN accuracy: the best in a 256 KB budget, 4 epochs of 50,000, 10,000 test "
                  "images; the Cortex-M33 board linked for `ram_budget = 262144`", ram_budget=262_144, m0=False),
    DocumentedRun("mnist-cnn-l16-w18", "mnist_cnn_l16_w18.toml", "netduinoplus2", 180_000, 10_000,
                  "docs/results.md, CNN accuracy: the best MNIST in 128 KB, 3 epochs of 60,000, 10,000 test images",
                  m0=False),
)


@dataclass
class Emulated:
    samples: int
    train_samples_per_second: float
    eval_samples_per_second: float
    note: str = ""


@dataclass
class TimeRow:
    run: DocumentedRun
    result: ConvResult
    emulated: Emulated | None

    def ms_train(self, hz: int) -> float:
        return 1000.0 * self.result.train_cycles.mean / hz

    def ms_infer(self, hz: int) -> float:
        assert self.result.infer_cycles is not None
        return 1000.0 * self.result.infer_cycles.mean / hz

    def run_seconds(self, hz: int) -> float:
        return (self.run.train_samples * self.ms_train(hz) + self.run.test_samples * self.ms_infer(hz)) / 1000.0


def _register(run: DocumentedRun) -> str:
    """The run's model under its own key in the conv bench's models (run_conv_case builds from there)."""
    from .conv import CONV_MODELS

    CONV_MODELS.setdefault(run.key, ConvModel(run.key, run.example, run.text))
    return run.key


def emulate(run: DocumentedRun, work: Path, samples: int, test: int, log: Callable[[str], None] = print) -> Emulated:
    """A session of ``samples`` training and ``test`` test images of the example on its emulated board
    (`mcutrain train`, QEMU; no --verify: the counted run above is checked against the twin); its samples/s."""
    root = work / f"emu-{run.key}"
    root.mkdir(parents=True, exist_ok=True)
    text = _set_key(run.text(), "data", "train_samples", str(samples))
    text = _set_key(text, "data", "test_samples", str(test))
    text = _set_key(text, "model", "board", f'"{run.board}"')
    model = root / "model.toml"
    model.write_text(text)
    report = root / "report.json"
    cmd = [sys.executable, "-c", "from mcutrain.cli import main; main()", "train", str(model), "--no-verify",
           "--report", str(report), "--build-dir", str(root / "b")]
    t = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        tail = " ".join((proc.stdout + proc.stderr).split())[-300:]
        return Emulated(samples, 0.0, 0.0, f"the emulated session failed (exit {proc.returncode}): {tail}")
    r = json.loads(report.read_text())
    log(f"emulated {run.key}: {r['train_samples_per_second']} samples/s training ({time.monotonic() - t:.0f} s)")
    ev = r["test_samples"] / r["eval_seconds"] if r.get("eval_seconds") else 0.0
    return Emulated(samples, float(r["train_samples_per_second"]), ev)


def _hms(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render(rows: list[TimeRow], skips: list[ConvSkip], seconds: float, samples: int, emulate_n: int,
           command: str) -> str:
    L: list[str] = []
    w = L.append
    w(BEGIN)
    w("## CNN examples: time per training image on a real chip (issue 12)")
    w("")
    w(f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} in {seconds:.0f} s (this section only; "
      "`python bench/run.py` keeps it). Each example's firmware (the product's build: model file -> "
      "`write_project` -> `build`) run function by function in unicorn, as the conv rows above: `mt_train_step` "
      f"on the first {samples} training images, `mt_infer` on the first {samples} test images, mean (min-max), "
      "each run checked against the NumPy twin (predictions, final state, test predictions bit for bit).")
    w("")
    w("- **Cycles are an ESTIMATE**, the project's one method (`mcutrain/bench/cycles.py`): every executed "
      "instruction, counted in unicorn, costed by its core's table from the ARM Technical Reference Manual "
      "(Cortex-M4: DDI 0439B Table 3-1, with the pipelined neighbouring loads/stores and taken-branch refills "
      "the counter records; the Cortex-M33 row uses the M4 table), zero wait states. A real STM32F405 at "
      "168 MHz reads flash through the ART accelerator with 5 wait states and an STM32F746 is a dual-issue "
      "Cortex-M7 (the M4 table overstates its cycles): the figures say what the instructions cost, not a "
      "measurement on a board.")
    w(f"- *ms an image* = estimated cycles / clock; the Tiny Training Engine (MCUNetV3) fine-tunes part of an "
      f"ImageNet-pretrained MbV2-w0.35 on an STM32F746 at 216 MHz in **{TTE_MS:.0f} ms an image** (not the same "
      "work: these networks are small and trained from scratch, every weight).")
    w("- *run on a chip* = samples trained x ms a training image + test images x ms an inference: the compute. "
      f"*link at {BAUD:,} baud*: the same samples' bytes on the project's UART (8N1, 10 bits a byte; "
      "docs/protocol.md) without framing: a 1,536-byte u4 CIFAR image takes 133 ms there, a 3,072-byte u8 one "
      "267 ms, a 98-byte MNIST one 8.5 ms, so on a board with this link CIFAR runs are bound by the link, not "
      "the chip (a faster UART or the library API with the data on the device lifts that).")
    if emulate_n:
        w(f"- *emulated*: a session of {emulate_n} samples (and its test images) of the same model on the emulated "
          "board (`mcutrain train`, QEMU on this 2-core machine shared with other jobs), samples/s measured, "
          "scaled to the run's sample counts: what the run takes in emulation (QEMU's speed and the emulated "
          "link, not a chip's).")
    w("")
    w("| example | board (core) | weights | training image: instructions mean (min-max) | inference: "
      "instructions | est. cycles a training image | est. ms a training image at 168 / 216 MHz (TTE: 373) | "
      "est. ms an inference at 168 / 216 MHz | mults executed | twin |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    seen: set[str] = set()
    for row in rows:
        r = row.result
        if row.run.example + r.board.name in seen:
            continue
        seen.add(row.run.example + r.board.name)
        a, b = CLOCKS_HZ
        w(f"| `examples/{row.run.example}` | {r.board.name} ({r.board.core}) | {r.case.mode} | "
          f"{r.train.mean:,.0f} ({r.train.min:,}-{r.train.max:,}) | {r.infer.mean:,.0f} | "
          f"{r.train_cycles.mean:,.0f} | **{row.ms_train(a):.1f} / {row.ms_train(b):.1f}** | "
          f"{row.ms_infer(a):.1f} / {row.ms_infer(b):.1f} | {r.muldiv_executed} | {r.twin_check} |")
    w("")
    w("The documented runs, estimated on a chip (compute) and, where measured, in emulation:")
    w("")
    w(f"| run | samples trained + test images | est. on a chip at 168 MHz | at 216 MHz | link at {BAUD:,} baud | "
      "emulated (samples/s measured: training, evaluation) |")
    w("|---|---|---|---|---|---|")
    for row in rows:
        if row.result.board.core.startswith("cortex-m0"):
            continue   # no Cortex-M0 runs at 168 or 216 MHz
        a, b = CLOCKS_HZ
        emu = "not measured"
        e = row.emulated
        if e is not None and e.train_samples_per_second > 0:
            secs = row.run.train_samples / e.train_samples_per_second + (
                row.run.test_samples / e.eval_samples_per_second if e.eval_samples_per_second else 0.0)
            emu = (f"{_hms(secs)} ({e.train_samples_per_second:.1f}, {e.eval_samples_per_second:.1f} samples/s over "
                   f"{e.samples} samples)")
        elif e is not None:
            emu = e.note
        w(f"| `{row.run.key}`: {row.run.run} | {row.run.train_samples:,} + {row.run.test_samples:,} | "
          f"**{_hms(row.run_seconds(a))}** | **{_hms(row.run_seconds(b))}** | {_hms(row.run.link_seconds())} "
          f"({row.run.sample_bytes():,} B a sample) | {emu} |")
    w("")
    if skips:
        w("Builds not counted:")
        w("")
        for s in skips:
            core = get_board(s.case.board).core
            w(f"- `{s.case.model}` on {s.case.board} ({core}): {trim_text(s.reason, 400)}")
        w("")
    w(END)
    return "\n".join(L) + "\n"


def run_cnn_time(out: Path, work: Path, *, samples: int = DEFAULT_SAMPLES, emulate_n: int = 0,
                 keys: list[str] | None = None, command: str = "python bench/cnn_time.py",
                 log: Callable[[str], None] = print) -> tuple[list[TimeRow], list[ConvSkip]]:
    """Count every documented run's example (the M4F or M33 build, and the M0's where asked), write the section."""
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    rows: list[TimeRow] = []
    skips: list[ConvSkip] = []
    counted: dict[tuple[str, str], ConvResult] = {}
    emulated: dict[tuple[str, str], Emulated] = {}
    for run in RUNS:
        if keys is not None and run.key not in keys:
            continue
        mode = _weights(run)
        ident = (run.example, run.board)
        if ident not in counted:
            t = time.monotonic()
            res = run_conv_case(ConvCase(_register(run), mode, run.board), work, samples, log)
            if isinstance(res, ConvSkip):
                skips.append(res)
                log(f"skip {run.key} on {run.board}: {trim_text(res.reason, 160)}")
                if run.fallback_board is None:
                    continue
                run = replace(run, board=run.fallback_board,
                              run=run.run + f"; counted on {run.fallback_board} ({run.board} refused it: below)")
                res = run_conv_case(ConvCase(run.key, mode, run.board), work, samples, log)
                if isinstance(res, ConvSkip):
                    skips.append(res)
                    continue
            counted[ident] = res
            log(f"{run.key} {run.board}: {res.train.mean:,.0f} instructions a training image, est. "
                f"{1000 * res.train_cycles.mean / TTE_HZ:.1f} ms at 216 MHz; twin {res.twin_check}; "
                f"{time.monotonic() - t:.0f} s")
            if emulate_n:
                emulated[ident] = emulate(run, work, emulate_n, max(emulate_n // 2, 10), log)
        rows.append(TimeRow(run, counted[ident], emulated.get(ident)))
        if run.m0:
            res0 = run_conv_case(ConvCase(run.key, mode, "microbit"), work, samples, log)
            if isinstance(res0, ConvSkip):
                skips.append(res0)
            else:
                rows.append(TimeRow(run, res0, None))
    write_section(out, render(rows, skips, time.monotonic() - t0, samples, emulate_n, command), BEGIN, END)
    log(f"cnn time: wrote {out} ({len(rows)} rows, {len(skips)} builds not counted)")
    return rows, skips


def _weights(run: DocumentedRun) -> str:
    import tomllib

    return str(tomllib.loads(run.text())["training"]["weights"])
