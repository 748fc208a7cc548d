#!/usr/bin/env python3
"""Write the frozen-layers section of BENCHMARKS.md (issue 14): instructions of a training step with the hidden
layers frozen (packed signs in flash) against the float32 baseline, on the Cortex-M0 (microbit) by default.

    python bench/frozen.py [--board microbit] [--samples 20]

Builds under build/bench-frozen/, counts in unicorn (mcutrain/bench/frozen.py), replaces only its own section.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.bench.frozen import run_frozen_bench  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", default="microbit", help="board to count on (default microbit, Cortex-M0)")
    ap.add_argument("--samples", type=int, default=20, help="samples averaged (default 20)")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "bench-frozen")
    args = ap.parse_args()
    cmd = "python bench/frozen.py" + (f" --board {args.board}" if args.board != "microbit" else "")
    print(run_frozen_bench(args.out, args.build_dir, board=args.board, samples=args.samples, command=cmd))


if __name__ == "__main__":
    main()
