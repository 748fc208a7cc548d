"""`mcutrain cnn-results`: a model file's network trained by the bit-exact integer twin, tested, written as JSON.

The twin computes the device's bits (tests/test_spatial_kinds.py checks conv2d, maxpool and flatten against
the generated C on the host and on the emulated board), so its test accuracy after N samples is the device's
after the same N samples in the same order (the session's order: mcutrain/host/twin_run.py, sample_order).
A run stops after ``samples`` (or ``epochs``) or when ``minutes`` of wall time are spent, whichever comes
first, and records a learning curve (test accuracy on the first ``curve_test`` test images every
``eval_every`` samples; that evaluation's time is not counted as training time), the planner's RAM figure,
the wall and CPU times and the data set's source (the CIFAR-10 copy is lossy JPEG: every figure says so).

Samples larger than one link frame (CIFAR-10, 28x28 MNIST in u8) reach the device as sample parts (protocol v3,
docs/protocol.md), so every model file the twin trains here also trains on the device.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..arith.modes import QUANTIZED_MODES
from ..errors import McutrainError
from .results_doc import machine_description, replace_section

SECTION = "cnn-results"  # docs/results.md section key
EVAL_CHUNK = 250         # test images a batched inference (the im2col of a batch is k^2 C times the images)
Log = Callable[[str], None]


class CnnResultsError(McutrainError):
    exit_code = 2


class _TimeUp(Exception):
    pass


def load_for_twin(model: Path) -> tuple[Any, Any]:
    """(spec checked against its data, data set) of a model file, for the twin."""
    from ..job import load_data, load_spec

    return load_data(load_spec(model))


def planned_ram(spec: Any, plan: Any) -> dict[str, Any]:
    """The planner's RAM figure of the model on its board (what `mcutrain generate` refuses above)."""
    from ..build.boards import board_for
    from ..codegen.memory import plan_memory

    board = board_for(spec.board, getattr(spec, "ram_budget", None))
    mem = plan_memory(plan, board, spec.input_bytes)
    return {"board": board.name, "planned_bytes": mem.total(), "board_ram_bytes": board.ram_bytes,
            "by_kind": mem.by_kind()}


def describe(spec: Any) -> str:
    """A short name of the network: 16C3s2BN-MP2-F-10 style (C: conv2d filters, kernel, stride, b: a bias, BN:
    batch norm with a learned power-of-two gamma, BN1: gamma 1; MP2; F: flatten)."""
    parts = []
    for la in spec.layers:
        if la.kind == "conv2d":
            parts.append(f"{la.filters}C{la.kernel}" + (f"s{la.stride}" if la.stride != 1 else "")
                         + ("" if la.padding == "same" else "v") + ("b" if getattr(la, "bias", False) else "")
                         + (("BN" if la.bn_gamma == "pow2" else "BN1") if getattr(la, "batch_norm", False) else ""))
        elif la.kind == "maxpool":
            parts.append("MP2")
        elif la.kind == "flatten":
            parts.append("F")
        else:
            parts.append(str(getattr(la, "units", la.kind)))
    return "-".join(parts)


