"""What a compact sample encoding costs in accuracy: the twin (bit-exact with the device) trained on the
same model with each input encoding, and the bytes a sample takes on the link.

    python bench/encoding_accuracy.py                      # examples/mnist_demo.toml -> docs/results.md
    python bench/encoding_accuracy.py MODEL.toml -o OUT.md

Only `[data] encoding` differs between the rows; training order, seed, epochs and arithmetic are the
model file's. The section `encodings` of the output file is replaced; the rest is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.data import load_dataset  # noqa: E402
from mcutrain.model import check_against_data, load_model  # noqa: E402
from mcutrain.model.spec import input_bytes  # noqa: E402
from mcutrain.results.modes_table import twin_session  # noqa: E402
from mcutrain.results.results_doc import machine_description, replace_section  # noqa: E402

ENCODINGS = ("u8", "u4", "bits")
SECTION = "encodings"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", type=Path, default=ROOT / "examples" / "mnist_demo.toml")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "results.md")
    args = ap.parse_args()
    spec = load_model(args.model)
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    t_all = time.monotonic()
    rows = []
    for enc in ENCODINGS:
        v = dataclasses.replace(spec, data=dataclasses.replace(spec.data, encoding=enc))
        t0 = time.monotonic()
        acc, online = twin_session(v, ds)
        rows.append((enc, input_bytes(enc, spec.n_inputs), acc, online, time.monotonic() - t0))
        print(f"{enc:5s} {rows[-1][1]:4d} B/sample  test {100 * acc:.2f}%  ({rows[-1][4]:.0f} s)", flush=True)
    best = max(r[2] for r in rows)
    t, d = spec.training, spec.data
    sizes = "-".join(str(s) for s in spec.layer_sizes())
    shown = args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
    body = [
        "## What a compact sample encoding costs",
        "",
        f"Command: `python bench/encoding_accuracy.py {shown}`"
        f" ({time.monotonic() - t_all:.0f} s on {machine_description()}, {time.strftime('%Y-%m-%d')}).",
        "",
        f"Model `{args.model.name}` (MLP {sizes}, pool {d.pool}, `{t.weights}`, {t.epochs} epoch(s) of "
        f"{d.train_samples or 60000:,} samples, tested on {d.test_samples or 10000:,}) with only `[data] encoding` "
        f"changed; accuracies are the twin's, which equal the device's (bit-exact). `bits` thresholds the "
        f"pooled pixel at {d.threshold}.",
        "",
        "| encoding | bytes a sample on the link | test accuracy | vs best | online training accuracy |",
        "|---|---|---|---|---|",
    ]
    for enc, nbytes, acc, online, _ in rows:
        body.append(f"| `{enc}` | {nbytes} | {100 * acc:.2f}% | {100 * (acc - best):+.2f} | {100 * online:.2f}% |")
    replace_section(args.out, SECTION, "\n".join(body) + "\n")
    print(f"wrote the {SECTION} section of {args.out}")


if __name__ == "__main__":
    main()
