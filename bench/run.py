#!/usr/bin/env python3
"""Regenerate BENCHMARKS.md at the repository root (same as `mcutrain bench`).

    python bench/run.py [--samples N] [--no-session]

Builds every board x weight mode x model of mcutrain/bench/matrix.py under build/bench/, counts
the instructions of the generated training and inference functions in unicorn, runs a short
training session on the emulated default board, and writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.bench.run import run_bench  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=20, help="samples averaged per case (default 20)")
    ap.add_argument("--no-session", action="store_true", help="skip the end-to-end emulated session")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "bench")
    args = ap.parse_args()
    run_bench(args.out, args.build_dir, samples=args.samples, session=not args.no_session,
              command="python bench/run.py")


if __name__ == "__main__":
    main()
