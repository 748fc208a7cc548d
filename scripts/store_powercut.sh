#!/usr/bin/env bash
# The long power-cut run of the state store on the emulated board (docs/storage.md):
# kills QEMU N times (default 2000) while the firmware trains and saves to a host file,
# checks every reboot's state and every round's final state against the twin, and writes
# the figures as JSON. Usage: bash scripts/store_powercut.sh [KILLS] [REPORT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-2000}"
REPORT="${2:-build/store-powercut/report.json}"
export MCUTRAIN_DATA_DIR="${MCUTRAIN_DATA_DIR:-../shared/data}"
mkdir -p build/store-powercut "$(dirname "$REPORT")"
exec .venv/bin/python -m mcutrain.store.powercut --kills "$KILLS" --work-dir build/store-powercut --report "$REPORT"
