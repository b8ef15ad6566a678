#!/usr/bin/env bash
# Installs the Debian 12 packages sagactl builds and tests with. Idempotent, and quick when
# everything is already there: apt-get runs only for what is missing.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache
  clang libclang-rt-14-dev          # the libFuzzer target
  libyaml-cpp-dev librdkafka-dev libsqlite3-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libspdlog-dev libcli11-dev libgtest-dev
  graphviz kcat sqlite3             # `dot` renders graphs; kcat talks to the dev broker; sqlite3 inspects state files
  libgraphviz-dev                   # the console's saga graphs, laid out on the server
  chromium fonts-dejavu-core        # the console's browser test (headless)
  postgresql libpq-dev              # the cluster's store; tests start a throwaway server
  python3 python3-confluent-kafka   # the Python participant SDK (sdk/python)
  nodejs                            # the Node participant SDK (sdk/node)
)
# npm comes with nodejs from some sources and as Debian's own package otherwise.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# From the npm registry, pinned by their lock files, when missing or older than the lock file:
# the Node SDK's one dependency (kafkajs) and the console test's (playwright-core, which
# drives Debian's chromium; it downloads no browser).
install_node_modules() {
  local dir
  for dir in sdk/node tests/console; do
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      echo "setup: npm ci in $dir" >&2
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    fi
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  install_node_modules
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_node_modules
