"""BENCHMARKS.md from the matrix results: tables, the goals of issue 4 with PASS/MISS, notes.

Every figure in the file comes from the run that writes it; nothing here is typed in by hand
except the anchors of another system (AIfES, ../shared/notes/anchors.md), which are labelled
as such and never used as the same-run float32 baseline.
"""

from __future__ import annotations

import platform
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from ..arith.modes import BINARY_MODES
from .cycles import table_for
from .linkrate import LINK_GOAL, goal_verdict
from .matrix import MODELS, SHARED_UPDATE, CaseResult, Skip

#: AIfES 2.2.0 float32 SGD, instructions per training sample / per inference (anchors.md).
AIFES = {
    ("mlp-64-32-10", "m4"): (282_381, 17_343),
    ("mlp-64-32-10", "m0"): (2_051_119, 471_417),
}
AIFES_64_TRAIN_RAM = 18_584     # bytes of training memory (SGD), parameters and data not counted
AIFES_64_TOTAL_RAM = 36_600     # parameters + training memory + measured peak stack, about


@dataclass
class Goal:
    goal: str
    measured: str
    verdict: str            # PASS | MISS | NOT MEASURED
    note: str = ""


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _core_family(core: str) -> str:
    c = core.lower()
    if c.startswith("cortex-m0"):
        return "m0"
    if c.startswith("cortex-m33"):
        return "m33"
    if c.startswith("cortex-m3"):
        return "m3"
    if c.startswith("cortex-m4"):
        return "m4"
    return c


def _primary(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if not r.case.variant]


def _float_of(results: list[CaseResult], r: CaseResult) -> CaseResult | None:
    for f in results:
        if (f.case.mode == "float32" and not f.case.variant and f.case.model == r.case.model
                and f.case.board == r.case.board):
            return f
    return None


def _where(r: CaseResult) -> str:
    return f"{r.case.model} / {r.case.board} / {r.case.mode}" + (f" ({r.case.variant_text})" if r.case.variant else "")


def _dominates(r: CaseResult, k: int = 3) -> str:
    total = sum(n for _f, n in r.by_function) or 1
    fns = ", ".join(f"`{f}` {100 * n / total:.0f}%" for f, n in r.by_function[:k])
    htot = sum(n for _m, n in r.histogram) or 1
    ins = ", ".join(f"`{m}` {100 * n / htot:.0f}%" for m, n in r.histogram[:5])
    return f"by function: {fns}; by instruction: {ins}"


