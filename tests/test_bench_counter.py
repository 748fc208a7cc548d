"""The instruction counter of `mcutrain bench` (mcutrain/bench/counter.py), tested on code whose
count is known exactly (hand-written assembly), on the startup state (.data copied, .bss zero),
on the two counting hooks (block and code) and on the generated training step of a tiny model
(positive, repeatable, bit-exact with the twin)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("unicorn")
pytest.importorskip("capstone")

from mcutrain.bench.counter import CounterError, Machine  # noqa: E402
from mcutrain.bench.cycles import CORTEX_M0, CORTEX_M4, histogram_key, split_mnemonic  # noqa: E402
from mcutrain.bench.elf import read_elf  # noqa: E402

FLASH = (0x0800_0000, 64 * 1024)
RAM = (0x2000_0000, 16 * 1024)

# Thumb-1 only, so the same code runs on the M0, M3 and M4. Counts per call, n >= 1:
#   sum_to(n): 1 + 3n + 2 instructions        (movs; n x (adds, subs, bne); mov; bx)
#   twice(n):  push, bl sum_to, adds, pop = 4 + sum_to(n)
#   pick(x):   cmp, ite, movge, movlt, bx = 5 issued; 4 with a passed condition (one of the IT pair fails)
ASM = r"""
    .syntax unified
    .thumb
    .text
    .global sum_to, twice, pick, read_data, read_bss, use_stack
    .type sum_to, %function
    .thumb_func
sum_to:
    movs r1, #0
1:  adds r1, r1, r0
    subs r0, r0, #1
    bne 1b
    mov r0, r1
    bx lr
    .size sum_to, . - sum_to

    .type twice, %function
    .thumb_func
twice:
    push {r4, lr}
    bl sum_to
    adds r0, r0, r0
    pop {r4, pc}
    .size twice, . - twice

    .type read_data, %function
    .thumb_func
read_data:
    ldr r0, =value
    ldr r0, [r0]
    bx lr
    .size read_data, . - read_data

    .type read_bss, %function
    .thumb_func
read_bss:
    ldr r0, =zeroed
    ldr r0, [r0]
    bx lr
    .size read_bss, . - read_bss

    .type use_stack, %function
    .thumb_func
