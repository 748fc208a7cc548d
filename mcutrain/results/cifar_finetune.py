"""CIFAR-10 classes learned on the device that pretraining never saw (issue 14, CIFAR part).

`python bench/cifar_finetune.py examples/cifar10_cnn.toml -o docs/results.md`: the model's network is
pretrained on the host's integer twin (`mcutrain pretrain`'s session, bit for bit the device's) on the
training images of the OLD classes only (labels below ``old_classes``, default 0-7), taken from outside the
device's shard; the device's shard is the first ``shard`` training images (the CIFAR-10 loader interleaves
the classes, so it holds all ten equally). For each seed, on the twin (the device bit for bit:
`mcutrain train MODEL --init STATE --verify`):

- pretrained: the pretrained state, no fine-tuning;
- fine-tuned: that state trained on the shard (every layer learning, a fresh schedule, the seed's order);
- from scratch: the device's own initialisation trained on the same samples in the same order;

each evaluated on the test set overall, on the new classes and on the old classes.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import McutrainError

KEY = "cifar-finetune"


@dataclass
class Accuracy:
    overall: float
    new: float   #: on the test images of the classes pretraining never saw
    old: float   #: on the test images of the pretraining classes


@dataclass
class SeedRow:
    seed: int
    fine_tuned: Accuracy
    scratch: Accuracy


@dataclass
class CifarFinetune:
    model: str
    model_hash: str
    old_classes: int        #: pretraining saw labels 0..old_classes-1
    n_classes: int
    pre_samples: int        #: pretraining samples (images x epochs)
    pre_seconds: float
    pretrained: Accuracy
    shard: int
    epochs: int             #: fine-tuning epochs over the shard
    test: int
    rows: list[SeedRow]
    seconds: float          #: the whole measurement (pretraining included)
    source: str


def accuracy(pred: np.ndarray, y: np.ndarray, old_classes: int) -> Accuracy:
    """Overall, new-class (label >= old_classes) and old-class accuracy of predictions ``pred``."""
    hit = np.asarray(pred) == np.asarray(y)
    new = np.asarray(y) >= old_classes
    return Accuracy(float(hit.mean()), float(hit[new].mean()), float(hit[~new].mean()))


def split(ds: Any, shard: int, old_classes: int, pretrain_images: int, test: int) -> tuple[Any, Any, Any]:
    """(pretraining set, device shard, test set) of ``ds``: the shard is the first ``shard`` training images;
    the pretraining set is the first ``pretrain_images`` (0 = all) images after it whose labels are below
    ``old_classes``; the test set is the first ``test`` (0 = all) test images. Each a Dataset."""
    n = len(ds.y_train)
    if not 0 < shard < n:
        raise McutrainError(f"shard = {shard}: the data set has {n} training images; pick 1..{n - 1} so that "
                            "some are left to pretrain on")
    if not 0 < old_classes < ds.n_classes:
        raise McutrainError(f"old classes = {old_classes}: pick 1..{ds.n_classes - 1} (some classes must be new)")
    rest = np.flatnonzero(np.asarray(ds.y_train[shard:]) < old_classes) + shard
    if pretrain_images:
        if pretrain_images > len(rest):
            raise McutrainError(f"{pretrain_images} pretraining images: only {len(rest)} images of classes "
                                f"0-{old_classes - 1} lie outside the shard; pick fewer (0 = all)")
        rest = rest[:pretrain_images]
    nte = test or len(ds.y_test)
    if nte > len(ds.y_test):
        raise McutrainError(f"{test} test images: the data set has {len(ds.y_test)}; pick fewer (0 = all)")
    x_te, y_te = ds.x_test[:nte], ds.y_test[:nte]
    for what, yy in (("test set", y_te), ("shard", ds.y_train[:shard])):
        if not (np.asarray(yy) >= old_classes).any():
            raise McutrainError(f"the {what} holds no image of the new classes {old_classes}-{ds.n_classes - 1}; "
                                "make it larger")
    pre = dataclasses.replace(ds, x_train=ds.x_train[rest], y_train=ds.y_train[rest], x_test=x_te[:1],
                              y_test=y_te[:1])
    tune = dataclasses.replace(ds, x_train=ds.x_train[:shard], y_train=ds.y_train[:shard], x_test=x_te,
                               y_test=y_te)
    return pre, tune, tune


def measure(spec: Any, ds: Any, state_path: Path, *, shard: int, seeds: list[int], old_classes: int = 8,
            pretrain_images: int = 0, test: int = 0, epochs: int = 1, log: Any = None) -> CifarFinetune:
    """Pretrain ``spec`` on the old classes into ``state_path`` (reused when it holds this very pretraining),
    then the pretrained, fine-tuned and from-scratch accuracies for each seed."""
    from ..host.twin_run import sample_order, train_twin
    from ..job import encoded_data, twin_data
    from ..state import file as sfile
    from ..state.layout import state_layout
    from ..state.pretrain import pretrain
    from ..twin import make_twin

    t0 = time.monotonic()
    pre_ds, tune_ds, _ = split(ds, shard, old_classes, pretrain_images, test)
    n_pre = len(pre_ds.y_train) * spec.training.epochs
    done = None
    if state_path.exists():
        sf = sfile.read(state_path, state_layout(spec), spec.model_hash())
        h = sf.header
        if h.source == "pretrain" and h.seed == spec.seed and h.samples_trained == h.samples_total == n_pre:
            done = sf
    timing = state_path.with_name(state_path.name + ".seconds")  # the pretraining's time, for a reused state
    pre_seconds = float(timing.read_text()) if done is not None and timing.exists() else 0.0
    if done is None:
        if log:
            log(f"pretraining {spec.name} on {len(pre_ds.y_train)} images of classes 0-{old_classes - 1} "
                f"into {state_path}")
        state_path.parent.mkdir(parents=True, exist_ok=True)
        r = pretrain(spec, pre_ds, state_path, quiet=log is None)
        done, pre_seconds = r.state_file, r.seconds
        timing.write_text(f"{pre_seconds:.1f}\n")
    plan, x_tr, x_te = twin_data(spec, *encoded_data(spec, tune_ds))
    y_tr, y_te = np.asarray(tune_ds.y_train), np.asarray(tune_ds.y_test)
    net = make_twin(plan)
    net.start(1, 0)
    from ..fleet.layout import load_twin_state

    load_twin_state(net, done.state)
    pretrained = accuracy(net.infer(x_te), y_te, old_classes)
    if log:
        log(f"pretrained: {pretrained}")
    rows = []
    for seed in seeds:
        order = sample_order(seed, shard, epochs)
        tuned, scratch = make_twin(plan), make_twin(plan)
        train_twin(tuned, seed, shard, x_tr, y_tr, order, init_state=done.state)
        train_twin(scratch, seed, shard, x_tr, y_tr, order)
        rows.append(SeedRow(seed, accuracy(tuned.infer(x_te), y_te, old_classes),
                            accuracy(scratch.infer(x_te), y_te, old_classes)))
        if log:
            log(f"seed {seed}: fine-tuned {rows[-1].fine_tuned}, from scratch {rows[-1].scratch}")
    return CifarFinetune(spec.name, spec.model_hash(), old_classes, ds.n_classes, n_pre, pre_seconds, pretrained,
                         shard, epochs, len(y_te), rows, time.monotonic() - t0, ds.source or ds.name)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _mean_sd(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs) * 100:.2f}% ± {sd * 100:.2f}" if len(xs) > 1 else _pct(xs[0])


def render(p: CifarFinetune, command: str, device_note: str = "") -> str:
    from .results_doc import machine_description

    old, new = f"0-{p.old_classes - 1}", f"{p.old_classes}-{p.n_classes - 1}"
    seeds = ", ".join(str(r.seed) for r in p.rows)
    lines = [
        f"## CIFAR-10 classes {new} learned on the device that pretraining never saw (issue 14)",
        "",
        f"Generated by `{command}` ({p.seconds:.0f} s on {machine_description()}, one core; the "
        f"pretraining took {p.pre_seconds:.0f} s more when it ran: its state file is reused when it holds the same "
        f"pretraining). Data: {p.source}; the development copy is JPEG quality 75, LOSSY: the figures are not "
        "comparable with published CIFAR-10 ones. "
        f"The network of `{p.model}` (model {p.model_hash}, 32x32x3 at 4 bits a channel, two ternary convs, "
        "max-pool, dense; stochastic ternary connect with quantized back-propagation, 8-bit latents, batch 1) "
        f"is pretrained on the host's integer twin (`mcutrain pretrain`'s session) on {p.pre_samples} samples: "
        f"training images of classes {old} only, none of them in the device's shard. The device's shard is the "
        f"first {p.shard} training images (all ten classes, equally many). WHOLE-NETWORK fine-tuning: every "
        f"layer goes on learning from the pretrained state for {p.epochs} epoch(s) over the shard with a fresh "
        "schedule (`mcutrain train MODEL --init STATE`); from scratch trains the device's own initialisation "
        "on the same samples in the same order. The figures are the twin's, which is the device bit for bit "
        f"(see below). Test accuracy on the first {p.test} test images; seeds of the fine-tuning order: {seeds} "
        "(mean ± sd).",
        "",
        f"| state | all classes | new classes {new} | old classes {old} |",
        "|---|---:|---:|---:|",
        f"| pretrained on classes {old}, no fine-tuning | {_pct(p.pretrained.overall)} | {_pct(p.pretrained.new)} | "
        f"{_pct(p.pretrained.old)} |",
    ]
    for label, key in (("fine-tuned on the device's shard", "fine_tuned"),
                       ("from scratch on the device's shard", "scratch")):
        accs = [getattr(r, key) for r in p.rows]
        lines.append(f"| {label} | {_mean_sd([a.overall for a in accs])} | {_mean_sd([a.new for a in accs])} | "
                     f"{_mean_sd([a.old for a in accs])} |")
    lines += ["", "Per seed (fine-tuned / from scratch; all, new, old classes):", ""]
    for r in p.rows:
        f, c = r.fine_tuned, r.scratch
        lines.append(f"- seed {r.seed}: fine-tuned {_pct(f.overall)}, {_pct(f.new)}, {_pct(f.old)}; from scratch "
                     f"{_pct(c.overall)}, {_pct(c.new)}, {_pct(c.old)}")
    beats = sum(r.fine_tuned.overall > max(r.scratch.overall, p.pretrained.overall) for r in p.rows)
    lines += ["", f"Fine-tuned beats both the pretrained state and from scratch overall for {beats} of {len(p.rows)} "
              "seeds. Whole-network fine-tuning at the model's learning rate also moves the old classes: what the "
              "new classes gain is partly paid by the old ones (forgetting), more for some orders than others."]
    if device_note:
        lines += ["", device_note]
    return "\n".join(lines) + "\n"


def write_section(out: Path, body: str) -> None:
    from .results_doc import replace_section

    replace_section(out, KEY, body)
