"""Cycle tables of the Cortex-M cores: an executed-instruction profile -> an ESTIMATE of cycles.

The counter (counter.py) gives, for every instruction address, how often it executed, how
often control left it by a jump (a taken branch) and how often it was reached by falling
through from the instruction before it. Each instruction is classified by its mnemonic and
operands, and the core's table gives its cost:

* ``base``: cycles when it does not branch (a conditional branch not taken, any other
  instruction);
* ``taken``: extra cycles when control left it by a jump (branch taken, ``pop {..., pc}``,
  ``bx lr``): the pipeline refill;
* ``pipelined``: the cost of a single load/store that immediately follows another single
  load/store (Cortex-M3/M4 pipeline the address and data phases of neighbouring loads and
  stores); the counter knows how often that happened.

These are estimates, not measurements: zero wait states are assumed for flash and RAM (a real
STM32F405 at 168 MHz has 5 flash wait states behind the ART accelerator), IT instructions are
charged one cycle although the M3/M4 often fold them, a failed-condition instruction is
charged as if it executed, the pipeline refill ``P`` of the M3/M4 (1..3 cycles) is taken as 2,
and the data-dependent ``SDIV``/``UDIV`` (2..12) as 7.

Sources (the tables below follow them):

* Cortex-M0: ARM DDI 0432C, Cortex-M0 Technical Reference Manual, 3.3 "Instruction set
  summary", Table 3-1 (MULS with the fast single-cycle multiplier; 32 cycles with the small one).
* Cortex-M0+: ARM DDI 0484C, Cortex-M0+ TRM, Table 3-1.
* Cortex-M3: ARM DDI 0337I, Cortex-M3 TRM, 18.2 "Instruction set summary", Table 18-1.
* Cortex-M4: ARM DDI 0439B, Cortex-M4 TRM, 3.3.1 Table 3-1 "Cortex-M4 instruction set
  summary" and 3.3.2 "Load/store timings"; FPU: 7.2.3 Table 7-1 "FPU instruction set".
* Cortex-M33: no public per-instruction table; the Cortex-M4 table is used (same 3-stage
  pipeline class, ARMv8-M Mainline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..build.armasm import register_list_count

CONDS = frozenset("eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al".split())

_KNOWN = frozenset("""
adc adcs add adds addw adr and ands asr asrs bfc bfi bic bics clz cmn cmp eor eors lsl lsls lsr lsrs
mov movs movw movt mvn mvns neg negs orn orns orr orrs rbit rev rev16 revsh ror rors rrx rrxs rsb rsbs
sbc sbcs sbfx ssat usat ssat16 usat16 sub subs subw sxtb sxth uxtb uxth sxtab sxtah uxtab uxtah sxtb16 uxtb16
teq tst ubfx sel pkhbt pkhtb usad8 usada8
qadd qsub qdadd qdsub qadd16 qsub16 qadd8 qsub8 qasx qsax sadd16 ssub16 sadd8 ssub8 sasx ssax
uadd16 usub16 uadd8 usub8 uasx usax uqadd16 uqsub16 uqadd8 uqsub8 uqasx uqsax
shadd16 shsub16 shadd8 shsub8 shasx shsax uhadd16 uhsub16 uhadd8 uhsub8 uhasx uhsax
nop sev wfe wfi yield cpsid cpsie mrs msr svc bkpt udf
mul muls mla mls smull umull smlal umlal umaal sdiv udiv
smulbb smulbt smultb smultt smulwb smulwt smlabb smlabt smlatb smlatt smlawb smlawt smlalbb smlalbt
smlaltb smlaltt smmul smmulr smmla smmlar smmls smmlsr smuad smuadx smusd smusdx smlad smladx smlsd smlsdx
smlald smlaldx smlsld smlsldx
ldr ldrb ldrh ldrsb ldrsh ldrd ldrt ldrbt ldrht ldrsbt ldrsht ldrex ldrexb ldrexh ldm ldmia ldmdb ldmfd
pop push str strb strh strd strt strbt strht strex strexb strexh stm stmia stmdb stmea pld pli
b bl blx bx cbz cbnz tbb tbh it dmb dsb isb clrex
vadd vsub vmul vnmul vmla vmls vnmla vnmls vfma vfms vfnma vfnms vdiv vsqrt vabs vneg vcmp vcmpe
vcvt vcvtr vcvta vcvtn vcvtp vcvtm vcvtb vcvtt vmov vmrs vmsr vldr vstr vldm vldmia vldmdb vstm vstmia
vstmdb vpush vpop vsel vmaxnm vminnm vrinta vrintn vrintp vrintm vrintx vrintz vrintr
""".split())

_IT = re.compile(r"^it[te]{0,3}$")


def split_mnemonic(mnemonic: str) -> tuple[str, str, str]:
    """(base, condition, data type) of a capstone mnemonic: 'addeq' -> ('add', 'eq', ''),
    'ldr.w' -> ('ldr', '', ''), 'vmul.f32' -> ('vmul', '', 'f32'), 'bne' -> ('b', 'ne', ''),
    'itte' -> ('it', '', '')."""
    parts = mnemonic.lower().split(".")
    op = parts[0]
    dtype = ".".join(p for p in parts[1:] if p not in ("w", "n"))
    if _IT.match(op):
        return "it", "", ""
    if op in _KNOWN:
        return op, "", dtype
    if len(op) > 2 and op[-2:] in CONDS and op[:-2] in _KNOWN:
        return op[:-2], op[-2:], dtype
    return op, "", dtype


def histogram_key(mnemonic: str) -> str:
    """The histogram's name for an instruction: base mnemonic and FP data type; conditional
    branches grouped as 'b<cond>'; conditions of IT-block instructions and .w/.n dropped."""
    base, cond, dtype = split_mnemonic(mnemonic)
    if base == "b" and cond:
        return "b<cond>"
    return f"{base}.{dtype}" if dtype else base


def register_count(op_str: str) -> int:
    """Registers in a register list '{r4, r5, lr}'; 1 for an instruction without a list."""
    n = register_list_count(op_str)
    return 1 if n is None else n


def _immediate_offset(op_str: str) -> bool:
    """True for '[rn]', '[rn, #imm]', '[rn, #imm]!', '[rn], #imm'; False for a register offset '[rn, rm...]'."""
    m = re.search(r"\[([^\]]*)\]", op_str)
    if not m:
        return False
    parts = [p.strip() for p in m.group(1).split(",")]
    return len(parts) == 1 or parts[1].startswith("#")


def _writes_pc(base: str, op_str: str) -> bool:
    ops = [o.strip() for o in op_str.split(",")]
    if base in ("pop", "ldm", "ldmia", "ldmdb", "ldmfd"):
        return bool(re.search(r"\bpc\b", op_str))
    return bool(ops) and ops[0] == "pc"


CLASSES = ("alu", "it", "load", "store", "load_store_multi", "pop_pc", "branch", "branch_cond", "call",
           "table_branch", "mul", "mul_acc", "mul_long", "div", "barrier", "system",
           "fp_alu", "fp_mul", "fp_mac", "fp_div", "fp_load_store", "fp_multi")


def classify(mnemonic: str, op_str: str) -> tuple[str, int]:
    """(class, register count N for multiple loads/stores) of one instruction."""
    base, cond, _dtype = split_mnemonic(mnemonic)
    if base == "it":
        return "it", 0
    if base in ("bl", "blx"):
        return "call", 0
    if base == "b":
        return ("branch_cond" if cond else "branch"), 0
    if base == "bx":
        return "branch", 0
    if base in ("cbz", "cbnz"):
        return "branch_cond", 0
    if base in ("tbb", "tbh"):
        return "table_branch", 0
    if base in ("push", "pop", "ldm", "ldmia", "ldmdb", "ldmfd", "stm", "stmia", "stmdb", "stmea"):
        n = register_count(op_str)
        return ("pop_pc" if _writes_pc(base, op_str) else "load_store_multi"), n
    if base in ("ldrd", "strd"):
        return "load_store_multi", 2
    if base.startswith("ldr"):
        return ("pop_pc" if _writes_pc(base, op_str) else "load"), 0
    if base.startswith("str"):
        return "store", 0
    if base in ("pld", "pli"):
        return "load", 0
    if base in ("mul", "muls") or base.startswith(("smul", "smmul", "smuad", "smusd")):
        return "mul", 0
    if base in ("mla", "mls") or (base.startswith(("smla", "smmla", "smmls", "smlsd"))
                                  and not base.startswith(("smlal", "smlsld"))):
        return "mul_acc", 0
    if base in ("smull", "umull", "smlal", "umlal", "umaal") or base.startswith(("smlal", "smlsld")):
        return "mul_long", 0
    if base in ("sdiv", "udiv"):
        return "div", 0
    if base in ("dmb", "dsb", "isb"):
        return "barrier", 0
    if base in ("mrs", "msr", "cpsid", "cpsie", "svc", "bkpt", "wfi", "wfe", "sev", "udf"):
        return "system", 0
    if base in ("vmul", "vnmul"):
        return "fp_mul", 0
    if base in ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"):
        return "fp_mac", 0
    if base in ("vdiv", "vsqrt"):
        return "fp_div", 0
    if base in ("vldr", "vstr"):
        return "fp_load_store", 0
    if base in ("vldm", "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop"):
        return "fp_multi", register_count(op_str)
    if base.startswith("v"):
        return "fp_alu", 0
    if base in ("add", "mov") and _writes_pc(base, op_str):
        return "branch", 0
    return "alu", 0


@dataclass(frozen=True)
class Cost:
    base: int
    taken: int = 0
    #: cost when it directly follows another single load/store (fall-through); None: not pipelined
    pipelined: int | None = None


@dataclass(frozen=True)
class CycleTable:
    core: str
    source: str
    #: class -> (base, taken extra); base may add the register count N via the `per_reg` set
    costs: dict[str, tuple[int, int]]
    per_reg: frozenset[str]
    #: a single load/store right after another one costs this much (M3/M4); None = no pipelining
    pipelined_load_store: int | None = None
    #: STR with an immediate offset is always one cycle on the M3/M4 (TRM 3.3.2)
    store_imm_one_cycle: bool = False
    notes: str = ""

    def cost(self, mnemonic: str, op_str: str) -> Cost:
        cls, n = classify(mnemonic, op_str)
        base, taken = self.costs.get(cls, (1, 0))
        if cls in self.per_reg:
            base += n
        pipelined = None
        if cls in ("load", "store") and self.pipelined_load_store is not None:
            pipelined = self.pipelined_load_store
        if cls == "store" and self.store_imm_one_cycle and _immediate_offset(op_str):
            base = 1
        return Cost(base, taken, pipelined)


_M0_SRC = "ARM DDI 0432C (Cortex-M0 TRM) Table 3-1"
_M0PLUS_SRC = "ARM DDI 0484C (Cortex-M0+ TRM) Table 3-1"
_M3_SRC = "ARM DDI 0337I (Cortex-M3 TRM) Table 18-1"
_M4_SRC = "ARM DDI 0439B (Cortex-M4 TRM) Tables 3-1 and 7-1"

P = 2   # M3/M4 pipeline refill, 1..3 cycles in the TRMs
DIV = 7  # SDIV/UDIV, 2..12 cycles depending on the operands

CORTEX_M0 = CycleTable(
    core="cortex-m0", source=_M0_SRC,
    costs={"alu": (1, 0), "it": (1, 0), "load": (2, 0), "store": (2, 0), "load_store_multi": (1, 0),
           "pop_pc": (1, 2),            # POP {lo regs, PC}: 4 + N(lo regs) = 1 + (N + 1) + 2
           "branch": (1, 2),            # B, BX: 3
           "branch_cond": (1, 2),       # B<cc>: 1 not taken, 3 taken
           "call": (2, 2),              # BL: 4, BLX: 3 (charged 4)
           "table_branch": (3, 2), "mul": (1, 0), "mul_acc": (1, 0), "mul_long": (1, 0), "div": (1, 0),
           "barrier": (4, 0), "system": (4, 0)},
    per_reg=frozenset({"load_store_multi", "pop_pc"}),   # N counts every listed register, PC included
    notes="MULS 1 cycle (fast multiplier option; 32 with the small one). No FPU, no divide instruction: "
          "soft-float and division are library calls, counted as their own instructions.",
)

CORTEX_M0PLUS = CycleTable(
    core="cortex-m0plus", source=_M0PLUS_SRC,
    costs={"alu": (1, 0), "it": (1, 0), "load": (2, 0), "store": (2, 0), "load_store_multi": (1, 0),
           "pop_pc": (1, 1),            # POP {lo regs, PC}: 3 + N(lo regs) = 1 + (N + 1) + 1
           "branch": (1, 1),            # B, BX: 2
           "branch_cond": (1, 1),       # B<cc>: 1 not taken, 2 taken
           "call": (2, 1),              # BL: 3
           "table_branch": (3, 1), "mul": (1, 0), "mul_acc": (1, 0), "mul_long": (1, 0), "div": (1, 0),
           "barrier": (3, 0), "system": (3, 0)},
    per_reg=frozenset({"load_store_multi", "pop_pc"}),
    notes="MULS 1 cycle (fast multiplier option). I/O-port single-cycle accesses not modelled.",
)

_M34_COMMON = {
    "alu": (1, 0), "it": (1, 0), "load": (2, 0), "store": (2, 0),
    "load_store_multi": (1, 0),         # LDM/STM/PUSH/POP: 1 + N; LDRD/STRD: 1 + 2
    "pop_pc": (1, P),                   # POP {..., PC}: 1 + N + P
    "branch": (1, P),                   # B, BX: 1 + P
    "branch_cond": (1, P),              # B<cc>, CBZ: 1 not taken, 1 + P taken
    "call": (1, P),                     # BL: 1 + P
    "table_branch": (2, P),             # TBB/TBH: 2 + P
    "mul": (1, 0), "mul_acc": (2, 0), "div": (DIV, 0),
    "barrier": (4, 0), "system": (2, 0),
}

CORTEX_M3 = CycleTable(
    core="cortex-m3", source=_M3_SRC,
    costs={**_M34_COMMON, "mul_long": (4, 0)},   # UMULL/SMULL 3..5, SMLAL/UMLAL 4..7
    per_reg=frozenset({"load_store_multi", "pop_pc"}),
    pipelined_load_store=1, store_imm_one_cycle=True,
    notes=f"Taken branches 1 + P with P = {P} (1..3 in the TRM); SDIV/UDIV {DIV} (2..12); zero wait states; "
          "no FPU: soft-float is library calls, counted as their own instructions.",
)

CORTEX_M4 = CycleTable(
    core="cortex-m4", source=_M4_SRC,
    costs={**_M34_COMMON, "mul_long": (1, 0),
           "fp_alu": (1, 0),            # VADD/VSUB/VABS/VNEG/VCMP/VCVT/VMOV/VMRS: 1
           "fp_mul": (1, 0),            # VMUL/VNMUL: 1
           "fp_mac": (3, 0),            # VMLA/VMLS/VFMA/...: 3
           "fp_div": (14, 0),           # VDIV/VSQRT: 14
           "fp_load_store": (2, 0),     # VLDR/VSTR: 2
           "fp_multi": (1, 0)},         # VLDM/VSTM/VPUSH/VPOP: 1 + N
    per_reg=frozenset({"load_store_multi", "pop_pc", "fp_multi"}),
    pipelined_load_store=1, store_imm_one_cycle=True,
    notes=f"Taken branches 1 + P with P = {P} (1..3 in the TRM); SDIV/UDIV {DIV} (2..12); zero wait states "
          "(a real STM32F405 at 168 MHz has 5 flash wait states behind its ART cache); IT charged 1 cycle.",
)

CORTEX_M33 = CycleTable(
    core="cortex-m33", source=_M4_SRC + " (no public Cortex-M33 table; the M4's is used)",
    costs=CORTEX_M4.costs, per_reg=CORTEX_M4.per_reg,
    pipelined_load_store=1, store_imm_one_cycle=True,
    notes="Approximation: the Cortex-M4 table. " + CORTEX_M4.notes,
)


def table_for(core: str) -> CycleTable:
    """The cycle table of a board's core name (cortex-m0, cortex-m0plus, cortex-m3, cortex-m4f, cortex-m33...)."""
    c = core.lower().replace("+", "plus")
    if c.startswith("cortex-m0plus"):
        return CORTEX_M0PLUS
    if c.startswith("cortex-m0"):
        return CORTEX_M0
    if c.startswith("cortex-m3") and not c.startswith("cortex-m33"):
        return CORTEX_M3
    if c.startswith("cortex-m33"):
        return CORTEX_M33
    if c.startswith(("cortex-m4", "cortex-m7")):
        return CORTEX_M4
    raise ValueError(f"no cycle table for core {core!r}")
