"""Rollups (incidents.rollups): kept exact by the triggers through every kind of change, and every
reader that reads them answers what the ordinary path (the direct aggregation) answers, for every
actor's scope, for periods on and off local midnights, and at a ``now`` in the middle of a day."""
from __future__ import annotations

import importlib
import io
import random
import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Sum as models_sum
from django.utils import timezone

from core.actors import Actor
from dispatch.aftercare import incident_return_visit
from dispatch.services import incident_escalate, incident_reassign, incident_return_to_centre, sweep_overdue
from grids.models import Grid, GridTeam, Person, VillageLeader
from incidents import hotspots, rollups
from incidents.actions import incident_merge, incident_relocate
from incidents.analytics import GROUPS, assessment, assessment_direct
from incidents.extensions import incident_decide_extension, incident_request_extension
from incidents.hotspots import heat_cells, heat_cells_direct, heat_map, trend, trend_direct
from incidents.lifecycle import apply_transition, locked
from incidents.models import Category, Incident
from incidents.rollups import Kind, Rollup, Window, drift, rebuild_rollups
from incidents.selectors import incident_stats, incident_stats_direct, open_counts, open_counts_direct
from tests.incidents import factories as f
from tests.incidents.test_analytics import fixed_on_the_spot

KINDS = importlib.import_module("incidents.migrations.0025_rollup_partitions").KINDS

pytestmark = pytest.mark.django_db
OPERATOR = Actor(user=None, label="test operator", groups=frozenset({"operator"}))
STEPS = {  # the next lifecycle step from a state (rework from handled, sometimes)
    "dispatched": "accept", "in_progress": "report_handled", "handled": "verify", "verified": "close"}


def _step(incident_id: int, action: str, when: datetime) -> None:
    with transaction.atomic():
        row = locked(incident_id)
        event = apply_transition(row, action, OPERATOR, now=when)
        row.save()
        event.save()


def _comprehensive() -> list[Grid]:
    return list(Grid.objects.active().filter(kind="comprehensive").order_by("code")[:6])


