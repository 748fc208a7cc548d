"""The benchmark matrix: board x weight mode x model -> build, count, check, collect.

Every case goes through the product's own path: a model file (TOML text written here) ->
``load_model`` -> ``write_project`` -> ``build`` (offline PlatformIO, the flags that ship);
the firmware ELF is then run function by function in the instruction counter
(counter.py): ``mt_session_start(seed, samples_per_epoch)``, then ``mt_train_step`` on the
first N training samples in order, then ``mt_infer`` on the first N test samples. Counts
depend on the data (rows of zero inputs are skipped), so mean, min and max over the N samples
are kept. For modes the NumPy twin models, the emulated run is checked against it (predictions
and final weights, bit for bit), so every count is of code that computed the right thing.

A case the generator refuses (a weight mode it does not know yet, a model too large for the
board) is kept as a skip with the generator's own message.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..arith.modes import BINARY_MODES, QUANTIZED_MODES, WEIGHT_MODES
from ..build.boards import BOARDS, Board, get_board
from ..errors import McutrainError
from ..model.toml_text import mlp_layers_toml

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "examples" / "mnist_demo.toml"
DEFAULT_MODES = ("binary", "sign", "float32")  # the default matrix
# Every mode of a model file (arith.modes.WEIGHT_MODES) can be asked for with --weights; the ternary modes
# are not in the default matrix: two more modes would make the benchmark (boards x modes x models, each
# case a build and an instruction-counting run in QEMU) about two thirds longer.
DEFAULT_SAMPLES = 20


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
def mnist_8x8(out: Path) -> Path:
    """MNIST as 8x8 images (64 inputs): the 28x28 digits cropped by 2 pixels a side to 24x24
    (the border is blank in almost every image) and 3x3 average-pooled (sum // 9), as the
    model file's own ``pool`` does. Written once as a .npz the model file names."""
    if out.is_file():
        return out
    from ..data.mnist import load_mnist
    full = load_mnist()

    def small(x: np.ndarray) -> np.ndarray:
        img = x.reshape(len(x), 28, 28)[:, 2:26, 2:26].astype(np.uint32)
        return (img.reshape(len(x), 8, 3, 8, 3).sum(axis=(2, 4)) // 9).astype(np.uint8).reshape(len(x), 64)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=small(full.x_train), y_train=full.y_train,
                        x_test=small(full.x_test), y_test=full.y_test)
    tmp.replace(out)
    return out


def _set_key(text: str, table: str, key: str, value: str) -> str:
    """Set `key = value` in [table] of a TOML text (replace the line, or add it after the header)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == f"[{table}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ModelKind:
    key: str
    title: str
    #: (weight mode, board, variant settings [(table, key, toml value)], work dir) -> model file text
    toml: Callable[[str, str, tuple[tuple[str, str, str], ...], Path], str]
    note: str = ""


FLOAT32_SETTINGS = (("training", "quantized_backprop", "false"), ("arithmetic", "update_rounding", '"nearest"'))
"""What a float32 model file must say differently (the generator refuses the binarized-only settings)."""


def _apply(text: str, mode: str, variant: tuple[tuple[str, str, str], ...]) -> str:
    text = _set_key(text, "training", "weights", f'"{mode}"')
    for table, key, value in (FLOAT32_SETTINGS if mode == "float32" else ()) + tuple(variant):
        text = _set_key(text, table, key, value)
    return text


def _demo_toml(mode: str, board: str, variant: tuple[tuple[str, str, str], ...], _work: Path) -> str:
    text = _set_key(DEMO_MODEL.read_text(), "model", "board", f'"{board}"')
    return _apply(text, mode, variant)


def _mlp64_toml(mode: str, board: str, variant: tuple[tuple[str, str, str], ...], work: Path) -> str:
    npz = mnist_8x8(work / "data" / "mnist_8x8.npz")
    text = f"""# 64-32-10 MLP, the size of the AIfES anchor, on 8x8 MNIST (crop 24x24, 3x3 average pool);
# training and arithmetic settings as in examples/mnist_demo.toml.
[model]
name = "mlp-64-32-10"
board = "{board}"
seed = 1

[data]
dataset = "{npz}"
encoding = "u4"
train_samples = 12000
test_samples = 0

{mlp_layers_toml([32])}
[training]
weights = "{mode}"
quantized_backprop = true
learning_rate = -7
lr_decay_every_epochs = 1
lr_min = -13
epochs = 1

[arithmetic]
latent_bits = 8
update_rounding = "stochastic"
weight_scale_shift = 1
"""
    return _apply(text, mode, variant)


MODELS: dict[str, ModelKind] = {
    "mnist-demo": ModelKind("mnist-demo", "MNIST demo 196-512-10 (examples/mnist_demo.toml)", _demo_toml),
    "mlp-64-32-10": ModelKind(
        "mlp-64-32-10", "MLP 64-32-10 on 8x8 MNIST", _mlp64_toml,
        note="64 inputs: MNIST cropped to 24x24 and 3x3-pooled on the host (bench/matrix.py: mnist_8x8), "
             "written as a .npz that the model file names; 4-bit pixels (u4), 32 bytes a sample."),
}


@dataclass(frozen=True)
class Case:
    model: str
    mode: str
    board: str
    variant: tuple[tuple[str, str, str], ...] = ()

    @property
    def name(self) -> str:
        v = "".join(f"-{k}_{val.strip(chr(34))}" for _t, k, val in self.variant)
        return f"{self.model}-{self.mode}-{self.board}{v}"

    @property
    def variant_text(self) -> str:
        return ", ".join(f"{k} = {val}" for _t, k, val in self.variant)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass
class Stats:
    mean: float
    min: int
    max: int

    @classmethod
    def of(cls, xs: Iterable[int]) -> Stats:
        xs = list(xs)
        return cls(statistics.fmean(xs), min(xs), max(xs))


@dataclass
class CaseResult:
    case: Case
    board: Board
    layer_sizes: list[int]
    n_weights: int
    samples: int
    build_seconds: float
    count_seconds: float
    init_instructions: int
    train: Stats                      # issued instructions per training sample
    train_passed: float | None        # condition-passed (UC_HOOK_CODE), mean
    train_cycles: Stats               # ESTIMATE
    infer: Stats
    infer_passed: float | None
    infer_cycles: Stats
    train_stack: int                  # peak stack of mt_train_step, measured (painted stack)
    infer_stack: int
    caller_stack: int                 # frames of the firmware's callers (main, on_train), from their prologues
    histogram: list[tuple[str, int]]              # training, all samples, by instruction kind
    by_function: list[tuple[str, int]]            # training, all samples, by function (own code)
    cycles_by_class: list[tuple[str, int]]
    dyn_muldiv_train: dict[str, int]              # executed multiply/divide instructions (all samples)
    dyn_helpers_train: dict[str, int]             # calls of multiply/divide helpers
    dyn_muldiv_infer: dict[str, int]
    dyn_helpers_infer: dict[str, int]
    static_findings: list[str]                    # mulcheck over the manifest's functions
    static_functions: int
    mults_formula_train: int
    mults_formula_infer: int
    mults_formula_text: str
    ram_planned: int
    ram_static: int
    ram_by_kind: dict[str, int]
    size_text: int
    size_data: int
    size_bss: int
    size_stack_reserve: int
    flash_estimate: int
    twin_check: str
    notes: list[str] = field(default_factory=list)

    @property
    def train_per_weight(self) -> float:
        return self.train.mean / self.n_weights

    @property
    def infer_per_weight(self) -> float:
        return self.infer.mean / self.n_weights

    @property
    def samples_per_second(self) -> float:
        return self.board.clock_hz / self.train_cycles.mean

    @property
    def ram_measured(self) -> int:
        """.data + .bss from the linker + the stack a training step needs in the firmware: the frames of
        its callers (main's prologue) and the measured peak of mt_train_step."""
        return self.size_data + self.size_bss + self.caller_stack + self.train_stack

    @property
    def flash_bytes(self) -> int:
        return self.size_text + self.size_data

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["case"] = {"model": self.case.model, "mode": self.case.mode, "board": self.case.board,
                     "variant": self.case.variant_text}
        d["board"] = self.board.name
        return d


@dataclass
class Skip:
    case: Case
    reason: str


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def _size(elf: Path) -> tuple[int, int, int, int]:
    """(text, data, bss, stack reserve) from `arm-none-eabi-size -A`; the linker scripts put the stack
    reserve in its own NOLOAD section ``.stack``, which the Berkeley format would add to bss."""
    from ..build.toolchain import find_tool
    out = subprocess.run([find_tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    sec = {}
    for line in out:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    text = sum(v for k, v in sec.items() if k in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".init_array"))
    return text, sec.get(".data", 0), sec.get(".bss", 0), sec.get(".stack", 0)


def mults_formula(sizes: list[int], mode: str) -> tuple[int, int, str]:
    """Weight multiplications per training sample and per inference, by formula, for a dense network
    whose inputs are all non-zero (an upper bound: the generated code skips the rows of zero inputs).

    The device's convention of mcutrain/results/multiplications.py (batch 1, no batch norm): float32 SGD per
    dense layer with n_in x n_out weights: forward n_in*n_out; backward (the error of the layer's
    input, from the second layer on) n_in*n_out; update w -= (lr*x_i)*d_j: n_in*n_out + n_in.
    Binary/sign/ternary modes (with quantized back-propagation): no weight multiplication at all (a
    product with a +-1 or 0 weight is an add, a subtract or nothing; lr * x_q * d is a shift)."""
    from ..results.multiplications import DEVICE, count_layers, inference_total

    quantized = mode in QUANTIZED_MODES
    layers = count_layers(sizes, quantized_weights=quantized, qbp=quantized, batch_norm=False, conv=DEVICE)
    if quantized:
        return 0, 0, ("0 (products with +-1 (or 0) weights are additions/subtractions (or skipped); "
                      "the update is a shift)")
    fwd, bwd, upd = (sum(getattr(c, f) for c in layers) for f in ("forward", "backward", "update"))
    inf = inference_total(sizes, quantized_weights=False)
    return fwd + bwd + upd, inf, (f"{sizes}: forward {fwd:,} + backward {bwd:,} + update {upd:,} = "
                                  f"{fwd + bwd + upd:,} a training sample, {inf:,} an inference (forward "
                                  "sum n_in*n_out; backward from the second layer; update n_in*n_out + n_in "
                                  "for lr*x_i); all inputs non-zero, an upper bound: zero rows are skipped")


def run_case(case: Case, work: Path, samples: int = DEFAULT_SAMPLES,
             log: Callable[[str], None] = print) -> CaseResult | Skip:
    from ..arith.plan import plan_from_spec
    from ..build.mulcheck import check_elf
    from ..build.project import build, write_project
    from ..data import decode, encode, load_dataset
    from ..host.twin_run import train_twin
    from ..model import check_against_data, load_model
    from .counter import Machine

    root = work / case.name
    root.mkdir(parents=True, exist_ok=True)
    model_file = root / "model.toml"
    model_file.write_text(MODELS[case.model].toml(case.mode, case.board, case.variant, work))
    t0 = time.monotonic()
    try:
        spec = load_model(model_file)
        ds = load_dataset(spec.data)
        spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
        proj = write_project(spec, root / "proj")
    except McutrainError as exc:
        return Skip(case, f"the generator refuses it: {str(exc).splitlines()[0]}")
    try:
        elf = build(proj)
    except McutrainError as exc:
        return Skip(case, f"build failed: {str(exc).splitlines()[0]}")
    t_build = time.monotonic() - t0
    board = proj.board
    manifest = proj.generated.manifest
    sizes = [int(spec.n_inputs)] + [int(la.units) for la in spec.layers]
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    enc_name, thr = spec.data.encoding, spec.data.threshold
    n = min(samples, len(ds.y_train), len(ds.y_test))
    x_tr, y_tr = encode(ds.x_train[:n], enc_name, thr), ds.y_train[:n]
    x_te = encode(ds.x_test[:n], enc_name, thr)
    spe = len(ds.y_train)

    t1 = time.monotonic()
    m = Machine(elf, board, hook="both")
    init = m.call("mt_session_start", spec.seed, spe)
    train_prof = infer_prof = None
    train_counts, train_passed, train_cycles, preds = [], [], [], []
    infer_counts, infer_passed, infer_cycles, inf_preds = [], [], [], []
    train_stack = infer_stack = 0
    for i in range(n):
        m.write(m.arg_area, x_tr[i].tobytes())
        r = m.call("mt_train_step", m.arg_area, int(y_tr[i]))
        train_counts.append(r.instructions)
        train_passed.append(r.profile.instructions_passed)
        train_cycles.append(m.cycles(r.profile)[0])
        train_stack = max(train_stack, r.stack_bytes)
        preds.append(r.ret & 0xFF)
        train_prof = r.profile if train_prof is None else train_prof.merge(r.profile)
    try:
        state_ptr = m.call("mt_state_bytes", count=False).ret
    except McutrainError:
        state_ptr = None
    for i in range(n):
        m.write(m.arg_area, x_te[i].tobytes())
        r = m.call("mt_infer", m.arg_area)
        infer_counts.append(r.instructions)
        infer_passed.append(r.profile.instructions_passed)
        infer_cycles.append(m.cycles(r.profile)[0])
        infer_stack = max(infer_stack, r.stack_bytes)
        inf_preds.append(r.ret & 0xFF)
        infer_prof = r.profile if infer_prof is None else infer_prof.merge(r.profile)
    t_count = time.monotonic() - t1
    assert train_prof is not None and infer_prof is not None

    # the twin: same seed, same samples -> same predictions and weights, bit for bit
    twin_check = "no twin for this mode"
    try:
        from ..twin import make_twin
    except ImportError:  # a generator without the float32 twin yet
        from ..twin import TwinNetwork as make_twin  # type: ignore[assignment]
        if case.mode not in QUANTIZED_MODES:
            make_twin = None  # type: ignore[assignment]
    if make_twin is not None and state_ptr is not None:
        plan = plan_from_spec(spec)
        a_bits = spec.arithmetic.activation_frac_bits
        net = make_twin(plan)
        run = train_twin(net, spec.seed, spe, decode(x_tr, enc_name, sizes[0], a_bits), y_tr, np.arange(n))
        tw_preds = [int(p) for p in run.predictions]
        tw_state = net.state_bytes()
        tw_inf = [int(v) for v in net.infer(decode(x_te, enc_name, sizes[0], a_bits))]
        state = m.read(state_ptr, len(tw_state))           # inference leaves the weights alone
        ok = tw_preds == preds and tw_state == state and tw_inf == inf_preds
        twin_check = "bit-exact" if ok else "DIFFERS"
        if not ok:
            log(f"  warning: {case.name}: emulated run and twin differ "
                f"(preds {tw_preds == preds}, state {tw_state == state}, infer {tw_inf == inf_preds})")

    fns = manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    static = check_elf(str(elf), names)
    findings = [f"{f.function}: {f.text}" for rep in static for f in rep.findings]
    ins_t, hel_t = m.muldiv(train_prof)
    ins_i, hel_i = m.muldiv(infer_prof)
    _total, by_class = m.cycles(train_prof)
    ft, fi, ftext = mults_formula(sizes, case.mode)
    text, data, bss, stack_reserve = _size(elf)
    passed_t = None if any(p is None for p in train_passed) else statistics.fmean(train_passed)
    passed_i = None if any(p is None for p in infer_passed) else statistics.fmean(infer_passed)
    res = CaseResult(
        case=case, board=board, layer_sizes=sizes, n_weights=n_weights, samples=n,
        build_seconds=round(t_build, 2), count_seconds=round(t_count, 2),
        init_instructions=init.instructions,
        train=Stats.of(train_counts), train_passed=passed_t, train_cycles=Stats.of(train_cycles),
        infer=Stats.of(infer_counts), infer_passed=passed_i, infer_cycles=Stats.of(infer_cycles),
        train_stack=train_stack, infer_stack=infer_stack,
        caller_stack=sum(m.prologue_frame(f) for f in ("main", "on_train")),
        histogram=m.histogram(train_prof).most_common(),
        by_function=m.by_function(train_prof).most_common(),
        cycles_by_class=by_class.most_common(),
        dyn_muldiv_train=dict(ins_t), dyn_helpers_train=dict(hel_t),
        dyn_muldiv_infer=dict(ins_i), dyn_helpers_infer=dict(hel_i),
        static_findings=findings, static_functions=len(names),
        mults_formula_train=ft, mults_formula_infer=fi, mults_formula_text=ftext,
        ram_planned=manifest["ram"]["planned_bytes"], ram_static=manifest["ram"]["static_bytes"],
        ram_by_kind=dict(manifest["ram"]["by_kind"]),
        size_text=text, size_data=data, size_bss=bss, size_stack_reserve=stack_reserve,
        flash_estimate=manifest.get("flash", {}).get("planned_bytes_estimate", 0),
        twin_check=twin_check,
    )
    return res


SHARED_UPDATE = (("arithmetic", "update_rounding", '"stochastic_shared"'),)
"""The opt-in shared stochastic rounding of the update (docs/arithmetic.md, section 5): extra rows."""
SHARED_UPDATE_BOARDS = ("netduinoplus2", "lm3s6965evb", "microbit", "mps2-an505")
"""One board of each core (the Nucleo boards share the M4F's and the M0's code): where the shared rows run."""


def default_cases(boards: Iterable[str] | None = None, modes: Iterable[str] | None = None,
                  models: Iterable[str] | None = None, ablations: bool = True) -> list[Case]:
    """Every board of the registry x weight mode x model; plus, on the default board, the demo with
    the update's stochastic rounding replaced by round-to-nearest (to attribute its cost); plus the
    binarized modes with update_rounding = "stochastic_shared" (the 64-32-10 MLP on one board of each
    core, the demo on the default board)."""
    boards = list(boards) if boards is not None else list(BOARDS)
    modes = list(modes) if modes is not None else list(DEFAULT_MODES)
    unknown = [m for m in modes if m not in WEIGHT_MODES]
    if unknown:
        raise McutrainError(f"bench --weights {', '.join(unknown)}: unknown weight mode; use {', '.join(WEIGHT_MODES)}")
    models = list(models) if models is not None else list(MODELS)
    for b in boards:
        get_board(b)
    cases = [Case(model, mode, b) for model in models for b in boards for mode in modes]
    if ablations and "mnist-demo" in models and "netduinoplus2" in boards:
        for mode in (m for m in modes if m in QUANTIZED_MODES):
            cases.append(Case("mnist-demo", mode, "netduinoplus2",
                              (("arithmetic", "update_rounding", '"nearest"'),)))
    if ablations:
        for model in models:
            for b in boards:
                if b in SHARED_UPDATE_BOARDS and (model != "mnist-demo" or b == "netduinoplus2"):
                    cases += [Case(model, mode, b, SHARED_UPDATE) for mode in modes if mode in BINARY_MODES]
    return cases


def run_matrix(cases: list[Case], work: Path, samples: int = DEFAULT_SAMPLES,
               log: Callable[[str], None] = print) -> list[CaseResult | Skip]:
    out: list[CaseResult | Skip] = []
    for case in cases:
        t = time.monotonic()
        res = run_case(case, work, samples, log)
        if isinstance(res, Skip):
            log(f"skip {case.name}: {res.reason}")
        else:
            log(f"{case.name}: {res.train.mean:,.0f} instructions a training sample "
                f"({res.train_per_weight:.2f} a weight), {res.infer.mean:,.0f} an inference; "
                f"twin {res.twin_check}; {time.monotonic() - t:.1f} s")
        out.append(res)
    return out
