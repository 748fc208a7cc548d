#!/usr/bin/env bash
# Fuzz the device's frame parser (firmware/core/link.c) with libFuzzer + ASan + UBSan.
#
#   bash scripts/fuzz_link.sh [libFuzzer options...]
#
# Builds build/fuzz/link_fuzz with clang -fsanitize=fuzzer,address,undefined, writes the
# seed corpus made by the host's encoder (fuzz/make_corpus.py) to build/fuzz/seeds, and
# runs the fuzzer on build/fuzz/corpus (new inputs go there) plus the seeds. Options are
# passed to libFuzzer; without any it runs 10 million inputs (docs/fuzzing.md):
#   bash scripts/fuzz_link.sh -runs=200000          # the short run the test suite does
#   bash scripts/fuzz_link.sh -max_total_time=600   # ten minutes
# Exit status: libFuzzer's (0 = no crash, no sanitizer report); its output is also kept in
# build/fuzz/fuzz.log (python fuzz/summarize.py makes the table of docs/fuzzing.md from it). A crash input is saved
# as build/fuzz/crash-<sha1>; replay it with build/fuzz/link_fuzz build/fuzz/crash-<sha1>.
# FUZZ_DIR overrides build/fuzz; LINK_C fuzzes another copy of link.c (the test suite plants
# a bug in one to check that the harness finds it).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${FUZZ_DIR:-build/fuzz}"
command -v clang >/dev/null || { echo "fuzz: clang is not installed (bash scripts/setup.sh installs it)" >&2; exit 3; }
mkdir -p "$out/corpus" "$out/seeds"
clang -std=c99 -Wall -Wextra -Werror -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Ifirmware/core fuzz/link_fuzz.c "${LINK_C:-firmware/core/link.c}" firmware/core/crc.c -o "$out/link_fuzz"
py=.venv/bin/python; [ -x "$py" ] || py=python3
"$py" fuzz/make_corpus.py "$out/seeds"
[ $# -gt 0 ] || set -- -runs=10000000
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$out/link_fuzz" -max_len=1024 -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus" "$out/seeds" 2>&1 \
  | tee "$out/fuzz.log"