@pytest.fixture
def city():
    """About 150 incidents over the last 70 days in six grids, a dedicated grid and out of town, in
    every state, by intake (one-by-one and a COPY batch), the lifecycle with rework, merges, cancels,
    escalation, the sweep, reassignment, relocation of a triaged incident, a category change and a
    move to another grid, with time stamps moved around midnight and around now."""
    rng = random.Random(12)
    now = timezone.now()
    grids = _comprehensive()
    points = [f.interior_point(g) for g in grids] + [f.interior_point(f.dedicated_grid("market"))]
    categories = list(Category.objects.filter(active=True))
    client = f.user("integration")
    items, whens = [], []
    for n in range(150):
        created = now - timedelta(days=rng.uniform(0, 70), minutes=rng.randint(0, 1440))
        lon, lat = rng.choice(points)
        at = (lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.002, 0.002))
        if n % 17 == 0:
            at = (118.0, 31.0)  # outside the town, inside the metric domain: triage, a cell
        if n % 29 == 0:
            at = (-150.0, 0.0)  # far from everything: triage, no cell
        items.append(f.item(rng.choice(categories).code, at=at, source=rng.choice(Incident.Source.values)))
        whens.append(created)
    for item, when in zip(items[:80], whens[:80], strict=True):
        f.report_many([item], now=when)
    f.report_many(items[80:140], now=now - timedelta(days=3, hours=5))  # one COPY batch
    f.report_many(items[140:], actor=Actor.of(client), now=now - timedelta(hours=30))
    incidents = list(Incident.objects.order_by("id"))
    for incident in incidents:
        created = incident.created_at
        roll = rng.random()
        if incident.state == "reported":  # triage
            if roll < 0.3:
                incident_relocate(incident_id=incident.pk, actor=f.operator(), x=points[0][0], y=points[0][1])
            elif roll < 0.5:
                _step(incident.pk, "out_of_jurisdiction", created + timedelta(hours=1))
            continue
        if roll < 0.08:
            _step(incident.pk, "cancel", created + timedelta(hours=2))
            continue
        steps = rng.randint(0, 5)
        when = created
        for _ in range(steps):
            state = Incident.objects.get(pk=incident.pk).state
            action = STEPS.get(state)
            if state == "handled" and rng.random() < 0.3:
                action = "rework"
            if action is None:
                break
            when = when + timedelta(hours=rng.uniform(1, 60))
            if when >= now:
                break
            _step(incident.pk, action, when)
    open_ = list(Incident.objects.filter(state__in=["dispatched", "in_progress"]).order_by("id"))
    for incident in open_[:4]:
        incident_escalate(incident_id=incident.pk, actor=f.operator(), reason="test")
    targets = list(Incident.objects.filter(state="dispatched").order_by("id"))
    for duplicate, into in zip(targets[4:7], targets[7:10], strict=False):
        incident_merge(duplicate_id=duplicate.pk, into_id=into.pk, actor=f.operator())
    held = Incident.objects.filter(state="in_progress", handling_grid__kind="comprehensive").order_by("id").first()
    if held is not None:
        member = f.team_of(held.handling_grid).memberships.exclude(person_id=held.assignee_id).first()
        incident_reassign(incident_id=held.pk, actor=f.operator(), person_external_id=member.person.external_id,
                          reason="test")
    # the standard assessment's events and flags: return visits (satisfied or not: dissatisfied
    # reopens), returns to the command centre (退单), extensions asked for and approved or refused
    closed = list(Incident.objects.filter(state="closed").order_by("id"))
    for n, incident in enumerate(closed[:24]):
        visited = min(incident.closed_at + timedelta(hours=rng.uniform(1, 40)), now - timedelta(minutes=1))
        outcome = ["satisfied", "basically_satisfied", "dissatisfied"][n % 3]
        incident_return_visit(incident_id=incident.pk, actor=f.operator(), outcome=outcome, comment="没修好",
                              now=visited)
    sent = Incident.objects.filter(state="dispatched", assignee__isnull=False).order_by("id")
    for incident in list(sent)[:5]:
        incident_return_to_centre(incident_id=incident.pk, actor=Actor.of(f.user(person=incident.assignee)),
                                  reason="wrong grid", now=incident.dispatched_at + timedelta(minutes=30))
    asked = Incident.objects.filter(state__in=["dispatched", "in_progress"], assignee__isnull=False,
                                    handle_due_at__isnull=False).order_by("id")
    for n, incident in enumerate(list(asked)[:8]):
        when = min(incident.dispatched_at + timedelta(hours=2), now - timedelta(minutes=2))
        incident_request_extension(incident_id=incident.pk, actor=Actor.of(f.user(person=incident.assignee)),
                                   reason="材料未到", requested_due=incident.handle_due_at + timedelta(days=2),
                                   now=when)
        incident_decide_extension(incident_id=incident.pk, actor=f.operator(), approve=n % 4 != 3,
                                  now=when + timedelta(minutes=1))
    for incident in Incident.objects.filter(state="in_progress", extensions__gt=0).order_by("id")[:3]:
        for action, hours in (("report_handled", 1), ("verify", 2), ("close", 3)):
            _step(incident.pk, action,
                  min(incident.updated_at + timedelta(hours=hours), now - timedelta(seconds=hours)))
    for n, days in enumerate((1.5, 12, 40)):  # 自行处置: fixed on the spot by the finder, never dispatched
        fixed_on_the_spot(grids[n].code, now - timedelta(days=days), 900 + n)
    # data fixes the triggers must follow: another category; another grid (and village); clocks
    # and closings moved to the minutes around midnight and around now
    some = list(Incident.objects.exclude(grid=None).order_by("id"))
    Incident.objects.filter(pk__in=[i.pk for i in some[::11]]).update(category=categories[0])
    moved = some[5]
    target = grids[-1]
    Incident.objects.filter(pk=moved.pk).update(grid=target, village=target.village, handling_grid=target)
    midnight = rollups.local_midnight(now)
    for n, incident in enumerate(some[::7]):
        moment = [midnight - timedelta(minutes=3), midnight + timedelta(minutes=2), now - timedelta(minutes=5),
                  now + timedelta(minutes=5), midnight - timedelta(days=1, seconds=1)][n % 5]
        if incident.state == "closed":
            Incident.objects.filter(pk=incident.pk).update(closed_at=moment)
        else:
            Incident.objects.filter(pk=incident.pk).update(handle_due_at=moment, accept_due_at=moment)
    sweep_overdue(now=now)
    return {"now": now, "grids": grids, "client": client}


