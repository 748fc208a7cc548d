"""Render the Jinja2 templates of the generated C (undefined variables are errors)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from .. import __version__
from ..arith.layers import PLAN_KINDS
from ..arith.plan import ArithPlan, float32_value
from ..build.resources import templates_dir


@dataclass(frozen=True)
class RenderInputs:
    plan: ArithPlan
    model_name: str
    model_hash: str
    encoding: str
    input_bytes: int
    init_state: bytes | None = None  #: a state file's full state bytes to bake (`mcutrain generate --init`)


def c_float(x: float) -> str:
    """A C float literal that is exactly the IEEE single nearest to x: hexadecimal, suffix f."""
    v = float32_value(x)
    if v == 0.0:
        return "0.0f"
    sign, rest = ("-", (-v).hex()) if v < 0 else ("", v.hex())
    mant, exp = rest.split("p")
    mant = mant.rstrip("0").rstrip(".")
    return f"{sign}{mant}p{int(exp)}f"


def _env() -> jinja2.Environment:
    # the shipped templates first, then the folders of layer kinds registered from outside the tree
    extra = sorted({str(c.template_dir) for c in PLAN_KINDS.values() if c.template_dir is not None})
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(templates_dir()), *extra]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_sources(inp: RenderInputs) -> dict[str, str]:
    """Return {file name: text} of the generated C."""
    from .buffers import step_buffers
    from .frozen import check_init, frozen_c, init_c

    plan = inp.plan
    check_init(plan, inp.init_state, inp.model_name)
    # where each layer's weights, biases and batch-norm words start in the state block (section 7)
    offsets, total = [], 0
    for layer in plan.layers:
        offsets.append(total)
        total += layer.n_weights
    bn_offsets, n_bn = [], 0
    for layer in plan.layers:
        bn_offsets.append(n_bn)
        n_bn += layer.n_bn_words
    bias_offsets, n_biases = [], 0
    for layer in plan.layers:
        bias_offsets.append(n_biases)
        n_biases += layer.n_biases
    ctx = {
        "version": __version__,
        "plan": plan,
        "model_name": inp.model_name,
        "model_hash": inp.model_hash,
        "encoding": inp.encoding,
        "input_bytes": inp.input_bytes,
        "n_weights": total,
        "state_bytes": plan.state_bytes if not plan.is_float else plan.latent_bytes * total,
        "bias_offsets": bias_offsets,
        "n_biases": n_biases,
        "bn_offsets": bn_offsets,
        "weight_offsets": offsets,
        "sign_words": [(layer.n_out + 31) // 32 for layer in plan.layers],
        "bufs": step_buffers(plan),   # which array holds each activation, error and mask (buffers.py)
        "c_float": c_float,
        # frozen layers' packed signs and the baked state (mcutrain/codegen/frozen.py)
        "frozen": frozen_c(plan, inp.init_state) if inp.init_state is not None else {},
        "init_state": init_c(plan, inp.init_state) if inp.init_state is not None else None,
    }
    env = _env()
    # the weight mode chooses the top-level template (and with it the layer template)
    top = "mt_model_float.c.j2" if plan.is_float else "mt_model.c.j2"
    return {
        "mt_model.h": env.get_template("mt_model.h.j2").render(ctx),
        "mt_model.c": env.get_template(top).render(ctx),
    }


def write_sources(files: dict[str, str], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        p = out_dir / name
        p.write_text(text)
        paths.append(p)
    return paths
