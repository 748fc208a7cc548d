#!/usr/bin/env python3
"""Issue 14's larger-than-RAM goal, measured, into docs/results.md (its own section only).

    MCUTRAIN_DATA_DIR=../shared/data python bench/frozen_demo.py [-o docs/results.md]

Pretrains examples/frozen_mnist_pretrain.toml on the twin (build/frozen/mnist.state, reused when it holds that
pretraining), then trains examples/frozen_digits.toml (both hidden layers frozen, packed signs in flash) on the
emulated netduinoplus2 with --init and --verify, and fine-tunes the same on the twin for seeds 1-5
(mcutrain/results/frozen_demo.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.results.frozen_demo import measure, render, write_section  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", type=Path, default=None, help="results file whose section to rewrite")
    ap.add_argument("--pre", type=Path, default=Path("examples/frozen_mnist_pretrain.toml"))
    ap.add_argument("--tune", type=Path, default=Path("examples/frozen_digits.toml"))
    ap.add_argument("--state", type=Path, default=Path("build/frozen/mnist.state"))
    ap.add_argument("--build-dir", type=Path, default=Path("build/frozen/device"))
    ap.add_argument("--seeds", default="1,2,3,4,5")
    args = ap.parse_args()
    if args.out is not None:
        args.out = args.out.resolve()
    os.chdir(ROOT)  # the paths (and the section's text) are relative to the repository root
    d = measure(args.pre, args.tune, args.state, args.build_dir, [int(s) for s in args.seeds.split(",")],
                log=lambda s: print(s, file=sys.stderr))
    cmd = "MCUTRAIN_DATA_DIR=../shared/data python bench/frozen_demo.py -o docs/results.md"
    print(write_section(args.out, d, cmd) if args.out else render(d, cmd))


if __name__ == "__main__":
    main()
