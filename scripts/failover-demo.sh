#!/usr/bin/env bash
# Failover with PostgreSQL, active/standby: a throwaway PostgreSQL (scripts/dev-postgres.sh),
# a three-broker `sagactl dev-broker`, three `sagactl run --standby` on one database (the first
# to take it works, the other two wait) and the order services. It starts a few hundred order
# sagas, kills the working orchestrator with SIGKILL halfway, and exits 0 only if a standby
# took over and every saga ended as its participants decided (amounts over 1000 are declined
# by payments and compensated, the rest complete).
#   scripts/failover-demo.sh [SAGAS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo-lib.sh
sagas=${1:-300}
scripts/setup.sh
scripts/build.sh >/dev/null
sagactl=build/cli/sagactl
work=$(mktemp -d)
pg_dir=$(mktemp -d /tmp/sagactl-failover-pg-XXXXXX)
pids=()
cleanup() {
  demo_stop_all
  rm -rf "$pg_dir" "$work"
}
trap cleanup EXIT
fail() { echo "failover-demo: $*" >&2; exit 1; }

demo_postgres
demo_brokers
echo "== three-broker development cluster: $bootstrap"
cat >"$work/sagactl.yaml" <<YAML
sagas: $PWD/examples/sagas
state: $url
standby: true
kafka: {brokers: "$bootstrap"}
admin: 127.0.0.1:0
log: {level: info}
YAML

declare -A run_pid
for n in 1 2 3; do
  $sagactl run --config "$work/sagactl.yaml" >"$work/run$n.out" 2>"$work/run$n.log" &
  run_pid[$n]=$!
  pids+=($!)
done
# The orchestrator that works is the one that printed its admin endpoint.
active() {
  for n in 1 2 3; do
    if kill -0 "${run_pid[$n]}" 2>/dev/null && grep -q '^admin: ' "$work/run$n.out" 2>/dev/null; then echo "$n"; return; fi
  done
}
await_active() {
  for _ in $(seq 600); do
    local n; n=$(active)
    if [ -n "$n" ] && demo_readyz "$(sed -n 's/^admin: //p' "$work/run$n.out")" 2>/dev/null | head -n 1 | grep -q ' 200 '; then echo "$n"; return; fi
    sleep 0.05
  done
  fail "no orchestrator became ready: $(tail -n 5 "$work"/run*.log)"
}
first=$(await_active)
echo "== orchestrator $first works; the other two stand by"
build/examples/order-services --brokers "$bootstrap" --state-dir "$work" 2>"$work/services.log" &
pids+=($!)

# Starts saga N on whichever orchestrator works, again until one accepts it (the id makes a
# repeated start the same saga).
start() {
  local n=$1 amount=$(( $1 % 7 == 0 ? 5000 : 40 + $1 % 50 ))
  for _ in $(seq 200); do
    local a; a=$(active)
    if [ -n "$a" ] && $sagactl start order-fulfilment --config "$work/sagactl.yaml" --id "fo-$n" \
        --admin "$(sed -n 's/^admin: //p' "$work/run$a.out")" \
        --input "{\"orderId\": \"fo-$n\", \"amount\": $amount, \"items\": [{\"sku\": \"tea\", \"qty\": 1}], \"express\": false}" \
        >/dev/null 2>&1; then
      return
    fi
    sleep 0.05
  done
  fail "saga fo-$n could not be started"
}
half=$((sagas / 2))
for n in $(seq 1 "$half"); do start "$n"; done
echo "== $half sagas started; killing orchestrator $first (SIGKILL)"
killed_at=$(date +%s%N)
kill -KILL "${run_pid[$first]}"
wait "${run_pid[$first]}" 2>/dev/null || true
second=$(await_active)
took=$(( ($(date +%s%N) - killed_at) / 1000000 ))
[ "$second" != "$first" ] || fail "the killed orchestrator is still the one working"
echo "== orchestrator $second took over and was ready after $took ms"
for n in $(seq $((half + 1)) "$sagas"); do start "$n"; done
echo "== all $sagas sagas started; waiting for every one to end"

demo_check_outcomes "$sagas" fo failover-demo
