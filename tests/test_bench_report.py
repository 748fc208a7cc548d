"""BENCHMARKS.md's prose carries no hand-typed instruction counts: the figures beside it are the run's own."""

from __future__ import annotations

import dataclasses
import re

from mcutrain.bench import report
from mcutrain.bench.matrix import Case, CaseResult, Stats
from mcutrain.build.boards import get_board


def _result(by_function: list[tuple[str, int]], samples: int = 4, n_weights: int = 100) -> CaseResult:
    """A CaseResult with the given per-function counts (the other fields neutral)."""
    s = Stats(1.0, 1, 1)
    fields = {f.name: None for f in dataclasses.fields(CaseResult)}
    fields.update(case=Case("mlp-64-32-10", "binary", "netduinoplus2"), board=get_board("netduinoplus2"),
                  layer_sizes=[64, 32, 10], n_weights=n_weights, samples=samples, train=s, train_cycles=s,
                  infer=s, infer_cycles=s, by_function=by_function, histogram=[], notes=[])
    return CaseResult(**fields)


def test_no_instruction_count_is_typed_into_the_notes() -> None:
    counts = re.compile(r"\b(about|some) \d|\d+(\.\d+)? instructions?\b")
    typed = {k: m.group(0) for k, v in report._FIXES.items() if (m := counts.search(v))}
    assert typed == {}


def test_the_notes_carry_the_measured_figures() -> None:
    r = _result([("l0_update", 1200), ("l0_forward_train", 400), ("l1_update", 400), ("mt_train_step", 40)])
    note = report._fix_note(r)
    # update: (1200 + 400) / (4 samples x 100 weights) = 4.00; forward: 400 / 400 = 1.00
    assert "1.00 instructions a weight in the forward functions and 4.00 in the update functions" in note
    assert note.startswith(report._FIXES["update"])
    other = report._fix_note(_result([("mt_train_step", 10), ("l0_update", 5)]))
    assert other == report._FIXES["other"]