_FIXES = {
    # What the code does, in words; every count next to these notes is measured by the run that writes them
    # (_versus_float, _measured_per_weight), none is typed here.
    "vs_float_m4": "With an FPU the float32 baseline pays, per weight of an active row, two loads, VMUL, VADD, a "
                   "store and the loop in the forward pass, and two loads, VMUL, VSUB, the clamp as two VCMP/VMRS "
                   "pairs and a store in the update; it skips zero input rows as the binarized code does. The "
                   "binarized kernels pay a signed byte load, an AND with the sign mask and an add a weight in the "
                   "deterministic forward pass (8 accumulators in registers; four signs a word with SADD8, SEL "
                   "and UXTAB16 where the inputs fit a byte), the sampling in the stochastic one, and in the "
                   "update with stochastic rounding half an xorshift step, the draw's two shifts, the error "
                   "load, add, arithmetic shift, weight load, subtract, SSAT and a byte store: the update is "
                   "almost as dear as the float one, so the total cannot halve while the update rounds a "
                   "32-bit error stochastically for every weight. What cuts it: one stochastic rounding per "
                   "exponent and output instead of per weight (the update_rounding = \"stochastic_shared\" "
                   "rows and their goal lines), or round-to-nearest updates (the update_rounding = nearest "
                   "row).",
    "vs_float_m4_shared": "With update_rounding = \"stochastic_shared\" the update rounds one vector per input "
                          "exponent and subtracts it from the rows with saturation, four 8-bit weights a word "
                          "(QSUB8, QADD8, SHADD8); the deterministic forward pass of a layer whose inputs fit a "
                          "byte adds four signs a word (SADD8, SEL, two UXTAB16). What is left in stochastic "
                          "binary is the forward pass's sampling: one 15-bit comparison a weight against half an "
                          "xorshift step, with accumulators in memory, which no rounding of the update changes; "
                          "fewer random bits a weight would (a contract change).",
    "vs_float_m0": "Without an FPU every float32 multiply and add is a libgcc call, so the binarized code is "
                   "far cheaper; the kernels are branch-free in the forward pass (ASR/AND sign masks) and "
                   "saturate with one unsigned compare, but ARMv6-M has eight low registers and no "
                   "immediate-offset signed byte load: the stochastic update spills and re-materialises "
                   "offsets. What cuts it: update_rounding = \"stochastic_shared\" (its rows and goal lines), "
                   "and a hand-scheduled update loop in assembly.",
    "vs_float_m0_shared": "With update_rounding = \"stochastic_shared\" the M0's update is a plain "
                          "subtract-and-clamp loop over the rows (two signed byte loads, subtract, the unsigned "
                          "range compare and branch, a byte store and the loop), and the forward pass still pays "
                          "a signed byte load with a register offset, the ASR/AND mask and an add a weight, with "
                          "spills (eight low registers). ARMv6-M has no SIMD and no saturation; what would cut it "
                          "further: packed 1-bit signs for the forward pass (a format change) and hand-scheduled "
                          "assembly.",
    "update": "The update touches every weight of every active row: per weight a load of the error, the "
              "add and arithmetic shift of the stochastic rounding (its 16-bit draw placed by two shifts, "
              "one xorshift step per two weights), a signed byte load, a subtract, the saturation to "
              "[-W0, W0 - 1] (one SSAT on the M3/M4/M33, one unsigned compare on the M0) and a byte "
              "store. Its arithmetic is 32-bit (errors have 21 bits), so the M4's 8/16-bit SIMD does not "
              "apply. What would cut it: round-to-nearest updates (see the update_rounding = nearest row; "
              "8-bit latents then lose small updates) or fewer random bits a weight (a contract change).",
    "forward": "The deterministic forward pass holds 8 output accumulators in registers and walks the active "
               "rows: per weight a signed byte load, an AND with the sign mask (ASR #31) and an add, plus "
               "per row and block the loads of the row pointer, its index and the input; on the M4/M33 a "
               "layer whose inputs fit a byte (u4/u8 pixels) adds four signs a word instead (SADD8, SEL, "
               "UXTAB16 into 16-bit lanes). The stochastic one must draw in row order, so its accumulators "
               "stay in memory (and half an xorshift step a weight). What would cut it: fewer "
               "random bits a weight (a contract change), or 1-bit packed signs.",
    "update_shared": "With update_rounding = \"stochastic_shared\" the update costs, per active row, its "
                     "input's power-of-two rounding and chaining (one draw), per exponent that occurs one "
                     "stochastically rounded vector (n_out entries, half an xorshift step each), and per weight "
                     "a saturating subtract (four 8-bit weights a word with QSUB8/QADD8/SHADD8 on the M4).",
    "other": "Per-neuron and per-row overhead (clearing and clamping accumulators, the row index, the "
             "output error) is not proportional to the weights and weighs most in small layers.",
}


def _measured_per_weight(r: CaseResult) -> str:
    """This run's instructions a weight in the update and forward functions of a training sample (all weights
    counted, rows of zero inputs included: a lower bound of the cost of a weight of an active row)."""
    per = {"update": 0, "forward": 0}
    for fn, n in r.by_function:
        if fn.endswith("_update"):
            per["update"] += n
        elif fn.endswith("_forward_train"):
            per["forward"] += n
    scale = r.samples * r.n_weights
    return (f"Measured in this run ({r.case.model}, {r.board.name}): {per['forward'] / scale:.2f} instructions a "
            f"weight in the forward functions and {per['update'] / scale:.2f} in the update functions of a "
            "training sample (divided by all weights, rows of zero inputs included).")


