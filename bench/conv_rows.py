#!/usr/bin/env python3
"""Write the conv rows of BENCHMARKS.md (issue 12): its own section, between markers; the rest of the file is
left alone (and `python bench/run.py` keeps the section when it rewrites the rest).

    python bench/conv_rows.py [--samples N] [--weights binary,sign,...]

Builds the conv models of mcutrain/bench/conv.py (the 14x14 CNN on the micro:bit's Cortex-M0 and the
netduinoplus2's Cortex-M4F; examples/mnist_cnn.toml and examples/mnist_cnn_wide.toml on the M4F) in every
integer weight mode and float32, counts their instructions in unicorn, checks them against the twin, and
writes the section.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.bench.conv import DEFAULT_CONV_SAMPLES, run_conv_rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=DEFAULT_CONV_SAMPLES,
                    help=f"images averaged per case (default {DEFAULT_CONV_SAMPLES})")
    ap.add_argument("--weights", default=None, help="comma-separated weight modes (default: all, float32 too)")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "bench-conv")
    args = ap.parse_args()
    modes = args.weights.split(",") if args.weights else None
    run_conv_rows(args.out, args.build_dir, samples=args.samples, modes=modes,
                  command="python bench/conv_rows.py" + (f" --samples {args.samples}"
                                                          if args.samples != DEFAULT_CONV_SAMPLES else ""))


if __name__ == "__main__":
    main()
