#!/usr/bin/env bash
# The main job, end to end on the default emulated board: set up, generate C for the
# MNIST demo model, build it with PlatformIO, boot QEMU, stream MNIST over the emulated
# UART, train and evaluate on the chip, verify every result against the NumPy twin.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# MNIST: ../shared/data if it is there, else the loader downloads it (checksum-pinned).
if [ -z "${MCUTRAIN_DATA_DIR:-}" ] && [ -f ../shared/data/mnist.npz ]; then
  export MCUTRAIN_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/mcutrain train examples/mnist_demo.toml --verify --report demo-report.json --report-dir reports/demo "$@"
