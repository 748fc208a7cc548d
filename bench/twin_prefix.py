"""The twin's test accuracy of a model file after its first N training samples: the integer twin (bit-exact
with the device) trained over the order `mcutrain train` uses (one epoch over the model's training set, or
--pool samples of the data set), then evaluated on the first --test test images. For trying a model's
settings before a device run.

    python bench/twin_prefix.py examples/cifar10_cnn.toml --pool 50000 --samples 20000 --test 2000 \
        [--set learning_rate=-8 --set weights=ternary_det]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.host.twin_run import sample_order, train_twin  # noqa: E402

from mcutrain.job import session_inputs  # noqa: E402
from mcutrain.model import load_model  # noqa: E402
from mcutrain.twin import make_twin  # noqa: E402


def edited(text: str, key: str, value: str) -> str:
    """The model text with ``key = ...`` set to ``value`` (the key must be there once)."""
    pat = re.compile(rf"^{re.escape(key)}\s*=.*$", re.M)
    if len(pat.findall(text)) != 1:
        raise SystemExit(f"{key} must appear exactly once in the model file to be set")
    return pat.sub(f"{key} = {value}", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--pool", type=int, required=True, help="training images the order is drawn from")
    ap.add_argument("--samples", type=int, required=True, help="training samples (a prefix of the order)")
    ap.add_argument("--test", type=int, required=True, help="test images")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a model-file key")
    a = ap.parse_args(argv)
    text = edited(edited(a.model.read_text(), "train_samples", str(a.pool)), "test_samples", str(a.test))
    for kv in a.set:
        key, _, value = kv.partition("=")
        text = edited(text, key.strip(), value if not value.isidentifier() else f'"{value}"')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / a.model.name
        path.write_text(text)
        spec = load_model(path)
        inputs = session_inputs(spec, verify=True, digest_every=0, quiet=True)
    plan, x_train, x_test = inputs["twin_factory"]()
    labels = inputs["train_labels"]
    order = sample_order(spec.seed, len(labels), 1)[: a.samples]
    net = make_twin(plan)
    t0 = time.perf_counter()
    train_twin(net, spec.seed, len(labels), x_train, labels, order)
    seconds = time.perf_counter() - t0
    acc = float(np.mean(net.infer(x_test) == inputs["test_labels"]))
    print(f"{a.model} {' '.join(a.set)} (model {spec.model_hash()}): {a.samples} samples of {a.pool} in "
          f"{seconds:.0f} s ({a.samples / seconds:.0f}/s); test accuracy {acc:.2%} on {a.test} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
