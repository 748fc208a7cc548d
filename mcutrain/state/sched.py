"""The schedule words of `mt_sched_save` / `mt_sched_load` on the twin (docs/protocol.md, `C` and `K`).

u32 PRNG state, i32 learning-rate exponent, u32 decay countdown, u32 steps left in the epoch (mini-batch
models; 0 otherwise). Saved at a batch boundary, where the batch accumulators are zero."""

from __future__ import annotations

import struct
from typing import Any

SCHED_FORMAT = "<IiII"


def save_sched(net: Any) -> bytes:
    """The schedule words of a started TwinNetwork, as the device's `mt_sched_save` writes them."""
    assert net.rng is not None, "start() first"
    epoch_left = net.epoch_left if net.plan.batch_shift else 0
    return struct.pack(SCHED_FORMAT, net.rng.state, net.schedule.lr_exp, net.schedule.countdown, epoch_left)


def load_sched(net: Any, sched: bytes) -> None:
    """Set a started TwinNetwork's schedule from the words (`mt_sched_load`: the batch starts empty)."""
    assert net.rng is not None, "start() first"
    if getattr(net, "batch_count", 0):  # pragma: no cover - a caller bug
        raise ValueError("schedule loaded in the middle of a mini-batch")
    state, lr_exp, countdown, epoch_left = struct.unpack(SCHED_FORMAT, sched)
    net.rng.state = state
    net.schedule.lr_exp, net.schedule.countdown = lr_exp, countdown
    if net.plan.batch_shift:
        net.epoch_left = epoch_left
