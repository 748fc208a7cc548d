"""`mcutrain bench` / `python bench/run.py`: run the matrix, the end-to-end session, write BENCHMARKS.md."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .conv import kept_sections
from .matrix import DEFAULT_SAMPLES, CaseResult, Skip, default_cases, run_matrix
from .report import render


def run_bench(out: Path, work: Path, *, samples: int = DEFAULT_SAMPLES, boards: Iterable[str] | None = None,
              modes: Iterable[str] | None = None, models: Iterable[str] | None = None, session: bool = True,
              ablations: bool = True, command: str = "mcutrain bench",
              log: Callable[[str], None] = print) -> tuple[list[CaseResult], list[Skip]]:
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    cases = default_cases(boards, modes, models, ablations)
    log(f"bench: {len(cases)} cases, {samples} samples each, building in {work}")
    got = run_matrix(cases, work, samples, log)
    results = [r for r in got if isinstance(r, CaseResult)]
    skips = [r for r in got if isinstance(r, Skip)]
    sess = None
    if session:
        from .session import run_sessions
        sess = run_sessions(work, log=log)
    seconds = time.monotonic() - t0
    # sections other commands write (between <!-- BEGIN x --> / <!-- END x --> markers, e.g. the conv rows of
    # bench/conv_rows.py) are kept at the end
    kept = kept_sections(out.read_text()) if out.is_file() else ""
    out.write_text(render(results, skips, sess, seconds, samples, command) + ("\n" + kept if kept else ""))
    (work / "results.json").write_text(json.dumps(
        {"results": [r.to_json() for r in results],
         "skipped": [{"case": s.case.name, "reason": s.reason} for s in skips],
         "session": sess, "seconds": round(seconds, 1)}, indent=1, default=str) + "\n")
    log(f"bench: wrote {out} ({len(results)} cases measured, {len(skips)} not run) in {seconds:.0f} s")
    return results, skips
