"""`mcutrain generate MODEL --library DIR`: the trainer as a self-contained PlatformIO library.

Layout of DIR (no dependency on mcutrain's serial runtime, firmware/core/main.c and link.c):

* ``library.json``: the PlatformIO library manifest (src/, include/).
* ``include/``: ``mcutrain.h`` (the documented API), ``mt_model.h``, the store's ``mt_store.h`` and
  ``mt_storage.h`` (the device you implement), ``crc.h``.
* ``src/``: the generated ``mt_model.c``, ``mcutrain.c`` (the API), ``mt_store.c``, ``crc.c`` and
  ``mt_runtime.h``.
* ``drivers/``: ready mt_storage drivers, not compiled unless you add them: the STM32F4 internal
  flash (``storage_stm32f4_flash.[ch]``, docs/storage.md).
* ``Makefile``: builds ``build/libmcutrain.a`` with arm-none-eabi-gcc, without PlatformIO.
* ``manifest.json``: the generator's manifest (memory plan, stack estimate, functions), and under
  ``library`` the multiply check and stack estimate of the library itself (mcutrain/build/libcheck.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..codegen.generate import MANIFEST_NAME, Generated, generate
from ..errors import McutrainError
from .boards import Board, board_for
from .resources import firmware_dir, templates_dir

#: the API functions of include/mcutrain.h
API_FUNCTIONS = ("mcutrain_init", "mcutrain_train", "mcutrain_infer", "mcutrain_last_loss", "mcutrain_samples",
                 "mcutrain_save", "mcutrain_load", "mcutrain_saved_seq", "mcutrain_strerror")

_INCLUDE = (("library", "mcutrain.h"), ("store", "mt_store.h"), ("store", "mt_storage.h"), ("core", "crc.h"))
_SRC = (("library", "mcutrain.c"), ("store", "mt_store.c"), ("core", "crc.c"), ("core", "mt_runtime.h"))
_DRIVERS = (("boards/common", "storage_stm32f4_flash.c"), ("boards/common", "storage_stm32f4_flash.h"))


class LibraryError(McutrainError):
    exit_code = 2


@dataclass(frozen=True)
class Library:
    root: Path
    board: Board
    generated: Generated

    @property
    def include_dir(self) -> Path:
        return self.root / "include"

    @property
    def sources(self) -> list[Path]:
        return sorted((self.root / "src").glob("*.c"))


def lib_name(model_name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in model_name)
    return f"mcutrain-{safe}"


def write_library(spec: Any, root: Path) -> Library:
    """Write the library for a validated ModelSpec into root (created; files of an earlier run replaced)."""
    if root.exists() and not root.is_dir():
        raise LibraryError(f"--library {root}: exists and is not a folder; give a folder path")
    if root.is_dir() and any(root.iterdir()) and not (root / "library.json").is_file():
        raise LibraryError(f"--library {root}: the folder is not empty and holds no library.json (not an "
                           "earlier library); give a new or empty folder")
    fresh = not root.is_dir() or not any(root.iterdir())
    try:
        return _write(spec, root)
    except BaseException:
        if fresh:  # a failed first generation leaves no half library behind (an earlier one keeps library.json)
            shutil.rmtree(root, ignore_errors=True)
        raise


def _write(spec: Any, root: Path) -> Library:
    board = board_for(spec.board, getattr(spec, "ram_budget", None))
    src, inc, drv = root / "src", root / "include", root / "drivers"
    for d in (src, inc, drv):
        if d.is_dir():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    gen = generate(spec, src)
    (src / "mt_model.h").replace(inc / "mt_model.h")
    (src / MANIFEST_NAME).replace(root / MANIFEST_NAME)
    fw = firmware_dir()
    for dest, files in ((inc, _INCLUDE), (src, _SRC), (drv, _DRIVERS)):
        for part, name in files:
            shutil.copyfile(fw / part / name, dest / name)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "library")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    values = {"model_name": spec.name, "model_hash": spec.model_hash(), "board": board,
              "lib_name": lib_name(spec.name), "version": __version__}
    for name in ("Makefile", "library.json"):
        (root / name).write_text(env.get_template(f"{name}.j2").render(**values))
    manifest = dict(gen.manifest)
    if shutil.which("arm-none-eabi-gcc") is None:
        manifest["library"] = {"checks": None, "note": "arm-none-eabi-gcc not found: no multiply check or stack "
                                                      "estimate (apt-get install gcc-arm-none-eabi)"}
    else:
        from .libcheck import check_library

        manifest["library"] = check_library(root, board.pio_env, manifest, gen.plan.is_float)
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return Library(root, board, Generated(root, gen.plan, gen.memory, manifest))
