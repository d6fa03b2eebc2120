#!/usr/bin/env bash
# Project-local PostGIS cluster under var/pg: own data directory and socket, no TCP port,
# so it neither needs nor disturbs a system server. PostgreSQL refuses to run as root,
# so under root the cluster is owned and run by the `postgres` user.
#   scripts/pg.sh start | stop | status | url
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGROOT="$ROOT/var/pg"
DATA="$PGROOT/data"
SOCK="$PGROOT/run"
LOG="$PGROOT/postgres.log"
DBNAME="${GRIDOPS_DB_NAME:-gridops}"

. "$ROOT/scripts/pg-common.sh"  # pgbin, as_owner

ensure_traversable() {
  # The postgres user must reach var/pg through every parent directory.
  [ "$(id -u)" = 0 ] || return 0
  local d="$PGROOT"
  while [ "$d" != "/" ]; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then chmod o+x "$d"; fi
    d="$(dirname "$d")"
  done
}

start() {
  local bin; bin="$(pgbin)"
  mkdir -p "$PGROOT"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGROOT"; fi
  ensure_traversable
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner mkdir -p "$DATA" "$SOCK"
    as_owner "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
CONF
  fi
  as_owner mkdir -p "$SOCK"
  if ! as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  fi
  if ! as_owner "$bin/psql" -h "$SOCK" -U postgres -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname='$DBNAME'" | grep -q 1; then
    as_owner "$bin/createdb" -h "$SOCK" -U postgres "$DBNAME"
  fi
  as_owner "$bin/psql" -h "$SOCK" -U postgres -d "$DBNAME" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  echo "PostGIS cluster up: socket $SOCK, database $DBNAME"
}

stop() {
  local bin; bin="$(pgbin)"
  [ -f "$DATA/PG_VERSION" ] || { echo "no cluster"; return 0; }
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast stop || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) as_owner "$(pgbin)/pg_ctl" -D "$DATA" status ;;
  url) echo "postgis://postgres@/$DBNAME?host=$SOCK" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
