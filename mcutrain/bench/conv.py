"""The conv rows of BENCHMARKS.md (issue 12): instructions per training sample and per weight-use of the conv
models, on the Cortex-M0 and the Cortex-M4F, estimated cycles per training image at 216 MHz beside the Tiny
Training Engine's 373 ms, and the float32 comparison where the generator has float32 conv kinds.

Each case goes through the product's path (model file -> ``write_project`` -> ``build``) and its firmware ELF is
counted in unicorn exactly as the dense matrix does (mcutrain/bench/matrix.py): ``mt_session_start``, then
``mt_train_step`` on the first N MNIST training samples, ``mt_infer`` on the first N test samples; the run is
checked against the NumPy twin bit for bit. ``python bench/conv_rows.py`` writes its own section of
BENCHMARKS.md (between markers; ``python bench/run.py`` keeps it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..arith.modes import WEIGHT_MODES
from ..build.boards import Board
from ..errors import McutrainError
from .matrix import FLOAT32_SETTINGS, REPO, Stats, _set_key

EXAMPLES = REPO / "examples"
INTEGER_MODES = tuple(m for m in WEIGHT_MODES if m != "float32")
TTE_MS = 373.0            # Tiny Training Engine, MbV2-w0.35 on the STM32F746 at 216 MHz (docs: anchors)
TTE_HZ = 216_000_000
SECTION = "conv rows (issue 12)"
BEGIN, END = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
DEFAULT_CONV_SAMPLES = 5

SMALL_CNN_TEMPLATE = """# 14x14 MNIST (pool = 2): conv 3x3 stride 2 (-> 6x6x4), conv 3x3 same (-> 6x6x4), 2x2 max-pool
# (-> 3x3x4), flatten, dense 10; 8-bit latents: fits the 16 KB micro:bit (as in tests/test_conv_boards.py).
[model]
name = "{name}"
board = "{board}"
seed = 3

[data]
dataset = "mnist"
encoding = "bits"
pool = 2
train_samples = 200
test_samples = 100

[[layers]]
kind = "conv2d"
height = 14
width = 14
channels = 1
filters = 4
kernel = 3
stride = 2
padding = "valid"

[[layers]]
kind = "conv2d"
height = 6
width = 6
channels = 4
filters = {filters}
kernel = 3
padding = "same"

[[layers]]
kind = "maxpool"
height = 6
width = 6
channels = {filters}

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 10

[training]
weights = "{weights}"
quantized_backprop = {qbp}
qbp_exponent_range = [-4, 3]
learning_rate = -7

