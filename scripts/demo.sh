#!/usr/bin/env bash
# The main job: install what is missing, build, validate the example sagas and draw them, then
# run the order saga twice through the embedded engine (one completes, one compensates).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
sagactl=build/runtime/sagactl

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
echo "== over Kafka: sagactl run (embedded broker) + examples/participants/order-services, started with kcat"
work=$(mktemp -d)
run_pid=""; svc_pid=""
cleanup() {
  [ -n "$svc_pid" ] && kill -TERM "$svc_pid" 2>/dev/null || true
  [ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
$sagactl run --sagas examples/sagas --state "$work/state.db" >"$work/run.out" 2>"$work/run.log" &
run_pid=$!
for _ in $(seq 100); do grep -q '^bootstrap: ' "$work/run.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap: //p' "$work/run.out")
[ -n "$bootstrap" ] || { echo "demo: sagactl run did not start:" >&2; cat "$work/run.log" >&2; exit 1; }
echo "bootstrap: $bootstrap"
build/examples/order-services --brokers "$bootstrap" --state-dir "$work" 2>"$work/services.log" &
svc_pid=$!
echo '{"orderId": "o-1", "amount": 42, "items": [{"sku": "tea", "qty": 2}], "express": true}' >"$work/o1.json"
echo '{"orderId": "o-2", "amount": 5000, "items": [{"sku": "car", "qty": 1}], "express": true}' >"$work/o2.json"
kcat -P -b "$bootstrap" -t sagas.start -k demo-1 -H saga-name=order-fulfilment -H saga-id=demo-1 "$work/o1.json"
kcat -P -b "$bootstrap" -t sagas.start -k demo-2 -H saga-name=order-fulfilment -H saga-id=demo-2 "$work/o2.json"
events=""
for _ in $(seq 150); do
  events=$(kcat -C -b "$bootstrap" -t sagas.events -o beginning -e -q -f '%s\n' 2>/dev/null || true)
  echo "$events" | grep -q '"saga_id":"demo-1".*"type":"saga-completed"' &&
    echo "$events" | grep -q '"saga_id":"demo-2".*"type":"saga-compensated"' && break
  sleep 0.2
done
echo "$events" | sed -n 's/.*"saga_id":"\([^"]*\)".*"type":"\([^"]*\)","step":"\{0,1\}\([^",]*\)"\{0,1\},.*/  \1  \2  \3/p' | sed 's/  null$//'
echo "$events" | grep -q '"saga_id":"demo-1".*"type":"saga-completed"' || { echo "demo: demo-1 did not complete" >&2; exit 1; }
echo "$events" | grep -q '"saga_id":"demo-2".*"type":"saga-compensated"' || { echo "demo: demo-2 was not compensated" >&2; exit 1; }
echo "== demo-1 completed, demo-2 compensated (card declined); state in $work/state.db"
