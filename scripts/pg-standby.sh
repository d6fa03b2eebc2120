#!/usr/bin/env bash
# A streaming hot standby of the project-local cluster (scripts/pg.sh), for trying read replicas on one
# machine and for the tests (tests/scale/): pg_basebackup -R copies var/pg's cluster into DIR and writes
# the standby's connection to the primary; the standby runs from DIR with its own Unix socket in DIR/run
# (no TCP port, like the primary) and replays the primary's WAL as it comes.
#   scripts/pg-standby.sh start DIR      copy (once) and start; prints the socket directory
#   scripts/pg-standby.sh stop DIR       stop (fast)
#   scripts/pg-standby.sh url DIR [DB]   REPLICA_DATABASE_URL for database DB (default gridops)
# Replication over the socket uses the primary's pg_hba line "local replication all trust" (initdb's
# default); no replication slot: a standby that falls too far behind is copied again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PRIMARY_SOCK="${GRIDOPS_PGHOST:-$ROOT/var/pg/run}"

. "$ROOT/scripts/pg-common.sh"  # pgbin, as_owner

start() {
  local dir="$1" bin; bin="$(pgbin)"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/pg_basebackup" -h "$PRIMARY_SOCK" -U postgres -D "$dir/data" -R -X stream -c fast
  fi
  as_owner mkdir -p "$dir/run"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    # own socket, small memory; hot standby needs max_connections at least the primary's (200)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-c unix_socket_directories='$dir/run' -c listen_addresses='' -c shared_buffers=32MB -c cluster_name=gridops_standby" >/dev/null
  fi
  echo "$dir/run"
}

stop() {
  local dir="$1" bin; bin="$(pgbin)"
  [ -f "$dir/data/PG_VERSION" ] || return 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

cmd="${1:-}"; dir="${2:-}"
[ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR [DB]" >&2; exit 2; }
dir="$(mkdir -p "$dir" && cd "$dir" && pwd)"
case "$cmd" in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  url) echo "postgis://postgres@/${3:-gridops}?host=$dir/run" ;;
  *) echo "usage: $0 start|stop|url DIR [DB]" >&2; exit 2 ;;
esac
