"""Test accuracy of the NumPy twin (bit-exact with the device) for a model file, with settings overridden.

    python bench/twin_accuracy.py examples/mnist_demo.toml --set arithmetic.update_rounding=stochastic_shared

Trains on the model's training samples for its epochs (batch 1, the device's order), then reports the
test accuracy on its test samples; no device is involved (the twin computes the device's bits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mcutrain.arith.plan import plan_from_spec
from mcutrain.cli import _with_data
from mcutrain.data import decode, encode
from mcutrain.model import load_model
from mcutrain.twin import make_twin


def _override(spec: object, assignment: str) -> object:
    key, value = assignment.split("=", 1)
    table, name = key.split(".")
    sub = getattr(spec, table)
    old = getattr(sub, name)
    new = type(old)(value) if not isinstance(old, bool) else value.lower() == "true"
    return dataclasses.replace(spec, **{table: dataclasses.replace(sub, **{name: new})})  # type: ignore[type-var]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--set", action="append", default=[], help="table.key=value, e.g. training.weights=binary")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    spec = load_model(args.model)
    for a in args.set:
        spec = _override(spec, a)
    if args.seed is not None:
        spec = dataclasses.replace(spec, seed=args.seed)
    spec, ds = _with_data(spec)
    plan = plan_from_spec(spec)
    enc, thr, n, af = spec.data.encoding, spec.data.threshold, spec.n_inputs, spec.arithmetic.activation_frac_bits
    x_train = decode(encode(ds.x_train, enc, thr), enc, n, af)
    x_test = decode(encode(ds.x_test, enc, thr), enc, n, af)
    net = make_twin(plan)
    t0 = time.monotonic()
    net.start(spec.seed, len(x_train))
    hits = 0
    for _ in range(spec.training.epochs):
        for x, y in zip(x_train, ds.y_train, strict=True):
            hits += int(net.train_step(x, int(y)) == int(y))
    pred = net.infer(x_test)
    acc = float(np.mean(pred == ds.y_test))
    print(json.dumps({"model": str(args.model), "set": args.set, "seed": spec.seed,
                      "train_samples": len(x_train), "epochs": spec.training.epochs,
                      "train_accuracy_online": hits / (len(x_train) * spec.training.epochs),
                      "test_samples": len(x_test), "test_accuracy": acc, "seconds": round(time.monotonic() - t0, 1)}))


if __name__ == "__main__":
    main()