def _versus_float(r: CaseResult, f: CaseResult) -> str:
    """Per function, per training sample: the binarized case against the float32 one."""
    fb, ff = dict(r.by_function), dict(f.by_function)
    names = [n for n, _c in r.by_function[:4]]
    parts = [f"`{n}` {fb.get(n, 0) / r.samples:,.0f} vs {ff.get(n, 0) / f.samples:,.0f}" for n in names]
    helpers = [(n, c) for n, c in f.by_function if n.startswith("__")]
    hs = sum(c for _n, c in helpers) / f.samples
    extra = (f"; the float32 case spends {hs:,.0f} a sample ({100 * hs * f.samples / max(1, sum(ff.values())):.0f}%) "
             "in soft-float helpers" if helpers else "")
    return (f"Instructions a training sample by function, {r.case.mode} vs float32 ({r.case.model}, {r.board.name}): "
            + ", ".join(parts) + extra + ".")


def _fix_note(r: CaseResult) -> str:
    top = r.by_function[0][0] if r.by_function else ""
    if top.endswith("_update"):
        return _FIXES["update_shared" if r.case.variant == SHARED_UPDATE else "update"] + " " + _measured_per_weight(r)
    if top.endswith(("_forward_train", "_infer")):
        return _FIXES["forward"] + " " + _measured_per_weight(r)
    return _FIXES["other"]


def goals(results: list[CaseResult], skips: list[Skip]) -> list[Goal]:
    prim = _primary(results)
    out: list[Goal] = []
    float_skip = next((s for s in skips if s.case.mode == "float32"), None)
    no_float = ("no float32 baseline in this run" + (f" ({float_skip.reason})" if float_skip else ""))

    # 1. zero multiply/divide executed in training, binary/ternary modes
    bins = [r for r in results if r.case.mode in BINARY_MODES]
    bad = [r for r in bins if sum(r.dyn_muldiv_train.values()) + sum(r.dyn_helpers_train.values())]
    out.append(Goal(
        "zero multiply/divide instructions (or helper calls) executed in training, every binary/ternary mode",
        f"{sum(sum(r.dyn_muldiv_train.values()) + sum(r.dyn_helpers_train.values()) for r in bins)} executed "
        f"in {len(bins)} cases x {bins[0].samples if bins else 0} samples; "
        f"{sum(len(r.static_findings) for r in bins)} present in the training/inference functions",
        "PASS" if bins and not bad else ("MISS" if bad else "NOT MEASURED"),
        "" if not bad else "executed in: " + ", ".join(_where(r) for r in bad)))

    for variant, config in CONFIGURATIONS:
        rows = [r for r in results if r.case.variant == variant]
        if rows or not variant:
            out += _speed_goals(results, rows, config, no_float)
    return out + _memory_goals(prim)


CONFIGURATIONS: tuple[tuple[tuple[tuple[str, str, str], ...], str], ...] = (
    ((), 'update_rounding = "stochastic", the demo\'s settings'),
    (SHARED_UPDATE, 'update_rounding = "stochastic_shared"'),
)
"""The configurations whose speed goals are judged: the demo's settings (the primary rows) and the
opt-in shared rounding of the update (its own rows); each goal line names its configuration."""


