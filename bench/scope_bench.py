"""Benchmark: the reads of a scoped user (a grid leader of the city) with the scope as ids and the
rollups' scope indexes (now), beside the scope as sub-selects without those indexes (the baseline,
the code before), in one run on one database, the two taken in turns.

  .venv/bin/python bench/scope_bench.py --db gridops_city_300000 [--repeat 9]

The database: a simulated city (`manage.py build_city`, as bench/city_bench.py builds gridops_city_<N>).
The baseline is rebuilt in process: ``incidents.selectors._places_of`` answering lazy querysets (the
sub-selects scope_q had) and the partial indexes of incidents 0018 dropped inside a transaction that is
rolled back (PostgreSQL's DDL is transactional: nothing is changed for good). Every read is compared
between the two ("same answer"). Prints a Markdown table for bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database built by build_city")
    parser.add_argument("--repeat", type=int, default=9)
    return parser.parse_args()


args = parse()
os.environ["GRIDOPS_DB_NAME"] = args.db
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("DJANGO_ENV", "development")
os.environ.setdefault("DJANGO_DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.actors import Actor  # noqa: E402
from grids.models import GridTeam, VillageLeader  # noqa: E402
from incidents import rollups, rules, selectors  # noqa: E402
from incidents.analytics import assessment  # noqa: E402
from incidents.hotspots import heat_cells, trend  # noqa: E402
from incidents.models import Incident  # noqa: E402
from incidents.rollups import SCOPE_FIELDS  # noqa: E402
from incidents.selectors import incident_stats, incidents_visible_to  # noqa: E402

REAL_PLACES = selectors._places_of


def lazy_places(person: int):
    """The scope as it was: sub-selects, evaluated by the database inside every read."""
    grids = GridTeam.objects.filter(Q(leader_id=person) | Q(memberships__person_id=person)).values("grid_id")
    return grids, VillageLeader.objects.filter(person_id=person).values("village_id")


def busiest_leader() -> Actor:
    """A grid leader of the grid with the most incidents, as a user of the grid_leader group."""
    grid_id = (Incident.objects.values("grid_id").annotate(n=Count("id")).order_by("-n")
               .values_list("grid_id", flat=True).first())
    team = GridTeam.objects.select_related("leader").get(grid_id=grid_id)
    user, _ = User.objects.get_or_create(username="bench-scope-leader")
    user.groups.add(Group.objects.get_or_create(name="grid_leader")[0])
    if team.leader.user_id != user.pk:
        type(team.leader).objects.filter(user=user).update(user=None)
        team.leader.user = user
        team.leader.save(update_fields=["user"])
    return Actor.of(user)


def inbox(actor: Actor) -> list[int]:
    """The grid leader's open incidents, the first page of the list as the phone asks for it."""
    return list(incidents_visible_to(actor).filter(state__in=sorted(rules.OPEN))
                .order_by("-created_at", "-id").values_list("id", flat=True)[:500])


def reads(leader: Actor):
    now = timezone.now()
    year = {"start": now - timedelta(days=365), "end": now}
    month = rollups.local_midnight(now).replace(day=1)
    return [
        ("heatmap 250 m, a year", lambda: heat_cells(leader, cell_m=250, **year)),
        ("heatmap 1 km, 30 days", lambda: heat_cells(leader, cell_m=1000, start=now - timedelta(days=30), end=now)),
        ("trend by week, a year", lambda: trend(leader, bucket="week", **year)),
        ("stats", lambda: incident_stats(actor=leader, now=now)),
        ("assessment by grid, this month", lambda: [r.as_dict() for r in assessment(
            actor=leader, group="grid", start=month, end=now, now=now).rows]),
        ("assessment by person, a year", lambda: [r.as_dict() for r in assessment(
            actor=leader, group="person", now=now, **year).rows]),
        ("inbox (open, first 500)", lambda: inbox(leader)),
    ]


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), result


def baseline(fn):
    """Run ``fn`` as the code before: lazy sub-selects, no scope indexes (dropped, then rolled back)."""
    selectors._places_of = lazy_places
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for field in SCOPE_FIELDS:
                    cursor.execute(f"DROP INDEX rollup_scope_{field[:8]}")
            out = fn()
            transaction.set_rollback(True)
        return out
    finally:
        selectors._places_of = REAL_PLACES


def main() -> None:
    leader = busiest_leader()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM incidents_incident")
        incidents = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM grids_grid g JOIN grids_boundarygeneration b ON b.id = g.generation_id "
                       "WHERE b.status = 'active'")
        grids = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM incidents_rollup")
        rollup_rows = cursor.fetchone()[0]
    visible = incidents_visible_to(leader).count()
    print(f"{incidents:,} incidents, {grids:,} active grids, {rollup_rows:,} rollup rows; the grid leader "
          f"sees {visible:,} incidents")
    lines = ["| read (a grid leader) | baseline p50 / p95 ms | now p50 / p95 ms | same answer |", "|---|---:|---:|---|"]
    for label, fn in reads(leader):
        b = baseline(lambda fn=fn: timed(fn, args.repeat))
        n = timed(fn, args.repeat)
        lines.append(f"| {label} | {b[0]:.1f} / {b[1]:.1f} | {n[0]:.1f} / {n[1]:.1f} | "
                     f"{'yes' if b[2] == n[2] else 'NO'} |")
        print(lines[-1], flush=True)
    load = os.getloadavg()
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, load averages {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; "
          f"`.venv/bin/python bench/scope_bench.py --db {args.db} --repeat {args.repeat}`\n")
    print("\n".join(lines))


main()
