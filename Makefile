# The two commands a newcomer needs:  make run   and   make test
SHELL := /bin/bash
PY := .venv/bin/python
export DJANGO_SETTINGS_MODULE ?= gridops.settings.dev

.PHONY: run test setup setup-test db db-stop lint migrate demo-data serve bench clean-db

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
	@DJANGO_SETTINGS_MODULE=gridops.settings.test .venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@.venv/bin/ruff check .

bench: setup db
	@$(PY) bench/locate_bench.py

.PHONY: bench-intake
## Intake benchmark: single POSTs at 100/s, a 100,000-row batch, the naive per-row baseline (bench/README.md),
## on a database of its own (gridops_bench), rebuilt each run
bench-intake: setup db
	@scripts/redis.sh
	@$(PY) bench/intake_bench.py $(BENCH_ARGS)
