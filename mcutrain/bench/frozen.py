"""Instructions of a training step with frozen layers (packed signs in flash) against the float32 baseline
(issue 14's Cortex-M0 goal: a training step <= 1/20 of float32's instructions).

For one network (the benchmark's MLP 64-32-10 on 8x8 MNIST, bench/matrix.py) and one board, the same
generator builds: the float32 baseline (every layer learning), the integer mode with every layer learning,
and the integer mode with the hidden layers frozen (`trainable = false`, baked from a state pretrained on
the twin). Each firmware's `mt_train_step` and `mt_infer` run in the instruction counter (counter.py) on the
first samples; the frozen run is checked against the twin started from the same state (predictions, final
state, test predictions, bit for bit). The section is written into BENCHMARKS.md between its own markers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the marked-section convention of BENCHMARKS.md, which `python bench/run.py` keeps (mcutrain/bench/conv.py)
BEGIN = "<!-- BEGIN frozen layers (issue 14) -->"
END = "<!-- END frozen layers (issue 14) -->"


@dataclass
class Row:
    name: str           #: "float32", "sign", "sign, layer 0 frozen", ...
    weights: str
    frozen: int         #: frozen layers
    train: list[int] = field(default_factory=list)
    infer: list[int] = field(default_factory=list)
    by_function: list[tuple[str, int]] = field(default_factory=list)  #: a training step's, mean a sample
    soft_float: int = 0  #: instructions a training sample in libgcc's soft-float helpers
    ram_planned: int = 0
    flash_text: int = 0
    bss: int = 0
    twin: str = "-"
    active_weights: float = 0.0  #: first-layer weights of non-zero inputs, mean a training sample


def _model_text(npz: Path, board: str, weights: str, frozen: int, hidden: list[int]) -> str:
    from ..model.toml_text import mlp_layers_toml

    layers = mlp_layers_toml(hidden)
    parts = layers.split("[[layers]]")
    for k in range(1, frozen + 1):
        parts[k] = parts[k].replace('kind = "dense"\n', 'kind = "dense"\ntrainable = false\n', 1)
    float_mode = weights == "float32"
    return f"""[model]
name = "frozen-bench"
board = "{board}"
seed = 1

[data]
dataset = "{npz}"
encoding = "u4"
train_samples = 12000
test_samples = 0

{"[[layers]]".join(parts)}
[training]
weights = "{weights}"
quantized_backprop = {"false" if float_mode else "true"}
learning_rate = -7
lr_decay_every_epochs = 1
lr_min = -13
epochs = 1

