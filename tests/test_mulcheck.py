"""No multiplications, shown: the shipped firmware's training and inference functions hold
no multiply or divide instruction and call no multiply/divide helper, for every weight mode;
and the check does catch a function that multiplies (a test of the test)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import board_model, small_model

from mcutrain.arith.modes import WEIGHT_MODES
from mcutrain.build.boards import BOARDS, get_board
from mcutrain.build.mulcheck import check_elf, check_function
from mcutrain.build.project import build, write_project
from mcutrain.data import load_dataset
from mcutrain.model import check_against_data, load_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware" / "platforms"))
import mtbuild  # noqa: E402  the flags the builder ships


def _project(tmp_path: Path, **kw: object):
    spec = load_model(small_model(tmp_path, **kw))  # type: ignore[arg-type]
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    return write_project(spec, tmp_path / "proj")


# The multiply check covers every binarized weight mode. float32 is the baseline that multiplies by
# design: it is not checked for the absence of multiplies, but for their presence (below).
NO_MULTIPLY_CASES = [(w, q) for q in (True, False) for w in ("binary", "sign", "ternary", "ternary_det")]


def test_every_binarized_mode_is_checked() -> None:
    assert {w for w, _ in NO_MULTIPLY_CASES} == set(WEIGHT_MODES) - {"float32"}


@pytest.mark.parametrize("weights,qbp", NO_MULTIPLY_CASES)
def test_shipped_firmware_has_no_multiply(tmp_path: Path, weights: str, qbp: bool) -> None:
    proj = _project(tmp_path, weights=weights, qbp=qbp)
    elf = build(proj)
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    reports = check_elf(str(elf), names)
    assert all(r.instructions > 0 for r in reports)
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide found in the training path: {bad}"


@pytest.mark.parametrize("weights,qbp,extra,layer_key", [
    ("ternary", True, "", "bias"), ("sign", True, "batch_size = 16", "bias"),
    ("ternary_det", False, "batch_size = 4", "bias"), ("ternary", True, "", "batch_norm"),
    ("binary", False, "", "batch_norm")])
def test_biases_batches_and_batch_norm_add_no_multiply(tmp_path: Path, weights: str, qbp: bool, extra: str,
                                                      layer_key: str) -> None:
    spec_path = small_model(tmp_path, weights=weights, qbp=qbp, units=16, extra=extra)
    text = spec_path.read_text().replace('activation = "relu"', f'activation = "relu"\n{layer_key} = true')
    spec_path.write_text(text.replace('activation = "linear"', f'activation = "linear"\n{layer_key} = true'))
    spec = load_model(spec_path)
    ds = load_dataset(spec.data)
    proj = write_project(check_against_data(spec, ds.x_train.shape[1], ds.n_classes), tmp_path / "proj")
    assert ("L1_B" if layer_key == "bias" else "l1_bn_backward") in (proj.generated.out_dir / "mt_model.c").read_text()
    assert ("l1_apply_batch" in proj.generated.manifest["functions"]["training"]) == bool(extra)
    fns = proj.generated.manifest["functions"]
    reports = check_elf(str(build(proj)), sorted(set(fns["training"]) | set(fns["inference"])))
    assert all(r.instructions > 0 for r in reports)
    assert [f.text for r in reports for f in r.findings] == []


def _sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    return {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["binary", "sign"])
@pytest.mark.parametrize("board_name", list(BOARDS))
def test_every_boards_firmware_builds_and_has_no_multiply(tmp_path: Path, board_name: str, weights: str) -> None:
    """Each board's shipped firmware (real boards included: they are built, not run, here) with a
    model that fits it: 784-32-10 on the big boards, 196-32-10 with 8-bit latents on the micro:bit,
    49-32-10 on the 8 KB Nucleo-L053R8. Cortex-M0/M0+ turn a stray multiply or divide into a
    library call easily; the check covers those helpers too."""
    board = get_board(board_name)
    spec = load_model(board_model(tmp_path, board_name, weights=weights))
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    proj = write_project(spec, tmp_path / "proj")
    elf = build(proj)
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    reports = check_elf(str(elf), names)
    assert all(r.instructions > 0 for r in reports)
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide found in the training path on {board_name}: {bad}"
    # the image fits the board, and its vector table starts the stack at the top of RAM
    sec = _sections(elf)
    assert sec[".isr_vector"] + sec[".text"] + sec.get(".data", 0) <= board.flash_bytes
    assert sec.get(".data", 0) + sec[".bss"] + sec[".stack"] <= board.ram_bytes
    assert sec[".stack"] == board.stack_bytes
    sp, reset = struct.unpack("<II", elf.with_suffix(".bin").read_bytes()[:8])
    assert sp == board.ram_origin + board.ram_bytes
    assert reset & 1 and board.flash_origin <= reset < board.flash_origin + board.flash_bytes


@pytest.mark.parametrize("board_name", ["netduinoplus2", "mps2-an505", "microbit", "nucleo_l053r8"])
def test_check_catches_a_multiply(tmp_path: Path, board_name: str) -> None:
    """On every core: a multiply instruction (M0/M0+ too have `muls`) and a divide (an `sdiv`
    on M3/M4/M33, a call to __aeabi_idiv on M0/M0+)."""
    board = get_board(board_name)
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


@pytest.mark.parametrize("board_name,pool,multiply", [("netduinoplus2", 1, r"\svmul\.f32\s"),
                                                      ("lm3s6965evb", 2, r"<__aeabi_fmul>")])
def test_float32_firmware_does_multiply(tmp_path: Path, board_name: str, pool: int, multiply: str) -> None:
    """The float32 baseline's kernels multiply, and the check sees it: vmul.f32 with the M4F's
    hard float, calls to libgcc's __aeabi_fmul with the soft-float Cortex-M3."""
    import re

    proj = _project(tmp_path, weights="float32", qbp=False, board=board_name, pool=pool,
                    encoding="bits" if pool == 1 else "u4")
    elf = build(proj)
    fns = proj.generated.manifest["functions"]
    reports = {r.name: r for r in check_elf(str(elf), sorted(set(fns["training"]) | set(fns["inference"])))}
    for name in ("l0_forward_train", "l0_update", "l1_forward_train", "l1_backward", "l1_update", "l0_infer"):
        found = [f.text for f in reports[name].findings]
        hits = [t for t in found if re.search(multiply, t)]
        assert hits, f"{name} on {board_name}: no multiplication seen ({found})"