def _actors(city) -> dict[str, Actor]:
    home = city["grids"][0]
    leader = GridTeam.objects.get(grid=home).leader
    village = VillageLeader.objects.filter(village=home.village).first()
    member = f.team_of(home).memberships.first().person
    return {
        "operator": f.operator(),
        "grid leader": Actor.of(leader.user or f.user("grid_leader", person=leader)),
        "grid member": Actor.of(f.user("grid_member", person=Person.objects.get(pk=member.pk))),
        "village leader": Actor.of(f.user(person=village.person)) if village else f.operator(),
        "integration client": Actor.of(city["client"]),
        "anonymous": Actor.of(None),
    }


def _windows(now: datetime) -> list[tuple[datetime, datetime]]:
    midnight = rollups.local_midnight(now)
    month = midnight.replace(day=1)
    return [
        (month, (month + timedelta(days=32)).replace(day=1)),  # this month, on midnights
        (now - timedelta(days=30), now),  # the review's default: off midnights
        (now - timedelta(days=45, hours=3, minutes=17), now - timedelta(days=2, hours=-5)),
        (midnight + timedelta(hours=1), midnight + timedelta(hours=20)),  # inside today
        (now - timedelta(days=10), now + timedelta(days=3)),  # ends in the future
        (midnight - timedelta(days=70), midnight + timedelta(days=1)),  # everything, on midnights
        ((month - timedelta(days=1)).replace(day=1), month),  # last month: whole past months (month rows)
        ((month - timedelta(days=32)).replace(day=1), month),  # the two before this one
    ]


def test_the_triggers_keep_the_rollups_equal_to_a_recomputation(city):
    assert Rollup.objects.filter(kind=Kind.REWORK).exists() and Rollup.objects.filter(kind=Kind.OPEN).exists()
    assert drift() == []
    assert not Rollup.objects.filter(n=0, n2=0, secs_n=0).exists()  # rows back at zero are dropped


def test_the_rebuild_is_idempotent_and_equal_to_what_the_triggers_kept(city):
    kept = sorted(Rollup.objects.values_list("key", "n", "n2", "secs_n"))
    assert rebuild_rollups() == len(kept)
    call_command("rebuild_rollups")
    assert sorted(Rollup.objects.values_list("key", "n", "n2", "secs_n")) == kept
    assert drift() == []