def _speed_goals(results: list[CaseResult], prim: list[CaseResult], config: str, no_float: str) -> list[Goal]:
    out: list[Goal] = []
    # 2./3. ratios to the float32 baseline of the same run
    for fam, limit, label in (("m4", 0.5, "1/2"), ("m0", 1 / 20, "1/20")):
        rows = [r for r in prim if r.case.mode in BINARY_MODES and _core_family(r.board.core) == fam]
        core_name = "M4F" if fam == "m4" else "M0"
        if not rows:
            out.append(Goal(f"instructions per training sample <= {label} of float32 on the {core_name} ({config})",
                            f"no {core_name} board in this run", "NOT MEASURED"))
            continue
        pairs = [(r, _float_of(results, r)) for r in rows]
        measured = [(r, f) for r, f in pairs if f is not None]
        if not measured:
            anchor = []
            for r in rows:
                a = AIFES.get((r.case.model, fam))
                if a:
                    anchor.append(f"{r.case.mode} {r.case.model} on {r.case.board}: {_n(r.train.mean)} = "
                                  f"{r.train.mean / a[0]:.3f} x AIfES float32 ({_n(a[0])})")
            out.append(Goal(
                f"instructions (and estimated cycles) per training sample <= {label} of float32 on the {core_name} "
                f"({config})", no_float, "NOT MEASURED",
                ("For scale only, another system's float32 SGD on the same network size "
                 "(anchors.md, not this run): " + "; ".join(anchor)) if anchor else ""))
            continue
        for mode in BINARY_MODES:  # one line a weight mode: each mode is a configuration of its own
            of_mode = [(r, f) for r, f in measured if r.case.mode == mode]
            if not of_mode:
                continue
            lines, ok = [], True
            for r, f in of_mode:
                ri, rc = r.train.mean / f.train.mean, r.train_cycles.mean / f.train_cycles.mean
                cyc_ok = rc <= limit or fam != "m4"
                ok &= ri <= limit and cyc_ok
                lines.append(f"{r.case.model} {r.case.board}: {ri:.3f} (cycles {rc:.3f})")
            fix = _FIXES["vs_float_" + fam + ("_shared" if of_mode[0][0].case.variant == SHARED_UPDATE else "")]
            out.append(Goal(
                f"instructions per training sample <= {label} of float32 on the {core_name}"
                + (" (and estimated cycles)" if fam == "m4" else "") + f", {mode} weights ({config})",
                "; ".join(lines), "PASS" if ok else "MISS",
                "" if ok else _versus_float(*of_mode[0]) + " " + fix))

    # 4./5. instructions per weight on the M4F (boards with the same core run the same code: grouped)
    for mode, limit, label in (("binary", 12, "stochastic binary with quantized back-propagation"),
                               ("sign", 6, "deterministic binary")):
        rows = [r for r in prim if r.case.mode == mode and _core_family(r.board.core) == "m4"]
        rows.sort(key=lambda r: (r.case.model, r.board.name != "netduinoplus2", r.board.name))
        done: set[str] = set()
        for r in rows:
            if r.case.model in done:
                continue
            done.add(r.case.model)
            same = [x.board.name for x in rows if x is not r and x.case.model == r.case.model
                    and x.train.mean == r.train.mean]
            ok = r.train_per_weight <= limit
            note = ""
            if not ok:
                note = _dominates(r) + ". " + _fix_note(r)
                abl = [x for x in results if x.case.variant and x.case.model == r.case.model
                       and x.case.mode == mode and x.case.board == r.case.board]
                for x in abl:
                    note += f" Measured with {x.case.variant_text}: {x.train_per_weight:.2f} a weight."
            boards = r.board.name + (f"; {', '.join(same)} the same" if same else "")
            out.append(Goal(f"M4F: <= {limit} instructions per weight per training sample, {label} "
                            f"({MODELS[r.case.model].title}; {config})",
                            f"{r.train_per_weight:.2f} ({_n(r.train.mean)} / {_n(r.n_weights)} weights; {boards})",
                            "PASS" if ok else "MISS", note))
        if not rows:
            out.append(Goal(f"M4F: <= {limit} instructions per weight, {label} ({config})", "no M4F case",
                            "NOT MEASURED"))
    return out


def _memory_goals(prim: list[CaseResult]) -> list[Goal]:
    out: list[Goal] = []
    # 6. memory of the 64-32-10 MLP
    mem = [r for r in prim if r.case.model == "mlp-64-32-10" and r.case.mode in BINARY_MODES]
    if mem:
        limit = AIFES_64_TRAIN_RAM // 3
        worst = max(mem, key=lambda r: r.ram_measured)
        out.append(Goal(
            f"64-32-10 trains in at most a third of AIfES's {_n(AIFES_64_TRAIN_RAM)} B (<= {_n(limit)} B)",
            f"at most {_n(worst.ram_measured)} B ({_where(worst)}): the whole firmware's .data + .bss "
            f"({_n(worst.size_data + worst.size_bss)}: weights, buffers, link runtime) + the stack of a training "
            f"step ({worst.caller_stack} caller frames + {worst.train_stack} measured); the generator's plan "
            f"with the board's whole stack reserve: {_n(worst.ram_planned)} B",
            "PASS" if worst.ram_measured <= limit else "MISS",
            "AIfES's figure counts neither its parameters (9,640 B) nor the stack; the figure here counts "
            "everything."))
    return out


