"""The layer kind as the dispatch key: one plan class per kind, and the registry every part reads.

A layer kind is a :class:`LayerPlan` subclass registered with :func:`register_plan` under the
same ``kind`` as its model-file class (:func:`mcutrain.model.spec.register_layer`). The planner
(:func:`mcutrain.arith.plan.make_plan`) builds one from each layer of the model file; from then
on the memory planner, the twin, the generator, the benchmark and the multiplication count ask
the layer's plan, never assume a dense layer:

- sizes: ``n_in``, ``n_out``, ``n_weights``, ``fan_in``; state: ``n_biases``, ``n_bn_words``;
- ranges: :meth:`LayerPlan.check` (raises PlanError naming the layer and the fix);
- memory: :meth:`LayerPlan.memory_items` (its static buffers, docs/contracts.md);
- C: :meth:`LayerPlan.template` (the Jinja2 file the generator includes for it) and the calls the
  skeleton makes in each phase (:meth:`LayerPlan.forward_calls`, ...); :meth:`LayerPlan.functions`;
- twin: registered on the twin's side under the same kind (:func:`mcutrain.twin.layer.register_twin`);
- multiplications a training sample, by formula: :meth:`LayerPlan.multiplications`.

An unknown kind is a :class:`PlanError` (:func:`plan_class`), never a silent dense layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .registry import registrar

if TYPE_CHECKING:
    from .plan import ArithPlan

ACC_LIMIT = (1 << 31) - 1


class PlanError(ValueError):
    """A model whose fixed-point ranges cannot be guaranteed, or that no kind implements (names the fix)."""


@dataclass(frozen=True)
class MemoryItem:
    kind: str      # latent_weights (float weights in float32 mode) | sign_bits | row_index | activations | errors
    #               | update_buffers (update_rounding = "stochastic_shared") | biases | input | runtime | ...
    name: str
    bytes: int


@dataclass(frozen=True)
class PlanContext:
    """What a layer's plan needs from the rest of the model to derive its constants."""

    index: int
    n_in: int
    last: bool             # the output layer
    in_max: int            # largest input value (Q(A) integer) the layer can see
    act_frac: int
    err_frac: int
    latent_shift: int
    act_max: int
    weight_scale_shift: int


