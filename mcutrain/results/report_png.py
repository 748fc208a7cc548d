"""PNG reports of a training run: training curves and the test-set confusion matrix.

Drawn from the JSON report of `mcutrain train` (its ``curve``, ``epochs``,
``samples_trained``, ``test_accuracy`` and ``confusion_matrix``), so a report
can be redrawn later: ``mcutrain report REPORT.json -o DIR``. matplotlib is an
optional extra: ``pip install 'mcutrain[plot]'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import McutrainError


class PlotMissingError(McutrainError):
    """matplotlib is not installed."""

    exit_code = 3


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError as e:
        raise PlotMissingError(
            "the PNG reports need matplotlib, which is not installed: pip install 'mcutrain[plot]' "
            "(or pip install matplotlib). The JSON report is written without it."
        ) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    return np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes).reshape(n_classes,
                                                                                                   n_classes)


def plot_curves(report: dict[str, Any], path: Path) -> Path:
    """Loss and training accuracy over the samples trained (epoch boundaries dashed), and test accuracy
    (each evaluation the report holds: ``test_points``, else the final one)."""
    plt = _pyplot()
    curve = report.get("curve") or []
    if not curve:
        raise McutrainError("the report has no training curve (report['curve'] is empty): nothing to draw")
    x = np.array([p["samples"] for p in curve])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.2), sharex=True, dpi=90)
    ax1.plot(x, [p["loss"] for p in curve], color="tab:red", lw=1.5)
    ax1.set_ylabel("hinge loss (mean)")
    ax1.set_title(f"{report.get('model', '?')} on {report.get('board', '?')}: "
                  f"{report.get('samples_trained', x[-1])} samples, {report.get('epochs', '?')} epoch(s)")
    ax2.plot(x, [100 * p["train_accuracy"] for p in curve], color="tab:blue", lw=1.5,
             label="train accuracy (prediction before each update)")
    tests = report.get("test_points") or [
        {"samples": report.get("samples_trained", int(x[-1])), "test_accuracy": report["test_accuracy"]}]
    ax2.plot([t["samples"] for t in tests], [100 * t["test_accuracy"] for t in tests], "o-", color="tab:green",
             label="test accuracy (on the device)")
    for t in tests[-1:]:
        ax2.annotate(f"{100 * t['test_accuracy']:.2f}%", (t["samples"], 100 * t["test_accuracy"]),
                     textcoords="offset points", xytext=(-8, -14), ha="right", color="tab:green")
    epochs = int(report.get("epochs") or 1)
    total = int(report.get("samples_trained") or x[-1])
    for e in range(1, epochs):
        for ax in (ax1, ax2):
            ax.axvline(total * e / epochs, color="grey", ls="--", lw=0.8)
    ax2.set_ylabel("accuracy (%)")
    ax2.set_xlabel("samples trained")
    ax2.legend(loc="lower right", fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(report: dict[str, Any], path: Path) -> Path:
    """The test-set confusion matrix (rows: true class, columns: the device's prediction)."""
    plt = _pyplot()
    cm = np.asarray(report.get("confusion_matrix") or [], dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0:
        raise McutrainError("the report has no confusion matrix (report['confusion_matrix']): nothing to draw")
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(5.4, 4.8), dpi=90)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    hi = cm.max() / 2 if cm.max() else 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > hi else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted on the device")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / cm.sum() if cm.sum() else 0.0
    ax.set_title(f"test set: {cm.sum()} samples, accuracy {100 * acc:.2f}%")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_reports(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """report.json, and (with matplotlib) curves.png and confusion.png in ``out_dir``.

    The JSON is written first, so it exists even when matplotlib is missing
    (then :class:`PlotMissingError` is raised after it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["curves"] = plot_curves(report, out_dir / "curves.png")
    paths["confusion"] = plot_confusion(report, out_dir / "confusion.png")
    return paths