[arithmetic]
latent_bits = 8
update_rounding = "{"nearest" if float_mode else "stochastic"}"
weight_scale_shift = 1
"""


def _soft_float(by_function: list[tuple[str, int]]) -> int:
    return sum(n for f, n in by_function if f.startswith("__aeabi_f") or f.startswith("__") and "sf" in f)


def run_row(work: Path, npz: Path, board: str, weights: str, frozen: int, hidden: list[int], samples: int,
            pretrain_samples: int, log: Callable[[str], None]) -> Row:
    """Build and count one firmware; a frozen one is baked from a twin pretraining of the same network."""
    from ..arith.plan import plan_from_spec, unfrozen_plan
    from ..build.project import build, write_project
    from ..data import decode, encode, load_dataset
    from ..fleet.layout import load_twin_state
    from ..host.twin_run import train_twin
    from ..model import check_against_data, load_model
    from ..twin import TwinNetwork, make_twin
    from .counter import Machine
    from .matrix import _size

    name = weights + (f", layers 0..{frozen - 1} frozen" if frozen > 1 else ", layer 0 frozen" if frozen else "")
    root = work / f"{weights}-frozen{frozen}-{board}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.toml").write_text(_model_text(npz, board, weights, frozen, hidden))
    spec = load_model(root / "model.toml")
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    plan = plan_from_spec(spec)
    a_bits, enc = spec.arithmetic.activation_frac_bits, spec.data.encoding
    x_all = decode(encode(ds.x_train[:pretrain_samples], enc, spec.data.threshold), enc, spec.n_inputs, a_bits)
    full = None
    if frozen:  # the network pretrained on the twin with every layer learning (samples after the counted ones)
        pre = TwinNetwork(unfrozen_plan(plan))
        train_twin(pre, 7, len(x_all), x_all, ds.y_train[:pretrain_samples], np.arange(samples, len(x_all)))
        full = pre.state_bytes()
    t0 = time.monotonic()
    proj = write_project(spec, root / "proj", full)
    elf = build(proj)
    log(f"  {name} on {board}: built in {time.monotonic() - t0:.0f} s")
    row = Row(name, weights, frozen, ram_planned=proj.generated.manifest["ram"]["planned_bytes"])
    text, data, bss, _ = _size(elf)
    row.flash_text, row.bss = text + data, data + bss
    x_tr = encode(ds.x_train[:samples], enc, spec.data.threshold)
    x_te = encode(ds.x_test[:samples], enc, spec.data.threshold)
    row.active_weights = float(np.count_nonzero(decode(x_tr, enc, spec.n_inputs, a_bits))) / samples * hidden[0]
    m = Machine(elf, proj.board)
    m.call("mt_session_start", spec.seed, len(ds.y_train))
    prof, preds, inf = None, [], []
    for i in range(samples):
        m.write(m.arg_area, x_tr[i].tobytes())
        r = m.call("mt_train_step", m.arg_area, int(ds.y_train[i]))
        row.train.append(r.instructions)
        preds.append(r.ret & 0xFF)
        prof = r.profile if prof is None else prof.merge(r.profile)
    state = b"" if plan.is_float else m.read(m.call("mt_state_bytes", count=False).ret, plan.state_bytes)
    for i in range(samples):
        m.write(m.arg_area, x_te[i].tobytes())
        r = m.call("mt_infer", m.arg_area)
        row.infer.append(r.instructions)
        inf.append(r.ret & 0xFF)
    assert prof is not None
    row.by_function = [(f, n // samples) for f, n in m.by_function(prof).most_common()]
    row.soft_float = _soft_float(row.by_function)
    if not plan.is_float:
        net = make_twin(plan)
        if full is not None:
            start = net.start

            def start_then_load(seed: int, spe: int) -> None:
                start(seed, spe)
                load_twin_state(net, full)

            net.start = start_then_load  # type: ignore[method-assign]
        run = train_twin(net, spec.seed, len(ds.y_train), decode(x_tr, enc, spec.n_inputs, a_bits),
                         ds.y_train[:samples], np.arange(samples))
        tw_inf = [int(v) for v in net.infer(decode(x_te, enc, spec.n_inputs, a_bits))]
        ok = [int(p) for p in run.predictions] == preds and net.state_bytes() == state and tw_inf == inf
        row.twin = "bit-exact" if ok else "DIFFERS"
    return row


def _mean(xs: list[int]) -> float:
    return statistics.fmean(xs)


def render(rows: list[Row], board: str, core: str, hidden: list[int], samples: int, seconds: float,
           command: str) -> str:
    base = next(r for r in rows if r.weights == "float32")
    sizes = "-".join(str(s) for s in [64, *hidden, 10])
    lines = [BEGIN, "", "## Frozen layers: packed signs in flash (issue 14)", "",
             f"Generated by `{command}` in {seconds:.0f} s. MLP {sizes} on 8x8 MNIST (bench/matrix.py), board "
             f"{board} ({core}); instructions counted exactly in unicorn (mcutrain/bench/counter.py) over the "
             f"first {samples} training and test samples, mean (min-max). Frozen rows: the hidden layers "
             "`trainable = false`, baked (`generate --init`) from the same network pretrained on the twin; their "
             "forward pass reads the packed signs (templates/layers/dense_frozen.c.j2), no update, no backward "
             "pass below the first trainable layer. *twin*: predictions, final state and test predictions equal "
             "the twin's started from the same state.", "",
             "| weights | training sample: instructions | vs float32 | inference | RAM planned | flash (text+data) "
             "| twin |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = _mean(r.train) / _mean(base.train)
        lines.append(f"| {r.name} | {_mean(r.train):,.0f} ({min(r.train):,}-{max(r.train):,}) | "
                     f"{'-' if r is base else f'{ratio:.3f} (1/{1 / ratio:.1f})'} | {_mean(r.infer):,.0f} | "
                     f"{r.ram_planned:,} B | {r.flash_text:,} B | {r.twin} |")
    lines += ["", "By function, a training sample (mean):", ""]
    for r in rows:
        top = ", ".join(f"`{f}` {n:,}" for f, n in r.by_function[:6])
        lines.append(f"- {r.name}: {top}" + (f"; soft-float helpers {r.soft_float:,}" if r.soft_float else ""))
    # the goal line
    lines += ["", "| goal | measured | verdict |", "|---|---|---|"]
    for r in rows:
        if r.frozen:
            ratio = _mean(r.train) / _mean(base.train)
            lines.append(f"| M0: a training step <= 1/20 of float32's instructions, {r.name} | {ratio:.4f} "
                         f"(1/{1 / ratio:.1f}) | **{'PASS' if ratio <= 1 / 20 else 'MISS'}** |")
    fwd = _mean(base.infer)
    per_weight = "; ".join(
        f"{r.name} {dict(r.by_function).get('l0_forward_frozen', 0) / r.active_weights:.2f}" for r in rows if r.frozen)
    lines += ["", "Notes:", "",
              "- The float32 baseline trains every layer, a frozen network its head only: the issue's comparison. "
              "The float32 generator has no frozen layers, so a float32 step with layer 0 frozen was not built; its "
              f"forward pass alone costs at least float32's inference ({fwd:,.0f} instructions a sample, measured "
              "above, soft-float), against which the frozen steps are "
              + "; ".join(f"{r.name} {_mean(r.train) / fwd:.3f} (1/{fwd / _mean(r.train):.1f})" for r in rows
                          if r.frozen) + ".",
              f"- The packed-sign kernel `l0_forward_frozen`, instructions a weight of a non-zero input (mean "
              f"{rows[0].active_weights:,.0f} such weights a sample): {per_weight} (binary: shift, arithmetic shift, "
              "AND, load, add, store a weight; ternary: two masks and an add and a subtract); no sampling, no "
              "soft-float, no multiply.", "", END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END) + 1
        text = text[:a] + body + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text)


def run_frozen_bench(out: Path, work: Path, board: str = "microbit", samples: int = 20, hidden: list[int] | None = None,
                     pretrain_samples: int = 2000, command: str = "python bench/frozen.py",
                     log: Callable[[str], None] = print) -> str:
    from ..build.boards import get_board
    from .matrix import mnist_8x8

    t0 = time.monotonic()
    hidden = hidden or [32]
    npz = mnist_8x8(work / "data" / "mnist_8x8.npz")
    rows: list[Row] = []
    configs: list[tuple[str, int]] = [("float32", 0), ("sign", 0), ("sign", 1), ("binary", 0), ("binary", 1),
                                      ("ternary_det", 1)]
    for weights, frozen in configs:
        rows.append(run_row(work, npz, board, weights, frozen, hidden, samples, pretrain_samples, log))
    body = render(rows, board, get_board(board).core, hidden, samples, time.monotonic() - t0, command)
    write_section(out, body)
    return body