@dataclass(frozen=True)
class LayerPlan:
    """Base of the layer kinds' plans. Subclasses set ``kind`` and override what differs."""

    kind: ClassVar[str] = ""
    template_dir: ClassVar[Path | None] = None
    #: The kind has a float32 baseline (a float template and twin) that mt_model_float.c.j2 can include.
    float32_baseline: ClassVar[bool] = False
    """Where the kind's template lives when it is not one of the shipped templates/ (a kind added
    outside the tree, e.g. by a test); the generator searches templates/ first, then these."""
    index: int
    n_in: int
    n_out: int
    relu: bool = False
    ex_min: int = 0     # the layer's quantized-input exponent range, integer units of Q(A) (docs/arithmetic.md,
    ex_max: int = 15    # section 6): its own qbp_exponent_range, else the [training] one (set by make_plan)

    @classmethod
    def from_spec(cls, spec: Any, ctx: PlanContext) -> LayerPlan:
        """The plan of one model-file layer (``spec``, a :class:`mcutrain.model.spec.LayerSpec`)."""
        raise NotImplementedError

    # -- sizes and state -------------------------------------------------------------------
    @property
    def n_weights(self) -> int:
        """Latent weights the layer keeps in the state block."""
        return 0

    @property
    def fan_in(self) -> int:
        return self.n_in

    @property
    def n_biases(self) -> int:
        """int32 biases in the state block."""
        return 0

    @property
    def n_bn_words(self) -> int:
        """int32 batch-norm words in the state block."""
        return 0

    @property
    def draws_per_row(self) -> int:
        return 0

    @property
    def bn_units(self) -> int:
        """Units with their own batch-norm statistics: every output (dense), every output channel (conv2d)."""
        return self.n_out

    @property
    def bias(self) -> bool:
        return self.n_biases > 0

    @property
    def bn(self) -> bool:
        return self.n_bn_words > 0

    def out_max(self, act_max: int) -> int:
        """Largest output value (what the next layer's input can be), given the activations' limit."""
        return act_max

    # -- ranges, memory, code, twin --------------------------------------------------------
    def check(self, plan: ArithPlan) -> None:
        """Prove the layer's int32 ranges; raise PlanError naming the layer otherwise."""

    def memory_items(self, plan: ArithPlan) -> list[MemoryItem]:
        """The layer's own static buffers; its output and error are the skeleton's (mcutrain/codegen/buffers.py)."""
        return []

    # -- what the backward pass reads of the forward pass (mcutrain/codegen/buffers.py) -----
    def update_reads_input(self, plan: ArithPlan) -> bool:
        """The layer's update (or backward pass) reads its input ``x`` after the forward pass, so that
        activation keeps its own array. A kind that does not say keeps it (the safe answer)."""
        return True

    def backward_reads_output(self, plan: ArithPlan) -> bool:
        """The layer's backward pass reads its own output array (``a<k+1>``) after the forward pass; a kind
        that does not say keeps it."""
        return True

    def output_is_input(self, plan: ArithPlan) -> bool:
        """The layer's output lives in its input's array (the skeleton passes the same array as x and y)."""
        return False

    def input_mask(self, plan: ArithPlan) -> bool:
        """The layer's backward pass reads ``m<k>``, 1 bit an input: was it non-zero (the ReLU of the layer
        below), which the skeleton writes after the forward pass produced the input."""
        return False

    def flash_bytes(self, plan: ArithPlan) -> int:
        """Estimated code bytes of the layer's kernels."""
        return 512

    def template(self, plan: ArithPlan) -> str:
        """The Jinja2 template (under templates/ or ``template_dir``) that generates the layer's kernels."""
        raise PlanError(f"layers[{self.index}]: layer kind {self.kind!r} names no C template, so it cannot be "
                        f"generated; implement {type(self).__name__}.template")


    def functions(self, plan: ArithPlan) -> tuple[list[str], list[str]]:
        """(training, inference) C function names of the layer (the multiply check and the counter)."""
        L = f"l{self.index}"
        return [f"{L}_forward_train", f"{L}_backward", f"{L}_update"], [f"{L}_infer"]

    # -- the calls the generated skeleton makes, in its phases -----------------------------
    def forward_calls(self, plan: ArithPlan, x: str, y: str) -> list[str]:
        return [f"l{self.index}_forward_train({x}, {y});"]

    def backward_calls(self, plan: ArithPlan, x: str, d: str, d_in: str | None) -> list[str]:
        """Error of the input into ``d_in`` (None for the first layer), then the update."""
        L = f"l{self.index}"
        return ([f"{L}_backward({d}, {d_in});"] if d_in is not None else []) + [f"{L}_update({x}, {d}, lr_exp);"]

    def infer_calls(self, plan: ArithPlan, x: str, y: str) -> list[str]:
        return [f"l{self.index}_infer({x}, {y});"]

    def batch_calls(self, plan: ArithPlan) -> list[str]:
        """At the end of a mini-batch."""
        return []

    def start_calls(self, plan: ArithPlan) -> list[str]:
        """In mt_session_start, after the weights are drawn."""
        return []

    def sched_load_calls(self, plan: ArithPlan) -> list[str]:
        """In mt_sched_load (a checkpoint is loaded)."""
        return []

    # -- multiplications a training sample, by formula (mcutrain/multiplications.py) -------
    def multiplications(self, *, quantized_weights: bool, qbp: bool, batch_norm: bool, conv: Any) -> Any:
        """A :class:`mcutrain.arith.counts.LayerCount` of the layer's multiplications a training sample."""
        raise PlanError(f"layers[{self.index}]: layer kind {self.kind!r} has no multiplication count; "
                        f"implement {type(self).__name__}.multiplications")


PLAN_KINDS: dict[str, type[LayerPlan]] = {}
"""kind -> plan class; filled by :func:`register_plan`."""

register_plan = registrar(PLAN_KINDS, "plan")
"""Class decorator: make a plan class the one for its ``kind``."""


def plan_class(kind: str, index: int | None = None) -> type[LayerPlan]:
    """The plan class of a kind; PlanError naming the kinds that are implemented if none is registered."""
    cls = PLAN_KINDS.get(kind)
    if cls is None:
        where = f"layers[{index}]: " if index is not None else ""
        raise PlanError(f"{where}layer kind {kind!r} has no arithmetic plan, so it cannot be generated or "
                        f"twinned; use one of {', '.join(sorted(PLAN_KINDS))} (or register a LayerPlan for it)")
    return cls