def _tool_versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    try:
        import capstone
        import unicorn
        parts += [f"unicorn {unicorn.__version__}", f"capstone {capstone.__version__}"]
    except ImportError:
        pass
    try:
        v = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        parts.append(v)
    except (OSError, IndexError):
        pass
    return ", ".join(parts)


def render(results: list[CaseResult], skips: list[Skip], session: dict[str, Any] | None,
           seconds: float, samples: int, command: str) -> str:
    prim = _primary(results)
    L: list[str] = []
    w = L.append
    w("# Benchmarks")
    w("")
    w(f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} in {seconds:.0f} s; "
      "every figure below comes from that run (regenerate, do not edit). Tools: " + _tool_versions() + ".")
    w("")
    w("## How it was measured")
    w("")
    w("- **Instructions** are counted exactly by running the firmware that `mcutrain` builds (same "
      "generator, same flags, same ELF) in an instruction-level emulator: unicorn (ARM, Thumb, M-class, "
      "the board's CPU model), with capstone decoding every executed instruction "
      "(`mcutrain/bench/counter.py`). `mt_session_start(seed, samples_per_epoch)` first, then "
      f"`mt_train_step` on the first {samples} MNIST training samples in order, then `mt_infer` on the "
      f"first {samples} test samples; mean (min-max) over those samples, since rows of zero inputs are "
      "skipped and the counts depend on the image.")
    w("- An instruction counts when the core issues it: the instructions of an IT block whose "
      "condition fails are counted (the core spends a cycle on each, and QEMU's `-icount` counts "
      "them). The column *cond. passed* is the count of a `UC_HOOK_CODE` hook, which skips them.")
    w("- Every emulated binary/sign run is checked against the NumPy twin: predictions, final weights "
      "and test predictions bit for bit (column *twin*).")
    w("- **Estimated cycles** weight every executed instruction with its core's cycle table "
      "(`mcutrain/bench/cycles.py`), with taken branches and pipelined neighbouring loads/stores "
      "counted from the execution. They are **estimates**, not measurements: zero wait states, "
      "pipeline refill P = 2, IT charged 1 cycle. Tables: "
      + "; ".join(sorted({f"{t.core}: {t.source}" for t in (table_for(r.board.core) for r in prim)}))
      + ". *samples/s* = the board's rated clock / estimated cycles per training sample.")
    w("- **Multiplications**: *executed* = multiply/divide instructions executed (the mnemonics of "
      "`mcutrain/build/mulcheck.py`) plus calls of the compiler's multiply/divide helpers; *present* = "
      "`mcutrain.build.mulcheck.check_elf` over every training and inference function the manifest names; "
      "*by formula* = weight multiplications per sample a float32 SGD step needs (forward "
      "sum n_in*n_out, backward from the second layer, update n_in*n_out + n_in; every input non-zero), "
      "0 for binary/sign.")
    w("- **Per weight** divides by the weights of the network (no biases: 64-32-10 has 2,368; "
      "AIfES's per-weight figures count its 42 biases too).")
    for kind in MODELS.values():
        if kind.note and any(r.case.model == kind.key for r in results):
            w(f"- **{kind.title}**: {kind.note}")
    w("- Models use the demo's settings: quantized back-propagation, 8-bit latent weights with "
      "stochastic rounding of the update, learning rate 2^-7.")
    floats = [r for r in results if r.case.mode == "float32"]
    if floats:
        w("- **float32 baseline**: the same generator with `[training] weights = \"float32\"` (and "
          "`quantized_backprop = false`, `update_rounding = \"nearest\"`, which it requires): plain SGD "
          "with multiplications on the same network, data and loss, hard-float on cores with an FPU "
          "(M4F, M33), libgcc soft-float on the others; it skips zero input rows as the binarized code "
          "does, and it is checked against its own float32 twin bit for bit. Where it does not fit a "
          "board's RAM (4 bytes a weight), there is no same-run ratio (see *Cases not run*).")
    else:
        reason = next((s.reason for s in skips if s.case.mode == "float32"), "no float32 case was requested")
        w(f"- **float32 baseline: not in this run** ({reason}). The ratio columns and goals stay empty.")
    w("")

    w("## Goals (issue 4)")
    w("")
    w("| goal | measured | verdict |")
    w("|---|---|---|")
    gl = goals(results, skips)
    for g in gl:
        w(f"| {g.goal} | {g.measured} | **{g.verdict}** |")
    w("")
    notes = [g for g in gl if g.note]
    if notes:
        w("Notes on the goals:")
        w("")
        for g in notes:
            w(f"- *{g.goal}* ({g.verdict}): {g.note}")
        w("")

    w("## Instructions and estimated cycles")
    w("")
    w("Per training sample and per inference; instructions exact, cycles estimated; ratios against "
      "the float32 baseline of this run.")
    w("")
    w("| model | board (core, clock) | weights | training sample: instructions mean (min-max) | cond. passed "
      "| per weight | est. cycles | est. samples/s | vs float32 instr / cycles | inference: instructions "
      "mean (min-max) | per weight | est. cycles | twin |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = _float_of(results, r)
        ratio = "-" if f is None or f is r else (f"{r.train.mean / f.train.mean:.3f} / "
                                                  f"{r.train_cycles.mean / f.train_cycles.mean:.3f}")
        mode = r.case.mode + (f" ({r.case.variant_text})" if r.case.variant else "")
        passed = _n(r.train_passed) if r.train_passed is not None else "-"
        w(f"| {r.case.model} | {r.board.name} ({r.board.core}, {r.board.clock_hz // 1_000_000} MHz) | {mode} "
          f"| {_n(r.train.mean)} ({_n(r.train.min)}-{_n(r.train.max)}) | {passed} | {r.train_per_weight:.2f} "
          f"| {_n(r.train_cycles.mean)} | {r.samples_per_second:,.0f} | {ratio} "
          f"| {_n(r.infer.mean)} ({_n(r.infer.min)}-{_n(r.infer.max)}) | {r.infer_per_weight:.2f} "
          f"| {_n(r.infer_cycles.mean)} | {r.twin_check} |")
    w("")
    w("`mt_session_start` (weight initialisation, once a session): "
      + "; ".join(f"{r.case.model}/{r.case.board}/{r.case.mode} {_n(r.init_instructions)}" for r in prim) + ".")
    w("")

    anchors = [r for r in prim if (r.case.model, _core_family(r.board.core)) in AIFES]
    if anchors:
        w("### For scale: AIfES float32 SGD (another system, anchors.md; not the same-run baseline)")
        w("")
        w("AIfES 2.2.0, float32 SGD, batch 1, softmax + cross-entropy, dense 64-32-10, gcc -O2, counted in an "
          "instruction-level emulator. Different arithmetic and loss, no zero skipping: a yardstick, "
          "not a like-for-like baseline.")
        w("")
        w("| board | weights | mcutrain training sample | AIfES | ratio | mcutrain inference | AIfES | ratio |")
        w("|---|---|---|---|---|---|---|---|")
        for r in anchors:
            at, ai = AIFES[(r.case.model, _core_family(r.board.core))]
            w(f"| {r.board.name} ({r.board.core}) | {r.case.mode} | {_n(r.train.mean)} | {_n(at)} | "
              f"{r.train.mean / at:.3f} | {_n(r.infer.mean)} | {_n(ai)} | {r.infer.mean / ai:.3f} |")
        w("")

    w("## Multiplications and divisions")
    w("")
    w("| model | board | weights | executed in training (all samples) | executed in inference "
      "| present (static, functions checked) | weight multiplications a sample, by formula |")
    w("|---|---|---|---|---|---|---|")
    for r in prim:
        def fmt(ins: dict[str, int], hel: dict[str, int]) -> str:
            items = [f"{k} {v:,}" for k, v in sorted(ins.items())] + [f"{k}() {v:,}" for k, v in sorted(hel.items())]
            return ", ".join(items) if items else "0"
        present = f"{len(r.static_findings)} in {r.static_functions}"
        w(f"| {r.case.model} | {r.board.name} | {r.case.mode} | {fmt(r.dyn_muldiv_train, r.dyn_helpers_train)} "
          f"| {fmt(r.dyn_muldiv_infer, r.dyn_helpers_infer)} | {present} | {r.mults_formula_train:,} "
          f"training, {r.mults_formula_infer:,} inference |")
    w("")
    forms = {r.mults_formula_text for r in prim if r.case.mode not in BINARY_MODES}
    for t in sorted(forms):
        w(f"- float32 formula: {t}.")
    w("")

    w("## Memory and flash")
    w("")
    w("*planned*: the generator's memory plan (manifest; with the board's whole stack reserve); "
      "*.data + .bss*: `arm-none-eabi-size -A` of the firmware (the stack reserve is its own section); "
      "*stack*: the callers' frames (main, from its prologue) + the peak of one training step, measured by "
      "painting the stack in the emulator (inference in brackets); *measured total* = .data + .bss + that stack.")
    w("")
    w("| model | board | weights | planned RAM (static + stack reserve) | by kind | .data + .bss | stack "
      "(callers + train step (inference)) | measured total | flash: text + data (manifest estimate) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in prim:
        kinds = ", ".join(f"{k} {v:,}" for k, v in r.ram_by_kind.items() if v and k != "stack")
        w(f"| {r.case.model} | {r.board.name} | {r.case.mode} | {_n(r.ram_planned)} "
          f"({_n(r.ram_static)} + {_n(r.ram_planned - r.ram_static)}) | {kinds} | {_n(r.size_data + r.size_bss)} "
          f"| {r.caller_stack} + {r.train_stack} ({r.infer_stack}) | {_n(r.ram_measured)} "
          f"| {_n(r.flash_bytes)} ({_n(r.flash_estimate)}) |")
    w("")
    w(f"AIfES for scale (anchors.md): 64-32-10 float32 SGD needs {_n(AIFES_64_TRAIN_RAM)} B of training "
      f"memory (parameters and data not counted) and about {_n(AIFES_64_TOTAL_RAM)} B in total.")
    w("")

    w("## Where the instructions go")
    w("")
    default = next((r for r in prim if r.case.model == "mnist-demo" and r.case.board == "netduinoplus2"
                    and r.case.mode == "sign"), prim[0] if prim else None)
    shown = [default] + [r for r in prim if r is not default and r.board.name == "netduinoplus2"]
    for r in [x for x in shown if x is not None]:
        total = sum(n for _m, n in r.histogram) or 1
        ftotal = sum(n for _f, n in r.by_function) or 1
        w(f"### {MODELS[r.case.model].title}, {r.case.mode}, {r.board.name} "
          f"({r.samples} training samples, {_n(total)} instructions)")
        w("")
        w("| instruction | executed | share |  | function (own code) | executed | share |")
        w("|---|---|---|---|---|---|---|")
        rows = max(10, 0)
        fn = r.by_function[:rows]
        for i in range(rows):
            left = (f"`{r.histogram[i][0]}` | {_n(r.histogram[i][1])} | {100 * r.histogram[i][1] / total:.1f}%"
                    if i < len(r.histogram) else " | | ")
            right = (f"`{fn[i][0]}` | {_n(fn[i][1])} | {100 * fn[i][1] / ftotal:.1f}%" if i < len(fn) else " | | ")
            w(f"| {left} |  | {right} |")
        ctot = sum(c for _k, c in r.cycles_by_class) or 1
        w("")
        w("Estimated cycles by instruction class: "
          + ", ".join(f"{k} {100 * c / ctot:.0f}%" for k, c in r.cycles_by_class[:8]) + ".")
        w("")

    if session:
        w("## End to end: a real emulated session")
        w("")
        d, s = session["demo"], session["link_only"]
        bps = session["link_bytes_per_sample"]
        rates = session.get("rates", {})
        w(f"`mcutrain train` of the demo model cut to {session['train_samples']:,} training and "
          f"{session['test_samples']:,} test samples on the emulated {d['board']} (QEMU, serial link over "
          f"TCP, no verification), and the same with a hidden layer of {session['link_only_units']} units "
          f"(the same bytes on the link, 1/{512 // session['link_only_units']} of the weights). Each ran "
          f"{len(rates.get('demo', [1]))} times, interleaved; the table shows the faster run.")
        w("")
        w("| model | training samples/s (all runs) | training s | test accuracy | link bytes (host to board) |")
        w("|---|---|---|---|---|")
        for label, key, x in (("demo 196-512-10", "demo", d),
                              (f"link-only 196-{session['link_only_units']}-10", "link_only", s)):
            allr = ", ".join(f"{v:,.1f}" for v in rates.get(key, [x["train_samples_per_second"]]))
            w(f"| {label} | {x['train_samples_per_second']:,.1f} ({allr}) | {x['train_seconds']:.1f} | "
              f"{100 * x['test_accuracy']:.2f}% | {x['link_bytes']:,} |")
        w("")
        rd, rs = d["train_samples_per_second"], s["train_samples_per_second"]
        share = max(0.0, 1.0 - rd / max(rs, 1e-9))
        limit = "the serial link" if share < 0.5 else "compute (in the emulator)"
        w(f"Link rate during training about {rd * bps / 1000:.1f} kB/s ({bps:.0f} bytes a sample, framing "
          f"included). The link-only model trains {rs / max(rd, 1e-9):.2f}x as fast: of the demo's "
          f"{1000 / max(rd, 1e-9):.2f} ms a sample, {1000 * (1 / max(rd, 1e-9) - 1 / max(rs, 1e-9)):.2f} ms "
          f"({100 * share:.0f}%) is the extra compute; the rest the link and the protocol would take anyway. "
          f"The emulated session is limited by **{limit}**.")
        if "link_alone" in session:
            la = session["link_alone"]
            w(f"The link alone (the demo's firmware fed {la['sample_bytes']}-byte samples by the streamer with "
              f"nothing else on the host, `mcutrain/bench/linkrate.py`) carries "
              f"{la['link_alone_samples_per_second']:,.1f} samples/s; the session gets "
              f"{la['session_samples_per_second']:,.1f}, **{100 * la['ratio']:.1f}%** of it (goal: at least "
              f"{100 * LINK_GOAL:.0f}%: **{goal_verdict(la['ratio'])}**).")
        demo_r = next((r for r in prim if r.case.model == "mnist-demo" and r.case.board == d["board"]
                       and r.case.mode == "sign"), None)
        if demo_r is not None:
            b = demo_r.board
            link_rate = 11_520 / bps
            rated, boot = b.clock_hz / demo_r.train_cycles.mean, b.boot_clock_hz / demo_r.train_cycles.mean

            def who(rate: float) -> str:
                return "the link" if link_rate < rate else "compute"
            w(f"On a real {b.name}-class board (estimate, the sign-mode demo): compute allows {rated:,.0f} samples/s "
              f"at the rated {b.clock_hz // 1_000_000} MHz, {boot:,.0f} at the {b.boot_clock_hz // 1_000_000} MHz "
              f"the firmware runs from (it sets up no PLL); a 115,200-baud UART carries {link_rate:,.0f} samples/s. "
              f"So {who(rated)} limits at the rated clock and {who(boot)} at the boot clock.")
        w("")

    if skips:
        w("## Cases not run")
        w("")
        for sk in skips:
            w(f"- {sk.case.model} / {sk.case.board} / {sk.case.mode}: {sk.reason}")
        w("")
    return "\n".join(L) + "\n"
