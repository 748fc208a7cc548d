"""One Markdown table row per libFuzzer log (docs/fuzzing.md's figures are printed by this).

Usage: python fuzz/summarize.py LABEL=LOG [LABEL=LOG ...] [--coverage REPORT]

LOG is what scripts/fuzz_link.sh printed (it also keeps it in build/fuzz/fuzz.log); REPORT is the
output of scripts/fuzz_coverage.sh (llvm-cov's report of link.c) for the last LOG's corpus.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HEADER = ("| run | executions | seconds | exec/s (average) | libFuzzer coverage | link.c lines / branches "
          "| crashes | sanitizer reports |\n|---|---|---|---|---|---|---|---|")


def row(label: str, log: str, coverage: str = "") -> str:
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    rate = re.search(r"stat::average_exec_per_sec:\s+(\d+)", log)
    last = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", log)
    crashes = len(re.findall(r"Test unit written to", log))  # one per crash, leak, timeout or OOM input
    sanitizer = len(re.findall(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer", log))
    if done is None or rate is None or not last:
        raise SystemExit(f"{label}: not a finished libFuzzer run (no 'Done N runs' and final stats)")
    cov, ft, corp, size = last[-1]
    return (f"| {label} | {int(done.group(1)):,} | {int(done.group(2)):,} | {int(rate.group(1)):,} | "
            f"{cov} edges, {ft} features, corpus {corp} inputs ({size}) | {coverage or 'not measured'} | "
            f"{crashes} | {sanitizer} |")


def coverage_cell(report: str) -> str:
    total = next((ln for ln in report.splitlines() if ln.startswith("TOTAL")), None)
    if total is None:
        raise SystemExit("no TOTAL line in the coverage report")
    f = total.split()
    # TOTAL regions missed cover functions missed executed lines missed cover branches missed cover
    return f"{f[9]} of {f[7]} lines, {f[12]} of {f[10]} branches"


def main(argv: list[str]) -> int:
    cov = ""
    if "--coverage" in argv:
        i = argv.index("--coverage")
        cov = coverage_cell(Path(argv[i + 1]).read_text())
        argv = argv[:i] + argv[i + 2:]
    runs = [a.rsplit("=", 1) for a in argv[1:]]
    if not runs or any(len(r) != 2 for r in runs):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    print(HEADER)
    for k, (label, path) in enumerate(runs):
        print(row(label, Path(path).read_text(errors="replace"), cov if k == len(runs) - 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
