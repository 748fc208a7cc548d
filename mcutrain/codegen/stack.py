"""Static stack estimate: the deepest call chain of the firmware, from GCC's own frame sizes.

The C sources of a build are compiled once more, exactly as the build compiles them (the
board's CPU flags, the shipped -O2 flags), with ``-fstack-usage -fcallgraph-info=su``: GCC
then writes every function's frame size and its direct calls. Library functions the code calls
(``memset``, the soft-float helpers of libgcc) have no such record: the objects are linked as the
build links them (linker script, newlib-nano, libgcc of the CPU's multilib) and those functions'
frames are read from the disassembly: their pushes and stack adjustments, plus what they call,
branch to or fall through into. The estimate is the deepest path from the entry
(``Reset_Handler``), and for each entry point of the model its subtree.

What it leaves out, deliberately: exception entry (interrupts are never taken; a fault ends
the program), and indirect calls (there are none; one would be reported in ``notes``).
Measured against stack painting in QEMU by tests/test_stack.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..build.armasm import register_list_count
from ..build.resources import firmware_dir

#: entry points of the generated model whose stack use is reported on their own
MODEL_ENTRIES = ("mt_session_start", "mt_train_step", "mt_infer", "mt_state_digest")
ROOT = "Reset_Handler"

_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"')
_BYTES = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


class StackEstimateError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackEstimate:
    """Deepest stack use in bytes from ``root`` and from each model entry point."""

    bytes: int
    path: tuple[str, ...]                  # the deepest chain, root first
    entries: dict[str, int]                # model entry point -> bytes of its subtree
    frames: dict[str, int]                 # every function seen -> its own frame (bytes)
    library: dict[str, int] = field(default_factory=dict)   # library functions -> their frame
    notes: tuple[str, ...] = ()

    def to_manifest(self) -> dict[str, object]:
        return {
            "bytes": self.bytes, "deepest_path": list(self.path), "entries": dict(self.entries),
            "library_frames": dict(sorted(self.library.items())), "notes": list(self.notes),
            "method": "gcc -fstack-usage -fcallgraph-info=su of the shipped sources and flags; library frames "
                      "from the disassembly of the linked libgcc/newlib-nano; deepest path from Reset_Handler "
                      "(exception entry not counted: no interrupt is taken)",
        }


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)      # node title -> frame bytes
    names: dict[str, str] = field(default_factory=dict)       # node title -> function name
    edges: dict[str, set[str]] = field(default_factory=dict)  # caller title -> callee titles
    dynamic: set[str] = field(default_factory=set)            # frames that are not static

    def add_ci(self, text: str) -> None:
        for title, label in _NODE.findall(text):
            m = _BYTES.search(label)
            # compiled here: the label's first line is the name; else (a library or built-in function,
            # label "__builtin_memset") the title is the symbol the linker will resolve
            self.names[title] = label.split("\\n")[0] if m else self.names.get(title, title)
            if m:
                self.frames[title] = int(m.group(1))
                if m.group(2) != "static":
                    self.dynamic.add(title)
        for src, dst in _EDGE.findall(text):
            self.edges.setdefault(src, set()).add(dst)

    def resolve(self, name: str) -> str | None:
        """The node title of function `name` (global titles are the bare name, static ones file:name)."""
        if name in self.frames:
            return name
        hits = [t for t, n in self.names.items() if n == name and t in self.frames]
        return hits[0] if len(hits) == 1 else None


@functools.lru_cache(maxsize=4)
def _compiler_id(cc: str) -> bytes:
    return subprocess.run([cc, "--version"], capture_output=True).stdout


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mcutrain" / "stack"


def _compile_one(src: Path, cflags: list[str], workdir: Path, k: int, cc: str) -> tuple[Path, str]:
    """Object and call-graph text of one source; cached by the hash of its preprocessed text and flags
    (the firmware's own files change rarely, the generated model every time)."""
    obj = workdir / f"{k}_{src.stem}.o"
    pre = subprocess.run([cc, *cflags, "-E", str(src)], capture_output=True, cwd=src.parent)  # no tmp dir in it
    key = None
    if pre.returncode == 0:
        key = hashlib.sha256(_compiler_id(cc) + repr(cflags).encode() + b"\0" + pre.stdout).hexdigest()
        hit = _cache_dir() / key
        if (hit / "o").is_file() and (hit / "ci").is_file():
            shutil.copyfile(hit / "o", obj)
            return obj, (hit / "ci").read_text()
    res = subprocess.run([cc, *cflags, "-fstack-usage", "-fcallgraph-info=su", "-c", str(src), "-o", str(obj)],
                         capture_output=True, text=True, cwd=workdir)
    if res.returncode != 0:
        raise StackEstimateError(f"compiling {src} for the stack estimate failed:\n{res.stderr.strip()}")
    ci = obj.with_suffix(".ci")
    if not ci.is_file():
        raise StackEstimateError(f"{cc} wrote no call graph for {src} (-fcallgraph-info needs GCC 10 or later)")
    text = ci.read_text()
    if key is not None:
        hit = _cache_dir() / key
        tmp = hit.with_name(f"{key}.{os.getpid()}.tmp")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(obj, tmp / "o")
            (tmp / "ci").write_text(text)
            os.replace(tmp, hit)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process stored it first; a cache is an optimisation
    return obj, text


def compile_call_graph(sources: list[Path], cflags: list[str], workdir: Path,
                       cc: str = "arm-none-eabi-gcc") -> tuple[CallGraph, list[Path]]:
    """Compile `sources` with `cflags` plus the stack options (in parallel); the merged call graph and
    the objects."""
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        done = list(pool.map(lambda ks: _compile_one(ks[1], cflags, workdir, ks[0], cc), enumerate(sources)))
    graph = CallGraph()
    for _, text in done:
        graph.add_ci(text)
    return graph, [obj for obj, _ in done]


# ------------------------------------------------------------------------------ library frames

_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")
_CALL = re.compile(r"<([A-Za-z_][\w.]*)(?:\+0x[0-9a-f]+)?>")


def _regs(text: str) -> int:
    """Registers in an ARM register list such as {r4, r5, lr} or {r4-r7, lr} or {d8-d9}; 0 without a list."""
    return register_list_count(text) or 0


def _frame_of(lines: list[tuple[str, str]]) -> tuple[int, set[str]]:
    """Bytes a function pushes or reserves (all pushes counted: an upper bound), and its calls."""
    frame, calls = 0, set()
    for mnem, ops in lines:
        base = mnem.split(".")[0]
        if base == "push" or (base == "stmdb" and ops.startswith("sp!")):
            frame += 4 * _regs(ops)
        elif base == "vpush":
            frame += (8 if "{d" in ops else 4) * _regs(ops)
        elif base in ("str", "strd", "vstr") and re.search(r"\[sp,\s*#-(\d+)\]!", ops):
            frame += int(re.search(r"\[sp,\s*#-(\d+)\]!", ops).group(1))  # type: ignore[union-attr]
        elif base == "vstmdb" and ops.startswith("sp!"):
            frame += (8 if "{d" in ops else 4) * _regs(ops)
        elif base in ("sub", "subw") and re.match(r"sp,\s*(sp,\s*)?#", ops):
            frame += int(re.search(r"#(\d+)", ops).group(1))  # type: ignore[union-attr]
        elif base in ("bl", "blx"):
            m = _CALL.search(ops)
            if m:
                calls.add(m.group(1))
    return frame, calls


_CONDITIONS = {"eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"}


def _is_branch(mnem: str) -> bool:
    base = mnem.split(".")[0]
    return base in ("b", "cbz", "cbnz") or (len(base) == 3 and base[0] == "b" and base[1:] in _CONDITIONS)


_UNCONDITIONAL_END = re.compile(r"^(b|b\.n|b\.w|bx|udf|bkpt)$")


def _ends_function(mnem: str, ops: str) -> bool:
    """True if control cannot fall through past this instruction."""
    base = mnem.split(".")[0]
    if _UNCONDITIONAL_END.match(mnem):
        return True
    if base in ("pop", "ldmia", "ldm") and "pc" in ops:
        return True
    return mnem.startswith("ldr") and ops.startswith("pc,")


def elf_functions(elf: Path, objdump: str = "arm-none-eabi-objdump",
                  nm: str = "arm-none-eabi-nm") -> dict[str, tuple[int, frozenset[str]]]:
    """Every function of a linked ELF (aliases included): its pushes and reservations (bytes; all of
    them summed, an upper bound) and the functions it calls, branches to or falls through into."""
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    labels: list[tuple[int, str, list[tuple[str, str]]]] = []
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <([^>]+)>:$", line)
        if m:
            labels.append((int(m.group(1), 16), m.group(2), []))
            continue
        i = _INSN.match(line)
        if labels and i and not i.group(1).startswith("."):   # .word: a literal pool, not code
            labels[-1][2].append((i.group(1), i.group(2)))
    table: dict[str, tuple[int, frozenset[str]]] = {}
    by_addr: dict[int, str] = {}
    for k, (addr, name, body) in enumerate(labels):
        frame, calls = _frame_of(body)
        for mnem, ops in body:
            if _is_branch(mnem):
                t = _CALL.search(ops)
                if t and t.group(1) != name:
                    calls.add(t.group(1))   # a tail call, or a jump into shared code of another function
        if body and not any(_ends_function(m, o) for m, o in body) and k + 1 < len(labels):
            calls.add(labels[k + 1][1])   # no way out but into the next function (__aeabi_fsub -> __addsf3)
        table[name] = (frame, frozenset(calls))
        by_addr[addr] = name
    syms = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout
    for line in syms.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtWw" and parts[2] not in table:
            label = by_addr.get(int(parts[0], 16) & ~1)
            if label is not None:
                table[parts[2]] = table[label]
    return table


def library_frames(names: set[str], table: dict[str, tuple[int, frozenset[str]]]) -> dict[str, int]:
    """Deepest stack (bytes) of each function in `names` found in `table` (elf_functions), calls included."""

    def depth(fn: str, seen: frozenset[str]) -> int:
        entry = table.get(fn)
        if entry is None or fn in seen:
            return 0
        frame, calls = entry
        return frame + max((depth(c, seen | {fn}) for c in calls), default=0)

    return {n: depth(n, frozenset()) for n in names if n in table}


def link_for_analysis(objects: list[Path], build: dict[str, object], board_dir: Path, out: Path,
                      cc: str = "arm-none-eabi-gcc") -> Path:
    """Link the objects as the build does (linker script, nano specs, gc-sections) to see the library code."""
    elf = out / "stack-analysis.elf"
    res = subprocess.run([cc, *build["cpu_flags"], "-nostartfiles", "--specs=nano.specs",  # type: ignore[misc]
                          "-Wl,--gc-sections", f"-Wl,--defsym=__stack_size={build.get('stack_bytes', 8192)}",
                          "-T", str(board_dir / str(build["ldscript"])), *map(str, objects), "-o", str(elf)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise StackEstimateError(f"linking for the stack estimate failed:\n{res.stderr.strip()}")
    return elf


# ------------------------------------------------------------------------------ deepest paths

def deepest(graph: CallGraph, root: str, library: dict[str, int]) -> tuple[int, tuple[str, ...]]:
    """Bytes of the deepest chain from node `root`, and the chain (function names)."""
    memo: dict[str, tuple[int, tuple[str, ...]]] = {}

    def walk(title: str, stack: frozenset[str]) -> tuple[int, tuple[str, ...]]:
        if title in memo:
            return memo[title]
        if title in stack:
            raise StackEstimateError(f"recursion through {graph.names.get(title, title)}: no static bound")
        name = graph.names.get(title, title)
        own = graph.frames.get(title)
        if own is None:  # not compiled here: a library function (or unknown: 0, reported by the caller)
            return library.get(name, 0), (name,)
        best = (0, ())
        for callee in sorted(graph.edges.get(title, ())):
            best = max(best, walk(callee, stack | {title}))
        memo[title] = (own + best[0], (name, *best[1]))
        return memo[title]

    return walk(root, frozenset())


def firmware_sources(gen_dir: Path, board_dir: str, fw: Path | None = None) -> list[Path]:
    fw = fw or firmware_dir()
    return (sorted((fw / "core").glob("*.c")) + sorted((fw / "boards" / board_dir).glob("*.c"))
            + sorted(gen_dir.glob("*.c")))


def board_build(pio_env: str, fw: Path | None = None) -> dict[str, object]:
    """The board's PlatformIO manifest (cpu flags, f_cpu, board_dir): what the build compiles with."""
    fw = fw or firmware_dir()
    return json.loads((fw / "platforms" / "mcutrain-arm" / "boards" / f"{pio_env}.json").read_text())["build"]


def shipped_cflags(build: dict[str, object], include_dirs: list[Path], defines: tuple[str, ...] = ()) -> list[str]:
    """The compile flags of firmware/platforms/mtbuild.py and the arm builder, for this board."""
    import sys

    sys.path.insert(0, str(firmware_dir() / "platforms"))
    try:
        import mtbuild  # the flags the builder ships
    finally:
        sys.path.pop(0)
    f_cpu = str(build.get("f_cpu", "16000000L")).rstrip("Ll")
    return [*build["cpu_flags"], *mtbuild.C_FLAGS, *mtbuild.CC_FLAGS,  # type: ignore[misc]
            f"-DMT_CPU_HZ={f_cpu}u", *(f"-D{d}" for d in defines), *(f"-I{d}" for d in include_dirs)]


def estimate_stack(sources: list[Path], cflags: list[str], build: dict[str, object], board_dir: Path, *,
                   root: str = ROOT, entries: tuple[str, ...] = MODEL_ENTRIES,
                   cc: str = "arm-none-eabi-gcc") -> StackEstimate:
    """The static stack estimate of a program made of `sources` compiled with `cflags`, linked for the board."""
    with tempfile.TemporaryDirectory(prefix="mt-stack-") as tmp:
        graph, objects = compile_call_graph(sources, cflags, Path(tmp), cc)
        elf = link_for_analysis(objects, build, board_dir, Path(tmp), cc)
        table = elf_functions(elf, cc.replace("gcc", "objdump"), cc.replace("gcc", "nm"))
    called = {d for dsts in graph.edges.values() for d in dsts}
    external = {graph.names.get(t, t) for t in called if t not in graph.frames and "__indirect_call" not in t}
    library = library_frames(external, table)
    notes = []
    unknown = sorted(external - set(library))
    if unknown:
        notes.append(f"called but not linked (inlined or unused; counted as 0): {', '.join(unknown)}")
    if graph.dynamic:
        notes.append(f"dynamic frames: {', '.join(sorted(graph.names[t] for t in graph.dynamic))}")
    if any("__indirect_call" in t for t in called):
        notes.append("indirect calls present: their callees are not counted")
    root_title = graph.resolve(root)
    if root_title is None:
        raise StackEstimateError(f"{root} is not among the compiled functions")
    total, path = deepest(graph, root_title, library)
    per_entry = {}
    for name in entries:
        title = graph.resolve(name)
        if title is not None:
            per_entry[name] = deepest(graph, title, library)[0]
    frames = {graph.names.get(t, t): b for t, b in graph.frames.items()}
    return StackEstimate(total, path, per_entry, frames, library, tuple(notes))


def estimate_firmware_stack(gen_dir: Path, pio_env: str) -> StackEstimate:
    """The product firmware of a generated model on a board: core + board support + generated C."""
    fw = firmware_dir()
    gen_dir = gen_dir.resolve()
    build = board_build(pio_env, fw)
    board_dir = fw / "boards" / str(build.get("board_dir", pio_env))
    cflags = shipped_cflags(build, [fw / "core", board_dir, gen_dir])
    return estimate_stack(firmware_sources(gen_dir, board_dir.name, fw), cflags, build, board_dir)
