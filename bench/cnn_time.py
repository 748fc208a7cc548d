#!/usr/bin/env python3
"""Write BENCHMARKS.md's section "CNN examples: time per training image on a real chip" (issue 12): its own
section, between markers; the rest of the file is left alone (`python bench/run.py` keeps the section).

    MCUTRAIN_DATA_DIR=../shared/data python bench/cnn_time.py [--samples N] [--emulate N] [--runs key,...]

Builds the CNN examples of mcutrain/bench/cnn_time.py RUNS (the CIFAR-10 and MNIST result runs), counts a
training step and an inference in unicorn (checked against the twin), and estimates ms an image and the time of
each documented run at 168 and 216 MHz (mcutrain/bench/cnn_time.py); with --emulate N also times N samples of
each on the emulated board.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.bench.cnn_time import DEFAULT_SAMPLES, RUNS, run_cnn_time  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                    help=f"images counted per example (default {DEFAULT_SAMPLES})")
    ap.add_argument("--emulate", type=int, default=0,
                    help="also train N samples of each example on the emulated board and time them (default 0: no)")
    ap.add_argument("--runs", default=None, help=f"comma-separated runs (default all: {','.join(r.key for r in RUNS)})")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "bench-cnn-time")
    args = ap.parse_args()
    cmd = "python bench/cnn_time.py" + (f" --samples {args.samples}" if args.samples != DEFAULT_SAMPLES else "") + (
        f" --emulate {args.emulate}" if args.emulate else "") + (f" --runs {args.runs}" if args.runs else "")
    run_cnn_time(args.out, args.build_dir, samples=args.samples, emulate_n=args.emulate,
                 keys=args.runs.split(",") if args.runs else None, command=cmd)


if __name__ == "__main__":
    main()
