"""Benchmark: where the time of one chunk of the simulated city's COPY goes, on a built city database.

  .venv/bin/python bench/copy_chunk_bench.py [--db gridops_city_1000000] [--size 20000] [--rounds 2]

One chunk of ``--size`` simulated incidents (``demo.city_incidents``: the build's own rows, of a chunk it
has not stored) with their events, assignments and notifications is COPYed table by table inside a
transaction that is rolled back, so the database is left as it was: once with the triggers (the rollup
and outbox triggers, the foreign-key checks at commit, forced with SET CONSTRAINTS ALL IMMEDIATE) and
once with them off (``session_replication_role = replica``: a superuser's bulk load), in turns. Then the
rollup facts of ``--size`` stored incidents alone (``incidents.rollups._facts``, grouped) and their
upsert into the rollup table (rolled back). Prints the seconds of each step (bench/README.md, "Rollup
writes").
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class RolledBack(Exception):
    pass


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="gridops_city_1000000", help="a database bench/city_bench.py built")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--until", default="2026-12-01")
    return parser.parse_args()


def main() -> None:
    args = parse()
    os.environ["GRIDOPS_DB_NAME"] = args.db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from core import bulk
    from demo import city_incidents as ci
    from dispatch.models import Assignment, Notification
    from grids.models import Grid, Town
    from incidents import rollups
    from incidents.models import Incident, IncidentEvent

    towns = [t for t in Town.objects.all() if t.code[6:7] == "5"]  # the simulated towns (demo.city)
    until = timezone.make_aware(datetime.fromisoformat(args.until))
    city, start, weights = ci.frame(towns, args.seed, until)
    grid_meta = {g: (t, gen, v) for g, t, gen, v in Grid.objects.filter(pk__in=city.grid_ids.tolist()).values_list(
        "pk", "generation__town_id", "generation_id", "village_id")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM incidents_incident")
        first_id = cursor.fetchone()[0] + 1_000_000
    started = time.perf_counter()
    unused = ci.existing_count() // ci.CHUNK + 10  # a chunk the build has not stored: its external ids are free
    chunk = ci.Chunk(city, unused, args.size, args.seed, until, start, weights)
    rows = ci.chunk_rows(chunk, list(range(first_id, first_id + args.size)), grid_meta)
    print(f"rows made in Python: {time.perf_counter() - started:.2f} s",
          {name: len(lines) for name, lines in rows.items()})
    tables = {"incidents": (Incident, ci.INCIDENT_COLUMNS), "events": (IncidentEvent, ci.EVENT_COLUMNS),
              "assignments": (Assignment, ci.ASSIGNMENT_COLUMNS),
              "notifications": (Notification, ci.NOTIFICATION_COLUMNS)}
    for _ in range(args.rounds):
        for mode in ("triggers", "triggers off"):
            seconds = {}
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if mode == "triggers off":
                        cursor.execute("SET LOCAL session_replication_role = replica")
                    for name, (model, columns) in tables.items():
                        t = time.perf_counter()
                        bulk.copy_lines(model._meta.db_table, bulk.quoted_columns(model, columns), rows[name])
                        seconds[name] = time.perf_counter() - t
                    t = time.perf_counter()
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    seconds["foreign keys"] = time.perf_counter() - t
                    raise RolledBack
            except RolledBack:
                pass
            print(f"{mode}: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
                  + f"; in all {sum(seconds.values()):.2f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM incidents_incident")
        lo = cursor.fetchone()[0] + 100_000
    part = f"(SELECT * FROM {rollups.INCIDENTS} WHERE id >= {lo} AND id < {lo + args.size})"
    grouped = rollups._grouped(rollups._facts(part, 1), having=True)
    columns = ", ".join(rollups.ROW_COLUMNS)
    for _ in range(args.rounds):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                t = time.perf_counter()
                cursor.execute(f"SELECT count(*) FROM ({grouped}) g")
                n = cursor.fetchone()[0]
                facts = time.perf_counter() - t
                t = time.perf_counter()
                cursor.execute(f"INSERT INTO {rollups.TABLE} AS t ({columns}) SELECT {columns} FROM ({grouped}) f "
                               f"ORDER BY key {rollups._ADD}")
                upsert = time.perf_counter() - t
                raise RolledBack
        except RolledBack:
            pass
        print(f"rollup facts of {args.size:,} stored incidents: {n:,} rows grouped in {facts:.2f} s; "
              f"their upsert (facts included) {upsert:.2f} s")


if __name__ == "__main__":
    main()
