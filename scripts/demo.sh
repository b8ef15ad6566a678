#!/usr/bin/env bash
# The main job: install what is missing, build, validate the example sagas and draw them, then
# run the order saga twice through the embedded engine (one completes, one compensates).
#   scripts/demo.sh [--participants cpp|python|node]   which SDK's order services answer over Kafka
#   scripts/demo.sh --postgres                         the sagas' state in a throwaway PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
participants=cpp
postgres=no
usage="usage: scripts/demo.sh [--participants cpp|python|node] [--postgres]"
while [ $# -gt 0 ]; do
  case "$1" in
    --participants) participants="${2:-}"; shift 2 ;;
    --participants=*) participants="${1#*=}"; shift ;;
    --postgres) postgres=yes; shift ;;
    *) echo "demo: unknown option $1; $usage" >&2; exit 1 ;;
  esac
done
case "$participants" in
  cpp) services=(build/examples/order-services) ;;
  python) services=(/usr/bin/python3 sdk/python/examples/order_services.py) ;;
  node) services=(node sdk/node/examples/order-services.js) ;;
  *) echo "demo: --participants is cpp, python or node, not \"$participants\"" >&2; exit 1 ;;
esac
scripts/setup.sh
scripts/build.sh >/dev/null
sagactl=build/cli/sagactl

echo "== sagactl validate examples/sagas"
$sagactl validate examples/sagas
mkdir -p build/graphs
for f in examples/sagas/*.yaml; do
  name=$(basename "$f" .yaml)
  $sagactl graph "$f" > "build/graphs/$name.dot"
  dot -Tsvg "build/graphs/$name.dot" -o "build/graphs/$name.svg"
  $sagactl graph --format mermaid "$f" > "build/graphs/$name.mmd"
done
echo "== graphs (DOT, SVG, Mermaid) written to build/graphs/"
ls build/graphs
echo "== sagactl graph --format mermaid examples/sagas/order-fulfilment.yaml"
cat build/graphs/order-fulfilment.mmd

echo "== build/examples/embedded-order-demo (the engine embedded, in-process participants, SQLite on disk)"
build/examples/embedded-order-demo

echo
echo "== over Kafka: sagactl run (embedded broker) + the order saga's participant services ($participants SDK)"
work=$(mktemp -d)
run_pid=""; svc_pid=""; pg_dir=""
cleanup() {
  [ -n "$svc_pid" ] && kill -TERM "$svc_pid" 2>/dev/null || true
  [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$pg_dir" ] && { scripts/dev-postgres.sh stop "$pg_dir" 2>/dev/null; rm -rf "$pg_dir"; } || true
}
trap cleanup EXIT
state="$work/sagactl.db"
if [ "$postgres" = yes ]; then
  pg_dir=$(mktemp -d /tmp/sagactl-demo-pg-XXXXXX)
  state=$(scripts/dev-postgres.sh start "$pg_dir" $((20000 + RANDOM % 20000)))
  echo "== PostgreSQL (scripts/dev-postgres.sh): state $state"
fi
cat >"$work/sagactl.yaml" <<YAML
sagas: $PWD/examples/sagas
state: $state
kafka: {brokers: embedded, embedded_port: 0}
admin: 127.0.0.1:0
log: {level: warn}
YAML
$sagactl run --config "$work/sagactl.yaml" >"$work/run.out" 2>"$work/run.log" &
run_pid=$!
for _ in $(seq 100); do grep -q '^admin: ' "$work/run.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap: //p' "$work/run.out")
admin=$(sed -n 's/^admin: //p' "$work/run.out")
[ -n "$admin" ] || { echo "demo: sagactl run did not start:" >&2; cat "$work/run.log" >&2; exit 1; }
# Ready, not merely listening: GET /readyz answers 200 once the reply consumer has caught up.
readyz() {
  exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}" || return 1
  printf 'GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$admin" >&3
  local status; read -r _ status _ <&3; exec 3<&-
  [ "$status" = 200 ]
}
for _ in $(seq 300); do readyz 2>/dev/null && break; sleep 0.1; done
readyz || { echo "demo: sagactl run did not become ready:" >&2; cat "$work/run.log" >&2; exit 1; }
echo "broker $bootstrap, admin endpoint $admin, state $state"
"${services[@]}" --brokers "$bootstrap" --state-dir "$work" 2>"$work/services.log" &
svc_pid=$!

echo "\$ sagactl start order-fulfilment --id demo-1 --wait --input '{\"orderId\": \"o-1\", \"amount\": 42, ...}'"
$sagactl start order-fulfilment --config "$work/sagactl.yaml" --admin "$admin" --id demo-1 --wait \
  --input '{"orderId": "o-1", "amount": 42, "items": [{"sku": "tea", "qty": 2}], "express": true}'
echo "\$ sagactl start order-fulfilment --id demo-2 --wait --input '{\"orderId\": \"o-2\", \"amount\": 5000, ...}'   # payments declines it"
set +e
$sagactl start order-fulfilment --config "$work/sagactl.yaml" --admin "$admin" --id demo-2 --wait \
  --input '{"orderId": "o-2", "amount": 5000, "items": [{"sku": "car", "qty": 1}], "express": true}'
code=$?
set -e
[ "$code" -eq 2 ] || { echo "demo: demo-2 should have been compensated (exit 2), got $code" >&2; exit 1; }
echo
echo "\$ sagactl status demo-1"
$sagactl status demo-1 --config "$work/sagactl.yaml"
echo
echo "\$ sagactl status demo-2"
$sagactl status demo-2 --config "$work/sagactl.yaml"
echo
echo "\$ sagactl list"
$sagactl list --config "$work/sagactl.yaml"
kill -TERM "$svc_pid" "$run_pid"
wait "$run_pid" && echo "== sagactl run stopped cleanly"
run_pid=""; svc_pid=""
