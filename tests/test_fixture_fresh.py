"""The generated-C fixture of the C unit tests (test/fixtures/gen_small/) must be
what the current generator produces.

test/test_kernels/ compiles that committed copy (PlatformIO cannot run the
generator at test time). If the templates or the arithmetic plan change, this
test fails until the fixture is refreshed with

    python tests/test_fixture_fresh.py

(from the repository root), which rewrites test/fixtures/gen_small/.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "test" / "fixtures" / "gen_small"
REFRESH = "python tests/test_fixture_fresh.py"

# The fixture model: 64 binary inputs (8 bytes, "bits") -> dense 16 ReLU -> dense 10.
# Small enough for every board (microbit: 16 KB RAM).
SIZES = [64, 16, 10]
LR_START = -7
MODEL_NAME = "fixture"
MODEL_HASH = "0123456789abcdef"
ENCODING = "bits"
INPUT_BYTES = 8


def render_fixture() -> dict[str, str]:
    """{file name: text} of the fixture, rendered by the current generator."""
    from mcutrain.arith.plan import make_dense_plan
    from mcutrain.codegen.render import RenderInputs, render_sources

    plan = make_dense_plan(SIZES, lr_start=LR_START)
    return render_sources(RenderInputs(plan, MODEL_NAME, MODEL_HASH, ENCODING, INPUT_BYTES))


def write_fixture(out_dir: Path = FIXTURE) -> list[Path]:
    from mcutrain.codegen.render import write_sources

    return write_sources(render_fixture(), out_dir)


def test_fixture_matches_the_generator(tmp_path: Path) -> None:
    from mcutrain.codegen.render import write_sources

    fresh = write_sources(render_fixture(), tmp_path)
    assert fresh, "the generator wrote no files"
    stale = []
    for path in fresh:
        committed = FIXTURE / path.name
        if not committed.is_file() or committed.read_text() != path.read_text():
            stale.append(path.name)
    assert not stale, (
        f"test/fixtures/gen_small/ is out of date with the generator ({', '.join(stale)}): "
        f"refresh it with `{REFRESH}` from the repository root and commit the result"
    )
    # no leftover generated file the generator no longer writes
    generated = {p.name for p in fresh}
    extra = sorted(p.name for p in FIXTURE.glob("*.[ch]") if p.name not in generated)
    assert not extra, f"test/fixtures/gen_small/ holds files the generator no longer writes: {extra}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for written in write_fixture():
        print(f"wrote {written.relative_to(ROOT)}")
