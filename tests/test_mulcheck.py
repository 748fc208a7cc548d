"""No multiplications, shown: the shipped firmware's training and inference functions hold
no multiply or divide instruction and call no multiply/divide helper, for every weight mode;
and the check does catch a function that multiplies (a test of the test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import small_model

from mcutrain.boards import get_board
from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model
from mcutrain.mulcheck import check_elf, check_function
from mcutrain.project import build, write_project

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware" / "platforms"))
import mtbuild  # noqa: E402  the flags the builder ships


def _project(tmp_path: Path, **kw: object):
    spec = load_model(small_model(tmp_path, **kw))  # type: ignore[arg-type]
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    return write_project(spec, tmp_path / "proj")


@pytest.mark.parametrize("weights,qbp", [("binary", True), ("sign", True), ("binary", False), ("sign", False)])
def test_shipped_firmware_has_no_multiply(tmp_path: Path, weights: str, qbp: bool) -> None:
    proj = _project(tmp_path, weights=weights, qbp=qbp)
    elf = build(proj)
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    reports = check_elf(str(elf), names)
    assert all(r.instructions > 0 for r in reports)
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide found in the training path: {bad}"


def test_check_catches_a_multiply(tmp_path: Path) -> None:
    board = get_board("netduinoplus2")
    src = tmp_path / "bad.c"
    src.write_text(
        "int __attribute__((noinline)) scale(int a, int b) { return a * b; }\n"
        "int __attribute__((noinline)) ratio(int a, int b) { return a / b; }\n"
        "int __attribute__((noinline)) plain(int a, int b) { return (a << 3) - b; }\n")
    obj = tmp_path / "bad.o"
    subprocess.run(["arm-none-eabi-gcc", *mtbuild.C_FLAGS, *mtbuild.CC_FLAGS, *board.cpu_flags, "-c", str(src),
                    "-o", str(obj)], check=True)
    assert check_function(str(obj), "scale").findings, "a multiply went unnoticed"
    assert check_function(str(obj), "ratio").findings, "a divide went unnoticed"
    assert check_function(str(obj), "plain").findings == ()


def test_missing_function_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "one.c"
    src.write_text("int f(int a) { return a + 1; }\n")
    obj = tmp_path / "one.o"
    subprocess.run(["arm-none-eabi-gcc", "-O2", "-mthumb", "-mcpu=cortex-m4", "-c", str(src), "-o", str(obj)],
                   check=True)
    with pytest.raises(ValueError, match="not found"):
        check_elf(str(obj), ["g"])
