"""Shared SCons helpers of the mcutrain PlatformIO platforms.

Imported by ``mcutrain-arm/builder/main.py`` and ``mcutrain-host/builder/main.py``
(both run inside PlatformIO's SCons process). Collects the firmware sources:

* ``<firmware>/core/*.c``: the board-independent runtime. In test builds
  (``pio test``) ``main.c`` is left out: each test suite has its own ``main``.
* ``<firmware>/boards/<board>/*.c``: the board support (board.h).
* every ``.c`` in the generated directory (project option
  ``custom_generated_dir``, default ``generated``, relative to the project
  directory or absolute). Test builds include it only with
  ``test_build_src = yes``.

Test builds define ``MT_UNIT_TEST``.

With ``custom_runtime = no`` (a firmware of your own on the library of
``mcutrain generate --library``, e.g. examples/standalone) only the board support
is added (and ``<firmware>/core`` to the include path for ``board.h``): no
core sources (main.c, link.c, crc.c) and no generated directory; the model
comes from the library (``lib_deps``).

``<firmware>`` is the folder holding ``platforms/`` (option
``custom_firmware_dir`` overrides it).
"""

import os
import shutil
import sys

C_FLAGS = ["-std=c99"]
CC_FLAGS = [
    "-O2",
    "-g",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",
    "-fdata-sections",
]

INSTALL_HINTS = {
    "arm-none-eabi-": "apt-get install gcc-arm-none-eabi binutils-arm-none-eabi "
    "libnewlib-arm-none-eabi",
    "qemu-system-arm": "apt-get install qemu-system-arm",
    "gcc": "apt-get install gcc",
    "openocd": "apt-get install openocd",
    "st-flash": "apt-get install stlink-tools",
}


def fail(env, message):
    sys.stderr.write(f"Error: {message}\n")
    env.Exit(1)


def require_tool(env, name):
    """Exit the build with a clear message if program ``name`` is missing."""
    path = shutil.which(name, path=env["ENV"].get("PATH"))
    if path:
        return path
    hint = next(
        (h for prefix, h in INSTALL_HINTS.items() if name.startswith(prefix)),
        "install it and put it on PATH",
    )
    fail(env, f"{name} not found on PATH; install it with: {hint}")
    return None


def project_path(env, value):
    """``value`` (an option) as an absolute path, relative to the project dir."""
    value = env.subst(str(value)).strip()
    if not os.path.isabs(value):
        value = os.path.join(env.subst("$PROJECT_DIR"), value)
    return os.path.normpath(value)


def platform_dir(env):
    """Absolute folder of the running platform (a plain relative
    ``platform = path`` in platformio.ini is relative to the project)."""
    return project_path(env, env.PioPlatform().get_dir())


def firmware_dir(env):
    custom = env.GetProjectOption("custom_firmware_dir", "")
    if custom:
        return project_path(env, custom)
    return os.path.normpath(os.path.join(platform_dir(env), "..", ".."))


def is_test_build(env):
    return "test" in env.subst("$BUILD_TYPE")


def add_firmware_sources(env, board_dir_name):
    """Add core, board and generated sources to the program; return the dirs
    as a dict (core, board, generated)."""
    fw = firmware_dir(env)
    core_dir = os.path.join(fw, "core")
    board_dir = os.path.join(fw, "boards", board_dir_name)
    gen_dir = project_path(env, env.GetProjectOption("custom_generated_dir", "generated"))
    testing = is_test_build(env)
    runtime = str(env.GetProjectOption("custom_runtime", "yes")).lower() not in ("0", "no", "false", "off")
    with_generated = runtime and (not testing or env.GetProjectOption("test_build_src", False))

    for path, what in ((core_dir, "firmware core"), (board_dir, "board support")):
        if not os.path.isdir(path):
            fail(env, f"{what} folder {path} not found")
    if with_generated and not os.path.isdir(gen_dir):
        fail(
            env,
            f"generated C folder {gen_dir} not found: generate the model code first "
            "(mcutrain generate), or set custom_generated_dir in platformio.ini",
        )

    env.Prepend(CPPPATH=[core_dir, board_dir] + ([gen_dir] if with_generated else []))
    if testing:
        env.Append(CPPDEFINES=["MT_UNIT_TEST"])
    core_filter = ["+<*.c>"] + (["-<main.c>"] if testing else [])
    if runtime:
        env.BuildSources(os.path.join("$BUILD_DIR", "mt_core"), core_dir, core_filter)
    env.BuildSources(os.path.join("$BUILD_DIR", "mt_board"), board_dir, ["+<*.c>", "+<*.S>"])
    if with_generated:
        env.BuildSources(os.path.join("$BUILD_DIR", "mt_generated"), gen_dir, ["+<*.c>"])
    return {"core": core_dir, "board": board_dir, "generated": gen_dir if with_generated else None}
