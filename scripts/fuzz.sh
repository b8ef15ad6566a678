#!/usr/bin/env bash
# Builds the DSL compiler's libFuzzer target with clang and runs it for SECONDS (default 60)
# over the corpus in tests/fuzz/corpus. New inputs go to a scratch dir, not the repo; a crash
# leaves its input in build-fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/setup.sh
# Only the fuzz target (and the libraries it needs): the engine and Kafka code are not fuzzed here.
BUILD_DIR=build-fuzz NINJA_FLAGS=compile_fuzzer scripts/build.sh -DSAGACTL_FUZZ=ON -DSAGACTL_TESTS=OFF \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd build-fuzz
./tests/fuzz/compile_fuzzer -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "$scratch" ../tests/fuzz/corpus 2>&1 | tail -n 15
