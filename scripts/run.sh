#!/usr/bin/env bash
# Start the platform on http://127.0.0.1:8000: a Celery worker with beat (the SLA sweep) in the
# background, the ASGI server (HTTP + WebSocket, uvicorn with one process per core) in the
# foreground; Ctrl-C stops both.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export DJANGO_ENV="${DJANGO_ENV:-development}"  # demo logins, DEBUG on (gridops/settings/__init__.py)
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
scripts/redis.sh
mkdir -p var/log
.venv/bin/celery -A gridops worker -B --concurrency 1 --loglevel INFO \
  --schedule var/celerybeat-schedule >var/log/celery.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
.venv/bin/python manage.py demo_logins
echo "Celery worker + beat: var/log/celery.log"
.venv/bin/python manage.py serve --host 127.0.0.1 --port 8000
