#!/usr/bin/env bash
# A cluster of three orchestrators (docs/cluster.md): a throwaway PostgreSQL
# (scripts/dev-postgres.sh), a three-broker `sagactl dev-broker` whose reply topic has six
# partitions (six shards), three `sagactl run --cluster` nodes and the order services. It
# starts a few hundred order sagas, spread over the nodes' admin endpoints (a node hands a saga
# of another node's shard on to it), kills one node with SIGKILL halfway, waits for its shards
# to open on the other two, starts the rest, restarts the killed node (it takes shards back),
# and exits 0 only if every saga ended as its participants decided (amounts over 1000 are
# declined by payments and compensated, the rest complete) and no step ran twice.
#   scripts/cluster-demo.sh [SAGAS]   (default 300)
# PARTICIPANTS=python-murmur2 runs the Python SDK's order services with the Java client's
# partitioner (murmur2) instead of the C++ ones: replies still reach each saga's shard.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo-lib.sh
sagas=${1:-300}
shards=6
scripts/setup.sh
scripts/build.sh >/dev/null
sagactl=build/cli/sagactl
work=$(mktemp -d)
pg_dir=$(mktemp -d /tmp/sagactl-cluster-pg-XXXXXX)
pids=()
cleanup() {
  demo_stop_all
  rm -rf "$pg_dir" "$work"
}
trap cleanup EXIT
fail() { echo "cluster-demo: $*" >&2; tail -n 20 "$work"/node*.log >&2 || true; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

demo_postgres
demo_brokers --partitions "$shards"
echo "== three-broker development cluster: $bootstrap, $shards partitions per topic"
cat >"$work/sagactl.yaml" <<YAML
sagas: $PWD/examples/sagas
state: $url
cluster: true
kafka: {brokers: "$bootstrap"}
admin: 127.0.0.1:0
log: {level: info}
YAML

declare -A node_pid
launch() {
  local n=$1
  : >"$work/node$n.out"
  $sagactl run --config "$work/sagactl.yaml" --node "node$n" >"$work/node$n.out" 2>>"$work/node$n.log" &
  node_pid[$n]=$!
  pids+=($!)
}
admin_of() { sed -n 's/^admin: //p' "$work/node$1.out"; }
alive() { kill -0 "${node_pid[$1]}" 2>/dev/null; }
# The shards the live nodes work, as "N:s,s,... N:s,..." (from each node's /readyz).
shard_map() {
  for n in 1 2 3; do
    alive "$n" || continue
    local a; a=$(admin_of "$n"); [ -n "$a" ] || continue
    demo_readyz "$a" 2>/dev/null | python3 -c '
import json, sys
body = sys.stdin.read().split("\r\n\r\n", 1)[-1]
try:
    print("%s:%s" % (sys.argv[1], ",".join(str(s) for s in json.loads(body).get("shards", []))), end=" ")
except ValueError:
    pass
' "$n"
  done
}
# Waits until the live nodes between them work every shard, each once.
await_all_shards() {
  for _ in $(seq 1200); do
    if shard_map | python3 -c '
import sys
owned = [int(s) for part in sys.stdin.read().split() for s in part.split(":")[1].split(",") if s]
sys.exit(0 if sorted(owned) == list(range(int(sys.argv[1]))) else 1)
' "$shards"; then return; fi
    sleep 0.05
  done
  fail "the shards were not all worked: $(shard_map)"
}

for n in 1 2 3; do launch "$n"; done
await_all_shards
echo "== three nodes work the $shards shards: $(shard_map)"
if [ "${PARTICIPANTS:-cpp}" = python-murmur2 ]; then
  /usr/bin/python3 sdk/python/examples/order_services.py --brokers "$bootstrap" --state-dir "$work" \
    --property partitioner=murmur2_random 2>"$work/services.log" &
else
  build/examples/order-services --brokers "$bootstrap" --state-dir "$work" 2>"$work/services.log" &
fi
pids+=($!)

# Starts saga N through node N mod 3 (or the next live one), again until one accepts it
# (the id makes a repeated start the same saga).
start() {
  local n=$1 amount=$(( $1 % 7 == 0 ? 5000 : 40 + $1 % 50 ))
  for try in $(seq 200); do
    local node=$(( (n + try) % 3 + 1 ))
    if alive "$node" && [ -n "$(admin_of "$node")" ] && $sagactl start order-fulfilment --config "$work/sagactl.yaml" \
        --id "co-$n" --admin "$(admin_of "$node")" \
        --input "{\"orderId\": \"co-$n\", \"amount\": $amount, \"items\": [{\"sku\": \"tea\", \"qty\": 1}], \"express\": false}" \
        >/dev/null 2>&1; then
      return
    fi
    sleep 0.05
  done
  fail "saga co-$n could not be started"
}
half=$((sagas / 2))
for n in $(seq 1 "$half"); do start "$n"; done
victim=2
echo "== $half sagas started; killing node$victim (SIGKILL), which works shards $(shard_map | tr ' ' '\n' | sed -n "s/^$victim://p")"
killed_at=$(now_ms)
kill -KILL "${node_pid[$victim]}"
wait "${node_pid[$victim]}" 2>/dev/null || true
await_all_shards
echo "== its shards resumed on the other nodes $(( $(now_ms) - killed_at )) ms after the kill: $(shard_map)"
for n in $(seq $((half + 1)) $((sagas * 3 / 4))); do start "$n"; done
echo "== restarting node$victim"
launch "$victim"
for _ in $(seq 1200); do
  shard_map | grep -q "^\(.* \)\?$victim:[0-9]" && break
  sleep 0.05
done
await_all_shards
echo "== node$victim took shards back: $(shard_map)"
for n in $(seq $((sagas * 3 / 4 + 1)) "$sagas"); do start "$n"; done
echo "== all $sagas sagas started; waiting for every one to end"

demo_check_outcomes "$sagas" co cluster-demo
