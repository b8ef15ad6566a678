#!/usr/bin/env bash
# `cmake --install` gives a CMake package a project outside the repository builds against:
# installs this build into a temporary prefix, copies the tutorial's participant project
# (examples/signup) to a temporary folder, configures and builds it with find_package(sagactl),
# and checks that the program refuses a missing argument with its usage (exit 1, no crash).
# The participant component must need only librdkafka, SQLite, spdlog and Boost's headers: the
# project is configured with yaml-cpp and CLI11 hidden from CMake and with pkg-config seeing
# nothing but rdkafka.pc, and the program must not link libpq, Graphviz or yaml-cpp.
#   outside_tree.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/sagactl"
test -f "$work/prefix/include/sagactl/participant/kafka_participant.h"
test -f "$work/prefix/lib/cmake/sagactl/sagactlConfig.cmake"

cp -r "$source/examples/signup" "$work/signup"
mkdir "$work/pc"
ln -s "$(pkg-config --variable=pcfiledir rdkafka)/rdkafka.pc" "$work/pc/rdkafka.pc"
PKG_CONFIG_LIBDIR="$work/pc" PKG_CONFIG_PATH="" cmake -S "$work/signup" -B "$work/signup/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON >/dev/null
cmake --build "$work/signup/build" >/dev/null
if ldd "$work/signup/build/signup-services" | grep -E 'libpq|libgvc|libcgraph|libyaml-cpp'; then
  echo "signup-services links a library the participant SDK must not need (above)" >&2; exit 1
fi

set +e
"$work/signup/build/signup-services" 2>"$work/err"
code=$?
set -e
[ "$code" -eq 1 ] || { echo "signup-services without arguments exited $code, expected 1" >&2; cat "$work/err" >&2; exit 1; }
grep -q "usage: signup-services accounts|mail|all" "$work/err" || { echo "no usage line:" >&2; cat "$work/err" >&2; exit 1; }
"$work/prefix/bin/sagactl" validate "$work/signup/sagas" >/dev/null
echo "outside_tree: installed, found by find_package(sagactl COMPONENTS participant) with only rdkafka.pc visible, built without libpq, Graphviz or yaml-cpp, and the program checks its arguments"
