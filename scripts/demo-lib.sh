# Shared by scripts/failover-demo.sh and scripts/cluster-demo.sh (sourced, not run): a
# throwaway PostgreSQL and a three-broker development cluster, and the check that every order
# saga ended as its participants decided. The caller sets `sagactl`, `work`, `pg_dir`,
# `pids` and `fail` before using them.

# Starts PostgreSQL in $pg_dir on a random free-ish port; sets `url`.
demo_postgres() {
  url=$(scripts/dev-postgres.sh start "$pg_dir" $((20000 + RANDOM % 20000)))
  echo "== PostgreSQL: $url"
}

# Starts `sagactl dev-broker --brokers 3` with the example sagas' topics (extra arguments go
# to it); sets `bootstrap`.
demo_brokers() {
  $sagactl dev-broker --port 0 --brokers 3 --sagas examples/sagas "$@" >"$work/broker.out" 2>"$work/broker.log" &
  pids+=($!)
  for _ in $(seq 300); do grep -q '^bootstrap: ' "$work/broker.out" 2>/dev/null && break; sleep 0.1; done
  bootstrap=$(sed -n 's/^bootstrap: //p' "$work/broker.out")
  [ -n "$bootstrap" ] || fail "the development broker did not start: $(cat "$work/broker.log")"
}

# An admin endpoint's GET /readyz, status line and body.
demo_readyz() {
  local admin=$1
  exec 3<>"/dev/tcp/${admin%:*}/${admin##*:}" || return 1
  printf 'GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$admin" >&3
  cat <&3; exec 3<&-
}

# Waits until the database holds COUNT sagas, all ended, then checks that saga PREFIX-N ended
# compensated when N is a multiple of 7 (its amount was declined) and completed otherwise;
# exits 1 (naming NAME) if any did not.
demo_check_outcomes() {
  local count=$1 prefix=$2 name=$3
  summary() { $sagactl list --state "$url" --limit 100000 --json; }
  for _ in $(seq 1200); do
    if summary | python3 -c '
import json, sys
rows = json.load(sys.stdin)
sys.exit(0 if len(rows) == int(sys.argv[1]) and all(r["state"] in ("completed", "compensated", "failed") for r in rows) else 1)
' "$count"; then break; fi
    sleep 0.1
  done
  summary | python3 -c '
import json, sys
sagas, prefix, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = {r["id"]: r["state"] for r in json.load(sys.stdin)}
wrong = []
for n in range(1, sagas + 1):
    want = "compensated" if n % 7 == 0 else "completed"
    got = rows.get("%s-%d" % (prefix, n), "missing")
    if got != want:
        wrong.append("%s-%d: %s, expected %s" % (prefix, n, got, want))
states = {}
for s in rows.values():
    states[s] = states.get(s, 0) + 1
print("== " + ", ".join("%d %s" % (v, k) for k, v in sorted(states.items())))
if wrong:
    print("%s: %d saga(s) did not end as their participants decided: %s" % (name, len(wrong), "; ".join(wrong[:10])), file=sys.stderr)
    sys.exit(1)
print("== every saga ended as its participants decided")
' "$count" "$prefix" "$name"
}

# Stops what the demo started in the reverse order of starting it: participants and nodes
# first (each stops cleanly while its brokers and database are still there), then the
# brokers ($pids[0]), then PostgreSQL.
demo_stop_all() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 1; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 1; i--)); do wait "${pids[$i]}" 2>/dev/null || true; done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[0]}" 2>/dev/null || true
    wait "${pids[0]}" 2>/dev/null || true
  fi
  scripts/dev-postgres.sh stop "$pg_dir" 2>/dev/null || true
}
