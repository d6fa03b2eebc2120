#!/usr/bin/env bash
# pgbouncer (Debian's package, installed by scripts/bootstrap.sh) in front of the project-local cluster
# (scripts/pg.sh), listening on a Unix socket of its own in DIR (no TCP port). pgbouncer refuses to run
# as root: under root it runs as the `postgres` user, as the cluster does.
#   scripts/pgbouncer.sh start DIR [session|transaction]   write DIR/pgbouncer.ini and start (daemon)
#   scripts/pgbouncer.sh stop DIR
#   scripts/pgbouncer.sh url DIR [DB]                      DATABASE_URL through it (with DB_POOLER=mode)
# Sizes (POOL_SIZE, default 20 server connections per database and user; MAX_CLIENTS, default 1000)
# come from the environment; docs/deploy.md says how to choose them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_SOCK="${GRIDOPS_PGHOST:-$ROOT/var/pg/run}"
PORT=6432  # names the socket file (.s.PGSQL.6432); nothing listens on TCP
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"  # /usr/sbin: not on every user's PATH

. "$ROOT/scripts/pg-common.sh"  # as_owner

start() {
  local dir="$1" mode="${2:-session}"
  case "$mode" in session|transaction) ;; *) echo "pgbouncer.sh: mode is session or transaction" >&2; exit 2 ;; esac
  [ -x "$PGBOUNCER" ] || { echo "pgbouncer.sh: pgbouncer is not installed (scripts/bootstrap.sh)" >&2; exit 1; }
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
  # trust, as the local cluster itself: only users listed in the auth file may connect
  as_owner tee "$dir/userlist.txt" >/dev/null <<USERS
"postgres" ""
USERS
  as_owner tee "$dir/pgbouncer.ini" >/dev/null <<INI
[databases]
* = host=$PG_SOCK
[pgbouncer]
listen_addr =
listen_port = $PORT
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $mode
default_pool_size = ${POOL_SIZE:-20}
max_client_conn = ${MAX_CLIENTS:-1000}
server_reset_query = DISCARD ALL
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
INI
  if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
    echo "$dir"; return 0
  fi
  as_owner "$PGBOUNCER" -d "$dir/pgbouncer.ini"
  for _ in $(seq 100); do
    [ -S "$dir/.s.PGSQL.$PORT" ] && { echo "$dir"; return 0; }
    sleep 0.05
  done
  echo "pgbouncer.sh: pgbouncer did not start (see $dir/pgbouncer.log)" >&2; exit 1
}

stop() {
  local dir="$1" pid
  [ -f "$dir/pgbouncer.pid" ] || return 0
  pid="$(cat "$dir/pgbouncer.pid")"
  kill -INT "$pid" 2>/dev/null || true  # SIGINT: fast shutdown
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
}

cmd="${1:-}"; dir="${2:-}"
[ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR ..." >&2; exit 2; }
dir="$(mkdir -p "$dir" && cd "$dir" && pwd)"
case "$cmd" in
  start) start "$dir" "${3:-session}" ;;
  stop) stop "$dir" ;;
  url) echo "postgis://postgres@/${3:-gridops}?host=$dir&port=$PORT" ;;
  *) echo "usage: $0 start|stop|url DIR ..." >&2; exit 2 ;;
esac
