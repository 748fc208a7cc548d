"""A model's PlatformIO project: generated C + platformio.ini, and building it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..codegen.generate import Generated, generate
from ..errors import BuildError
from .boards import Board, board_for
from .resources import firmware_dir, templates_dir
from .toolchain import find_tool, run_pio


@dataclass(frozen=True)
class Project:
    root: Path
    board: Board
    generated: Generated

    @property
    def elf(self) -> Path:
        return self.root / ".pio" / "build" / self.board.pio_env / "firmware.elf"


def write_project(spec: Any, root: Path, init_state: bytes | None = None) -> Project:
    """Write root/generated/{mt_model.c, mt_model.h, manifest.json} and root/platformio.ini (``init_state``:
    a state file's bytes baked in, `mcutrain generate --init`)."""
    board = board_for(spec.board, getattr(spec, "ram_budget", None))
    gen = generate(spec, root / "generated", init_state)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    ini = env.get_template("platformio.ini.j2").render(
        model_name=spec.name, model_hash=spec.model_hash(), board=board,
        platform_dir=firmware_dir() / "platforms" / "mcutrain-arm", firmware_dir=firmware_dir())
    (root / "platformio.ini").write_text(ini)
    return Project(root, board, gen)


def build(project: Project) -> Path:
    """Build the firmware (offline PlatformIO); return the ELF."""
    find_tool("arm-none-eabi-gcc")
    run_pio(["run", "-e", project.board.pio_env], project.root)
    if not project.elf.is_file():
        raise BuildError(f"the build reported success but {project.elf} is missing")
    return project.elf
