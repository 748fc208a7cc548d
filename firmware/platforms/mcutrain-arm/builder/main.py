"""SCons build script of the mcutrain-arm PlatformIO platform.

Builds firmware.elf / firmware.bin for a Cortex-M board with arm-none-eabi-gcc
from PATH (nothing is downloaded), prints its size, and defines ``upload``,
which boots the firmware in qemu-system-arm with the link UART on a TCP port
(emulated boards) or flashes a real board with openocd or st-flash.

Project options (platformio.ini):
  custom_generated_dir   folder of generated C (default: generated)
  custom_firmware_dir    firmware root holding core/ and boards/ (default: ../..)
  custom_qemu_port       TCP port of the link UART in QEMU (default: 4321)
  custom_qemu_serial     full QEMU chardev instead (e.g. pty, stdio)
  custom_semihosting     yes: build with -DMT_SEMIHOSTING (tests always do)
  board_build.ram_budget link for this many bytes of RAM (the model's ram_budget): the
                         linker script's RAM LENGTH; the link fails past it
  upload_protocol        qemu (default for emulated boards), openocd (default for
                         real boards: ST-LINK + the board's upload.openocd_target),
                         stlink (st-flash, firmware.bin at upload.offset_address),
                         or custom (then upload_command is used)
  custom_openocd_interface  openocd interface script (default interface/stlink.cfg)
"""

import os
import sys

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()

_platform_dir = platform.get_dir()
if not os.path.isabs(_platform_dir):
    _platform_dir = os.path.join(env.subst("$PROJECT_DIR"), _platform_dir)
sys.path.insert(0, os.path.normpath(os.path.join(_platform_dir, "..")))
import mtbuild  # noqa: E402  pylint: disable=wrong-import-position,import-error

if "BOARD" not in env:
    mtbuild.fail(env, "set `board = ...` in platformio.ini (see firmware/platforms/mcutrain-arm/boards)")
board = env.BoardConfig()

for tool in ("arm-none-eabi-gcc", "arm-none-eabi-objcopy", "arm-none-eabi-size"):
    mtbuild.require_tool(env, tool)

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="gdb-multiarch",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.data|\.rodata|\.ARM\.exidx|\.ARM\.extab)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

cpu_flags = list(board.get("build.cpu_flags"))
stack_bytes = int(board.get("build.stack_bytes", 8192))
# board_build.ram_budget (platformio.ini, written by `mcutrain generate` from the model file's
# ram_budget): link for that much RAM; the linker script's RAM LENGTH becomes __ram_budget.
ram_budget = str(board.get("build.ram_budget", "") or "").strip()
if ram_budget and not ram_budget.isdigit():
    mtbuild.fail(env, "board_build.ram_budget = {} in platformio.ini: expected a number of bytes".format(ram_budget))
f_cpu = str(board.get("build.f_cpu", "16000000L")).rstrip("Ll")

testing = mtbuild.is_test_build(env)
semihosting = testing or str(env.GetProjectOption("custom_semihosting", "no")).lower() in (
    "1",
    "yes",
    "true",
    "on",
)

env.Append(
    ASFLAGS=cpu_flags + ["-x", "assembler-with-cpp"],
    CFLAGS=list(mtbuild.C_FLAGS),
    CCFLAGS=cpu_flags + list(mtbuild.CC_FLAGS),
    CPPDEFINES=[("MT_CPU_HZ", f_cpu + "u")] + (["MT_SEMIHOSTING"] if semihosting else []),
    LINKFLAGS=cpu_flags
    + [
        "-nostartfiles",
        "--specs=nano.specs",
        "-Wl,--gc-sections",
        "-Wl,-Map," + os.path.join("$BUILD_DIR", "firmware.map"),
        f"-Wl,--defsym=__stack_size={stack_bytes}",
    ]
    + ([f"-Wl,--defsym=__ram_budget={ram_budget}"] if ram_budget else []),
)

dirs = mtbuild.add_firmware_sources(env, board.get("build.board_dir", env.subst("$BOARD")))
env.Replace(LDSCRIPT_PATH=os.path.join(dirs["board"], board.get("build.ldscript")))

