#!/usr/bin/env bash
# Install what the platform needs on a fresh Debian/Ubuntu machine, skipping what is there:
# Debian packages (PostGIS for the installed PostgreSQL major, GDAL, Redis; Chromium for the
# browser tests), the Python packages into .venv from requirements.lock, and the map's browser
# libraries from the npm registry into frontend/node_modules (served by the app itself).
#   scripts/bootstrap.sh run|test|bench
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${1:-run}"
cd "$ROOT"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_missing=()
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || apt_missing+=("$1"); }

pg_major="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)"
if [ -z "$pg_major" ]; then
  need_pkg postgresql
  need_pkg postgis
else
  need_pkg "postgresql-$pg_major-postgis-3"
fi
need_pkg gdal-bin
command -v redis-server >/dev/null 2>&1 || need_pkg redis-server
command -v npm >/dev/null 2>&1 || need_pkg npm
if [ "$MODE" = test ]; then
  command -v chromium >/dev/null 2>&1 || need_pkg chromium
  # the connection pooler the scale-out tests put in front of the cluster (scripts/pgbouncer.sh)
  command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need_pkg pgbouncer
fi
if [ "$MODE" = bench ]; then  # bench/locate_http_bench.py drives the servers with wrk
  command -v wrk >/dev/null 2>&1 || need_pkg wrk
fi

if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${apt_missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want="$(sha256sum requirements.lock | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.lock
  echo "$want" > "$stamp"
fi

if [ ! -f frontend/node_modules/leaflet/dist/leaflet.js ] \
   || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  echo "bootstrap: installing map libraries from the npm registry"
  (cd frontend && npm ci --no-audit --no-fund --silent)
fi
