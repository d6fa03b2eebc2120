#!/bin/sh
# The image's entry (docker-compose.yml):
#   migrate  as the tables' owner: migrations; the app's role when APP_DB_ROLE is set (create_app_role,
#            password from GRIDOPS_APP_DB_PASSWORD); the Gongdao demo only with GRIDOPS_DEMO=1
#            (demo users get random passwords, printed once when created; no superuser: run
#            `manage.py createsuperuser` for one)
#   web      the server (uvicorn, HTTP + WebSocket), as the app's role
#   worker   Celery worker with beat (the SLA sweep), as the app's role
set -eu
cd "$(dirname "$0")/.."
case "${1:-web}" in
  migrate)
    python manage.py migrate --noinput
    if [ -n "${APP_DB_ROLE:-}" ]; then python manage.py create_app_role "$APP_DB_ROLE" --noinput; fi
    if [ "${GRIDOPS_DEMO:-0}" = 1 ]; then
      python manage.py load_demo_data
      python manage.py seed_demo_incidents
    fi
    ;;
  web) exec python manage.py serve --host 0.0.0.0 --port 8000 ;;
  worker) exec celery -A gridops worker -B --concurrency 1 --loglevel INFO --schedule /tmp/celerybeat-schedule ;;
  *) echo "usage: $0 migrate|web|worker" >&2; exit 2 ;;
esac
