#!/bin/sh
# A throwaway PostgreSQL for trying sagactl's PostgreSQL store (and for saga-bench): Debian's
# server binaries, a data directory of its own, loopback only, trust authentication, fsync on.
#   scripts/dev-postgres.sh start DIR [PORT] [--no-fsync]   initdb DIR (once), start, print the state: URL
#                                              (--no-fsync: for test runs, which never crash it)
#   scripts/dev-postgres.sh stop DIR           stop it (DIR stays; rm -rf it to forget)
# Not for production: see docs/postgres.md for running PostgreSQL for sagactl.
set -eu
cmd=${1:?usage: dev-postgres.sh start|stop DIR [PORT]}
dir=${2:?usage: dev-postgres.sh start|stop DIR [PORT]}
port=${3:-55432}
extra=""
[ "${4:-}" = "--no-fsync" ] && extra="-c fsync=off"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "dev-postgres: no PostgreSQL under /usr/lib/postgresql: scripts/setup.sh installs it" >&2; exit 1; }
# PostgreSQL refuses to run as root: then the server runs as nobody, which owns DIR.
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
case $cmd in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown nobody: "$dir"
    runuser -u nobody -- test -w "$dir" ||
      { echo "dev-postgres: the server runs as nobody, who cannot reach $dir (a parent folder is private); choose a folder under /tmp" >&2; exit 1; }
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_server "$bin/initdb" -D "$dir/data" -U sagactl --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $extra" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as_server "$bin/createdb" -h 127.0.0.1 -p "$port" -U sagactl sagactl 2>/dev/null || true
  echo "postgresql://sagactl@127.0.0.1:$port/sagactl"
  ;;
stop)
  as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*) echo "usage: dev-postgres.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
