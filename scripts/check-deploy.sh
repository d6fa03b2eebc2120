#!/usr/bin/env bash
# `manage.py check --deploy --fail-level WARNING` on the production settings (DJANGO_ENV=production).
# A variable the environment does not set gets a placeholder (named on stderr), so the check also runs
# on a developer's machine or in CI; in a deployment's environment it checks the real values.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export DJANGO_ENV=production
unset DJANGO_SETTINGS_MODULE
placeholders=()
placeholder() {
  if [ -z "${!1:-}" ]; then export "$1=$2"; placeholders+=("$1"); fi
}
placeholder DJANGO_SECRET_KEY "$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')"
placeholder DJANGO_ALLOWED_HOSTS "gridops.example.invalid"
placeholder DATABASE_URL "postgis://gridops:placeholder@db.example.invalid:5432/gridops"
placeholder REDIS_URL "redis://redis.example.invalid:6379/0"
if [ ${#placeholders[@]} -gt 0 ]; then
  echo "check-deploy: placeholder values for ${placeholders[*]}" >&2
fi
exec .venv/bin/python manage.py check --deploy --fail-level WARNING
