#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   ASan+UBSan build of the tests in build-asan/
#   scripts/test.sh --tsan       ThreadSanitizer build of the tests in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ "${1:-}" = "--sanitize" ]; then
  export BUILD_DIR=build-asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS="suppressions=$PWD/tests/support/lsan.supp"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  scripts/build.sh -DSAGACTL_SANITIZE=ON -DSAGACTL_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
elif [ "${1:-}" = "--tsan" ]; then
  export BUILD_DIR=build-tsan
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/support/tsan.supp"
  scripts/build.sh -DSAGACTL_TSAN=ON -DSAGACTL_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
else
  export BUILD_DIR=build
  scripts/build.sh
fi
# One PostgreSQL for the whole run: the store tests create a database each in it, instead of
# an initdb per test process.
pg_dir=$(mktemp -d /tmp/sagactl-test-pg-XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_postgres() { scripts/dev-postgres.sh stop "$pg_dir" 2>/dev/null || true; rm -rf "$pg_dir"; }
trap stop_postgres EXIT
scripts/dev-postgres.sh start "$pg_dir" "$pg_port" --no-fsync >/dev/null
export SAGACTL_TEST_POSTGRES_PORT=$pg_port
# The slow suites (chaos, cluster, bench: real processes killed, restarted and timed) run once,
# in the plain stage; the sanitizer stages run everything else (the engine, stores, transport,
# cluster units and the e2e tests of the sagactl program, all instrumented).
exclude=()
[ -n "${1:-}" ] && exclude=(-LE slow)
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" --timeout 300 "${exclude[@]}"