env.Append(
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction(
                "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"
            ),
            suffix=".bin",
        )
    )
)

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
env.Depends(target_bin, "checkprogsize")

target_size = env.AddPlatformTarget(
    "size",
    target_elf,
    env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"),
    "Program Size",
    "Calculate program size",
)
AlwaysBuild(env.Alias("nobuild", target_bin))
target_buildprog = env.Alias("buildprog", target_bin, target_bin)
env.AddPostAction(target_elf, env.VerboseAction("$SIZETOOL -B -d $TARGET", "Size of $TARGET"))

# --- upload: boot the firmware in QEMU, or flash a real board ----------------
machine = board.get("qemu.machine", "")
protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "qemu" if machine else "")
upload_source = target_elf
if protocol == "custom":
    # main.py replaces UPLOADCMD with upload_command when it is set
    env.Replace(UPLOADCMD="$UPLOAD_COMMAND")
elif protocol == "openocd":
    # Debian's openocd (0.12) with the Nucleo's on-board ST-LINK/V2-1:
    # program the ELF (its load addresses), verify, reset, exit.
    target = board.get("upload.openocd_target", "")
    if not target:
        mtbuild.fail(env, "board $BOARD names no upload.openocd_target; use upload_protocol = stlink or custom")
    interface = env.GetProjectOption("custom_openocd_interface", "interface/stlink.cfg")
    env.Replace(
        UPLOADER="openocd",
        UPLOADCMD='$UPLOADER $UPLOADERFLAGS -f {} -f target/{}.cfg -c "program {{$SOURCE}} verify reset exit"'.format(
            interface, target
        ),
    )
elif protocol == "stlink":
    # stlink-tools: write the raw image at the start of flash, then reset.
    upload_source = target_bin
    env.Replace(
        UPLOADER="st-flash",
        UPLOADCMD="$UPLOADER $UPLOADERFLAGS --reset write $SOURCE {}".format(
            board.get("upload.offset_address", "0x08000000")
        ),
    )
elif protocol == "qemu" and machine:
    serial = env.GetProjectOption("custom_qemu_serial", "") or (
        "tcp:127.0.0.1:{},server,nowait".format(env.GetProjectOption("custom_qemu_port", "4321"))
    )
    qemu = ["qemu-system-arm", "-M", machine]
    if board.get("qemu.cpu", ""):
        qemu += ["-cpu", board.get("qemu.cpu")]
    qemu += ["-display", "none", "-monitor", "none"]
    qemu += ["-serial", "null"] * int(board.get("qemu.serial_index", 0))
    qemu += ["-serial", serial]
    if semihosting:
        qemu += ["-semihosting-config", "enable=on,target=native"]
    qemu += ["-kernel", "$SOURCE"]
    env.Replace(UPLOADER="qemu-system-arm", UPLOADCMD=" ".join(qemu), MT_QEMU_SERIAL=serial)
else:
    env.Replace(
        UPLOADCMD='echo "board $BOARD: no way to upload with upload_protocol = {}: use {}" && false'.format(
            protocol or "(none)",
            "qemu" if machine else "openocd, stlink, or custom with upload_command",
        )
    )


def _before_upload(target, source, env):  # pylint: disable=unused-argument
    if protocol == "qemu" and machine:
        mtbuild.require_tool(env, "qemu-system-arm")
        print(
            "QEMU {}: link UART on {}; runs until stopped (Ctrl-C)".format(machine, env.subst("$MT_QEMU_SERIAL"))
        )
    elif protocol in ("openocd", "stlink"):
        mtbuild.require_tool(env, env.subst("$UPLOADER"))
        if semihosting:
            print("Warning: built with MT_SEMIHOSTING: without a debugger attached the board faults at exit")
    sys.stdout.flush()


upload_actions = [
    env.VerboseAction(_before_upload, "Starting $BOARD"),
    env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE"),
]
env.AddPlatformTarget("upload", upload_source, upload_actions, "Upload")

Default([target_buildprog, target_size])