@pytest.mark.parametrize("board_name,latent_bits", [("netduinoplus2", 8), ("netduinoplus2", 16), ("mps2-an505", 8),
                                                    ("lm3s6965evb", 8), ("microbit", 8)])
@pytest.mark.parametrize("weights", ["binary", "sign"])
def test_shared_update_rounding_has_no_multiply(tmp_path: Path, board_name: str, latent_bits: int,
                                                weights: str) -> None:
    """update_rounding = "stochastic_shared": the update with its inlined vector and row kernels (SIMD on the
    M4/M33, add-and-clamp on the M3/M0) multiplies nowhere; on the DSP cores the row update is SIMD."""
    spec = load_model(board_model(tmp_path, board_name, weights=weights, latent_bits=latent_bits,
                                  update_rounding="stochastic_shared"))
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    proj = write_project(spec, tmp_path / "proj")
    elf = build(proj)
    fns = proj.generated.manifest["functions"]
    names = sorted(set(fns["training"]) | set(fns["inference"]))
    assert "l0_update" in names
    reports = check_elf(str(elf), names)
    assert all(r.instructions > 0 for r in reports)
    bad = [f.text for r in reports for f in r.findings]
    assert bad == [], f"multiply/divide found in the training path on {board_name}: {bad}"
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    update = dis.split("<l0_update>:", 1)[1].split("\n\n", 1)[0]
    simd = ("qsub8", "qadd8", "shadd8") if latent_bits == 8 else ("qsub16", "ssat16")
    dsp = get_board(board_name).core.startswith(("cortex-m4", "cortex-m33"))
    assert all(f"\t{m}\t" in update for m in simd) == dsp, update
