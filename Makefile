# The two commands a newcomer needs:  make run   and   make test
SHELL := /bin/bash
PY := .venv/bin/python
# The settings: DJANGO_ENV=development|test|production (gridops/settings/__init__.py). Outside make and
# scripts/ the default is production; `make run` is development, `make test` test.
export DJANGO_ENV ?= development

.PHONY: run test setup setup-test db db-stop lint migrate demo-data serve bench clean-db check-deploy backup restore

setup:
	@scripts/bootstrap.sh run

setup-test:
	@scripts/bootstrap.sh test

db:
	@if [ -z "$$DATABASE_URL" ]; then scripts/pg.sh start; fi

db-stop:
	@scripts/pg.sh stop

migrate: db
	@$(PY) manage.py migrate --noinput -v 0

demo-data: migrate
	@$(PY) manage.py load_demo_data
	@$(PY) manage.py seed_demo_incidents

## Start the platform with the Gongdao demo data on http://127.0.0.1:8000
run: setup demo-data
	@scripts/run.sh

## Lint, then the whole test suite on real PostGIS
test: setup-test db
	@scripts/redis.sh
	@.venv/bin/ruff check .
	@DJANGO_ENV=test DJANGO_SETTINGS_MODULE=gridops.settings.test .venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@.venv/bin/ruff check .

## `manage.py check --deploy` on the production settings; fails on any warning (SECURITY.md). Variables
## the environment does not set get placeholders, so this also checks the code's settings alone.
check-deploy:
	@scripts/check-deploy.sh

## pg_dump of the app's database (custom format) into var/backups/ (or BACKUP=path), same settings as the app
backup:
	@scripts/backup.sh backup $(BACKUP)

## pg_restore BACKUP=path into a fresh database (RESTORE_DB=name, default <name>_restored); never over a live one
restore:
	@scripts/backup.sh restore $(BACKUP) $(RESTORE_DB)

bench: setup db
	@$(PY) bench/locate_bench.py

.PHONY: bench-intake
## Intake benchmark: single POSTs at 100/s, a 100,000-row batch, the naive per-row baseline (bench/README.md),
## on a database of its own (gridops_bench), rebuilt each run
bench-intake: setup db
	@scripts/redis.sh
	@$(PY) bench/intake_bench.py $(BENCH_ARGS)

.PHONY: bench-locate-http setup-bench
setup-bench:
	@scripts/bootstrap.sh bench

## GET /api/locate over HTTP: the lean path, the DRF path and MapIt (installed beside, var/mapit) with wrk,
## 2 server processes each (bench/README.md); BENCH_ARGS="--no-mapit" leaves MapIt out
bench-locate-http: setup-bench demo-data
	@scripts/redis.sh
	@if [[ "$(BENCH_ARGS)" != *--no-mapit* ]]; then scripts/bench-mapit.sh; fi
	@$(PY) bench/locate_http_bench.py $(BENCH_ARGS)
