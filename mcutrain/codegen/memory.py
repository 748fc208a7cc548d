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
from .buffers import step_buffers

# Static RAM of the hand-written runtime (firmware/core): link receive/transmit buffers (257 + 257 + 260),
# the frame body being sent (255), the prediction buffer (64) and the protocol's counters, with the linker's
# alignment padding: .data + .bss minus the model's buffers measured 1196 B (the demo) and 1199 B (the CNN
# example) on netduinoplus2 (tests/test_conv_memory.py checks it within 32 bytes).
RUNTIME_RAM_BYTES = 1200
# Flash: code only (no weights: they live in RAM and start from the PRNG). An estimate from
# measured builds: runtime + board support (protocol v2 with retransmission and checkpoints:
# 7780 B for a 2-layer binary model, 8248 B for the demo), and each layer's kernels (its kind's
# LayerPlan.flash_bytes: 1536 B for a dense layer's four).
FLASH_RUNTIME_BYTES = 4864


def plan_flash(plan: ArithPlan) -> int:
    return FLASH_RUNTIME_BYTES + sum(layer.flash_bytes(plan) for layer in plan.layers)


__all__ = ["MemoryItem", "MemoryPlan", "ModelTooLargeError", "check_fits", "freezing_saved", "freezing_summary",
           "layer_ram", "plan_flash", "plan_memory", "ram_name"]


class ModelTooLargeError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class MemoryPlan:
    items: tuple[MemoryItem, ...]
    stack_bytes: int
    ram_bytes: int         # the RAM planned for: the board's, or the model's ram_budget
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
    # the skeleton's activations, errors and ReLU masks (buffers.py: shared map buffers, kept activations)
    items = step_buffers(plan).items()
    if sample_bytes > ONE_FRAME_SAMPLE_BYTES:
        items.append(MemoryItem("runtime", "sample parts buffer", sample_bytes))
    for layer in plan.layers:
        items += layer.memory_items(plan)  # each layer's kind names its buffers (mcutrain/arith/layers.py)
    if plan.state_pad:
        items.append(MemoryItem("biases", "state padding", plan.state_pad))
    items.append(MemoryItem("runtime", "firmware/core buffers", RUNTIME_RAM_BYTES))
    return MemoryPlan(tuple(items), board.stack_bytes, board.ram_bytes)


def ram_name(board: Board) -> str:
    """How a board's RAM is named in messages: its whole RAM, or the model's ram_budget on it."""
    if board.ram_budget is not None:
        return f"the model's ram_budget of {board.ram_bytes} bytes (board {board.name})"
    return f"board {board.name}'s {board.ram_bytes} bytes"


def layer_ram(plan: ArithPlan) -> list[tuple[int, str, int, tuple[MemoryItem, ...]]]:
    """Per layer: (index, kind, bytes, its buffers), as the plan counts them."""
    out = []
    for layer in plan.layers:
        items = tuple(layer.memory_items(plan))
        out.append((layer.index, layer.kind, sum(i.bytes for i in items), items))
    return out


def _largest(plan: ArithPlan, mem: MemoryPlan) -> str:
    """The three largest buffers (with their layer) and the layer holding the most RAM."""
    owner = {i.name: f"layers[{k}] {kind}" for k, kind, _, items in layer_ram(plan) for i in items}
    top = sorted(mem.items, key=lambda i: -i.bytes)[:3]
    where = {"feature_maps": "shared by the layers"}   # the skeleton's map buffers (buffers.py)
    bufs = ", ".join(f"{i.name} {i.bytes} ({owner.get(i.name, where.get(i.kind, i.kind))}, {i.kind})" for i in top)
    k, kind, nbytes, _ = max(layer_ram(plan), key=lambda t: t[2])
    return (f" Largest buffers: {bufs}; the layer holding the most is layers[{k}] ({kind}, {nbytes} bytes, "
            f"{100 * nbytes // max(1, mem.total())}% of the plan).")