def test_a_rebuild_in_small_chunks_says_how_far_it_is_and_gives_the_same_rows(city):
    kept = sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n"))
    said = []
    assert rebuild_rollups(chunk=3, progress=lambda done, total: said.append((done, total))) == len(kept)
    assert sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n")) == kept
    assert drift() == []
    total = said[-1][1]
    assert said[0] == (0, total)  # said once before the first chunk: a progress bar's clock starts there
    assert len(said) == 1 + -(-total // 3) and said[-1] == (total, total)
    assert [d for d, _ in said] == sorted(d for d, _ in said)


def test_a_dropped_count_is_found_by_the_check_and_mended_by_the_rebuild(city):
    row = Rollup.objects.filter(kind=Kind.RECEIVED).first()
    Rollup.objects.filter(pk=row.pk).update(n=row.n + 1)
    assert [d[0] for d in drift()] == [row.pk]
    rebuild_rollups()
    assert drift() == []


def test_the_database_runs_the_triggers_the_rules_render_today():
    """A change of the rules (states, clocks) needs a migration that installs the new SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'incidents_rollup_on_%'")
        installed = dict(cursor.fetchall())
    rendered = rollups.trigger_sql()
    assert len(installed) == 4
    for name, source in installed.items():
        assert f"FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $rollup${source}$rollup$" in rendered


def test_the_assessment_from_the_rollups_equals_the_direct_one(city):
    now = city["now"]
    for label, actor in _actors(city).items():
        for start, end in _windows(now):
            for group in GROUPS:
                fast = assessment(actor=actor, group=group, start=start, end=end, now=now)
                slow = assessment_direct(actor=actor, group=group, start=start, end=end, now=now)
                assert [r.as_dict() for r in fast.rows] == [r.as_dict() for r in slow.rows], (label, start, group)
                assert fast.totals.as_dict() == slow.totals.as_dict()
    totals = assessment_direct(actor=OPERATOR, group="grid", start=now - timedelta(days=80), end=now, now=now).totals
    # the data has every figure
    assert all(totals.counts.values()), totals.counts
    assert 0 < totals.registration_rate < 1 and 0 < totals.accurate_dispatch_rate < 1
    assert 0 < totals.satisfaction_rate < 1 and 0 < totals.extension_rate < 1


def test_the_heatmap_from_the_rollups_equals_the_direct_one(city):
    now = city["now"]
    for label, actor in _actors(city).items():
        for start, end in _windows(now):
            for cell in (50, 100, 250, 1000, 5000):  # 50, 100: not whole month cells (HEAT_CELL_M), day rows
                fast = heat_cells(actor, start=start, end=end, cell_m=cell)
                assert fast == heat_cells_direct(actor, start=start, end=end, cell_m=cell), (label, start, cell)
    some = {"categories": ["other", "straw_burning"], "sources": ["patrol", "hotline_12345"]}
    start, end = now - timedelta(days=60), now
    assert heat_cells(OPERATOR, start=start, end=end, cell_m=250, **some) == heat_cells_direct(
        OPERATOR, start=start, end=end, cell_m=250, **some)
    assert sum(c.count for c in heat_cells(OPERATOR, start=start, end=end, cell_m=250)) > 50


def test_a_capped_heatmap_is_the_fullest_cells_of_the_whole_one(city):
    """``heat_map`` sums in the database and keeps the fullest cells: they are the first of the direct
    path's cells with at least ``min_count``, its total counts every cell, ``shown`` how many qualified."""
    now = city["now"]
    start, end = now - timedelta(days=75, hours=5), now  # part-days at both ends: the correction counts
    for label, actor in _actors(city).items():
        for cell, min_count, limit in ((250, 1, 5), (250, 2, 3), (1000, 1, 1), (50, 3, None), (500, 10_000, 2)):
            whole = heat_cells_direct(actor, start=start, end=end, cell_m=cell)
            qualified = [c for c in whole if c.count >= min_count]
            heat = heat_map(actor, start=start, end=end, cell_m=cell, min_count=min_count, limit=limit)
            assert heat.cells == qualified[:limit], (label, cell, min_count)
            assert (heat.shown, heat.total) == (len(qualified), sum(c.count for c in whole)), (label, cell)
    assert len(heat_map(OPERATOR, start=start, end=end, cell_m=250, limit=5).cells) == 5  # the data has more


def test_the_trend_from_the_rollups_equals_the_direct_one(city):
    now = city["now"]
    for label, actor in _actors(city).items():
        for start, end in _windows(now):
            for bucket in ("day", "week"):
                fast = trend(actor, start=start, end=end, bucket=bucket)
                assert fast == trend_direct(actor, start=start, end=end, bucket=bucket), (label, start, bucket)
    some = {"categories": ["other"], "sources": ["patrol", "camera"]}
    start = now - timedelta(days=40)
    assert trend(OPERATOR, start=start, end=now, bucket="day", **some) == trend_direct(
        OPERATOR, start=start, end=now, bucket="day", **some)


def test_the_stats_and_open_counts_from_the_rollups_equal_the_direct_ones(city):
    now = city["now"]
    for label, actor in _actors(city).items():
        for moment in (now, now + timedelta(hours=7), rollups.local_midnight(now) + timedelta(seconds=1)):
            assert incident_stats(actor=actor, now=moment) == incident_stats_direct(actor=actor, now=moment), label
        for by in ("grid", "village", "town"):
            assert open_counts(actor, by) == open_counts_direct(actor, by), (label, by)
    stats = incident_stats_direct(actor=OPERATOR, now=now)
    assert stats["open"] and stats["overdue"] and stats["triage"] >= 0 and stats["closed_month"] >= 0


def test_a_grid_leader_reads_only_their_grid_from_the_rollups(city):
    leader = _actors(city)["grid leader"]
    home = city["grids"][0]
    mine = {g.pk for g in Grid.objects.filter(code=home.code)}
    rows = open_counts(leader, "grid")
    everyone = open_counts(OPERATOR, "grid")
    assert len(everyone) > len(rows)
    seen = {r["code"] for r in rows} - {None}
    assert seen <= {home.code} | set(Grid.objects.filter(
        pk__in=Incident.objects.filter(handling_grid_id__in=mine).values("grid_id")).values_list("code", flat=True))
    cells = heat_cells(leader, start=city["now"] - timedelta(days=80), end=city["now"], cell_m=1000)
    assert {c.grid_code for c in cells} <= seen | {None}
    assert open_counts(_actors(city)["anonymous"], "grid") == []


def test_the_narrow_variants_hold_the_same_counts_in_fewer_rows(city):
    """The month heat rows and the lean rows sum to the full rows they narrow (the row savings show at
    volume, in bench/rollup_bench.py, not in this sparse fixture)."""
    def total(kind, **kw):
        return Rollup.objects.filter(kind=kind, **kw).aggregate(n=models_sum("n"))["n"]

    assert total(Kind.HEAT_RECEIVED, cell_x__isnull=False) == total(Kind.RECEIVED, cell_x__isnull=False) > 0
    assert total(Kind.HEAT_RECEIVED) == total(Kind.RECEIVED)
    assert total(Kind.LEAN_RECEIVED) == total(Kind.RECEIVED)
    assert not Rollup.objects.filter(kind__gte=rollups.LEAN, kind__lt=rollups.ASSESS, town__isnull=False).exists()
    # the assessment's month rows: the same counts as the day rows, in fewer rows, on months' first days
    for kind in (Kind.RECEIVED, Kind.RECEIVED_UNCOUNTED, Kind.CLOSED, Kind.DUE):
        assert total(kind + rollups.ASSESS) == total(kind), kind
        assert Rollup.objects.filter(kind=kind + rollups.ASSESS).count() <= Rollup.objects.filter(kind=kind).count()
    assert Rollup.objects.filter(kind=Kind.ASSESS_RECEIVED).count() < Rollup.objects.filter(kind=Kind.RECEIVED).count()
    assert not Rollup.objects.filter(kind__gte=rollups.ASSESS).exclude(day__day=1).exists()
    assert not Rollup.objects.filter(kind=Kind.ASSESS_CLOSED).exclude(day2__day=1).exists()
    assert not Rollup.objects.filter(kind__gte=rollups.ASSESS, category__isnull=False).exists()
    assert not Rollup.objects.filter(kind=Kind.HEAT_RECEIVED).exclude(day__day=1).exists()
    # a month row's cell (HEAT_CELL_M wide) is the block of the day rows' cells (CELL_M wide) it sums
    blocks = rollups.HEAT_CELL_M // rollups.CELL_M
    per_cell = Counter()
    for kind, day, i, j, n in Rollup.objects.filter(kind__in=[Kind.RECEIVED, Kind.HEAT_RECEIVED],
                                                     cell_x__isnull=False).values_list("kind", "day", "cell_x",
                                                                                       "cell_y", "n"):
        if kind == Kind.RECEIVED:
            per_cell[(day.replace(day=1), i // blocks, j // blocks)] += n
        else:
            per_cell[(day, i, j)] -= n
    assert blocks == 5 and not +per_cell and not -per_cell


def test_whole_months_are_the_months_inside_the_days():
    d = datetime.fromisoformat
    assert rollups.whole_months(d("2026-03-01").date(), d("2026-04-01").date()) == (
        d("2026-03-01").date(), d("2026-04-01").date())
    assert rollups.whole_months(d("2026-01-31").date(), d("2026-04-15").date()) == (
        d("2026-02-01").date(), d("2026-04-01").date())
    assert rollups.whole_months(d("2026-12-02").date(), d("2027-01-31").date()) is None
    assert rollups.whole_months(d("2026-03-02").date(), d("2026-03-30").date()) is None


def test_window_rounds_to_local_midnights_and_names_the_gaps():
    start = datetime.fromisoformat("2026-03-10T08:30:00+08:00")
    end = datetime.fromisoformat("2026-03-12T00:00:00+08:00")
    now = datetime.fromisoformat("2026-03-11T16:00:00+00:00")  # 00:00 on the 12th in Shanghai
    w = Window.of(start, end, now)
    assert w.days == (datetime(2026, 3, 10).date(), datetime(2026, 3, 12).date())
    assert w.gaps() == [(w.d0, start)]  # end and now fall on midnights
    assert w.d0.isoformat() == "2026-03-10T00:00:00+08:00"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_no_count(demo_data):
    """Eight connections report into the same grid, category, source and day at once (the same rollup
    rows) while two others move incidents on: every count is there (deltas, not read-modify-write)."""
    import threading

    from django.db import connections

    now = timezone.now()
    at = f.interior_point(f.grid())
    first = f.report_many([f.item("other", at=at) for _ in range(20)], now=now)
    moving = [o.incident.pk for o in first]
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def reporter():
        try:
            barrier.wait()
            for _ in range(15):
                f.report_many([f.item("other", at=at, source="patrol")], now=now)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    def mover(ids):
        try:
            barrier.wait()
            for pk in ids:
                _step(pk, "accept", now + timedelta(seconds=1))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reporter) for _ in range(8)]
    threads += [threading.Thread(target=mover, args=(moving[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert drift() == []
    received = Rollup.objects.filter(kind=Kind.RECEIVED, day=rollups.local_day(now), source="patrol",
                                     category__code="other").aggregate(n=models_sum("n"))["n"]
    assert received == 20 + 8 * 15


def test_the_rollup_table_leaves_room_for_in_place_counter_updates():
    """The triggers update counters (n = n + delta) and no indexed column: with free room on each page
    (fillfactor 70, migration 0021) such an update is a HOT update that writes no index entry."""
    with connection.cursor() as cursor:  # the table's rows are in its partitions (0025), each with the room
        cursor.execute("SELECT c.relname, c.reloptions FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = %s::regclass", [rollups.TABLE])
        partitions = dict(cursor.fetchall())
    assert len(partitions) == len(rollups.Kind) + 1  # one a kind, and the default
    assert all("fillfactor=70" in (options or []) for options in partitions.values()), partitions


def test_the_rollup_key_has_its_primary_key_and_no_pattern_index():
    """Nothing reads the key by a LIKE pattern: Django's text_pattern_ops index on it is dropped (0029),
    from the partitioned table and every partition; the primary key (key, kind) stays."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                       "JOIN pg_class c ON c.oid = x.indrelid "
                       "WHERE c.relname = %s OR c.oid IN (SELECT inhrelid FROM pg_inherits "
                       "WHERE inhparent = %s::regclass)", [rollups.TABLE, rollups.TABLE])
        indexes = cursor.fetchall()
    assert not [d for _, d in indexes if "pattern_ops" in d]
    keyed = {table for table, d in indexes if d.startswith("CREATE UNIQUE INDEX") and "(key, kind)" in d}
    assert len(keyed) == len(rollups.Kind) + 2  # the partitioned table, a partition a kind and the default


def test_a_read_of_one_kind_reads_its_partition_only(city):
    """The rollups are partitioned by kind (0025): a kind's rows share their pages, and a read of the
    whole city's month heat rows scans that partition alone."""
    assert {k.value for k in rollups.Kind} == set(KINDS)  # a new kind gets its partition in a migration
    now = city["now"]
    window = Window.of(now - timedelta(days=80), now, now - timedelta(days=80))
    assert rollups.whole_months(*window.days)  # so the first part is the month rows
    parts = hotspots._rollup_rows(OPERATOR, window, 1000, None, None)
    sql, params = parts[0].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scanned = set(re.findall(r"on (incidents_rollup\w*)", plan))
    assert scanned == {f"incidents_rollup_k{rollups.Kind.HEAT_RECEIVED}"}, plan
    assert parts[0].exists()


def _in_key_order() -> dict[str, bool]:
    """{partition: whether its rows lie in the order of their key} for the partitions holding rows."""
    from incidents.rollups import partitions

    with connection.cursor() as cursor:
        out = {}
        for partition in partitions(cursor):
            cursor.execute(f"SELECT count(*), array_agg(key ORDER BY ctid) = array_agg(key ORDER BY key) "
                           f"FROM {partition}")
            count, ordered = cursor.fetchone()
            if count > 1:
                out[partition] = ordered
    return out


def test_clustering_puts_every_partition_in_key_order_and_changes_no_count(city):
    """``rebuild_rollups --cluster`` rewrites each partition in the order of its key (kind, day, ...): a
    period's rows lie together; no count changes."""
    kept = sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n"))
    first = Rollup.objects.filter(kind=Kind.DUE).order_by("key").first()
    Rollup.objects.filter(pk=first.pk).update(n2=first.n2)  # a new row version, after the others
    assert not all(_in_key_order().values())
    out = io.StringIO()
    call_command("rebuild_rollups", cluster=True, stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("clustered ") and " rollup partitions in " in out.getvalue()
    ordered = _in_key_order()
    assert f"{rollups.TABLE}_k{Kind.DUE}" in ordered and all(ordered.values()), ordered
    assert sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n")) == kept
    assert drift() == []


def test_an_offline_rebuild_leaves_the_rows_in_key_order(city):
    kept = sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                       [rollups.TABLE])
        indexes = sorted(name for (name,) in cursor.fetchall())
    assert rebuild_rollups(offline=True) == len(kept)
    assert all(_in_key_order().values()) and _in_key_order()
    assert sorted(Rollup.objects.values_list("key", "n", "n2", "n3", "n4", "n5", "secs_n")) == kept
    with connection.cursor() as cursor:  # the dropped indexes are back
        cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                       [rollups.TABLE])
        assert sorted(name for (name,) in cursor.fetchall()) == indexes
    assert drift() == []


def test_check_and_cluster_are_one_at_a_time():
    with pytest.raises(CommandError, match="one at a time"):
        call_command("rebuild_rollups", check=True, cluster=True)


def _pages(partition: str) -> tuple[int, int]:
    """(pages in the partition's file, pages holding one of its rows)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_relation_size('{partition}') / current_setting('block_size')::int, "
                       f"count(DISTINCT (ctid::text::point)[0]) FROM {partition}")
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_an_offline_rebuild_leaves_no_replaced_row_versions_behind(demo_data):
    """A rebuild adds each chunk's facts to the rows the earlier chunks made, so a row every chunk adds to
    (the day's lean counts) has a version per chunk. After an offline rebuild every page of every
    partition holds a row: the clustering ran after the rebuild's commit, when those versions were dead
    (inside the rebuild's own transaction they were copied: the 10M city's lean rows took 654 MB)."""
    from incidents.rollups import partitions

    f.report_many([f.item("other", title=f"垃圾 rubbish {k}") for k in range(400)])
    assert rebuild_rollups(offline=True, chunk=1) == Rollup.objects.count() > 0
    with connection.cursor() as cursor:
        names = partitions(cursor)
    lean = f"{rollups.TABLE}_k{Kind.LEAN_RECEIVED}"
    assert Rollup.objects.filter(kind=Kind.LEAN_RECEIVED).exists()
    sizes = {name: _pages(name) for name in names}
    assert all(in_file == holding for in_file, holding in sizes.values()), sizes
    assert sizes[lean] == (1, 1)
    assert all(_in_key_order().values()) and drift() == []
