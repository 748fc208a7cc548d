#!/usr/bin/env bash
# The test suite: set up, then ruff and pytest (Python, generated C on the host, the
# firmware built with PlatformIO, C unit tests on the host and in QEMU, sessions on QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if [ -z "${MCUTRAIN_DATA_DIR:-}" ] && [ -f ../shared/data/mnist.npz ]; then
  export MCUTRAIN_DATA_DIR="$(cd ../shared/data && pwd)"
fi
.venv/bin/ruff check mcutrain host tests
exec .venv/bin/python -m pytest -q "$@"
