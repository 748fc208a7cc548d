#!/usr/bin/env bash
# Set up a fresh Debian machine for mcutrain: the ARM toolchain and QEMU (apt),
# a virtual environment with mcutrain and its test tools (pip), PlatformIO's
# offline core directory. Idempotent; prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
for tool in arm-none-eabi-gcc arm-none-eabi-objdump qemu-system-arm gcc; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=("python3-venv")
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing the ARM toolchain and QEMU (missing: ${need[*]})"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc libc6-dev \
    python3 python3-venv python3-pip >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
echo "setup: installing mcutrain into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/python -c "from mcutrain.toolchain import ensure_pio_core, pio_core_dir; ensure_pio_core(pio_core_dir())"
echo "setup: done"
