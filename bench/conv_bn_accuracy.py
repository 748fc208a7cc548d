"""Accuracy of a small MNIST CNN in the integer twin (bit-exact with the device) with and without per-channel
batch norm on its conv layers, with a learned power-of-two gamma and with gamma = 1, and with conv biases
(docs/arithmetic.md, section 11). Prints JSON lines and a markdown table (docs/results.md, "Conv bias and
batch norm").

    python bench/conv_bn_accuracy.py                          # examples/mnist_cnn.toml, 5000 samples, 3 seeds
    python bench/conv_bn_accuracy.py --train 2000 --seeds 1 --variants none,bn-pow2

Each run: the model file's network, weights and learning rate, with only the conv layers' bias / batch_norm /
bn_gamma changed; trained by the twin on the first --train MNIST training images in a session's order (one
epoch, batch 1), tested on the first --test test images (deterministic weights, as the device's inference).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.host.twin_run import sample_order, train_twin  # noqa: E402

from mcutrain.job import encoded_data, load_data, twin_data  # noqa: E402
from mcutrain.model import load_model  # noqa: E402
from mcutrain.twin import make_twin  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "none": {},
    "bias": {"bias": True},
    "bn-one": {"batch_norm": True, "bn_gamma": "one"},
    "bn-pow2": {"batch_norm": True, "bn_gamma": "pow2"},
    "bn-pow2-last": {"batch_norm": True, "bn_gamma": "pow2"},   # the last conv layer only
    "float32": {},                                               # the float32 baseline of the same network
}
TITLES = {"none": "no bias, no batch norm", "bias": "bias per channel",
          "bn-one": "batch norm, gamma = 1", "bn-pow2": "batch norm, learned power-of-two gamma",
          "bn-pow2-last": "batch norm (learned power-of-two gamma) on the last conv layer only",
          "float32": "float32 baseline (SGD, float multiplications), no bias, no batch norm"}


def run(model: Path, variant: str, seed: int, n_train: int, n_test: int) -> dict[str, Any]:
    spec = load_model(model)
    last = max(k for k, la in enumerate(spec.layers) if la.kind == "conv2d")
    layers = tuple(dataclasses.replace(la, **VARIANTS[variant])
                   if la.kind == "conv2d" and (variant != "bn-pow2-last" or k == last) else la
                   for k, la in enumerate(spec.layers))
    data = dataclasses.replace(spec.data, train_samples=n_train, test_samples=n_test)
    training = spec.training
    if variant == "float32":
        training = dataclasses.replace(training, weights="float32", quantized_backprop=False)
    spec = dataclasses.replace(spec, layers=layers, data=data, seed=seed, training=training)
    spec, ds = load_data(spec)
    plan, x_train, x_test = twin_data(spec, *encoded_data(spec, ds))
    net = make_twin(plan)
    t0 = time.process_time()
    order = sample_order(seed, len(x_train), 1)
    res = train_twin(net, seed, len(x_train), x_train, ds.y_train, order)
    acc = float(np.mean(net.infer(x_test) == ds.y_test))
    last = order[-1000:]
    online = float(np.mean(res.predictions[-1000:] == ds.y_train[last]))
    extra: dict[str, Any] = {}
    for k, la in enumerate(net.layers):
        bn = getattr(la, "bn", None)
        if bn is not None and plan.layers[k].kind == "conv2d":
            extra[f"l{k}_gamma_exponents"] = bn.gamma_exponents().tolist()
    return {"variant": variant, "seed": seed, "train_samples": len(x_train), "test_samples": len(x_test),
            "test_accuracy": acc, "online_accuracy_last_1000": online,
            "cpu_seconds": round(time.process_time() - t0, 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "examples" / "mnist_cnn.toml")
    ap.add_argument("--train", type=int, default=5000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    rows = []
    for v in args.variants.split(","):
        accs, onl = [], []
        for s in range(1, args.seeds + 1):
            r = run(args.model, v, s, args.train, args.test)
            print(json.dumps(r), flush=True)
            accs.append(100 * r["test_accuracy"])
            onl.append(100 * r["online_accuracy_last_1000"])
        rows.append(f"| {TITLES[v]} | {statistics.fmean(accs):.2f}% | {min(accs):.2f} - {max(accs):.2f} | "
                    f"{statistics.fmean(onl):.2f}% |")
    print(f"\n| conv layers (`{args.model.name}`, {args.train} samples, seeds 1-{args.seeds}) | test accuracy "
          f"({args.test} images), mean | min - max | online accuracy, last 1000 samples |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
