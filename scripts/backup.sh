#!/usr/bin/env bash
# Back up and restore the app's database with the app's own database settings (DATABASE_URL, else the
# project-local cluster; DJANGO_ENV picks the settings as for manage.py).
#   scripts/backup.sh backup [FILE]             pg_dump, custom format (default var/backups/<db>-<UTC time>.dump)
#   scripts/backup.sh restore FILE [NEW_DB]     pg_restore into a new database (default <db>_restored);
#                                               refuses a database that exists: never over a live one
# Then point DATABASE_URL at the restored database (or rename it) once it has been checked.
# The dump holds everything, the incident record and the users' password hashes: keep it like the database.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

# The settings' connection as libpq variables (the password never on a command line).
eval "$("$PY" - <<'PY'
import shlex

from gridops.settings import use_environment

use_environment()
from django.conf import settings  # noqa: E402

db = settings.DATABASES["default"]
options = db.get("OPTIONS", {})
values = {
    "PGHOST": options.get("host") or db.get("HOST") or "",
    "PGPORT": str(db.get("PORT") or ""),
    "PGUSER": db.get("USER") or "",
    "PGPASSWORD": db.get("PASSWORD") or "",
    "PGDATABASE": db["NAME"],
    "PGSSLMODE": options.get("sslmode", ""),
}
for name, value in values.items():
    print(f"export {name}={shlex.quote(value)}" if value else f"unset {name}")
PY
)"

# Client tools of the newest installed PostgreSQL (pg_dump must not be older than the server).
major="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)"
BIN=""
if [ -n "$major" ]; then BIN="/usr/lib/postgresql/$major/bin/"; fi

backup() {
  local file="${1:-}"
  if [ -z "$file" ]; then
    mkdir -p var/backups
    file="var/backups/$PGDATABASE-$(date -u +%Y%m%dT%H%M%SZ).dump"
  fi
  umask 077
  "${BIN}pg_dump" --format=custom --compress=6 --file="$file" "$PGDATABASE"
  echo "backup: $PGDATABASE -> $file ($(du -h "$file" | cut -f1))"
}

restore() {
  local file="${1:?usage: scripts/backup.sh restore FILE [NEW_DB]}" target="${2:-${PGDATABASE}_restored}"
  [ -f "$file" ] || { echo "restore: no file $file" >&2; exit 2; }
  if "${BIN}psql" -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '${target//\'/\'\'}'" | grep -q 1; then
    echo "restore: database $target exists; restore into a new one (scripts/backup.sh restore FILE NEW_DB)" >&2
    exit 1
  fi
  "${BIN}createdb" --template=template0 "$target"
  if ! "${BIN}pg_restore" --exit-on-error --single-transaction --dbname="$target" "$file"; then
    echo "restore: failed; dropping the incomplete $target" >&2
    "${BIN}dropdb" "$target" || true
    exit 1
  fi
  # the heatmaps kept ahead name transaction ids of the cluster they were summed on (incidents.heat_ahead):
  # forgotten here, the beat job sums them again from the restored rollups
  "${BIN}psql" -d "$target" -qc "DELETE FROM incidents_heatruncell; DELETE FROM incidents_heatrun; DELETE FROM incidents_heatlate"
  echo "restore: $file -> new database $target"
}

case "${1:-}" in
  backup) shift; backup "$@" ;;
  restore) shift; restore "$@" ;;
  *) echo "usage: $0 backup [FILE] | restore FILE [NEW_DB]" >&2; exit 2 ;;
esac
