"""Why a CNN does (not) learn in the integer twin: train a model file's network for N samples with the twin and
count, layer by layer, what saturates and what rounds away (issue 12, "CNN accuracy with the integer twin").

    python bench/cnn_probe.py examples/cifar10_cnn_128k.toml --samples 10000 --test 1000 \
        [--set learning_rate=-6 --set weights=float32 ...] [--stats-every 50]

Every --stats-every-th training step is instrumented (the twin's own arithmetic is not changed: the layers'
methods are wrapped and their inputs/outputs read):
  - forward: the fraction of a layer's outputs at ACT_MAX (saturated) and at 0 (ReLU off), and the mean non-zero
    output in real units (value / 2^A); for the last layer the class scores' mean |score| against the hinge
    target 1;
  - loss: the output error's fraction at ERR_MAX, and the hinge sum;
  - backward: the fraction of the input error at ERR_MAX;
  - update: the fraction of latent weights that changed in the step (an update that rounds to zero changes
    nothing), the fraction at the latent bounds, and (ternary) the fraction of non-zero deterministic weights.
Prints one JSON object (settings, test accuracy, the averaged counters). `--table FILE.jsonl ...` prints the
markdown table of such lines instead (docs/results.md, section "CNN accuracy with the integer twin").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.host.twin_run import sample_order, train_twin  # noqa: E402

from mcutrain.job import encoded_data, load_data, twin_data  # noqa: E402
from mcutrain.model import load_model  # noqa: E402
from mcutrain.results.cnn_results import evaluate  # noqa: E402
from mcutrain.twin import make_twin  # noqa: E402
from mcutrain.twin import network as twin_network  # noqa: E402


def edited(text: str, key: str, value: str) -> str:
    """The model text with every ``key = ...`` line set to ``value`` (added under [training] / [arithmetic] when
    absent, for keys of those tables)."""
    pat = re.compile(rf"^{re.escape(key)}\s*=.*$", re.M)
    if pat.search(text):
        return pat.sub(f"{key} = {value}", text)
    arith = {"latent_bits", "weight_scale_shift", "update_rounding", "activation_frac_bits", "error_frac_bits"}
    table = "arithmetic" if key in arith else "training"
    header = re.compile(rf"^\[{table}\]\s*$", re.M)
    if not header.search(text):
        return text.rstrip("\n") + f"\n\n[{table}]\n{key} = {value}\n"
    return header.sub(f"[{table}]\n{key} = {value}", text, count=1)


class Probe:
    """Counters of one run, filled by the wrapped layer methods on instrumented steps."""

    def __init__(self) -> None:
        self.on = False
        self.sums: dict[str, list[float]] = defaultdict(list)

    def add(self, key: str, value: float) -> None:
        if self.on:
            self.sums[key].append(float(value))

    def summary(self) -> dict[str, float]:
        return {k: round(float(np.mean(v)), 5) for k, v in sorted(self.sums.items())}


def instrument(net: Any, probe: Probe) -> None:
    plan = net.plan
    amax, emax, one = plan.act_max, plan.err_max, 1 << plan.act_frac
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        kind = layer.layer.kind
        tag = f"l{i}_{kind}"
        fwd = layer.forward_train

        def forward_train(x: Any, rng: Any, _f: Any = fwd, _t: str = tag, _last: bool = i == last) -> Any:
            y = _f(x, rng)
            if probe.on and kind_of(_t) in ("conv2d", "dense"):
                y_ = np.asarray(y, np.float64)
                if _last:
                    probe.add(_t + ".score_abs_mean", np.abs(y_).mean() / one)
                    probe.add(_t + ".score_at_actmax", np.mean(np.abs(y_) >= amax))
                else:
                    probe.add(_t + ".out_at_actmax", np.mean(y_ >= amax))
                    probe.add(_t + ".out_zero", np.mean(y_ == 0))
                    nz = y_[y_ != 0]
                    probe.add(_t + ".out_nonzero_mean", nz.mean() / one if len(nz) else 0.0)
            return y
        layer.forward_train = forward_train

        if hasattr(layer, "backward") and kind in ("conv2d", "dense"):
            bwd = layer.backward

            def backward(*a: Any, _f: Any = bwd, _t: str = tag) -> Any:
                g = _f(*a)
                if probe.on and g is not None:
                    g_ = np.asarray(g)
                    probe.add(_t + ".in_err_at_errmax", np.mean(np.abs(g_) >= emax))
                    probe.add(_t + ".in_err_abs_mean", np.abs(g_).mean() / (1 << plan.err_frac))
                return g
            layer.backward = backward

        if hasattr(layer, "update") and hasattr(layer, "W") and kind in ("conv2d", "dense"):
            upd = layer.update

            def update(*a: Any, _f: Any = upd, _t: str = tag, _l: Any = layer) -> Any:
                before = np.array(_l.W, copy=True) if probe.on else None
                r = _f(*a)
                if before is not None:
                    w = np.asarray(_l.W)
                    probe.add(_t + ".w_changed", np.mean(w != before))
                    if np.issubdtype(w.dtype, np.integer):
                        w0 = plan.w0
                        probe.add(_t + ".w_at_bound", np.mean((w <= -w0) | (w >= w0 - 1)))
                        if plan.is_ternary:
                            det = _l.weights() if hasattr(_l, "weights") else _l.deterministic_weights()
                            probe.add(_t + ".ternary_nonzero", np.mean(np.abs(det) > 0))
                return r
            layer.update = update


def kind_of(tag: str) -> str:
    return tag.split("_", 1)[1]


def _layer_values(stats: dict[str, float], what: str) -> str:
    """'l0 0.77 / l1 0.76 ...' of one counter over the layers (percent)."""
    vals = [(k.split("_", 1)[0], v) for k, v in stats.items() if k.endswith("." + what)]
    return " / ".join(f"{100 * v:.1f}" for _, v in vals) if vals else "-"


def table(files: list[Path]) -> str:
    """Markdown rows of probe lines (JSON, one a line)."""
    rows = ["| model | settings changed | samples | test acc. (first N) | ReLU outputs 0, % (per layer) "
            "| latents changed a step, % | latents at the bound, % | at ACT_MAX / ERR_MAX, % | mean abs. score "
            "| hinge sum | CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in files:
        for line in f.read_text().splitlines():
            d = json.loads(line)
            s = d["stats"]
            clip = max([v for k, v in s.items() if k.endswith(("at_actmax", "at_errmax"))], default=None)
            score = next((v for k, v in s.items() if k.endswith("score_abs_mean")), None)
            hinge = s.get("loss.hinge_sum")
            rows.append(
                f"| {Path(d['model']).stem} | {', '.join(d['set']) or '(as in the file)'} | {d['samples']:,} "
                f"| {100 * d['test_accuracy']:.1f}% ({d['test_images']:,}) | {_layer_values(s, 'out_zero')} "
                f"| {_layer_values(s, 'w_changed')} | {_layer_values(s, 'w_at_bound')} "
                f"| {'-' if clip is None else f'{100 * clip:.2f}'} | {'-' if score is None else f'{score:.2f}'} "
                f"| {'-' if hinge is None else f'{hinge:.2f}'} | {d['train_cpu_s']:g} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--table":
        print(table([Path(f) for f in argv[1:]]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--stats-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--conv", action="append", default=[], metavar="KEY=VALUE",
                    help="a key added to every conv2d layer (e.g. bn=true, bn_gamma=pow2)")
    a = ap.parse_args(argv)
    text = a.model.read_text()
    for kv in a.set:
        key, _, value = kv.partition("=")
        value = value.strip()
        if not re.fullmatch(r"-?\d+|true|false|\[.*\]", value):
            value = f'"{value}"'
        text = edited(text, key.strip(), value)
    for kv in a.conv:
        key, _, value = kv.partition("=")
        value = value.strip() if re.fullmatch(r"-?\d+|true|false", value.strip()) else f'"{value.strip()}"'
        text = text.replace('kind = "conv2d"', f'kind = "conv2d"\n{key.strip()} = {value}')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / a.model.name
        path.write_text(text)
        spec, ds = load_data(load_model(path))
    plan, x_train, x_test = twin_data(spec, *encoded_data(spec, ds))
    n = len(ds.y_train)
    order = sample_order(spec.seed, n, -(-a.samples // n))[: a.samples]
    net = make_twin(plan)
    probe = Probe()
    if not plan.is_float:
        instrument(net, probe)
        hinge = twin_network.squared_hinge_error

        def loss(y: Any, label: int, p: Any) -> Any:
            delta, h = hinge(y, label, p)
            probe.add("loss.err_at_errmax", np.mean(np.abs(delta) >= p.err_max))
            probe.add("loss.hinge_sum", h / (1 << p.act_frac))
            return delta, h
        twin_network.squared_hinge_error = loss
    y_test = np.asarray(ds.y_test)[: a.test]
    curve = []

    def on_step(k: int, tw: Any) -> None:
        probe.on = a.stats_every > 0 and (k + 1) % a.stats_every == 0
        if a.eval_every and k % a.eval_every == 0:
            curve.append((k, round(evaluate(tw, x_test[: a.test], y_test), 4)))
            print(f"  {k}: {curve[-1][1]:.2%}", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    run = train_twin(net, spec.seed, n, x_train, np.asarray(ds.y_train), order, on_step=on_step)
    cpu = time.process_time() - c0
    acc = evaluate(net, x_test[: a.test], y_test)
    out = {"model": str(a.model), "set": a.set + [f"conv:{c}" for c in a.conv], "samples": a.samples,
           "test_images": a.test,
           "test_accuracy": round(acc, 4), "online": round(run.hits(np.asarray(ds.y_train), order) / a.samples, 4),
           "train_cpu_s": round(cpu, 1), "wall_s": round(time.perf_counter() - t0, 1), "curve": curve,
           "stats": probe.summary()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
