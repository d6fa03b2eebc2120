# Sourced by scripts/pg.sh, pg-standby.sh and pgbouncer.sh: where the PostgreSQL server binaries are, and
# how to run a command as the clusters' owner (PostgreSQL and pgbouncer refuse to run as root, so under
# root they run as the `postgres` user).

pgbin() {
  local major
  major="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  [ -n "$major" ] || { echo "$(basename "$0"): no PostgreSQL server found under /usr/lib/postgresql (run scripts/bootstrap.sh)" >&2; exit 1; }
  echo "/usr/lib/postgresql/$major/bin"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
