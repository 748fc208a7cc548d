#!/usr/bin/env bash
# Set up a fresh Debian machine for mcutrain: the ARM toolchain and QEMU (apt),
# a virtual environment with mcutrain and its test tools (pip), PlatformIO's
# offline core directory. Idempotent; prints what it does.
#   bash scripts/setup.sh          what the demo needs (scripts/demo.sh)
#   bash scripts/setup.sh --test   also the test tools: clang + libFuzzer for the fuzzer, pytest, ruff, flwr,
#                                  hypothesis, unicorn/capstone (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
case "${1:-}" in
  --test) for_tests=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
for tool in arm-none-eabi-gcc arm-none-eabi-objdump qemu-system-arm gcc pgrep; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=("python3-venv")
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing the ARM toolchain and QEMU (missing: ${need[*]})"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc libc6-dev procps \
    python3 python3-venv python3-pip >/dev/null
fi
if [ "$for_tests" -eq 1 ]; then
  # clang + libFuzzer (compiler-rt) for the frame-parser fuzzer (scripts/fuzz_link.sh, tests/test_link_fuzz.py).
  # Debian's libFuzzer, ASan and UBSan runtimes are in libclang-rt-<clang major>-dev.
  clang_ok() { command -v clang >/dev/null 2>&1 && echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' \
    | clang -x c -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1; }
  if ! clang_ok; then
    echo "setup: installing clang and its libFuzzer/sanitizer runtimes"
    $SUDO apt-get update -qq
    command -v clang >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang >/dev/null
    major="$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$major-dev" >/dev/null
    clang_ok || { echo "setup: clang -fsanitize=fuzzer still fails" >&2; exit 1; }
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
extras="plot"
[ "$for_tests" -eq 1 ] && extras="test,plot,fleet"
echo "setup: installing mcutrain[$extras] into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
.venv/bin/python -c "from mcutrain.build.toolchain import ensure_pio_core, pio_core_dir; ensure_pio_core(pio_core_dir())"
echo "setup: done"
