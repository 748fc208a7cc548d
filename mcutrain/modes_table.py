"""`mcutrain modes-table`: test accuracy of every integer weight mode, with and without quantized
back-propagation, for one model file's architecture, computed by the bit-exact twin.

The twin computes what the emulated board computes, bit for bit (every mode passes
`mcutrain train --verify`), so its test accuracy is the device's; it runs in seconds where a
QEMU session takes minutes. Each row is the model file with only `[training] weights` and
`quantized_backprop` changed (and `update_rounding = "nearest"` where quantized
back-propagation is off, since stochastic update rounding needs it). The table is written
between two markers in docs/results.md; the rest of the file is kept as it is.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("binary", "sign", "ternary", "ternary_det")
BEGIN = "<!-- modes-table: begin (written by `mcutrain modes-table`; do not edit) -->"
END = "<!-- modes-table: end -->"
MODE_NAMES = {
    "binary": "binary connect, stochastic (`binary`)",
    "sign": "binary connect, deterministic (`sign`)",
    "ternary": "ternary connect, stochastic (`ternary`)",
    "ternary_det": "ternary connect, deterministic (`ternary_det`)",
}


@dataclass(frozen=True)
class ModeRow:
    weights: str
    qbp: bool
    update_rounding: str
    test_accuracy: float
    train_online_accuracy: float  # predictions made before each update, over the whole run
    seconds: float


def variant(spec: Any, weights: str, qbp: bool) -> Any:
    """The model with another weight mode and quantized back-propagation setting."""
    rounding = spec.arithmetic.update_rounding if qbp else "nearest"
    return dataclasses.replace(
        spec,
        training=dataclasses.replace(spec.training, weights=weights, quantized_backprop=qbp),
        arithmetic=dataclasses.replace(spec.arithmetic, update_rounding=rounding))


def twin_session(spec: Any, ds: Any) -> tuple[float, float]:
    """Train the twin as `mcutrain train` trains the device (same encoding, seed, sample order and
    epochs), evaluate on the test set; return (test accuracy, online training accuracy)."""
    from .arith.plan import plan_from_spec
    from .data import decode, encode
    from .host.session import sample_order
    from .twin import make_twin

    enc, thr, a, n_in = spec.data.encoding, spec.data.threshold, spec.arithmetic.activation_frac_bits, spec.n_inputs
    x_train = decode(encode(ds.x_train, enc, thr), enc, n_in, a)
    x_test = decode(encode(ds.x_test, enc, thr), enc, n_in, a)
    net = make_twin(plan_from_spec(spec))
    n = len(x_train)
    net.start(spec.seed, n)
    hits = 0
    order = sample_order(spec.seed, n, spec.training.epochs)
    for idx in order:
        hits += net.train_step(x_train[idx], int(ds.y_train[idx])) == int(ds.y_train[idx])
    preds = net.infer(x_test)
    return float(np.mean(preds == ds.y_test)), hits / len(order)


def measure(spec: Any, ds: Any, modes: tuple[str, ...] = MODES, log: Any = None) -> list[ModeRow]:
    rows = []
    for weights in modes:
        for qbp in (True, False):
            v = variant(spec, weights, qbp)
            t0 = time.monotonic()
            acc, online = twin_session(v, ds)
            rows.append(ModeRow(weights, qbp, v.arithmetic.update_rounding, acc, online, time.monotonic() - t0))
            if log is not None:
                log(f"{weights:12s} qbp={'on ' if qbp else 'off'} test {100 * acc:.2f}%  "
                    f"(online train {100 * online:.2f}%, {rows[-1].seconds:.0f} s)")
    return rows


def render(spec: Any, rows: list[ModeRow], command: str, seconds: float) -> str:
    sizes = "-".join(str(s) for s in spec.layer_sizes())
    t, a, d = spec.training, spec.arithmetic, spec.data
    lines = [
        BEGIN,
        "## Every integer weight mode on the emulated board, with and without quantized back-propagation",
        "",
        f"Command: `{command}` ({seconds:.0f} s wall time on {platform.machine()} "
        f"{platform.system()}, {os.cpu_count()} logical CPUs, {time.strftime('%Y-%m-%d')}).",
        "",
        f"Model: `{spec.source.name if spec.source else spec.name}` with only the weight mode and quantized "
        f"back-propagation changed: MLP {sizes}, {d.encoding} inputs (pool {d.pool}), {a.latent_bits}-bit latent "
        f"weights, W0 = 2^{a.weight_scale_shift} x Glorot, learning rate 2^{t.learning_rate} "
        f"(decay every {t.lr_decay_every_epochs} epoch(s), floor 2^{t.lr_min}), batch 1, seed {spec.seed}, "
        f"{t.epochs} epoch(s) of {len_or(d.train_samples)} training samples, tested on "
        f"{len_or(d.test_samples, 10000)} test images with the deterministic weights the device uses "
        "(sign(W) for the binary modes, the +-W0/2 ternarization for the ternary ones).",
        "Accuracies are the bit-exact twin's, which equal the device's: each mode passes "
        "`mcutrain train --verify` on the emulated board (tests/test_train_qemu.py).",
        "Without quantized back-propagation the update rounds to nearest (stochastic update rounding needs "
        "quantized back-propagation), so those rows also differ in that rounding.",
        "",
        "| weight mode | quantized back-propagation | update rounding | test accuracy | online training accuracy |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {MODE_NAMES[r.weights]} | {'on' if r.qbp else 'off'} | {r.update_rounding} | "
                     f"{100 * r.test_accuracy:.2f}% | {100 * r.train_online_accuracy:.2f}% |")
    lines += ["", "Online training accuracy: the prediction made before each update, over all training steps.",
              END]
    return "\n".join(lines) + "\n"


def len_or(n: int, full: int = 60000) -> str:
    return f"{n:,}" if n else f"{full:,} (all)"


def replace_section(text: str, section: str) -> str:
    """`text` with the marked section replaced by `section` (appended when there is none yet)."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + section.rstrip("\n") + tail
    return text.rstrip("\n") + "\n\n" + section


def write_table(model: Path, out: Path, command: str, log: Any = None) -> list[ModeRow]:
    from .data import load_dataset
    from .model import check_against_data, load_model

    spec = load_model(model)
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    t0 = time.monotonic()
    rows = measure(spec, ds, log=log)
    section = render(spec, rows, command, time.monotonic() - t0)
    out.write_text(replace_section(out.read_text() if out.exists() else "# Results\n", section))
    return rows
