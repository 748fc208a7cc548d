"""The memory planner: every static buffer of the generated C and the runtime, by kind.

The generator refuses a model whose plan does not fit the board's RAM, before
anything is built; tests compare the plan with the linker's figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..arith.layers import MemoryItem
from ..arith.plan import ArithPlan, make_plan
from ..build.boards import Board
from ..errors import McutrainError

# Static RAM of the hand-written runtime (firmware/core): link receive/transmit
# buffers and the prediction buffer, measured from the linker map (see tests).
RUNTIME_RAM_BYTES = 1024
# Flash: code only (no weights: they live in RAM and start from the PRNG). An estimate from
# measured builds: runtime + board support (protocol v2 with retransmission and checkpoints:
# 7780 B for a 2-layer binary model, 8248 B for the demo), and each layer's kernels (its kind's
# LayerPlan.flash_bytes: 1536 B for a dense layer's four).
FLASH_RUNTIME_BYTES = 4864


def plan_flash(plan: ArithPlan) -> int:
    return FLASH_RUNTIME_BYTES + sum(layer.flash_bytes(plan) for layer in plan.layers)


__all__ = ["MemoryItem", "MemoryPlan", "ModelTooLargeError", "check_fits", "freezing_saved", "plan_flash",
           "plan_memory"]


class ModelTooLargeError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class MemoryPlan:
    items: tuple[MemoryItem, ...]
    stack_bytes: int
    ram_bytes: int         # the board's RAM
    def total_static(self) -> int:
        return sum(i.bytes for i in self.items)

    def total(self) -> int:
        return self.total_static() + self.stack_bytes

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.kind] = out.get(item.kind, 0) + item.bytes
        out["stack"] = self.stack_bytes
        return out

    def fits(self) -> bool:
        return self.total() <= self.ram_bytes


#: Samples of more bytes than this travel in sample parts, assembled in a buffer of their size
#: (docs/protocol.md, "Samples larger than one frame"; firmware/core/main.c).
ONE_FRAME_SAMPLE_BYTES = 251


def plan_memory(plan: ArithPlan, board: Board, sample_bytes: int = 0) -> MemoryPlan:
    """``sample_bytes``: the encoded sample's size (the model's input_bytes); over 251 the runtime keeps a
    buffer of that size for assembling the sample's parts."""
    items = [MemoryItem("input", "x0", 4 * plan.n_inputs)]
    if sample_bytes > ONE_FRAME_SAMPLE_BYTES:
        items.append(MemoryItem("runtime", "sample parts buffer", sample_bytes))
    for layer in plan.layers:
        items += layer.memory_items(plan)  # each layer's kind names its buffers (mcutrain/arith/layers.py)
    if plan.state_pad:
        items.append(MemoryItem("biases", "state padding", plan.state_pad))
    items.append(MemoryItem("runtime", "firmware/core buffers", RUNTIME_RAM_BYTES))
    return MemoryPlan(tuple(items), board.stack_bytes, board.ram_bytes)


def check_fits(plan: ArithPlan, board: Board, layer_specs: Sequence[Any] = (), sample_bytes: int = 0) -> MemoryPlan:
    """The memory plan, or ModelTooLargeError naming the fixes; with the model file's layers
    (``layer_specs``) and a dense first hidden layer, the largest first hidden layer that would fit."""
    mem = plan_memory(plan, board, sample_bytes)
    if mem.fits():
        return mem
    hint = ""
    sizes = [plan.n_inputs] + [la.n_out for la in plan.layers]
    first = layer_specs[0] if len(layer_specs) >= 2 else None
    if first is not None and hasattr(first, "units"):
        for h in range(first.units - 1, 0, -1):
            trial = make_plan(plan.n_inputs, [dataclasses.replace(first, units=h), *layer_specs[1:]],
                              weights=plan.weights, qbp=plan.qbp, latent_bits=plan.latent_bits,
                              batch_size=plan.batch_size)
            if plan_memory(trial, board, sample_bytes).fits():
                hint = f" A first hidden layer of {h} units would fit."
                break
    kinds = ", ".join(f"{k} {v}" for k, v in mem.by_kind().items())
    raise ModelTooLargeError(
        f"the model needs {mem.total()} bytes of RAM but board {board.name} has {board.ram_bytes} "
        f"({kinds}).{hint} Use fewer hidden units"
        + (', a binarized weight mode (weights = "sign" with [arithmetic] latent_bits = 8: a quarter of the '
           'weight RAM)' if plan.is_float else "")
        + (f", a smaller batch_size (the batch accumulators of batch_size = {plan.batch_size} take "
           f"{mem.by_kind().get('batch_accumulators', 0)} bytes; batch_size = 1 needs none)"
           if plan.batch_shift else "")
        + (", [arithmetic] latent_bits = 8 (half the weight RAM)" if 1 < plan.latent_bytes < 4 else "")
        + (", [data] pool = 2 (a quarter of the first layer's weights)" if sizes[0] >= 256 else "")
        + ", or a board with more RAM.")


def freezing_saved(plan: ArithPlan, board: Board) -> dict[str, int]:
    """What ``trainable = false`` changes: planned RAM and flash with the frozen layers, and with every layer
    trainable (the same network), in bytes."""
    from ..arith.dense import DensePlan

    learning = dataclasses.replace(plan, layers=tuple(
        dataclasses.replace(lp, trainable=True) if isinstance(lp, DensePlan) else lp for lp in plan.layers))
    ram, ram_all = plan_memory(plan, board).total(), plan_memory(learning, board).total()
    flash, flash_all = plan_flash(plan), plan_flash(learning)
    return {"ram_bytes": ram, "ram_bytes_all_trainable": ram_all, "ram_saved": ram_all - ram,
            "flash_bytes": flash, "flash_bytes_all_trainable": flash_all, "flash_added": flash - flash_all}
