"""SCons build script of the mcutrain-host PlatformIO platform.

Builds the firmware core + ``firmware/boards/host`` (UART = stdin/stdout) +
the generated C as an ordinary host program with the system C compiler, with
the same warnings as the board builds. ``pio test -e host`` runs the C unit
tests natively; ``pio run -e host -t exec`` runs the program.

Project options (platformio.ini):
  custom_generated_dir   folder of generated C (default: generated)
  custom_firmware_dir    firmware root holding core/ and boards/ (default: ../..)
  custom_board_dir       board support folder name (default: host)
  custom_cc              C compiler (default: gcc)
"""

import os
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()

_platform_dir = platform.get_dir()
if not os.path.isabs(_platform_dir):
    _platform_dir = os.path.join(env.subst("$PROJECT_DIR"), _platform_dir)
sys.path.insert(0, os.path.normpath(os.path.join(_platform_dir, "..")))
import mtbuild  # noqa: E402  pylint: disable=wrong-import-position,import-error

cc = env.GetProjectOption("custom_cc", "gcc")
mtbuild.require_tool(env, cc)

env.Replace(
    CC=cc,
    AS=cc,
    AR="ar",
    RANLIB="ranlib",
    PROGNAME="program",
    PROGSUFFIX="",
)
env.Append(
    CFLAGS=list(mtbuild.C_FLAGS),
    CCFLAGS=list(mtbuild.CC_FLAGS),
    LINKFLAGS=["-Wl,--gc-sections"],
)

mtbuild.add_firmware_sources(env, env.GetProjectOption("custom_board_dir", "host"))

target_bin = env.BuildProgram()
AlwaysBuild(env.Alias("nobuild", target_bin))
target_buildprog = env.Alias("buildprog", target_bin, target_bin)

env.AddPlatformTarget(
    "exec",
    target_bin,
    env.VerboseAction("$SOURCE $PROGRAM_ARGS", "Executing $SOURCE"),
    "Program Execute",
    "Run the host program",
)

Default([target_buildprog])
