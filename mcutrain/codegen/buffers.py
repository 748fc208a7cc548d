"""Which array of the generated C holds each activation, error and ReLU mask of a training step.

Activation ``k`` is the decoded input (``k = 0``) or the output of ``layers[k-1]``; error ``k`` is the error at
activation ``k`` (from the first trainable layer's output up). A training step runs the forward pass (layer ``k``
reads activation ``k`` and writes ``k + 1``), the output error, then the backward pass (layer ``k`` reads error
``k + 1`` and writes error ``k``, its update reads error ``k + 1`` and, for some kinds, activation ``k``). So:

- an activation that something reads after the forward pass is **kept** in its own array (``x0``, ``a<k>``): the
  input of a layer whose update reads its input (:meth:`LayerPlan.update_reads_input`: dense; conv2d without
  QBP), the output of a layer whose backward pass reads its output, and the network's output;
- every other activation lives in one of two shared **map buffers** (``mt_map0``, ``mt_map1``) only while the
  forward pass needs it: activation ``k`` and ``k + 1`` in different ones;
- the errors use the same two map buffers (the forward pass is over): error ``k`` and ``k + 1`` in different ones;
- where a layer's backward pass needs to know which of its inputs were zero (the ReLU of the layer below:
  :meth:`LayerPlan.input_mask`), the skeleton keeps that as 1 bit a value (``m<k>``), written right after the
  forward pass produced activation ``k``.

The float32 baseline (templates/mt_model_float.c.j2) keeps every activation and error in its own array.
The generator (templates/mt_model.c.j2) and the memory planner (memory.py) both read :func:`step_buffers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arith.layers import MemoryItem
from ..arith.plan import ArithPlan

MAPS = ("mt_map0", "mt_map1")


@dataclass(frozen=True)
class Buffer:
    """One static array of the skeleton."""

    name: str
    ctype: str      # int32_t | uint8_t
    count: int      # elements
    kind: str       # the memory item's kind
    comment: str

    @property
    def bytes(self) -> int:
        return self.count * (4 if self.ctype in ("int32_t", "float") else 1)


@dataclass(frozen=True)
class StepBuffers:
    act: tuple[str, ...]             # C array of activation k, k = 0..N
    err: tuple[str | None, ...]      # C array of error k (None: no error there)
    mask: tuple[str | None, ...]     # the 1-bit "was non-zero" mask of activation k (None: not kept)
    buffers: tuple[Buffer, ...]      # the declarations, in order

    @property
    def maps(self) -> tuple[str, ...]:
        return MAPS

    def items(self) -> list[MemoryItem]:
        return [MemoryItem(b.kind, b.name, b.bytes) for b in self.buffers]


def _act_label(k: int) -> str:
    return "x0 (the decoded input)" if k == 0 else f"a{k} (output of layer {k - 1})"


def mask_words(n: int) -> int:
    """Bytes of a 1-bit mask of ``n`` values, in whole 32-bit words."""
    return (n + 31) // 32 * 4


def step_buffers(plan: ArithPlan) -> StepBuffers:
    layers = plan.layers
    n = len(layers)
    sizes = [plan.n_inputs] + [la.n_out for la in layers]
    err_ks = range(plan.first_trainable + 1, n + 1)
    if plan.is_float:
        bufs = [Buffer("x0", "float", sizes[0], "input", "decoded input")]
        for k in range(1, n + 1):
            bufs.append(Buffer(f"a{k}", "float", sizes[k], "activations", f"output of layer {k - 1}"))
            bufs.append(Buffer(f"d{k}", "float", sizes[k], "errors", f"error at the output of layer {k - 1}"))
        return StepBuffers(("x0",) + tuple(f"a{k}" for k in range(1, n + 1)),
                           (None,) + tuple(f"d{k}" for k in range(1, n + 1)), (None,) * (n + 1), tuple(bufs))

    keep = [k == n or (k < n and layers[k].update_reads_input(plan))
            or (k > 0 and layers[k - 1].backward_reads_output(plan)) for k in range(n + 1)]
    # a layer whose output is its input's array (flatten): one array for both, kept if either must be
    same = [k > 0 and layers[k - 1].output_is_input(plan) for k in range(n + 1)]
    for k in range(n, 0, -1):
        if same[k]:
            keep[k - 1] = keep[k] = keep[k - 1] or keep[k]
    slot: list[int | None] = [None] * (n + 1)
    name = ["x0"] + [f"a{k}" for k in range(1, n + 1)]
    need = [0, 0]
    members: list[list[str]] = [[], []]
    for k in range(n + 1):
        if same[k]:
            slot[k], name[k] = slot[k - 1], name[k - 1]
        elif keep[k]:
            continue
        elif k > 0 and slot[k - 1] is not None:
            slot[k] = 1 - slot[k - 1]                    # activation k-1 is read while k is written
        else:                                            # the one that grows least
            slot[k] = min((0, 1), key=lambda j: (max(0, sizes[k] - need[j]), j))
        if (s := slot[k]) is not None:
            need[s] = max(need[s], sizes[k])
            members[s].append("x0" if k == 0 else f"a{k}")
    err: list[str | None] = [None] * (n + 1)
    err_members: list[list[str]] = [[], []]
    for k in err_ks:
        s = (n - k) % 2                                  # error k+1 is read while k is written
        err[k] = MAPS[s]
        need[s] = max(need[s], sizes[k])
        err_members[s].append(f"d{k}")
    act = tuple(MAPS[s] if (s := slot[k]) is not None else name[k] for k in range(n + 1))
    mask = tuple((f"m{k}" if k < n and layers[k].input_mask(plan) else None) for k in range(n + 1))

    bufs: list[Buffer] = []
    for s in (0, 1):
        if need[s]:
            fwd = f"forward pass {', '.join(members[s])}; " if members[s] else ""
            bwd = f"backward pass {', '.join(reversed(err_members[s]))} (errors, Q{plan.err_frac})" if err_members[s] \
                else "no error"
            bufs.append(Buffer(MAPS[s], "int32_t", need[s], "feature_maps", f"shared: {fwd}{bwd}"))
    for k in range(n + 1):
        if keep[k] and not same[k]:
            group = [k] + [j for j in range(k + 1, n + 1) if all(same[k + 1:j + 1])]
            k2 = group[-1]
            why = ("the output: argmax and the output error" if k2 == n else
                   f"kept for layer {k2}'s update" if layers[k2].update_reads_input(plan) else
                   f"kept for layer {k2 - 1}'s backward pass")
            also = "".join(f"; also a{j} (layer {j - 1}'s output is its input's array)" for j in group[1:])
            bufs.append(Buffer(act[k], "int32_t", max(sizes[j] for j in group), "input" if k == 0 else "activations",
                               f"{_act_label(k)}, {why}{also}"))
    for k, m in enumerate(mask):
        if m is not None:
            bufs.append(Buffer(m, "uint8_t", mask_words(sizes[k]), "masks",
                               f"bit i = {_act_label(k)}[i] != 0 (the ReLU mask layer {k}'s backward pass reads)"))
    return StepBuffers(act, tuple(err), mask, tuple(bufs))