def evaluate(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of the twin's deterministic inference (the device's), in chunks."""
    hits = 0
    for i in range(0, len(x), EVAL_CHUNK):
        hits += int(np.count_nonzero(net.infer(x[i:i + EVAL_CHUNK]) == y[i:i + EVAL_CHUNK]))
    return hits / max(len(x), 1)


def run_cnn(model: Path, *, samples: int | None = None, epochs: float | None = None,
            minutes: float | None = None, eval_every: int = 0, curve_test: int = 1000,
            spec_edit: Callable[[Any], Any] | None = None, ram_budget: int | None = None,
            log: Log | None = None) -> dict[str, Any]:
    """Train ``model``'s network with the twin and test it (module docstring); the result as a dict.
    ``ram_budget`` (bytes; default the board's RAM) is the figure the planner's total is compared with."""
    from ..host.twin_run import sample_order, train_twin
    from ..job import encoded_data, twin_data
    from ..twin import make_twin

    say = log or (lambda s: None)
    spec, ds = load_for_twin(model)
    if spec_edit is not None:
        spec = spec_edit(spec)
    n = len(ds.y_train)
    if samples is not None and epochs is not None:
        raise CnnResultsError("give the length as --samples or --epochs, not both")
    total = samples if samples is not None else round((epochs if epochs is not None else spec.training.epochs) * n)
    if total < 1:
        raise CnnResultsError(f"nothing to train: {total} samples; give --samples N or --epochs E > 0")
    plan, x_train, x_test = twin_data(spec, *encoded_data(spec, ds))
    ram = planned_ram(spec, plan)
    ram["budget_bytes"] = ram_budget or ram["board_ram_bytes"]
    ram["fits"] = ram["planned_bytes"] <= ram["budget_bytes"]
    order = sample_order(spec.seed, n, math.ceil(total / n))[:total]
    net = make_twin(plan)
    y_train, y_test = np.asarray(ds.y_train), np.asarray(ds.y_test)
    curve: list[dict[str, float]] = []
    eval_seconds = 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    trained = 0

    def on_step(k: int, tw: Any) -> None:
        nonlocal eval_seconds, trained
        trained = k
        if eval_every and k % eval_every == 0 and k < total:
            t = time.perf_counter()
            acc = evaluate(tw, x_test[:curve_test], y_test[:curve_test])
            eval_seconds += time.perf_counter() - t
            curve.append({"samples": k, "epochs": round(k / n, 3), "test_accuracy": acc,
                          "wall_seconds": round(time.perf_counter() - w0, 1)})
            say(f"{k:>8,} samples ({k / n:.2f} epochs): {100 * acc:.2f}% on the first {min(curve_test, len(x_test))} "
                f"test images, {time.perf_counter() - w0:.0f} s")
        if minutes is not None and time.perf_counter() - w0 > 60 * minutes:
            raise _TimeUp

    try:
        run = train_twin(net, spec.seed, n, x_train, y_train, order, on_step=on_step)
        online = run.hits(y_train, order) / total
    except _TimeUp:
        online = None
    train_wall = time.perf_counter() - w0 - eval_seconds
    train_cpu = time.process_time() - c0
    t = time.perf_counter()
    acc = evaluate(net, x_test, y_test)
    final_eval = time.perf_counter() - t
    curve.append({"samples": trained, "epochs": round(trained / n, 3), "test_accuracy": acc,
                  "wall_seconds": round(time.perf_counter() - w0, 1), "test_images": len(x_test)})
    say(f"{trained:,} samples: {100 * acc:.2f}% on {len(x_test):,} test images")
    t_, a_ = spec.training, spec.arithmetic
    return {
        "model": str(model), "name": spec.name, "model_hash": spec.model_hash(), "network": describe(spec),
        "weights": t_.weights, "quantized_backprop": t_.quantized_backprop,
        "qbp_exponent_range": list(t_.qbp_exponent_range), "learning_rate": t_.learning_rate,
        "lr_decay_every_epochs": t_.lr_decay_every_epochs, "lr_decay_shift": t_.lr_decay_shift,
        "lr_min": t_.lr_min, "latent_bits": a_.latent_bits, "weight_scale_shift": a_.weight_scale_shift,
        "update_rounding": a_.update_rounding, "seed": spec.seed,
        "dataset": spec.data.dataset, "encoding": spec.data.encoding, "pool": spec.data.pool,
        "data_source": ds.source, "train_set": n, "test_images": len(x_test),
        "weights_count": int(sum(getattr(la, "n_weights", 0) for la in plan.layers)),
        "ram": ram,
        "samples_requested": total, "samples_trained": trained, "epochs_trained": round(trained / n, 3),
        "stopped_by": "samples" if trained == total else "minutes", "minutes_budget": minutes,
        "test_accuracy": acc, "online_train_accuracy": online, "curve": curve,
        "curve_test_images": min(curve_test, len(x_test)),
        "train_wall_seconds": round(train_wall, 1), "train_cpu_seconds": round(train_cpu, 1),
        "eval_wall_seconds": round(eval_seconds + final_eval, 1),
        "train_samples_per_second_wall": round(trained / max(train_wall, 1e-9), 1),
        "train_ms_per_sample_cpu": round(1000 * train_cpu / max(trained, 1), 2),
        "machine": machine_description(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# ---------------------------------------------------------------------------------------------
# every weight mode with and without quantized back-propagation, same network


def mode_variants() -> list[tuple[str, bool]]:
    return [(w, q) for w in QUANTIZED_MODES for q in (True, False)] + [("float32", False)]


def run_modes(model: Path, *, samples: int | None, epochs: float | None, minutes: float | None,
              reference: bool = True, log: Log | None = None,
              stochastic: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """run_cnn for every integer weight mode with and without quantized back-propagation and for float32, the
    network otherwise unchanged; a variant the plan refuses is a row with its refusal (``refused``). The
    modes in ``stochastic`` run once more with QBP and update_rounding = "stochastic" (rows marked
    ``update_rounding``). With ``reference``, two rows of the float reference follow (float32, and ternary + QBP
    in float), trained on as many samples as the first twin row (run_reference)."""
    import dataclasses

    from ..arith.plan import plan_from_spec
    from .modes_table import variant

    rows = []
    runs = [(w, q, None) for w, q in mode_variants()] + [(w, True, "stochastic") for w in stochastic]
    for weights, qbp, rounding in runs:
        def edit(spec: Any, w: str = weights, q: bool = qbp, rnd: str | None = rounding) -> Any:
            v = variant(spec, w, q)
            if rnd is not None:
                v = dataclasses.replace(v, arithmetic=dataclasses.replace(v.arithmetic, update_rounding=rnd))
            plan_from_spec(v)  # refused variants raise here, before any training
            return v

        say = log or (lambda s: None)
        say(f"== weights = {weights}, quantized_backprop = {qbp}" + (f", update_rounding = {rounding}"
                                                                     if rounding else ""))
        try:
            r = run_cnn(model, samples=samples, epochs=epochs, minutes=minutes, spec_edit=edit, log=log)
        except McutrainError as exc:
            r = {"weights": weights, "quantized_backprop": qbp, "refused": str(exc).splitlines()[-1]}
            say(f"refused: {r['refused']}")
        except ValueError as exc:  # PlanError
            r = {"weights": weights, "quantized_backprop": qbp, "refused": str(exc)}
            say(f"refused: {r['refused']}")
        rows.append(r)
    if reference:
        total = rows[0].get("samples_trained") or samples or 0
        for weights, qbp in (("float32", False), ("ternary", True)):
            try:
                rows.append(run_reference(model, weights, qbp, samples=total, log=log))
            except McutrainError as exc:
                rows.append({"weights": weights, "quantized_backprop": qbp, "method": "float reference",
                             "refused": str(exc)})
    return rows


# ---------------------------------------------------------------------------------------------
# the float reference of the same layers (mcutrain/reference/paper_cnn.py): float32 SGD beside the twin

REFERENCE_BATCH = 10   # the reference's batch norm needs more than one sample (the output layer's statistics)
REFERENCE_LR = 0.1


def reference_layers(spec: Any) -> tuple[Any, ...]:
    """The model's layers as the float reference's: stride-1 conv2d (a following maxpool folded in), dense."""
    from ..reference.paper_cnn import ConvSpec, DenseSpec

    out: list[Any] = []
    for i, la in enumerate(spec.layers):
        if la.kind == "conv2d":
            if la.stride != 1:
                raise CnnResultsError(f"layers[{i}]: the float reference has stride-1 convolutions only; use a "
                                      "stride-1 network with maxpool layers for the modes table")
            pool = i + 1 < len(spec.layers) and spec.layers[i + 1].kind == "maxpool"
            out.append(ConvSpec(la.filters, la.kernel, pool=pool, padding=la.padding))
        elif la.kind == "dense":
            out.append(DenseSpec(la.units))
    return tuple(out)


def reference_inputs(spec: Any, ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """The images as the reference takes them, (N, H, W, C) float32 in [0, 1]: thresholded for `bits`."""
    first = spec.layers[0]
    shape = (first.height, first.width, first.channels)

    def conv(x: np.ndarray) -> np.ndarray:
        v = (x >= spec.data.threshold).astype(np.float32) if spec.data.encoding == "bits" else x / np.float32(255)
        return v.reshape(len(x), *shape)
    return conv(ds.x_train), conv(ds.x_test)


def run_reference(model: Path, weights: str, qbp: bool, *, samples: int, batch: int = REFERENCE_BATCH,
                  lr: float = REFERENCE_LR, log: Log | None = None) -> dict[str, Any]:
    """The float reference with ``model``'s layers (and its batch norm and biases, which the twin's conv layers
    lack), trained on the same first ``samples`` of the session order in batches of ``batch``, plain SGD at
    ``lr``; test accuracy with the weights a device would use (real W for float32, deterministic otherwise)."""
    from ..host.twin_run import sample_order
    from ..reference.paper_cnn import CNNConfig, PaperCNN
    from ..reference.paper_cnn import describe as ref_describe

    spec, ds = load_for_twin(model)
    layers = reference_layers(spec)
    first = spec.layers[0]
    cfg = CNNConfig(layers=layers, input_shape=(first.height, first.width, first.channels), weights=weights,
                    qbp=qbp, conv_qbp_range=tuple(spec.training.qbp_exponent_range), seed=spec.seed)
    net = PaperCNN(cfg)
    x_train, x_test = reference_inputs(spec, ds)
    n = len(ds.y_train)
    order = sample_order(spec.seed, n, math.ceil(samples / n))[:samples]
    y_train = np.asarray(ds.y_train)
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, samples - batch + 1, batch):
        idx = order[i:i + batch]
        net.train_batch(x_train[idx], y_train[idx], lr)
    trained = (samples // batch) * batch
    train_wall, train_cpu = time.perf_counter() - w0, time.process_time() - c0
    err = net.error(x_test, np.asarray(ds.y_test), real_weights=(weights == "float32"))
    (log or (lambda s: None))(f"float reference {weights}{' + QBP' if qbp else ''}: {100 * (1 - err):.2f}%")
    return {"model": str(model), "name": spec.name, "network": ref_describe(layers), "weights": weights,
            "quantized_backprop": qbp, "method": f"float reference (mcutrain/reference/paper_cnn.py): batch norm "
            f"in every layer, biases, batch {batch}, SGD lr {lr:g}, float32",
            "samples_trained": trained, "epochs_trained": round(trained / n, 3), "test_images": len(ds.y_test),
            "test_accuracy": 1 - err, "online_train_accuracy": None, "train_wall_seconds": round(train_wall, 1),
            "train_cpu_seconds": round(train_cpu, 1), "ram": None, "data_source": ds.source,
            "machine": machine_description()}


# ---------------------------------------------------------------------------------------------
# the docs/results.md section, from the JSON files of the runs


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min"


def _schedule(r: dict[str, Any]) -> str:
    """The learning rate of a run: 2^lr, constant or divided by 2^shift every N epochs down to 2^lr_min."""
    lr, every = r["learning_rate"], r.get("lr_decay_every_epochs", 0)
    if not every:
        return f"2^{lr} constant"
    shift = r.get("lr_decay_shift", 1)
    floor = f" (floor 2^{r['lr_min']})" if "lr_min" in r else ""
    return f"2^{lr}, /{1 << shift} every {every} epoch{'s' if every != 1 else ''}{floor}"


def _target_cell(r: dict[str, Any], target: float | None) -> str:
    if target is None:
        return "-"
    gap = target - 100 * r["test_accuracy"]
    return f">= {target:g}%: " + ("met" if gap <= 0 else f"MISSED by {gap:.2f} points")


def _run_row(label: str, r: dict[str, Any], target: float | None = None) -> str:
    ram = r["ram"]
    stop = "" if r["stopped_by"] == "samples" else f" (stopped by the {r['minutes_budget']:g}-min budget)"
    qbp = " + QBP" if r["quantized_backprop"] else ""
    return (f"| {label} | `{r['model']}` | {r['network']}, {r['encoding']} | `{r['weights']}`{qbp}, {_schedule(r)}"
            f" | {ram['planned_bytes']:,} B of {ram.get('budget_bytes', ram['board_ram_bytes']):,}"
            f"{'' if ram.get('fits', True) else ' (does NOT fit)'} | {r['samples_trained']:,} "
            f"({r['epochs_trained']:g} epochs){stop} | **{_pct(r['test_accuracy'])}** ({r['test_images']:,} images) "
            f"| {_minutes(r['train_wall_seconds'])} wall, {_minutes(r['train_cpu_seconds'])} CPU "
            f"| {r['train_samples_per_second_wall']:g} | {_target_cell(r, target)} |")


def _curve_images(r: dict[str, Any]) -> int:
    """The test images of a run's learning-curve points (runs written before the field: their --curve-test)."""
    if "curve_test_images" in r:
        return int(r["curve_test_images"])
    m = re.search(r"--curve-test (\d+)", r.get("command", ""))
    return min(int(m.group(1)) if m else 1000, r["test_images"])