def _conv_fixes(plan: ArithPlan) -> str:
    """Fixes that shrink a convolutional network: the widest conv layer's filters, the input size."""
    convs = [la for la in plan.layers if la.kind == "conv2d"]
    if not convs:
        return ""
    widest = max(convs, key=lambda la: la.n_out)   # the largest output map sizes the shared map buffers
    first = plan.layers[0]
    smaller = (" a smaller input ([data] pool = 2, or stride = 2 in layers[0])" if first.kind == "conv2d"
               and getattr(first, "stride", 1) == 1 else " a smaller input ([data] pool = 2)")
    return (f" fewer filters (layers[{widest.index}] conv2d has {getattr(widest, 'filters', '?')}; its output "
            f"map takes {4 * widest.n_out} bytes, and its error as much), a max-pool or stride 2 sooner (smaller "
            "maps),"
            f"{smaller},")


def check_fits(plan: ArithPlan, board: Board, layer_specs: Sequence[Any] = (), sample_bytes: int = 0) -> MemoryPlan:
    """The memory plan, or ModelTooLargeError naming the largest buffers, their layer and the fixes; with
    the model file's layers (``layer_specs``) and a dense first hidden layer, the largest first hidden layer
    that would fit. ``board.ram_bytes`` is the RAM planned for: the board's, or the model's ram_budget."""
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
    more = ("a larger ram_budget (at most the board's RAM) or a board with more RAM" if board.ram_budget is not None
            else "or a board with more RAM")
    dense = any(la.kind == "dense" and la.index < len(plan.layers) - 1 for la in plan.layers)
    raise ModelTooLargeError(
        f"the model needs {mem.total()} bytes of RAM but {ram_name(board)} are available "
        f"({kinds}), {mem.total() - mem.ram_bytes} bytes over.{_largest(plan, mem)}{hint} Use"
        + _conv_fixes(plan)
        + (" fewer hidden units," if dense or not _conv_fixes(plan) else "")
        + (' a binarized weight mode (weights = "sign" with [arithmetic] latent_bits = 8: a quarter of the '
           'weight RAM),' if plan.is_float else "")
        + (f" a smaller batch_size (the batch accumulators of batch_size = {plan.batch_size} take "
           f"{mem.by_kind().get('batch_accumulators', 0)} bytes; batch_size = 1 needs none),"
           if plan.batch_shift else "")
        + (" [arithmetic] latent_bits = 8 (half the weight RAM)," if 1 < plan.latent_bytes < 4 else "")
        + (" [data] pool = 2 (a quarter of the first layer's weights)," if sizes[0] >= 256
           and plan.layers[0].kind == "dense" else "")
        + f" {more}.")


def freezing_saved(plan: ArithPlan, board: Board, sample_bytes: int = 0) -> dict[str, int]:
    """What ``trainable = false`` changes: planned RAM and flash with the frozen layers, and with every layer
    trainable (the same network), in bytes; the frozen layers' latents (what they would keep in RAM) and their
    packed signs (what they keep in flash instead)."""
    from ..arith.plan import unfrozen_plan

    learning = unfrozen_plan(plan)
    ram, ram_all = plan_memory(plan, board, sample_bytes).total(), plan_memory(learning, board, sample_bytes).total()
    flash, flash_all = plan_flash(plan), plan_flash(learning)
    frozen = [lp for lp in plan.layers if not getattr(lp, "trainable", True)]
    return {"ram_bytes": ram, "ram_bytes_all_trainable": ram_all, "ram_saved": ram_all - ram,
            "flash_bytes": flash, "flash_bytes_all_trainable": flash_all, "flash_added": flash - flash_all,
            "frozen_layers": len(frozen),
            "frozen_latent_bytes": sum(plan.latent_bytes * lp.n_in * lp.n_out for lp in frozen),
            "packed_sign_bytes": sum(lp.packed_sign_bytes(plan) for lp in frozen)}


def freezing_summary(saved: dict[str, int]) -> str:
    """One line of :func:`freezing_saved`, e.g. "frozen: 412 KB of latents as 48 KB of packed bits in flash;
    RAM 30 KB instead of 430 KB"."""
    def kb(n: int) -> str:
        return f"{n / 1024:.1f} KB"

    return (f"frozen: {saved['frozen_layers']} layers, {kb(saved['frozen_latent_bytes'])} of latent weights kept "
            f"as {kb(saved['packed_sign_bytes'])} of packed bits in flash; RAM {kb(saved['ram_bytes'])} planned "
            f"instead of {kb(saved['ram_bytes_all_trainable'])} ({kb(saved['ram_saved'])} saved), flash "
            f"{kb(saved['flash_bytes'])} instead of {kb(saved['flash_bytes_all_trainable'])}")