use_stack:
    sub sp, #64
    str r0, [sp, #0]
    add sp, #64
    bx lr
    .size use_stack, . - use_stack
    .ltorg

    .data
value: .word 0x12345678
    .bss
zeroed: .word 0
"""

ASM_IT = r"""
    .syntax unified
    .thumb
    .text
    .global pick
    .type pick, %function
    .thumb_func
pick:
    cmp r0, #5
    ite ge
    movge r0, #1
    movlt r0, #2
    bx lr
    .size pick, . - pick
"""

LINKER = """
MEMORY { FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 64K
         RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 16K }
SECTIONS {
  .text : { *(.text*) *(.rodata*) } > FLASH
  .data : { *(.data*) } > RAM AT > FLASH
  .bss  : { *(.bss*) *(COMMON) } > RAM
  _ebss = .;
  _estack = ORIGIN(RAM) + LENGTH(RAM);
}
"""


def _link(tmp: Path, name: str, asm: str, cpu: str) -> Path:
    src, ld, elf = tmp / f"{name}.S", tmp / "t.ld", tmp / f"{name}.elf"
    src.write_text(asm)
    ld.write_text(LINKER)
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-nostdlib", "-nostartfiles", "-T", str(ld),
                    str(src), "-o", str(elf)], check=True, capture_output=True)
    return elf


@pytest.mark.parametrize("core,cpu", [("cortex-m0", "cortex-m0"), ("cortex-m3", "cortex-m3"),
                                      ("cortex-m4f", "cortex-m4")])
def test_exact_count_of_a_known_loop(tmp_path: Path, core: str, cpu: str) -> None:
    elf = _link(tmp_path, "loop", ASM, cpu)
    m = Machine(elf, core=core, flash=FLASH, ram=RAM, stack_bytes=1024, hook="both")
    for n in (1, 7, 100):
        r = m.call("sum_to", n)
        assert r.ret == n * (n + 1) // 2
        assert r.instructions == 3 * n + 3
        assert r.profile.instructions_passed == 3 * n + 3
    r = m.call("twice", 10)
    assert r.ret == 110 and r.instructions == 4 + 33
    by_fn = m.by_function(r.profile)
    assert by_fn["sum_to"] == 33 and by_fn["twice"] == 4
    assert m.entries(r.profile)["sum_to"] == 1
    hist = m.histogram(r.profile)
    assert hist["adds"] == 11 and hist["subs"] == 10 and hist["b<cond>"] == 10 and hist["bl"] == 1
    assert r.stack_bytes == 8                                  # push {r4, lr}
    # taken branches: 9 of the 10 bne go back, plus bl, bx lr (return to twice), pop {pc} (return)
    assert sum(r.profile.taken.values()) == 9 + 3


def test_startup_state_and_stack(tmp_path: Path) -> None:
    elf = _link(tmp_path, "data", ASM, "cortex-m4")
    img = read_elf(elf)
    assert any(s.vaddr != s.paddr for s in img.segments), "the test needs .data loaded from flash"
    m = Machine(elf, core="cortex-m4f", flash=FLASH, ram=RAM, stack_bytes=1024)
    assert m.call("read_data").ret == 0x12345678              # .data at its run address
    assert m.call("read_bss").ret == 0                        # .bss zero
    assert m.call("use_stack", 7).stack_bytes == 64
    with pytest.raises(CounterError, match="no symbol"):
        m.call("no_such_function")


def test_failed_condition_is_issued_but_not_passed(tmp_path: Path) -> None:
    elf = _link(tmp_path, "it", ASM_IT, "cortex-m4")
    m = Machine(elf, core="cortex-m4f", flash=FLASH, ram=RAM, stack_bytes=512, hook="both")
    for x, want in ((9, 1), (2, 2)):
        r = m.call("pick", x)
        assert r.ret == want
        assert r.instructions == 5                            # cmp, ite, movge, movlt, bx: all issued
        assert r.profile.instructions_passed == 4             # one of movge/movlt fails its condition


def test_mnemonics_and_cycle_tables() -> None:
    assert split_mnemonic("addeq") == ("add", "eq", "")
    assert split_mnemonic("bls") == ("b", "ls", "")
    assert split_mnemonic("mls") == ("mls", "", "")           # a multiply, not "m" + "ls"
    assert split_mnemonic("bics") == ("bics", "", "")
    assert split_mnemonic("vmul.f32") == ("vmul", "", "f32")
    assert split_mnemonic("ldr.w") == ("ldr", "", "")
    assert histogram_key("bne") == "b<cond>" and histogram_key("ittet") == "it"
    pop = CORTEX_M0.cost("pop", "{r4, r5, pc}")
    assert pop.base + pop.taken == 6                          # M0 TRM: POP {loreglist, PC} = 4 + N
    assert CORTEX_M0.cost("bl", "#0x100").base + CORTEX_M0.cost("bl", "#0x100").taken == 4
    assert CORTEX_M4.cost("vdiv.f32", "s0, s1, s2").base == 14
    assert CORTEX_M4.cost("str", "r0, [r1, #4]").base == 1    # STR with an immediate offset
    assert CORTEX_M4.cost("ldr", "r0, [r1, r2]").pipelined == 1


def _tiny_project(tmp: Path, board: str):
    from mcutrain.build.project import build, write_project
    from mcutrain.data import load_dataset
    from mcutrain.model import check_against_data, load_model
    from mcutrain.model.toml_text import mlp_layers_toml

    model = tmp / "tiny.toml"
    model.write_text("""
[model]
name = "tiny"
board = "netduinoplus2"
seed = 5

[data]
dataset = "mnist"
pool = 4
encoding = "u4"
train_samples = 100
test_samples = 10

""" + mlp_layers_toml([16]) + """
[training]
weights = "binary"
learning_rate = -7

[arithmetic]
latent_bits = 8
update_rounding = "stochastic"
""")
    spec = dataclasses.replace(load_model(model), board=board)
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    proj = write_project(spec, tmp / f"proj-{board}")
    return spec, ds, proj, build(proj)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["netduinoplus2", "microbit"])
def test_train_step_count_is_positive_repeatable_and_exact(tmp_path: Path, board: str) -> None:
    from mcutrain.arith.plan import plan_from_spec
    from mcutrain.data import decode, encode
    from mcutrain.twin import TwinNetwork

    spec, ds, proj, elf = _tiny_project(tmp_path, board)
    x = encode(ds.x_train[:3], spec.data.encoding, spec.data.threshold)
    runs = []
    for _ in range(2):
        m = Machine(elf, proj.board, hook="both")
        m.call("mt_session_start", spec.seed, len(ds.y_train))
        counts = []
        for i in range(3):
            m.write(m.arg_area, x[i].tobytes())
            r = m.call("mt_train_step", m.arg_area, int(ds.y_train[i]))
            counts.append((r.instructions, r.profile.instructions_passed, r.ret))
            if board == "microbit":  # Thumb-1 has no IT blocks: both hooks agree address by address
                assert r.profile.counts == r.profile.passed
            else:
                assert all(r.profile.passed[a] <= n for a, n in r.profile.counts.items())
            hist = m.histogram(r.profile)
            muls, helpers = m.muldiv(r.profile)
            assert not muls and not helpers, f"a multiply or divide executed: {muls} {helpers}"
            assert sum(hist.values()) == r.instructions
            assert m.cycles(r.profile)[0] >= r.instructions    # no instruction is cheaper than a cycle
        runs.append(counts)
    assert all(n > 1000 for n, _p, _r in runs[0])
    assert runs[0] == runs[1], "the count of the same step differs between two runs"
    # and it computed the right thing: the twin's predictions
    net = TwinNetwork(plan_from_spec(spec))
    net.start(spec.seed, len(ds.y_train))
    a = spec.arithmetic.activation_frac_bits
    preds = [net.train_step(decode(x[i], spec.data.encoding, spec.n_inputs, a), int(ds.y_train[i])) for i in range(3)]
    assert [r for _n, _p, r in runs[0]] == preds
