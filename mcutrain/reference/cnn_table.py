"""The paper's CIFAR-10 CNN in the float reference, at a reduced width and epoch count, float32 against
ternary connect + quantized back-propagation: ``python -m mcutrain.reference.cnn_table``.

Each row trains :class:`~mcutrain.reference.paper_cnn.PaperCNN` on the first 45,000 training images
(validation: the last 5,000, as the paper), on one BLAS thread, for ``--epochs`` epochs with the
paper's batch 100 and an exponential learning-rate decay; the test error is reported at the best
validation epoch (real-valued W as the paper's code; and with the deterministic ternary weights after
the batch-norm statistics are recomputed for them). Rows merge into a JSON file; ``--render`` writes the
``cifar10-cnn-reference`` section of docs/results.md from it.

The CIFAR-10 here is the development machines' JPEG copy (quality 75, lossy) unless the official
archive is found first (mcutrain.data.cifar10); the section says which.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..results.results_doc import machine_description, replace_section
from .blas_threads import limit_blas_threads
from .lr_schedule import ExpDecay
from .paper_cnn import CNNConfig, PaperCNN, describe, paper_cifar10_layers, standardize

SECTION = "cifar10-cnn-reference"
PUBLISHED = {"float32": 15.64, "ternary-qbp": 12.01}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    weights: str
    qbp: bool


ROWS = (Row("float32", "full precision (float32)", "float32", False),
        Row("ternary-qbp", "ternary connect + quantized back-propagation", "ternary", True))


def run_row(row: Row, *, div: int, epochs: int, lr_start: float, lr_end: float, batch: int, seed: int,
            train_limit: int = 0, on_epoch: Callable[[dict], None] | None = None) -> dict:
    from ..data.cifar10 import load_cifar10
    ds = load_cifar10()
    xi, yi = ds.images_train(), ds.y_train
    n_train = 45000 if not train_limit else train_limit
    xtr, xva, xte = standardize(xi[:n_train], xi[45000:], ds.images_test())
    ytr, yva, yte = yi[:n_train], yi[45000:], ds.y_test
    layers = paper_cifar10_layers(div)
    net = PaperCNN(CNNConfig(layers=layers, weights=row.weights, qbp=row.qbp, seed=seed))
    sched = ExpDecay(lr_start, lr_end, epochs)
    history = []
    best: tuple[float, int, PaperCNN] | None = None
    t0 = time.time()
    cpu0 = time.process_time()
    train_s = 0.0
    for e in range(epochs):
        t1 = time.time()
        loss = net.train_epoch(xtr, ytr, sched(e), batch)
        train_s += time.time() - t1
        va, te = net.error(xva, yva), net.error(xte, yte)
        history.append({"epoch": e + 1, "lr": sched(e), "train_loss": loss, "valid_error": va, "test_error": te,
                        "seconds": time.time() - t0})
        print(json.dumps({"row": row.key, **history[-1]}), flush=True)
        if on_epoch is not None:
            on_epoch({"key": row.key, "label": row.label, "complete": False, "history": history})
        if best is None or va < best[0]:
            best = (va, e + 1, copy.deepcopy(net))
    assert best is not None
    va, best_epoch, bnet = best
    out = {"key": row.key, "label": row.label, "weights": row.weights, "qbp": row.qbp,
           "network": describe(layers), "width_divisor": div, "epochs": epochs, "batch": batch,
           "lr": [lr_start, lr_end], "train_images": len(ytr), "best_epoch": best_epoch, "valid_error": va,
           "test_error": bnet.error(xte, yte), "history": history, "wall_seconds": time.time() - t0,
           "train_images_per_second": epochs * (len(ytr) // batch) * batch / train_s, "data_source": ds.source,
           "seed": seed, "complete": True}
    if row.weights != "float32":
        rec = bnet.bn_recalibrated(xtr[:5000])
        out["test_error_deterministic_recalibrated"] = rec.error(xte, yte, real_weights=False)
    out["cpu_seconds"] = time.process_time() - cpu0      # this process's CPU time (the data loading excluded)
    out["wall_seconds"] = time.time() - t0
    return out


def train_text(n: int) -> str:
    if n == 45000:
        return "45,000 training images (as many as the paper)"
    return f"**the first {n} training images** (the paper: 45,000)"


def merge(json_path: Path, row: dict) -> None:
    data = json.loads(json_path.read_text()) if json_path.exists() else {"rows": {}}
    data["rows"][row["key"]] = row
    data["machine"] = machine_description()
    json_path.write_text(json.dumps(data, indent=1) + "\n")


def render(json_path: Path) -> str:
    data = json.loads(json_path.read_text())
    rows = [data["rows"][r.key] for r in ROWS if r.key in data["rows"]]
    if not rows:
        raise ValueError(f"{json_path}: no rows; run the table first")
    r0 = rows[0]
    lossy = "JPEG" in r0["data_source"]
    lr = f"--lr {r0['lr'][0]} {r0['lr'][1]} "
    if r0["train_images"] != 45000:
        lr += f"--train-limit {r0['train_images']} "
    lines = [
        "## CIFAR-10: the paper's CNN in the float reference, reduced (host)",
        "",
        f"`python -m mcutrain.reference.cnn_table --div {r0['width_divisor']} --epochs {r0['epochs']} {lr}"
        "--row float32 --row ternary-qbp --render` (mcutrain/reference/paper_cnn.py; one BLAS thread).",
        "",
        f"Network: the paper's 128C3-128C3-MP2-256C2-256C2-MP2-512C2-512C2-MP2-1024C2-FC1024-FC10 with every width "
        f"divided by {r0['width_divisor']}: **{r0['network']}** (valid convolutions, batch norm in every layer, "
        f"ReLU, squared hinge, plain SGD, batch {r0['batch']}, lr {r0['lr'][0]} -> {r0['lr'][1]} exponential), "
        f"**{r0['epochs']} epochs instead of the paper's 300**, on "
        f"{train_text(r0['train_images'])} (validation: the last 5,000 of the 50,000, test: all 10,000); inputs "
        "standardized per channel instead of GCN + ZCA whitening. "
        "Test error at the best validation epoch.",
        "",
    ]
    if lossy:
        lines += ["**Data: the JPEG copy of CIFAR-10** (quality 75, 4:2:0 chroma, lossy: mean absolute error about "
                  "5.8/255 against the original pixels); errors here are not directly comparable with published "
                  "CIFAR-10 results, and neither is the reduced network and schedule.", ""]
    lines += ["| method | published (full network, 300 epochs) | test error, real W | deterministic W, BN recalibrated "
              "| best epoch / run | train images/s | wall time | CPU time |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        det = r.get("test_error_deterministic_recalibrated")
        lines.append(f"| {r['label']} | {PUBLISHED[r['key']]:.2f}% | {100 * r['test_error']:.2f}% | "
                     f"{'-' if det is None else f'{100 * det:.2f}%'} | {r['best_epoch']} / {r['epochs']} | "
                     f"{r['train_images_per_second']:.0f} | {r['wall_seconds'] / 60:.1f} min | "
                     + (f"{r['cpu_seconds'] / 60:.1f} min |" if "cpu_seconds" in r else "- |"))
    if len(rows) == 2:
        gap = 100 * (rows[1]["test_error"] - rows[0]["test_error"])
        lines += ["", f"Ternary + QBP minus float32: {gap:+.2f} points of test error here; the paper's full network "
                  "after 300 epochs: -3.63 points."]
    lines += ["", "Per epoch (validation / test error, real W):", ""]
    for r in rows:
        hist = ", ".join(f"{h['epoch']}: {100 * h['valid_error']:.1f} / {100 * h['test_error']:.1f}%"
                         for h in r["history"])
        lines.append(f"- {r['label']}: {hist}")
    lines += ["", f"Machine: {data.get('machine', '?')}. Each row is one process on one BLAS thread (the command "
              "above runs them one after another; `--row` in separate processes and `--merge` runs them at once); "
              "the machine is shared with other jobs, so images/s and wall times include time spent waiting for "
              "the CPU. Data: " + r0["data_source"] + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mcutrain.reference.cnn_table", description=__doc__.split("\n")[0])
    ap.add_argument("--row", action="append", choices=[r.key for r in ROWS], default=[])
    ap.add_argument("--div", type=int, default=8, help="divide every width of the paper's network by this")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, nargs=2, default=(0.3, 0.01), metavar=("START", "END"))
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="train on the first N images only (smoke tests)")
    ap.add_argument("--json", type=Path, default=Path("docs/cifar10_cnn_reference.json"))
    ap.add_argument("--merge", type=Path, nargs="+", default=[], metavar="JSON",
                    help="merge the rows of these JSON files (rows run as separate processes) into --json first")
    ap.add_argument("--render", action="store_true", help="write the docs/results.md section from the JSON")
    ap.add_argument("--results", type=Path, default=Path("docs/results.md"))
    a = ap.parse_args(argv)
    limit_blas_threads(1)
    for other in a.merge:
        for row in json.loads(other.read_text())["rows"].values():
            merge(a.json, row)
    for key in a.row:
        row = next(r for r in ROWS if r.key == key)
        progress = a.json.with_suffix(f".{key}.partial.json")
        merge(a.json, run_row(row, div=a.div, epochs=a.epochs, lr_start=a.lr[0], lr_end=a.lr[1], batch=a.batch,
                              seed=a.seed, train_limit=a.train_limit,
                              on_epoch=lambda part, p=progress: p.write_text(json.dumps(part, indent=1))))
        progress.unlink(missing_ok=True)
    if a.render:
        replace_section(a.results, SECTION, render(a.json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
