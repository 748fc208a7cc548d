"""The paper's MNIST table on the host: MLP 784-1024-1024-1024-10, batch norm, squared hinge,
lr 0.3 -> 0.01 exponential decay, batch 200, 50k/10k train/validation split of the MNIST training
set, test on the 10k test set; test error at the best validation epoch (`mcutrain paper-table`).

Each row trains for an epoch count, or for a time budget: then the first epoch is timed and the
number of epochs that fit the budget fixes the learning-rate decay (so lr still ends at lr_end).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .lr_schedule import ExpDecay
from .paper_mlp import MLPConfig, PaperMLP

SECTION = "paper-mnist-table"
KINDS = ("real", "det", "recal")
"""Evaluations: real-valued W; deterministic weights with the batch-norm statistics of training (which
belong to the sampled weights); deterministic weights with batch norm recalibrated on RECAL_SAMPLES
training images."""
RECAL_SAMPLES = 10_000


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    weights: str
    qbp: bool
    published: float  # test error, %


ROWS = (
    Row("full", "full precision", "float32", False, 1.33),
    Row("binary-qbp", "binary connect + quantized backprop", "binary", True, 1.29),
    Row("ternary-qbp", "ternary connect + quantized backprop", "ternary", True, 1.15),
)


@dataclass
class RowResult:
    row: Row
    epochs_planned: int
    epochs: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    samples_trained: int = 0

    def best(self, kind: str) -> dict[str, Any]:
        """The epoch of lowest validation error for `kind` ('real' or 'det'), first one on ties."""
        return min(self.epochs, key=lambda e: (e[f"val_{kind}"], e["epoch"]))

    @property
    def samples_per_second(self) -> float:
        return self.samples_trained / max(self.train_seconds, 1e-9)


def split_mnist(ds: Any) -> tuple[np.ndarray, ...]:
    """Centred pixels 2 x/255 - 1 as float32: train (first 50k), validation (last 10k), test."""
    def centre(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) * np.float32(2 / 255) - 1).astype(np.float32)
    x, y = centre(ds.x_train), ds.y_train.astype(np.int64)
    n_val = 10_000 if len(y) > 20_000 else len(y) // 6
    return (x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], centre(ds.x_test), ds.y_test.astype(np.int64))


def run_row(row: Row, data: tuple[np.ndarray, ...], *, sizes: tuple[int, ...], epochs: int | None,
            minutes: float | None, batch: int, lr_start: float, lr_end: float, seed: int,
            batch_norm: str, qbp_range: tuple[int, int] | None,
            log: Callable[[str], None]) -> RowResult:
    xtr, ytr, xva, yva, xte, yte = data
    cfg = MLPConfig(sizes=sizes, weights=row.weights, qbp=row.qbp, qbp_range=qbp_range, batch_norm=batch_norm,
                    seed=seed)
    net = PaperMLP(cfg)
    kinds = ("real",) if row.weights == "float32" else KINDS
    planned = epochs if epochs is not None else 1
    res = RowResult(row, planned)
    best_val = {k: np.inf for k in kinds}
    test_at_best = {k: np.nan for k in kinds}
    t0 = time.monotonic()
    e = 0
    while e < planned:
        sched = ExpDecay(lr_start, lr_end, planned)
        lr = sched(e)
        ts = time.monotonic()
        loss = net.train_epoch(xtr, ytr, lr, batch)
        dt = time.monotonic() - ts
        res.train_seconds += dt
        res.samples_trained += (len(xtr) // batch) * batch
        rec: dict[str, Any] = {"epoch": e + 1, "lr": lr, "train_loss": round(loss, 5), "train_seconds": round(dt, 2)}
        recal = net.bn_recalibrated(xtr[:RECAL_SAMPLES]) if "recal" in kinds else net
        for k in kinds:
            m = recal if k == "recal" else net
            v = m.error(xva, yva, real_weights=k == "real")
            if v < best_val[k]:
                best_val[k] = v
                test_at_best[k] = m.error(xte, yte, real_weights=k == "real")
            rec[f"val_{k}"] = v
            rec[f"test_at_best_{k}"] = float(test_at_best[k])
        for k in KINDS[1:]:
            if k not in kinds:
                rec[f"val_{k}"], rec[f"test_at_best_{k}"] = rec["val_real"], rec["test_at_best_real"]
        res.epochs.append(rec)
        e += 1
        elapsed = time.monotonic() - t0
        if minutes is not None and e == 1 and epochs is None:
            res.epochs_planned = planned = max(1, int(minutes * 60 // elapsed))
        log(f"{row.key}: epoch {e}/{planned} lr {lr:.4g} loss {loss:.4f} val {rec['val_real'] * 100:.2f}% "
            f"(det {rec['val_det'] * 100:.2f}%) test@best {rec['test_at_best_real'] * 100:.2f}% "
            f"(det {rec['test_at_best_det'] * 100:.2f}%) {dt:.1f} s train, {elapsed:.0f} s")
        if minutes is not None and epochs is None and elapsed > minutes * 60 * 1.05:
            log(f"{row.key}: time budget spent after {e} epochs")
            break
    res.wall_seconds = time.monotonic() - t0
    return res


def row_summary(r: RowResult) -> dict[str, Any]:
    out: dict[str, Any] = {"row": asdict(r.row), "epochs_planned": r.epochs_planned, "epochs_run": len(r.epochs),
                           "wall_seconds": round(r.wall_seconds, 1), "train_seconds": round(r.train_seconds, 1),
                           "train_samples_per_second": round(r.samples_per_second, 1)}
    for k in KINDS:
        if f"val_{k}" not in r.epochs[0]:
            continue
        b = r.best(k)
        err = b[f"test_at_best_{k}"] * 100
        out[k] = {"best_epoch": b["epoch"], "val_error_pct": round(b[f"val_{k}"] * 100, 2),
                  "test_error_pct": round(err, 2), "gap_to_published_pct": round(err - r.row.published, 2)}
    out["epochs"] = r.epochs
    return out


def _commands(s: dict[str, Any]) -> str:
    runs: dict[tuple[str, str], list[str]] = {}
    for r in s["rows"]:
        runs.setdefault((r.get("command", s["command"]), r.get("date", s["date"])), []).append(r["row"]["key"])
    if len(runs) == 1:
        (cmd, date), = runs
        return f"`{cmd}` on {date}"
    return "; ".join(f"`{cmd}` on {date} (rows {', '.join(keys)})" for (cmd, date), keys in runs.items())


def render(summary: dict[str, Any]) -> str:
    s = summary
    budget = f"{s['minutes']:g} min" if s["minutes"] is not None else f"{s['epochs']} epochs"
    L = ["## The paper's MNIST table on the host (issue 3, result 1)", "",
         f"Generated by {_commands(s)} (section regenerated by that command; do not edit). "
         f"Machine: {s['machine']}; BLAS limited to {s['blas_threads']} thread"
         f"{' (set)' if s['blas_limited'] else ' (could not be set: check)'}. JSON: `{s['json']}`.", "",
         f"Setup (`mcutrain/reference/paper_mlp.py`): MLP {'-'.join(map(str, s['sizes']))}, ReLU, batch norm "
         f"({s['batch_norm']}) in every layer including the output, biases, squared hinge loss (sum over the "
         f"classes, mean over the batch) on a linear output, plain SGD, batch {s['batch']}, lr {s['lr_start']} "
         f"-> {s['lr_end']} exponential decay over the planned epochs, W clipped to [-W0, W0] (W0 = Glorot h/2) "
         f"for binary/ternary, stochastic weights in training, quantized back-propagation with exponents "
         f"{'unbounded' if s['qbp_range'] is None else '{}..{}'.format(*s['qbp_range'])}, centred inputs "
         f"2x/255-1, seed {s['seed']}. Data: the first {s['train_samples']:,} MNIST training images to train, "
         f"the last 10,000 to validate, the 10,000 test images to test. Budget per row: "
         f"{budget}"
         f" (with a time budget the epochs that fit are planned after timing the first, and the lr decay "
         f"spans them).", "",
         "Test error at the epoch of best validation error (each column picks its own best epoch, shown "
         "in brackets). *real W*: evaluated with the real-valued clipped weights, as the paper's code does: "
         "the column the published numbers compare with. *deterministic*: with sign(W) (binary) or "
         "W0 round(W/W0) (ternary), what a multiplication-free device would use, first with the batch-norm "
         "running statistics collected in training (they belong to the sampled weights), then with batch "
         f"norm recalibrated: exact means and variances over {RECAL_SAMPLES:,} training images computed with "
         "the deterministic weights (`PaperMLP.bn_recalibrated`).", "",
         "| method | published | test error, real W | gap to published | deterministic, training BN statistics "
         "| deterministic, BN recalibrated | epochs run / planned (paper: 1000) | wall time | training samples/s |",
         "|---|---|---|---|---|---|---|---|---|"]

    def cell(r: dict[str, Any], k: str) -> str:
        if r["row"]["weights"] == "float32":
            return "= real W"
        if k not in r:
            return "not measured in this run"
        return f"{r[k]['test_error_pct']:.2f}% ({r[k]['best_epoch']})"

    for r in s["rows"]:
        row, re_ = r["row"], r["real"]
        L.append(f"| {row['title']} | {row['published']:.2f}% | {re_['test_error_pct']:.2f}% ({re_['best_epoch']}) "
                 f"| {re_['gap_to_published_pct']:+.2f} | {cell(r, 'det')} | {cell(r, 'recal')} "
                 f"| {r['epochs_run']} / {r['epochs_planned']} | {r['wall_seconds'] / 60:.1f} min "
                 f"| {r['train_samples_per_second']:,.0f} |")
    loads = [(r["row"]["key"], r.get("load_average", s.get("load_average"))) for r in s["rows"]]
    if any(la for _k, la in loads):
        L += ["", "Load average of the machine (1 min) at the start and the end of each row's run: "
              + "; ".join(f"{k} {la[0]:.2f}, {la[1]:.2f}" for k, la in loads if la)
              + " (other work shares the cores; it slows the epochs and so cuts the epochs that fit)."]
    L += ["", "Throughput: samples/s of training (forward, backward, update and the weight sampling) on one "
          "BLAS thread, float32; the evaluation of validation and test sets is not included in it but is in "
          "the wall time. The paper trained 1000 epochs; the gap above is measured at the epochs shown, "
          "not at convergence."]
    return "\n".join(L) + "\n"


def merge_rows(summary: dict[str, Any], json_path: Path) -> dict[str, Any]:
    """A run of some rows (--row) replaces those rows of the previous run's JSON and keeps the others,
    each with the command that produced it, in the table's order."""
    if not json_path.is_file():
        return summary
    old = json.loads(json_path.read_text())
    if old.get("sizes") != summary["sizes"] or old.get("train_samples") != summary["train_samples"]:
        return summary  # another network or data: nothing to merge with
    new_keys = {r["row"]["key"] for r in summary["rows"]}
    kept = [dict(r, command=r.get("command", old["command"]), date=r.get("date", old["date"]),
                 load_average=r.get("load_average", old.get("load_average")))
            for r in old["rows"] if r["row"]["key"] not in new_keys]
    order = [r.key for r in ROWS]
    merged = sorted(kept + summary["rows"], key=lambda r: order.index(r["row"]["key"]))
    return dict(summary, rows=merged)


