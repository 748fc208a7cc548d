#!/usr/bin/env bash
# Line and branch coverage of firmware/core/link.c reached by the fuzzer's corpus
# (after bash scripts/fuzz_link.sh): rebuilds the harness with clang's source-based
# coverage, replays build/fuzz/corpus + build/fuzz/seeds once, prints llvm-cov's report.
# FUZZ_DIR overrides build/fuzz (as in fuzz_link.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${FUZZ_DIR:-build/fuzz}"
[ -d "$out/seeds" ] || { echo "fuzz: no corpus in $out: run bash scripts/fuzz_link.sh first" >&2; exit 2; }
clang -std=c99 -O0 -g -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
  -Ifirmware/core fuzz/link_fuzz.c firmware/core/link.c firmware/core/crc.c -o "$out/link_fuzz_cov"
LLVM_PROFILE_FILE="$out/cov.profraw" "$out/link_fuzz_cov" -runs=0 "$out/corpus" "$out/seeds" >/dev/null 2>&1
llvm-profdata merge -sparse "$out/cov.profraw" -o "$out/cov.profdata"
llvm-cov report "$out/link_fuzz_cov" -instr-profile="$out/cov.profdata" firmware/core/link.c
