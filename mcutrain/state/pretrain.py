"""`mcutrain pretrain`: the integer twin trained on the host, written to a state file.

The twin is the device's arithmetic bit for bit (docs/arithmetic.md), and the session is the one
`mcutrain train` runs on the device with the same model file: seed and epochs from the model file, epoch
e visiting the PCG64([seed, e]) permutation of the training set (host/twin_run.py, the one twin loop).
So the state file holds exactly the state the device would have after training on the same data.

Every ``save_every`` samples (at the first mini-batch boundary from there) and at the end, the state file is written
(atomically) with the position in the sample order and the schedule words; ``resume`` goes on from such
a file bit-identically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import McutrainError
from . import file as sfile
from .layout import state_layout


@dataclass
class PretrainResult:
    state_file: sfile.StateFile
    samples_trained: int     #: in this run (after a resume: since the resume)
    resumed_from: int | None
    train_accuracy: float | None  #: online (prediction before each update) over this run's samples
    test_accuracy: float
    seconds: float


def pretrain(spec: Any, ds: Any, out: Path, *, resume: bool = False, save_every: int = 10000,
             quiet: bool = False, progress: Any = None) -> PretrainResult:
    """Train ``spec``'s twin on ``ds`` and write the state file ``out``; with ``resume`` go on from ``out``."""
    from ..host.twin_run import sample_order, train_twin
    from ..job import encoded_data, twin_data
    from ..progress import ProgressBar
    from ..twin import TwinNetwork
    from .sched import save_sched

    t0 = time.monotonic()
    layout = state_layout(spec)  # refuses the float32 baseline with the reason
    if any(not getattr(la, "trainable", True) for la in spec.layers):
        raise McutrainError(f"{spec.name} has frozen layers (trainable = false): pretrain the network with every "
                            "layer learning (the same model file without trainable = false; its state file is "
                            "this model's too), then `mcutrain generate/train MODEL --init STATE`")
    train_enc, test_enc = encoded_data(spec, ds)
    plan, x_train, x_test = twin_data(spec, train_enc, test_enc)
    y = np.asarray(ds.y_train)
    n, seed = len(y), spec.seed
    order = sample_order(seed, n, spec.training.epochs)
    init = sched = None
    first = 0
    if resume:
        old = sfile.read(out, layout, spec.model_hash())
        h = old.header
        if h.source != "pretrain" or h.seed != seed or h.samples_total != len(order):
            raise McutrainError(f"{out} is not a pretraining of this session (source {h.source}, seed {h.seed}, "
                                f"{h.samples_total} samples; this one: seed {seed}, {len(order)} samples): "
                                "pretrain again without --resume")
        init, sched, first = old.state, old.sched, h.samples_trained

    def state_file(net: Any, k: int) -> sfile.StateFile:
        header = sfile.StateHeader(spec.model_hash(), spec.name, layout.nbytes,
                                   tuple(s.name for s in layout.segments), k, len(order), seed, "pretrain")
        return sfile.StateFile(header, net.state_bytes(), save_sched(net))

    bar = (progress or ProgressBar)(len(order), "pretrain", quiet)
    bar.update(first)

    next_save = [(first // save_every + 1) * save_every if save_every else 0]

    def on_step(k: int, net: Any) -> None:
        bar.update(k)
        # every save_every samples, at the first mini-batch boundary from there (the accumulators are empty)
        if save_every and next_save[0] <= k < len(order) and getattr(net, "batch_count", 0) == 0:
            state_file(net, k).write(out)
            next_save[0] = (k // save_every + 1) * save_every

    net = TwinNetwork(plan)
    run = train_twin(net, seed, n, x_train, y, order, init_state=init, sched=sched, first=first, on_step=on_step)
    bar.close()
    final = state_file(net, len(order))
    final.write(out)
    trained = len(order) - first
    test_acc = float((net.infer(x_test) == np.asarray(ds.y_test)).mean()) if len(x_test) else 0.0
    return PretrainResult(final, trained, first if resume else None,
                          run.hits(y, order[first:]) / trained if trained else None, test_acc,
                          time.monotonic() - t0)