def write_outputs(summary: dict[str, Any], results_md: Path, json_path: Path) -> None:
    from ..results.results_doc import replace_section
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    replace_section(results_md, SECTION, render(summary))


def run_table(*, rows: tuple[str, ...] | None, epochs: int | None, minutes: float | None,
              sizes: tuple[int, ...] = (784, 1024, 1024, 1024, 10), batch: int = 200, lr_start: float = 0.3,
              lr_end: float = 0.01, seed: int = 1, batch_norm: str = "standard",
              qbp_range: tuple[int, int] | None = None, train_samples: int = 0, blas_threads: int = 1,
              results_md: Path, json_path: Path, command: str,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every requested row, write the JSON and the section of results_md; return the summary."""
    from ..data.mnist import load_mnist
    from ..results.results_doc import machine_description
    from .blas_threads import limit_blas_threads

    if (epochs is None) == (minutes is None):
        raise ValueError("give either an epoch count or a time budget in minutes per row")
    limited = limit_blas_threads(blas_threads)
    chosen = [r for r in ROWS if rows is None or r.key in rows]
    unknown = set(rows or ()) - {r.key for r in ROWS}
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)}: use {', '.join(r.key for r in ROWS)}")
    data = split_mnist(load_mnist())
    if train_samples:
        data = (data[0][:train_samples], data[1][:train_samples], *data[2:])
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    results = []
    for row in chosen:
        log(f"{row.key}: {row.title}, " + (f"{minutes} min" if minutes is not None else f"{epochs} epochs"))
        results.append(run_row(row, data, sizes=sizes, epochs=epochs, minutes=minutes, batch=batch,
                               lr_start=lr_start, lr_end=lr_end, seed=seed, batch_norm=batch_norm,
                               qbp_range=qbp_range, log=log))
    summary = {"command": command, "date": time.strftime("%Y-%m-%d"), "machine": machine_description(),
               "blas_threads": blas_threads, "blas_limited": limited, "json": str(json_path),
               "sizes": list(sizes), "batch": batch, "lr_start": lr_start, "lr_end": lr_end, "seed": seed,
               "batch_norm": batch_norm, "qbp_range": list(qbp_range) if qbp_range else None,
               "minutes": minutes, "epochs": epochs, "train_samples": len(data[0]),
               "total_wall_seconds": round(time.monotonic() - t0, 1),
               "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
               "rows": [row_summary(r) for r in results]}
    for r in summary["rows"]:
        r["command"], r["date"], r["load_average"] = command, summary["date"], summary["load_average"]
    with json_lock(json_path):  # rows run as separate processes (--row each) merge one at a time
        if rows is not None:
            summary = merge_rows(summary, json_path)
        write_outputs(summary, results_md, json_path)
    return summary


@contextlib.contextmanager
def json_lock(json_path: Path) -> Iterator[None]:
    """An exclusive lock on <json>.lock while a run merges its rows into the JSON and the section."""
    import fcntl

    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path.with_suffix(json_path.suffix + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
