#!/usr/bin/env bash
# Install mySociety's MapIt (django-mapit 3.0, PyPI) beside the project for bench/locate_http_bench.py:
# its own virtual environment (var/mapit/venv: MapIt 3.0 needs Django 3.2), its own database in the
# project-local PostGIS cluster (mapit_bench), the active Gongdao grids imported with MapIt's own
# commands (comprehensive grids as area type GRC, dedicated ones as GRD, the 15-digit code as code
# type "grid"). Each step is skipped when already done. Needs the dev database with the demo data
# (`make demo-data`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV=var/mapit/venv
DB="${MAPIT_DB_NAME:-mapit_bench}"
TOWN="${MAPIT_TOWN:-321003100}"

if [ ! -x "$VENV/bin/gunicorn" ]; then
  echo "bench-mapit: installing django-mapit into $VENV"
  python3 -m venv "$VENV"
  # django-mapit's metadata asks for psycopg2, built from source (libpq-dev and a compiler);
  # psycopg2-binary is the same module as a wheel, so MapIt goes in without its dependencies,
  # which are listed here (pinned: what was tested).
  "$VENV/bin/pip" install -q "Django==3.2.25" "psycopg2-binary==2.9.13" "libsass==0.23.0" "PyYAML==6.0.4" \
    "shapely==2.2.0" "six==1.17.0" "uk-postcode-utils==1.1" "gunicorn==27.0.1"
  "$VENV/bin/pip" install -q --no-deps "django-mapit==3.0"
fi

GRIDOPS_DB_NAME="$DB" scripts/pg.sh start >/dev/null
export PYTHONPATH="$ROOT/bench/mapit" DJANGO_SETTINGS_MODULE=gridops_mapit.settings MAPIT_DB_NAME="$DB"
ADMIN="$VENV/bin/django-admin"
"$ADMIN" migrate --noinput -v 0

if [ "$("$ADMIN" shell -c 'from mapit.models import Generation; print(Generation.objects.filter(active=True).count())')" = 0 ]; then
  echo "bench-mapit: importing the active grids of town $TOWN into MapIt"
  mkdir -p var/mapit
  env -u DJANGO_SETTINGS_MODULE -u PYTHONPATH DJANGO_ENV=development .venv/bin/python manage.py export_boundaries var/mapit/grids.geojson --town "$TOWN" \
    --format geojson -v 0
  .venv/bin/python - <<'PY'
import json
grids = json.load(open("var/mapit/grids.geojson", encoding="utf-8"))
for kind in ("comprehensive", "dedicated"):
    part = dict(grids, features=[f for f in grids["features"] if f["properties"]["kind"] == kind])
    json.dump(part, open(f"var/mapit/grids-{kind}.geojson", "w", encoding="utf-8"), ensure_ascii=False)
PY
  "$ADMIN" shell -c '
from mapit.models import CodeType, Country, NameType, Type
Type.objects.get_or_create(code="GRC", defaults={"description": "comprehensive grid"})
Type.objects.get_or_create(code="GRD", defaults={"description": "dedicated grid"})
NameType.objects.get_or_create(code="O", defaults={"description": "official name"})
Country.objects.get_or_create(code="C", defaults={"name": "China"})
CodeType.objects.get_or_create(code="grid", defaults={"description": "15-digit grid code"})'
  "$ADMIN" mapit_generation_create --commit --desc "gridops town $TOWN" >/dev/null
  gen="$("$ADMIN" shell -c 'from mapit.models import Generation; print(Generation.objects.order_by("-id")[0].id)')"
  for kind in comprehensive dedicated; do
    type=GRC; [ "$kind" = dedicated ] && type=GRD
    "$ADMIN" mapit_import "var/mapit/grids-$kind.geojson" --commit --new --generation_id "$gen" \
      --area_type_code "$type" --name_type_code O --country_code C --code_type grid --code_field code \
      --name_field name >/dev/null
  done
  "$ADMIN" mapit_generation_activate --commit >/dev/null
fi
echo "bench-mapit: MapIt ready ($("$ADMIN" shell -c 'from mapit.models import Area; print(Area.objects.count())') areas)"
