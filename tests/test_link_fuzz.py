"""The frame parser (firmware/core/link.c) under libFuzzer + ASan + UBSan (fuzz/link_fuzz.c).

A short run (200,000 inputs, about 10 s) here; the long run (10 million) is
`bash scripts/fuzz_link.sh`, its figures in docs/fuzzing.md. A planted bug in a
copy of link.c must be found, so the harness's checks are known to bite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcutrain.host import messages as m
from mcutrain.host.framing import FRAME, FrameDecoder

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz_link.sh"
sys.path.insert(0, str(ROOT / "fuzz"))
from make_corpus import seeds  # noqa: E402
from summarize import row  # noqa: E402

if shutil.which("clang") is None:
    if os.environ.get("CI"):
        raise RuntimeError("clang is missing in CI: scripts/setup.sh must install clang and libclang-rt-*-dev")
    pytestmark = pytest.mark.skip(reason="clang not installed (bash scripts/setup.sh installs clang + libFuzzer)")


def run_fuzzer(out: Path, *args: str, link_c: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FUZZ_DIR=str(out))
    if link_c is not None:
        env["LINK_C"] = str(link_c)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def test_seed_corpus_covers_every_message_type():
    types = set()
    errors = 0
    for s in seeds():
        dec = FrameDecoder()
        for kind, payload in dec.feed_events(s):
            if kind == FRAME:
                types.add(payload[:1])
            else:
                errors += 1
    want = {cls.TYPE for cls in m.HOST_MESSAGES + m.DEVICE_MESSAGES}
    assert want <= types, want - types
    assert errors >= 4  # cut, too short, too long, bad CRC


def test_short_fuzz_run(tmp_path):
    r = run_fuzzer(tmp_path, "-runs=200000")
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "Done 200000 runs" in log, log[-3000:]
    assert "ERROR:" not in log and "runtime error" not in log
    assert not list(tmp_path.glob("crash-*"))
    execs = int(re.search(r"stat::number_of_executed_units:\s+(\d+)", log).group(1))
    assert execs == 200000
    cov = int(re.findall(r"cov: (\d+)", log)[-1])
    assert cov >= 80, f"coverage {cov} edges: the harness no longer reaches the parser"
    assert r.stdout.endswith((tmp_path / "fuzz.log").read_text())  # kept for fuzz/summarize.py
    assert row("short", log).startswith("| short | 200,000 |") and row("short", log).endswith("| 0 | 0 |")


def test_planted_bug_is_found(tmp_path):
    """A receiver that stops checking for a block cut short by the delimiter
    accepts truncated frames: the differential check against link_cobs_decode
    must catch it within a few thousand inputs."""
    src = (ROOT / "firmware" / "core" / "link.c").read_text()
    needle = "if (rx_remaining != 0u) {"
    assert needle in src, "link.c changed: update the planted bug"
    mutant = tmp_path / "link.c"
    mutant.write_text(src.replace(needle, "if (rx_remaining > 200u) {"))
    r = run_fuzzer(tmp_path, "-runs=500000", link_c=mutant)
    log = r.stdout + r.stderr
    assert r.returncode != 0, "the fuzzer did not find the planted bug:\n" + log[-2000:]
    assert "deadly signal" in log
    assert list(tmp_path.glob("crash-*"))