def _curve(r: dict[str, Any]) -> str:
    pts = [f"{p['samples']:,}: {100 * p['test_accuracy']:.1f}%" for p in r["curve"]]
    sub = next((p for p in r["curve"] if "test_images" not in p), None)
    head = f"first {_curve_images(r):,} test images, the last point all {r['test_images']:,}" if sub else \
        "all test images"
    return f"{r['name']} ({head}): " + ", ".join(pts)


def render(runs: list[tuple[str, dict[str, Any]]], modes: list[dict[str, Any]] | None, command: str,
           targets: dict[str, float] | None = None) -> str:
    """The section's markdown from (label, run) pairs and the modes rows; ``targets`` maps a run's label to its
    target test accuracy in percent (the row says met, or missed by how many points)."""
    targets = targets or {}
    lines = ["## CNN accuracy with the integer twin (issue 12)", "",
             f"Generated by `{command}` from the JSON files each run wrote (`mcutrain cnn-results run MODEL "
             "--json FILE ...`, the command of each is in the table); do not edit.", "",
             "Every figure is the **twin**'s: the bit-exact NumPy model of the generated C (conv2d, maxpool and "
             "flatten are checked bit for bit against the C on the host and on the emulated board by "
             "tests/test_spatial_kinds.py), so it is the device's accuracy after the same samples in the same "
             "order; the runs themselves did not use the board. Batch 1, the session's sample order, test "
             "accuracy with the deterministic weights the device evaluates with. RAM: the planner's figure "
             "(`mcutrain generate` refuses a model above its board's RAM).", "",
             "| run | model file | network, encoding | weights, learning rate | planned RAM | samples trained "
             "| test accuracy (twin) | training time | samples/s (wall) | target |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_run_row(label, r, targets.get(label)) for label, r in runs]
    lines += ["", "Learning curves (test accuracy after N samples):", ""]
    lines += [f"- {_curve(r)}" for _, r in runs]
    notes = sorted({r["data_source"] for _, r in runs})
    lines += ["", "Data: " + "; ".join(notes) + ". **The CIFAR-10 copy is JPEG quality 75 (lossy)**: its figures are "
              "not directly comparable with published CIFAR-10 results."]
    if modes:
        lines += _modes_lines(modes)
    m = next(iter(r for _, r in runs), None) or next((r for r in modes or [] if "refused" not in r), None)
    if m is not None:
        lines += ["", f"Machine: {m['machine']}; one process, one BLAS thread; the 2 cores were shared with other "
                  "jobs, so wall times are longer than the CPU times."]
    return "\n".join(lines) + "\n"


def _modes_lines(modes: list[dict[str, Any]]) -> list[str]:
    ok = [r for r in modes if "refused" not in r]
    head = ok[0] if ok else None
    lines = ["", "### Every weight mode, with and without quantized back-propagation, same network", ""]
    if head is not None:
        upto = head.get("samples_requested", head["samples_trained"])
        lines += [f"Network {head['network']} (`{head['model']}`), up to {upto:,} samples a row (`--minutes` may "
                  f"stop a row earlier: see its samples), tested on {head['test_images']:,} images; only "
                  "`weights` and `quantized_backprop` differ (update rounding nearest, unless a row says "
                  "stochastic).", ""]
    lines += ["| weights | QBP | test accuracy | online training accuracy | samples trained | planned RAM "
              "| training time |",
              "|---|---|---|---|---|---|---|"]
    for r in modes:
        q = "on" if r["quantized_backprop"] else "off"
        what = f"`{r['weights']}`" + (" (float reference)" if "method" in r else " (twin)") + \
            (", stochastic update rounding" if r.get("update_rounding") == "stochastic" else "")
        if "refused" in r:
            lines.append(f"| {what} | {q} | not trainable in this version: {r['refused']} | - | - | - | - |")
        else:
            ram = "-" if r.get("ram") is None else f"{r['ram']['planned_bytes']:,} B"
            lines.append(f"| {what} | {q} | {_pct(r['test_accuracy'])} | {_pct(r['online_train_accuracy'])}"
                         f" | {r['samples_trained']:,} | {ram} | {_minutes(r['train_wall_seconds'])} wall |")
    refs = [r for r in modes if "method" in r and "refused" not in r]
    if refs:
        lines += ["", f"Float reference rows: {refs[0]['method']}, the same layers, the same first "
                  f"{refs[0]['samples_trained']:,} samples of the session order; tested with real W (float32) or the "
                  "deterministic ternary weights (batch-norm statistics as collected in training, not recalibrated); "
                  "it has batch norm and biases and trains at batch 10, so it is a yardstick, not the same network."]
    twins = [r for r in ok if r["weights"] in ("ternary", "ternary_det") and r["quantized_backprop"]
             and "method" not in r and r.get("update_rounding") != "stochastic"]
    # float32 of the same network: the generator's float32 baseline (its own bit-exact twin), else the reference
    f32_twin = next((r for r in ok if r["weights"] == "float32" and "method" not in r), None)
    f32_ref = next((r for r in refs if r["weights"] == "float32"), None)
    ref_t = [r for r in refs if r["weights"] != "float32"]
    pairs = [("twin (integer, device arithmetic)", t, f32_twin, "float32 twin (same network, batch 1)") for t in twins]
    pairs += [("twin (integer, device arithmetic)", t, f32_ref, "float32 reference") for t in twins]
    pairs += [("float reference", t, f32_ref, "float32 reference") for t in ref_t]
    for label, t, f32, f32_label in pairs:
        if f32 is None:
            continue
        gap = 100 * (f32["test_accuracy"] - t["test_accuracy"])
        lines.append(f"\nGoal, ternary + QBP within 1.5 points of float32: {label} `{t['weights']}` + QBP "
                     f"{_pct(t['test_accuracy'])} vs {f32_label} {_pct(f32['test_accuracy'])}: "
                     f"{gap:+.2f} points, {'PASS' if gap <= 1.5 else 'MISS'}.")
    lines += _qbp_lines(ok) + _stochastic_lines(ok)
    return lines


def _qbp_lines(ok: list[dict[str, Any]]) -> list[str]:
    """Each integer mode without QBP against the same mode with it (nearest rounding, same samples)."""
    twin = [r for r in ok if "method" not in r and r.get("update_rounding") != "stochastic"]
    diffs = []
    for r in twin:
        if r["weights"] == "float32" or r["quantized_backprop"]:
            continue
        on = next((n for n in twin if n["weights"] == r["weights"] and n["quantized_backprop"]), None)
        if on is not None:
            diffs.append(f"`{r['weights']}` {100 * (r['test_accuracy'] - on['test_accuracy']):+.2f}")
    return [f"\nQuantized back-propagation off minus on (test accuracy, points, one seed): {', '.join(diffs)}."] \
        if diffs else []


def _stochastic_lines(ok: list[dict[str, Any]]) -> list[str]:
    """Each stochastic-rounding row against the same mode with QBP and nearest rounding (same samples)."""
    lines = []
    for r in ok:
        if r.get("update_rounding") != "stochastic" or "method" in r:
            continue
        near = next((n for n in ok if n["weights"] == r["weights"] and n["quantized_backprop"] and "method" not in n
                     and n.get("update_rounding") != "stochastic"), None)
        if near is None:
            continue
        gain = 100 * (r["test_accuracy"] - near["test_accuracy"])
        lines.append(f"\nStochastic update rounding, `{r['weights']}` + QBP, {r['samples_trained']:,} samples: "
                     f"{_pct(r['test_accuracy'])} against {_pct(near['test_accuracy'])} with nearest rounding "
                     f"({gain:+.2f} points, one seed).")
    return lines


def write_doc(out: Path, run_files: list[tuple[str, Path]], modes_file: Path | None, command: str,
              targets: dict[str, float] | None = None) -> str:
    runs = [(label, json.loads(p.read_text())) for label, p in run_files]
    unknown = sorted(set(targets or {}) - {label for label, _ in runs})
    if unknown:
        raise CnnResultsError(f"--target names no --run label: {', '.join(unknown)}; give the LABEL of a --run")
    modes = json.loads(modes_file.read_text()) if modes_file is not None else None
    body = render(runs, modes, command, targets)
    replace_section(out, SECTION, body)
    return body