[arithmetic]
latent_bits = 8
"""
SMALL_CNN = SMALL_CNN_TEMPLATE.format(name="cnn-14x14", board="netduinoplus2", filters=4, weights="ternary",
                                     qbp="true")


@dataclass(frozen=True)
class ConvModel:
    key: str
    title: str
    text: Callable[[], str]


CONV_MODELS: dict[str, ConvModel] = {
    "mnist-cnn": ConvModel("mnist-cnn", "examples/mnist_cnn.toml: 28x28, 4C3/2-4C3-MP2-10",
                           lambda: (EXAMPLES / "mnist_cnn.toml").read_text()),
    "mnist-cnn-wide": ConvModel("mnist-cnn-wide", "examples/mnist_cnn_wide.toml: 28x28, 8C3-MP2-16C3-MP2-10",
                                lambda: (EXAMPLES / "mnist_cnn_wide.toml").read_text()),
    "cnn-14x14": ConvModel("cnn-14x14", "14x14 (pool 2), 4C3/2-4C3-MP2-10, 8-bit latents", lambda: SMALL_CNN),
}

#: (model, boards): the M0 (microbit, 16 KB) takes the small network only; the M4F all three
DEFAULT_CONV_CASES = (("cnn-14x14", ("microbit", "netduinoplus2")), ("mnist-cnn", ("netduinoplus2",)),
                      ("mnist-cnn-wide", ("netduinoplus2",)))


@dataclass(frozen=True)
class ConvCase:
    model: str
    mode: str
    board: str

    @property
    def name(self) -> str:
        return f"{self.model}-{self.mode}-{self.board}"


def model_text(case: ConvCase) -> str:
    text = CONV_MODELS[case.model].text()
    text = _set_key(text, "model", "board", f'"{case.board}"')
    text = _set_key(text, "training", "weights", f'"{case.mode}"')
    if case.mode == "float32":
        for table, key, value in FLOAT32_SETTINGS:
            if f"[{table}]" not in text:
                text += f"\n[{table}]\n"
            text = _set_key(text, table, key, value)
    return text


@dataclass
class ConvResult:
    case: ConvCase
    board: Board
    samples: int
    n_weights: int
    weight_uses: int              # forward-pass weight uses a sample: conv k*k*C_in*C_out*positions, dense n_in*n_out
    float_mults: int              # weight multiplications of float32 SGD a sample (forward + backward + update)
    train: Stats
    train_cycles: Stats           # ESTIMATE (the core's cycle table)
    infer: Stats
    muldiv_executed: int          # multiply/divide instructions + helper calls executed in training and inference
    static_findings: list[str]
    static_functions: int
    ram_planned: int
    ram_use: int | None           # static + stack estimate (manifest ram.planned_use_bytes)
    twin_check: str
    by_function: list[tuple[str, int]] = field(default_factory=list)
    infer_cycles: Stats | None = None   # ESTIMATE (the core's cycle table), as train_cycles

    @property
    def per_weight_use(self) -> float:
        return self.train.mean / self.weight_uses

    @property
    def ms_at_216(self) -> float:
        return 1000.0 * self.train_cycles.mean / TTE_HZ


@dataclass
class ConvSkip:
    case: ConvCase
    reason: str


def _weight_uses(plan: Any) -> tuple[int, int, int]:
    """(weights, forward weight uses a sample, float32 SGD weight multiplications a sample) from the plan."""
    from ..results.multiplications import DEVICE

    weights = uses = mults = 0
    for la in plan.layers:
        if la.kind == "conv2d":
            weights += la.n_weights
            uses += la.n_weights * la.positions
        elif la.kind == "dense":
            weights += la.n_in * la.n_out
            uses += la.n_in * la.n_out
        else:
            continue
        c = la.multiplications(quantized_weights=False, qbp=False, batch_norm=False, conv=DEVICE)
        mults += c.forward + c.backward + c.update
    return weights, uses, mults


def sample_buffer(m: Any, n_bytes: int) -> int:
    """Where an encoded sample is written for a call: the counter's argument area when it fits (512 bytes), else
    the firmware's own sample buffer (firmware/core/main.c's ``sample``, where the device assembles a sample from
    its ``Q`` parts: a 32x32x3 ``u4`` image is 1,536 bytes)."""
    from .counter import ARG_AREA

    return int(m.arg_area) if n_bytes <= ARG_AREA else int(m.address_of("sample"))


def run_conv_case(case: ConvCase, work: Path, samples: int = DEFAULT_CONV_SAMPLES,
                  log: Callable[[str], None] = print) -> ConvResult | ConvSkip:
    from ..arith.plan import plan_from_spec
    from ..build.mulcheck import check_elf
    from ..build.project import build, write_project
    from ..data import decode, encode, load_dataset
    from ..host.twin_run import train_twin
    from ..model import check_against_data, load_model
    from ..twin import make_twin
    from .counter import Machine

    root = work / case.name
    root.mkdir(parents=True, exist_ok=True)
    model_file = root / "model.toml"
    model_file.write_text(model_text(case))
    try:
        spec = load_model(model_file)
        ds = load_dataset(spec.data)
        spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
        proj = write_project(spec, root / "proj")
        elf = build(proj)
    except McutrainError as exc:   # the generator's own message, with the case's name for the work path
        return ConvSkip(case, " ".join(str(exc).replace(str(model_file), f"{case.name}.toml").split()))
    plan = plan_from_spec(spec)
    n_weights, uses, fmults = _weight_uses(plan)
    enc, thr = spec.data.encoding, spec.data.threshold
    n = min(samples, len(ds.y_train), len(ds.y_test))
    x_tr, y_tr, x_te = encode(ds.x_train[:n], enc, thr), ds.y_train[:n], encode(ds.x_test[:n], enc, thr)
    spe = len(ds.y_train)
    m = Machine(elf, proj.board, hook="block")
    buf = sample_buffer(m, x_tr.shape[1])
    m.call("mt_session_start", spec.seed, spe)
    train, cycles, infer, icycles, preds, inf_preds = [], [], [], [], [], []
    prof = iprof = None
    for i in range(n):
        m.write(buf, x_tr[i].tobytes())
        r = m.call("mt_train_step", buf, int(y_tr[i]))
        train.append(r.instructions)
        cycles.append(m.cycles(r.profile)[0])
        preds.append(r.ret & 0xFF)
        prof = r.profile if prof is None else prof.merge(r.profile)
    state_ptr = m.call("mt_state_bytes", count=False).ret
    for i in range(n):
        m.write(buf, x_te[i].tobytes())
        r = m.call("mt_infer", buf)
        infer.append(r.instructions)
        icycles.append(m.cycles(r.profile)[0])
        inf_preds.append(r.ret & 0xFF)
        iprof = r.profile if iprof is None else iprof.merge(r.profile)
    assert prof is not None and iprof is not None
    net = make_twin(plan)
    a_bits = spec.arithmetic.activation_frac_bits
    run = train_twin(net, spec.seed, spe, decode(x_tr, enc, int(spec.n_inputs), a_bits), y_tr, np.arange(n))
    tw_state = net.state_bytes()
    tw_inf = [int(v) for v in net.infer(decode(x_te, enc, int(spec.n_inputs), a_bits))]
    ok = [int(p) for p in run.predictions] == preds and tw_state == m.read(state_ptr, len(tw_state)) \
        and tw_inf == inf_preds
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    findings = [f"{f.function}: {f.text}" for rep in check_elf(str(elf), names) for f in rep.findings]
    executed = sum(sum(c.values()) for p in (prof, iprof) for c in m.muldiv(p))
    ram = proj.generated.manifest["ram"]
    return ConvResult(
        case=case, board=proj.board, samples=n, n_weights=n_weights, weight_uses=uses, float_mults=fmults,
        train=Stats.of(train), train_cycles=Stats.of(cycles), infer=Stats.of(infer), muldiv_executed=executed,
        static_findings=findings, static_functions=len(names), ram_planned=ram["planned_bytes"],
        ram_use=ram.get("planned_use_bytes"), twin_check="bit-exact" if ok else "DIFFERS",
        by_function=m.by_function(prof).most_common(4), infer_cycles=Stats.of(icycles))


def default_conv_cases(modes: Iterable[str] | None = None) -> list[ConvCase]:
    modes = list(modes) if modes is not None else [*INTEGER_MODES, "float32"]
    return [ConvCase(model, mode, board) for model, boards in DEFAULT_CONV_CASES for board in boards
            for mode in modes]


# ------------------------------------------------------------------------------------------------ the section


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def render_conv(results: list[ConvResult], skips: list[ConvSkip], seconds: float, samples: int,
                command: str) -> str:
    L: list[str] = []
    w = L.append
    w(BEGIN)
    w("## Conv models (issue 12)")
    w("")
    w(f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} in {seconds:.0f} s (this section only; "
      "`python bench/run.py` keeps it). Counted as the tables above: the firmware `mcutrain` builds, run "
      f"function by function in unicorn; `mt_train_step` on the first {samples} MNIST training images, `mt_infer` "
      f"on the first {samples} test images, mean (min-max); every run checked against the NumPy twin (predictions, "
      "final weights, test predictions bit for bit).")
    w("")
    w("- *weight-uses* a training sample: the forward pass's products with a weight, k x k x C_in x C_out x "
      "output positions a conv layer, n_in x n_out a dense layer (a conv kernel is used at every position; "
      "the dense rows above divide by the weights, which for a dense layer is the same number). The backward "
      "pass and the update touch each weight about as often again; *per weight-use* = instructions a "
      "training sample / weight-uses.")
    w("- *est. ms an image at 216 MHz*: estimated cycles a training sample (the core's cycle table, "
      "`mcutrain/bench/cycles.py`; the M4F's for the M4F rows, the M0's for the M0 rows) / 216 MHz, the "
      "STM32F746's clock on which the Tiny Training Engine (MCUNetV3, NeurIPS'22) fine-tunes MbV2-w0.35 in "
      f"**{TTE_MS:.0f} ms an image**. Not the same work: TTE runs part of an ImageNet-pretrained network's "
      "backward pass (int8 forward, float32 backward) on larger images, these rows train every weight of "
      "a small MNIST network from scratch; the figures say what one training image costs here, an "
      "estimate, not a measurement (a Cortex-M7 dual-issues, so the M4F's table overstates its cycles; "
      "no Cortex-M0 runs at 216 MHz: for the M0 rows the column at the board's rated clock is the real one).")
    w("- *mults executed*: multiply/divide instructions plus calls of multiply/divide helpers executed over "
      "all the training and inference calls; *present*: the multiply check (`mcutrain/build/mulcheck.py`) "
      "over every training and inference function the manifest names; *float32 SGD mults*: the weight "
      "multiplications a float32 SGD step of the same network needs (forward, backward from the second "
      "layer, update), by formula.")
    w("")
    w("| model | board (core) | weights | training sample: instructions mean (min-max) | weight-uses | per "
      "weight-use | per weight | est. cycles | est. ms an image at 216 MHz (TTE: 373) | est. ms at the "
      "board's rated clock | inference: instructions | mults executed / present | float32 SGD mults | RAM "
      "planned (use) | twin |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        w(f"| {r.case.model} | {r.board.name} ({r.board.core}) | {r.case.mode} | {_fmt(r.train.mean)} "
          f"({r.train.min:,}-{r.train.max:,}) | {r.weight_uses:,} | {r.per_weight_use:.2f} | "
          f"{r.train.mean / r.n_weights:,.1f} | {_fmt(r.train_cycles.mean)} | {r.ms_at_216:.2f} | "
          f"{1000 * r.train_cycles.mean / r.board.clock_hz:.1f} ({r.board.clock_hz // 1_000_000} MHz) | "
          f"{_fmt(r.infer.mean)} | {r.muldiv_executed} / {len(r.static_findings)} of {r.static_functions} "
          f"functions | {r.float_mults:,} | {r.ram_planned:,} ({r.ram_use:,} B) | {r.twin_check} |")
    w("")
    float_skips = [s for s in skips if s.case.mode == "float32"]
    other = [s for s in skips if s.case.mode != "float32"]
    w("**float32 comparison.** " + (
        "No float32 conv build exists in this generator, so these rows have no float32 ratio; "
        f"it said: \"{trim_text(float_skips[0].reason)}\". Rerun `{command}` once the float32 conv kinds are "
        "there: the float32 cases are in the matrix and their rows and ratios then appear here."
        if float_skips and not any(r.case.mode == "float32" for r in results) else _float_ratios(results)))
    w("")
    if other:
        w("Cases not run:")
        w("")
        for s in other:
            w(f"- {s.case.name}: {trim_text(s.reason)}")
        w("")
    w("Where the instructions go (training, all samples, the four largest functions):")
    w("")
    for r in results:
        if r.case.mode in ("ternary", "sign"):
            total = r.train.mean * r.samples
            parts = ", ".join(f"`{f}` {100 * c / total:.0f}%" for f, c in r.by_function)
            w(f"- {r.case.model}, {r.board.name}, {r.case.mode}: {parts}")
    w("")
    w(END)
    return "\n".join(L) + "\n"


def trim_text(text: str, n: int = 300) -> str:
    """One line of at most n characters (a refusal's text in a benchmark section)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _float_ratios(results: list[ConvResult]) -> str:
    out = []
    floats = {(r.case.model, r.case.board): r for r in results if r.case.mode == "float32"}
    for r in results:
        f = floats.get((r.case.model, r.case.board))
        if f is not None and r.case.mode != "float32":
            out.append(f"{r.case.model} {r.board.name} {r.case.mode}: {r.train.mean / f.train.mean:.3f} of float32's "
                       f"instructions ({r.train_cycles.mean / f.train_cycles.mean:.3f} of its cycles)")
    return "; ".join(out) + "." if out else "no float32 row ran."


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace this section of ``path`` (between its markers, by default the conv rows'), or append it."""
    text = path.read_text() if path.is_file() else ""
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pat.search(text):
        text = pat.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def kept_sections(old: str) -> str:
    """The marked sections (``<!-- BEGIN x -->`` .. ``<!-- END x -->``) of a BENCHMARKS.md, for a rewrite of the
    rest to keep."""
    return "".join(m.group(0) + "\n" for m in re.finditer(r"<!-- BEGIN ([^>]*) -->.*?<!-- END \1 -->", old,
                                                          re.DOTALL))


def run_conv_rows(out: Path, work: Path, *, samples: int = DEFAULT_CONV_SAMPLES, modes: Iterable[str] | None = None,
                  command: str = "python bench/conv_rows.py",
                  log: Callable[[str], None] = print) -> tuple[list[ConvResult], list[ConvSkip]]:
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    results: list[ConvResult] = []
    skips: list[ConvSkip] = []
    for case in default_conv_cases(modes):
        t = time.monotonic()
        res = run_conv_case(case, work, samples, log)
        if isinstance(res, ConvSkip):
            skips.append(res)
            log(f"skip {case.name}: {trim_text(res.reason, 160)}")
        else:
            results.append(res)
            log(f"{case.name}: {res.train.mean:,.0f} instructions a training sample ({res.per_weight_use:.2f} a "
                f"weight-use), est. {res.ms_at_216:.2f} ms at 216 MHz; mults {res.muldiv_executed}; twin "
                f"{res.twin_check}; {time.monotonic() - t:.1f} s")
    write_section(out, render_conv(results, skips, time.monotonic() - t0, samples, command))
    log(f"conv rows: wrote {out} ({len(results)} cases, {len(skips)} not run)")
    return results, skips
