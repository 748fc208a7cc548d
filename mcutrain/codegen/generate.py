"""`mcutrain generate`: model file -> arithmetic plan -> memory plan -> C and manifest."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..arith.plan import ArithPlan, PlanError, plan_from_spec
from ..build.boards import board_for
from ..errors import McutrainError
from ..state.identity import firmware_hash
from .memory import MemoryPlan, ModelTooLargeError, check_fits, freezing_saved, freezing_summary, plan_flash
from .render import RenderInputs, render_sources, write_sources
from .stack import StackEstimateError, estimate_firmware_stack

MANIFEST_NAME = "manifest.json"


class FixedPointRangeError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class Generated:
    out_dir: Path
    plan: ArithPlan
    memory: MemoryPlan
    manifest: dict[str, Any]


def training_functions(plan: ArithPlan) -> list[str]:
    """The training step's C functions: the skeleton's, then each layer's as its kind names them."""
    names = ["mt_session_start", "mt_train_step", "decode_input", "output_error"]
    for layer in plan.layers:
        names += layer.functions(plan)[0]
    return names


def inference_functions(plan: ArithPlan) -> list[str]:
    names = ["mt_infer", "decode_input"]
    for layer in plan.layers:
        names += layer.functions(plan)[1]
    return names


def stack_estimate(gen_dir: Path, board: Any) -> dict[str, Any]:
    """The static stack estimate of the product firmware (mcutrain/codegen/stack.py) for the manifest;
    without arm-none-eabi-gcc (generation does not need it) the figure is null and the note says why."""
    if shutil.which("arm-none-eabi-gcc") is None:
        return {"bytes": None, "notes": ["arm-none-eabi-gcc not found: no stack estimate "
                                         "(apt-get install gcc-arm-none-eabi)"]}
    try:
        return estimate_firmware_stack(gen_dir, board.pio_env).to_manifest()
    except (StackEstimateError, OSError, KeyError) as exc:
        return {"bytes": None, "notes": [f"no stack estimate: {exc}"]}


def _arithmetic_manifest(plan: ArithPlan) -> dict[str, Any]:
    if plan.is_float:  # docs/arithmetic.md, section 9
        return {
            "weights": "float32", "input_scale": 2.0**-plan.act_frac, "hinge_frac_bits": plan.act_frac,
            "lr_exponents": [plan.lr_start, plan.lr_min],
            # kinds without weights (maxpool, flatten): w0 null
            "layers": [{"kind": la.kind, "n_in": la.n_in, "n_out": la.n_out, "w0": getattr(la, "w0_float", None)}
                       for la in plan.layers],
        }
    return {
        "act_frac_bits": plan.act_frac, "err_frac_bits": plan.err_frac,
        "latent_shift": plan.latent_shift, "act_max": plan.act_max, "err_max": plan.err_max,
        "qbp_exponent_range_int": [plan.ex_min, plan.ex_max],
        # kinds without weights (maxpool, flatten) have no weight shift or update constant: null
        "layers": [{"kind": la.kind, "n_in": la.n_in, "n_out": la.n_out,
                    "weight_shift": getattr(la, "weight_shift", None),
                    "update_const": getattr(la, "update_const", None),
                    "qbp_exponent_range_int": [la.ex_min, la.ex_max]} for la in plan.layers],
    }


def arith_plan(spec: Any) -> ArithPlan:
    try:
        return plan_from_spec(spec)
    except PlanError as exc:
        raise FixedPointRangeError(f"{spec.source or 'model'}: {exc}") from None


def _flash_manifest(plan: ArithPlan, board: Any, init_state: bytes | None, sample_bytes: int = 0) -> dict[str, Any]:
    """Flash: the code estimate, frozen layers' packed signs and biases, the baked state; what freezing saved."""
    import zlib

    baked = plan.state_bytes if init_state is not None else 0  # mt_init_state
    out: dict[str, Any] = {"board_bytes": board.flash_bytes, "planned_bytes_estimate": plan_flash(plan) + baked}
    frozen = [lp for lp in plan.layers if not getattr(lp, "trainable", True)]
    if frozen:
        saved = freezing_saved(plan, board, sample_bytes)
        out["frozen"] = {**saved, "summary": freezing_summary(saved),
                         "layers": [{"index": lp.index, "n_in": lp.n_in, "n_out": lp.n_out,
                                     "packed_sign_bytes": lp.packed_sign_bytes(plan),
                                     "bias_bytes": 4 * lp.n_out if lp.bias else 0} for lp in frozen]}
    if init_state is not None:
        out["init_state"] = {"bytes": plan.state_bytes, "state_file_crc32": f"{zlib.crc32(init_state):08x}"}
    out["note"] = ("code, frozen layers' packed signs and biases, and the baked initial state (--init); trainable "
                   "weights live in RAM, initialised from the PRNG" + (" then the baked state" if init_state else ""))
    return out


def generate(spec: Any, out_dir: Path, init_state: bytes | None = None) -> Generated:
    """Write mt_model.c, mt_model.h and manifest.json into out_dir for a validated ModelSpec; ``init_state``
    (a state file's bytes, mcutrain/state/layout.py) is baked in: frozen layers' packed signs in flash, and the
    state a session starts from (`mcutrain generate --init`). A model with frozen layers needs it."""
    plan = arith_plan(spec)
    board = board_for(spec.board, getattr(spec, "ram_budget", None))
    memory = check_fits(plan, board, spec.layers, spec.input_bytes)
    # a baked firmware's hash covers the state baked into it (mcutrain/state/identity.py)
    fw_hash = firmware_hash(spec.model_hash(), init_state)
    files = render_sources(RenderInputs(
        plan=plan, model_name=spec.name, model_hash=fw_hash,
        encoding=spec.data.encoding, input_bytes=spec.input_bytes, init_state=init_state))
    write_sources(files, out_dir)
    stack = stack_estimate(out_dir, board)
    if stack.get("bytes") is not None and stack["bytes"] > board.stack_bytes:
        raise ModelTooLargeError(
            f"the firmware needs an estimated {stack['bytes']} bytes of stack (deepest call chain "
            f"{' -> '.join(stack['deepest_path'])}) but board {board.name} reserves {board.stack_bytes}")
    manifest = {
        "generator": f"mcutrain {__version__}",
        "model_hash": spec.model_hash(),
        "firmware_hash": fw_hash,   # what `I` sends and the flash store keys with: model_hash unless baked
        "model": spec.to_dict(),
        "board": board.name,
        "ram": {
            "board_bytes": board.ram_bytes,          # the RAM planned and linked for (the ram_budget when set)
            "ram_budget_bytes": board.ram_budget,    # the model file's [model] ram_budget, or null
            "planned_bytes": memory.total(),         # static buffers + the whole stack reservation
            "static_bytes": memory.total_static(),
            # static buffers + the estimated stack: what the firmware uses (compared with the linker's
            # .data + .bss and the stack painted in QEMU by tests/test_memory_plan.py)
            "planned_use_bytes": (memory.total_static() + stack["bytes"]) if stack.get("bytes") is not None
            else None,
            "by_kind": memory.by_kind(),
            "stack_estimate_bytes": stack.get("bytes"),   # static estimate of the deepest call chain
            "stack_estimate": stack,
            "buffers": [{"name": i.name, "kind": i.kind, "bytes": i.bytes} for i in memory.items],
        },
        "flash": _flash_manifest(plan, board, init_state, spec.input_bytes),
        "arithmetic": _arithmetic_manifest(plan),
        "functions": {"training": training_functions(plan), "inference": inference_functions(plan)},
        "files": sorted(files),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return Generated(out_dir, plan, memory, manifest)
