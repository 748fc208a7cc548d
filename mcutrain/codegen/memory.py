"""The memory planner: every static buffer of the generated C and the runtime, by kind.

The generator refuses a model whose plan does not fit the board's RAM, before
anything is built; tests compare the plan with the linker's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arith.plan import ArithPlan, DensePlan, make_plan
from ..build.boards import Board
from ..errors import McutrainError

# Static RAM of the hand-written runtime (firmware/core): link receive/transmit
# buffers and the prediction buffer, measured from the linker map (see tests).
RUNTIME_RAM_BYTES = 1024
# Flash: code only (no weights: they live in RAM and start from the PRNG). An estimate from
# measured builds: runtime + board support (protocol v2 with retransmission and checkpoints:
# 7780 B for a 2-layer binary model, 8248 B for the demo), and each dense layer's four kernels.
FLASH_RUNTIME_BYTES = 4864
FLASH_DENSE_LAYER_BYTES = 1536


def plan_flash(plan: ArithPlan) -> int:
    return FLASH_RUNTIME_BYTES + FLASH_DENSE_LAYER_BYTES * len(plan.layers)


class ModelTooLargeError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class MemoryItem:
    kind: str      # latent_weights (float weights in float32 mode) | sign_bits | row_index | activations | errors
    #               | update_buffers (update_rounding = "stochastic_shared") | biases | input | runtime
    name: str
    bytes: int


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


def _align4(n: int) -> int:
    return (n + 3) & ~3


def dense_items(layer: DensePlan, plan: ArithPlan) -> list[MemoryItem]:
    k = layer.index
    if plan.is_float:
        # templates/layers/dense_float.c.j2: float weights (4 bytes each; kind latent_weights, the
        # stored weights of every mode), float activations and errors; no sign bits, no row index.
        return [
            MemoryItem("latent_weights", f"L{k}_W", 4 * layer.n_in * layer.n_out),
            MemoryItem("activations", f"a{k + 1}", 4 * layer.n_out),
            MemoryItem("errors", f"d{k + 1}", 4 * layer.n_out),
        ]
    words = (layer.n_out + 31) // 32
    keep_signs = k > 0 and plan.samples_weights  # the backward pass reads the sampled weights
    keep_nonzero = keep_signs and plan.is_ternary  # ternary: a second bit a weight, non-zero or not
    return [
        MemoryItem("latent_weights", f"L{k}_W", plan.latent_bytes * layer.n_in * layer.n_out),
        MemoryItem("sign_bits", f"l{k}_signs", 4 * layer.n_in * words if keep_signs else 0),
        MemoryItem("sign_bits", f"l{k}_nonzero", 4 * layer.n_in * words if keep_nonzero else 0),
        MemoryItem("row_index", f"l{k}_active", _align4(2 * layer.n_in)),
        MemoryItem("row_index", f"l{k}_rows", 4 * layer.n_in),
        MemoryItem("activations", f"a{k + 1}", 4 * layer.n_out),
        MemoryItem("errors", f"d{k + 1}", 4 * layer.n_out),
        MemoryItem("biases", f"L{k}_B", 4 * layer.n_out if layer.bias else 0),
        # batch norm: mean, deviation, beta (state) and the scale exponents of the last forward pass
        MemoryItem("batch_norm", f"L{k}_MU/DEV/BETA, l{k}_bn_t", 16 * layer.n_out if layer.bn else 0),
        # mini-batches: the summed updates of every weight (int16 or int32, as the proof allows) and bias
        MemoryItem("batch_accumulators", f"l{k}_G",
                   _align4(plan.batch_acc_bytes * layer.n_in * layer.n_out) if plan.batch_shift else 0),
        MemoryItem("batch_accumulators", f"l{k}_GB", 4 * layer.n_out if plan.batch_shift and layer.bias else 0),
        *shared_update_items(layer, plan),
    ]


def shared_update_items(layer: DensePlan, plan: ArithPlan) -> list[MemoryItem]:
    """update_rounding = "stochastic_shared" (templates/layers/dense_update_shared.c.j2): the rows chained by
    exponent (a byte a row below 255 inputs, else two) and one update vector of the layer's outputs."""
    if not (plan.qbp and plan.shared_update):
        return []
    k = layer.index
    return [
        MemoryItem("update_buffers", f"l{k}_next", _align4(layer.n_in * (1 if layer.n_in < 255 else 2))),
        MemoryItem("update_buffers", f"l{k}_u", _align4(layer.n_out * plan.latent_bytes)),
    ]


def plan_memory(plan: ArithPlan, board: Board) -> MemoryPlan:
    items = [MemoryItem("input", "x0", 4 * plan.n_inputs)]
    for layer in plan.layers:
        items += dense_items(layer, plan)
    if plan.state_pad:
        items.append(MemoryItem("biases", "state padding", plan.state_pad))
    items.append(MemoryItem("runtime", "firmware/core buffers", RUNTIME_RAM_BYTES))
    return MemoryPlan(tuple(items), board.stack_bytes, board.ram_bytes)


def check_fits(plan: ArithPlan, board: Board, sizes: list[int]) -> MemoryPlan:
    mem = plan_memory(plan, board)
    if mem.fits():
        return mem
    hint = ""
    if len(sizes) >= 3:
        for h in range(sizes[1] - 1, 0, -1):
            trial = make_plan([sizes[0], h, *sizes[2:]], weights=plan.weights, qbp=plan.qbp,
                              latent_bits=plan.latent_bits, batch_size=plan.batch_size,
                              biases=tuple(la.bias for la in plan.layers),
                              batch_norm=tuple(la.bn for la in plan.layers))
            if plan_memory(trial, board).fits():
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
