"""The multiply check and the stack estimate applied to a generated library (mcutrain/build/library.py).

A check firmware is made of the library's sources, a driver ``main`` that calls every API function
once (never run: it only makes the linker keep them and gives the call graph a root) and the
board support, compiled with the flags the PlatformIO build ships (mcutrain/codegen/stack.py
``shipped_cflags``) and linked as the build links. On that ELF:

* the multiply check (mcutrain/build/mulcheck.py) over the training and inference functions the
  manifest names plus ``mcutrain_train`` and ``mcutrain_infer``: no multiply or divide instruction
  and no call to a multiply/divide helper (float32 baseline models multiply by design: skipped,
  and said so);
* the static stack estimate (mcutrain/codegen/stack.py) from ``Reset_Handler`` and for each API
  function; your storage functions (called through the mt_storage pointers) are not counted.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..codegen.stack import MODEL_ENTRIES, StackEstimateError, board_build, estimate_stack, shipped_cflags
from ..errors import McutrainError
from .mulcheck import check_elf
from .resources import firmware_dir

API_ENTRIES = ("mcutrain_init", "mcutrain_train", "mcutrain_infer", "mcutrain_save", "mcutrain_load")

DRIVER = """/* check firmware of mcutrain's library checks (mcutrain/build/libcheck.py): never run */
#include "board.h"
#include "mcutrain.h"

static uint8_t x[MT_INPUT_BYTES];
static int rd(const mt_storage *d, uint32_t b, uint32_t o, void *buf, uint32_t n)
{ (void)d; (void)b; (void)o; (void)buf; (void)n; return -1; }
static int pr(const mt_storage *d, uint32_t b, uint32_t o, const void *buf, uint32_t n)
{ (void)d; (void)b; (void)o; (void)buf; (void)n; return -1; }
static int er(const mt_storage *d, uint32_t b) { (void)d; (void)b; return -1; }
static mt_storage dev = {0, 1024u, MCUTRAIN_STORE_BLOCKS(1024u), 1u, rd, pr, er};

int main(void)
{
    board_init();
    (void)mcutrain_init(1u, 100u, 0);
    (void)mcutrain_load(&dev);
    (void)mcutrain_train(x, 0u);
    (void)mcutrain_infer(x);
    (void)mcutrain_last_loss();
    (void)mcutrain_save(&dev);
    board_exit((int)mcutrain_samples());
}
"""


class LibraryCheckError(McutrainError):
    exit_code = 2


def check_library(root: Path, pio_env: str, manifest: dict[str, Any], is_float: bool) -> dict[str, Any]:
    """{"multiply_check": ..., "stack_estimate": ...} of the library in root; raises LibraryCheckError if a
    kernel multiplies or the estimate exceeds the board's stack."""
    fw = firmware_dir()
    build = board_build(pio_env, fw)
    board_dir = fw / "boards" / str(build.get("board_dir", pio_env))
    incs = [root / "include", root / "src", fw / "core", board_dir, fw / "boards" / "common"]
    cflags = shipped_cflags(build, incs)
    with tempfile.TemporaryDirectory(prefix="mt-libcheck-") as tmp:
        driver = Path(tmp) / "libcheck_main.c"
        driver.write_text(DRIVER)
        sources = sorted((root / "src").glob("*.c")) + [driver] + sorted(board_dir.glob("*.c"))
        try:
            est = estimate_stack(sources, cflags, build, board_dir, entries=(*API_ENTRIES, *MODEL_ENTRIES))
        except StackEstimateError as exc:
            raise LibraryCheckError(f"library stack estimate: {exc}") from None
        elf = Path(tmp) / "libcheck.elf"
        r = subprocess.run(["arm-none-eabi-gcc", *cflags, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                            "-T", str(board_dir / str(build["ldscript"])), *map(str, sources), "-o", str(elf)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise LibraryCheckError(f"the library's check firmware does not build:\n{r.stderr.strip()[-3000:]}")
        names = sorted({*manifest["functions"]["training"], *manifest["functions"]["inference"],
                        "mcutrain_train", "mcutrain_infer"})
        if is_float:
            mult: dict[str, Any] = {"skipped": "float32 baseline: multiplies by design", "functions": names}
        else:
            try:
                reports = check_elf(str(elf), names)
            except ValueError as exc:
                raise LibraryCheckError(f"library multiply check: {exc}") from None
            found = [f"{f.function} {f.address}: {f.text}" for rep in reports for f in rep.findings]
            mult = {"functions": names, "instructions": sum(rep.instructions for rep in reports),
                    "multiplies": found}
            if found:
                raise LibraryCheckError("the library's kernels multiply or divide:\n  " + "\n  ".join(found[:20]))
    stack = est.to_manifest()
    stack["board_stack_bytes"] = int(build.get("stack_bytes", 8192))  # type: ignore[call-overload]
    stack["note"] = ("a firmware of the check driver (main calls each API function); your own code and your "
                     "mt_storage functions (indirect calls) add to it")
    if est.bytes > stack["board_stack_bytes"]:
        raise LibraryCheckError(f"the library needs an estimated {est.bytes} bytes of stack (deepest chain "
                                f"{' -> '.join(est.path)}), more than the {stack['board_stack_bytes']} the board "
                                "reserves")
    return {"multiply_check": mult, "stack_estimate": stack}
