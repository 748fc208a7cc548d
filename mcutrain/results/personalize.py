"""The personalization demo (issue 14): pretrain on MNIST on the host, fine-tune on other writers' digits.

`mcutrain personalize PRE.toml TUNE.toml -o docs/results.md`: PRE (MNIST) is pretrained on the twin into a
state file (`mcutrain pretrain`; reused when ``state`` names one of that model); TUNE is the same network
(the same model hash: only the data set, its sizes, the epochs and the seed differ) on the device's data,
scikit-learn's 8x8 digits (mcutrain/data/digits.py: 1,000 device-training images, 797 held out). For each
seed, on the twin, which is the device bit for bit (`mcutrain train TUNE --init STATE --verify`, and
tests/test_state_qemu.py on the M4F and M0 boards):

- pretrained: the MNIST state, no fine-tuning, on the held-out digits;
- fine-tuned: that state trained on the device-training digits (TUNE's epochs, the seed's order);
- from scratch: the device's own initialisation trained on the same samples in the same order;
- and the MNIST test accuracy of the pretrained and of each fine-tuned state (what was forgotten).
- last layer only: the same fine-tuning with every layer but the last frozen (``trainable = false``: the
  packed signs of the pretrained latents, no update); on the twin, whose frozen layers the generated C
  matches bit for bit (tests/test_frozen.py, tests/test_frozen_qemu.py).
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

KEY = "personalize"


@dataclass
class SeedRow:
    samples: int           #: device-training images used (the first of the 1,000)
    seed: int
    fine_tuned: float
    scratch: float
    mnist_after: float
    last_layer: float      #: fine-tuned with every layer but the last frozen (trainable = false; twin only)


@dataclass
class Personalization:
    pre_model: str
    tune_model: str
    model_hash: str
    pre_samples: int
    pre_mnist: float       #: pretrained state, MNIST test set
    pretrained: float      #: pretrained state, held-out digits
    tune_train: int
    tune_test: int
    tune_epochs: int
    rows: list[SeedRow]
    seconds: float


def _accuracy(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((net.infer(x) == y).mean())


def measure(pre: Any, pre_ds: Any, tune: Any, tune_ds: Any, state_path: Path, seeds: list[int],
            sizes: list[int] | None = None, log: Any = None) -> Personalization:
    """Pretrain ``pre`` into ``state_path`` (unless it holds that pretraining already), then the three
    figures on ``tune``'s held-out set for each seed, training on the first n device images for each n of
    ``sizes`` (default: all of them)."""
    from ..arith.plan import plan_from_spec
    from ..fleet.layout import load_twin_state
    from ..host.twin_run import sample_order, train_twin
    from ..job import encoded_data, twin_data
    from ..state import file as sfile
    from ..state.layout import state_layout
    from ..state.pretrain import pretrain
    from ..twin import TwinNetwork

    t0 = time.monotonic()
    if pre.model_hash() != tune.model_hash():
        raise McutrainError(f"{pre.name} (model {pre.model_hash()}) and {tune.name} (model {tune.model_hash()}) "
                            "are different networks: the fine-tuning model file may change only [data], epochs, "
                            "seed and name")
    done = None
    if state_path.exists():
        sf = sfile.read(state_path, state_layout(pre), pre.model_hash())
        h = sf.header
        if h.source == "pretrain" and h.seed == pre.seed and h.samples_trained == h.samples_total == \
                len(pre_ds.y_train) * pre.training.epochs:
            done = sf
    if done is None:
        if log:
            log(f"pretraining {pre.name} on the twin into {state_path}")
        done = pretrain(pre, pre_ds, state_path, quiet=log is None).state_file
    plan, _, x_mnist = twin_data(pre, *encoded_data(pre, pre_ds))
    _, x_tr, x_te = twin_data(tune, *encoded_data(tune, tune_ds))
    y_tr, y_te, y_mnist = (np.asarray(a) for a in (tune_ds.y_train, tune_ds.y_test, pre_ds.y_test))
    net = TwinNetwork(plan)
    net.start(1, 0)
    load_twin_state(net, done.state)
    pre_mnist, pretrained = _accuracy(net, x_mnist, y_mnist), _accuracy(net, x_te, y_te)
    head_plan = plan_from_spec(dataclasses.replace(tune, layers=tuple(
        dataclasses.replace(la, trainable=False) for la in tune.layers[:-1]) + (tune.layers[-1],)))
    rows = []
    for n in sizes or [len(y_tr)]:
        if not 0 < n <= len(y_tr):
            raise McutrainError(f"{n} device-training images: the data set has {len(y_tr)}; pick 1..{len(y_tr)}")
        for seed in seeds:
            order = sample_order(seed, n, tune.training.epochs)  # a session over the first n images
            tuned, scratch = TwinNetwork(plan), TwinNetwork(plan)
            train_twin(tuned, seed, n, x_tr, y_tr, order, init_state=done.state)
            train_twin(scratch, seed, n, x_tr, y_tr, order)
            head = TwinNetwork(head_plan)
            train_twin(head, seed, n, x_tr, y_tr, order, init_state=done.state)
            rows.append(SeedRow(n, seed, _accuracy(tuned, x_te, y_te), _accuracy(scratch, x_te, y_te),
                                _accuracy(tuned, x_mnist, y_mnist), _accuracy(head, x_te, y_te)))
            if log:
                r = rows[-1]
                log(f"{n} images, seed {seed}: fine-tuned {r.fine_tuned:.4f}, from scratch {r.scratch:.4f}, "
                    f"MNIST after {r.mnist_after:.4f}")
    return Personalization(pre.name, tune.name, pre.model_hash(), done.header.samples_trained, pre_mnist,
                           pretrained, len(y_tr), len(y_te), tune.training.epochs, rows, time.monotonic() - t0)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _mean_sd(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs) * 100:.2f}% ± {sd * 100:.2f}"


def render(p: Personalization, command: str) -> str:
    from .results_doc import machine_description

    lines = [
        "## Personalization: pretrained on MNIST on the host, fine-tuned on other writers' digits (issue 14)",
        "",
        f"`{command}` ({p.seconds:.0f} s on {machine_description()}). The network of `{p.pre_model}` "
        f"(model {p.model_hash}) is pretrained on the host's integer twin over {p.pre_samples} MNIST samples "
        "(`mcutrain pretrain`, the device's session bit for bit), then fine-tuned on the device's data: "
        "scikit-learn's 8x8 digits (other writers, another scanner), resampled to 20x20 and centred in 28x28 "
        f"like MNIST's, up to {p.tune_train} images to train on the device (the first n), {p.tune_test} held "
        f"out. Fine-tuning trains every layer for {p.tune_epochs} epochs over the n images from the "
        f"pretrained state with a fresh schedule (`mcutrain train {p.tune_model}.toml --init STATE`); from "
        "scratch trains the device's own initialisation on the same samples in the same order. The figures "
        "are the twin's, which tests/test_state_qemu.py shows bit-exact with the device (Cortex-M4F and M0) "
        f"for the same commands. Accuracy on the {p.tune_test} held-out digits, mean ± sd over the seeds "
        f"({', '.join(str(r.seed) for r in p.rows if r.samples == p.rows[0].samples)}); MNIST test accuracy "
        f"of the pretrained state: {_pct(p.pre_mnist)}.",
        "",
        "| device images | pretrained, no fine-tuning | fine-tuned on the device | from scratch on the device | "
        "fine-tuned beats both | MNIST test after fine-tuning | last layer only (frozen layers, twin) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted({r.samples for r in p.rows}):
        rs = [r for r in p.rows if r.samples == n]
        ft, sc, mn, ll = ([getattr(r, k) for r in rs] for k in ("fine_tuned", "scratch", "mnist_after", "last_layer"))
        beats = sum(f > max(x, p.pretrained) for f, x in zip(ft, sc, strict=True))
        lines.append(f"| {n} | {_pct(p.pretrained)} | {_mean_sd(ft)} | {_mean_sd(sc)} | {beats} of {len(rs)} | "
                     f"{_mean_sd(mn)} | {_mean_sd(ll)} |")
    lines += [
        "",
        "Last layer only: the hidden layer frozen (`trainable = false`), the packed signs of its pretrained "
        "latents, only the output layer learning; computed by the twin, which the generated C's frozen layers "
        "match bit for bit (tests/test_frozen_qemu.py; on the device: `mcutrain train TUNE --init STATE` with "
        "trainable = false). CIFAR-10 classes learned on the device: section \"CIFAR-10 classes 8-9 learned on "
        "the device that pretraining never saw\" (bench/cifar_finetune.py).",
    ]
    return "\n".join(lines) + "\n"


def write_section(out: Path, p: Personalization, command: str) -> str:
    from .results_doc import replace_section

    body = render(p, command)
    replace_section(out, KEY, body)
    return body
