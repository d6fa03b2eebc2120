"""The heatmaps kept ahead (incidents.heat_ahead): a run answers as the rollups do, late changes count."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from gis_core.tiles import BBox
from incidents import heat_ahead, hotspots, rollups
from incidents.actions import incident_merge, incident_relocate
from incidents.heat_ahead import AHEAD_CELLS, AHEAD_DAYS, AHEAD_LENGTHS, SMALL_TOTALS, HeatLate, HeatRun, HeatRunCell
from incidents.hotspots import CellRange, cells_covering, heat_cells_direct, heat_map, refresh_heat_ahead
from incidents.models import Category, Incident
from tests.incidents import factories as f
from tests.incidents.test_rollups import city  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # a run keeps its transaction's snapshot: each its own
OPERATOR = Actor(user=None, label="test operator", groups=frozenset({"operator"}))


def _same(start, end, cell_m, actor=OPERATOR, **kwargs):
    """The heatmap from the run equals the rollups' alone and the direct path's, and the API's features
    written by the database (``heat_features``, from the run and without) equal those of its cells."""
    fast = heat_map(actor, start=start, end=end, cell_m=cell_m, **kwargs)
    plain = heat_map(actor, start=start, end=end, cell_m=cell_m, ahead=False, **kwargs)
    assert fast == plain, (start, end, cell_m, kwargs)
    if not kwargs:
        assert fast.cells == heat_cells_direct(actor, start=start, end=end, cell_m=cell_m)
    expected = json.loads(json.dumps(hotspots.heat_geojson(fast.cells), ensure_ascii=False))
    for ahead in (True, False):
        written = hotspots.heat_features(actor, start=start, end=end, cell_m=cell_m, ahead=ahead, **kwargs)
        assert (written.shown, written.total) == (fast.shown, fast.total)
        assert json.loads(f"[{written.features}]") == expected, (start, end, cell_m, kwargs, ahead)
        compact = hotspots.heat_features(actor, start=start, end=end, cell_m=cell_m, ahead=ahead, detail=2, **kwargs)
        assert (compact.shown, compact.total) == (fast.shown, fast.total)
        assert json.loads(f"[{compact.points}]") == [[*c["geometry"]["coordinates"], c["properties"]["count"]]
                                                     for c in expected]
        assert json.loads(f"[{compact.features}]") == expected[:2]
    if not kwargs:  # the whole city's fullest (the run's fullest by its index and the touched cells) too
        _same_capped(start, end, cell_m, actor, fast, expected)
    return fast


def _same_capped(start, end, cell_m, actor, whole, expected):
    """The fullest cells, capped and with a minimum, as the whole answer has them (a run's cells the parts
    touch may rise into the fullest, fall out, or fall under the minimum)."""
    half = len(whole.cells) // 2 + 1
    for limit, least in ((1, 1), (half, 1), (half, 2), (len(whole.cells) + 5, 3)):
        kept = [c for c in whole.cells if c.count >= least]
        capped = heat_map(actor, start=start, end=end, cell_m=cell_m, limit=limit, min_count=least)
        assert capped == hotspots.HeatMap(kept[:limit], len(kept), whole.total), (start, end, cell_m, limit, least)
        assert capped == heat_map(actor, start=start, end=end, cell_m=cell_m, limit=limit, min_count=least,
                                  ahead=False)
    written = hotspots.heat_features(actor, start=start, end=end, cell_m=cell_m, limit=half)
    assert (written.shown, written.total) == (len(whole.cells), whole.total)
    assert json.loads(f"[{written.features}]") == expected[:half], (start, end, cell_m)


def _periods(now):
    """The review page's periods and ones a few days off them (whole days added and taken away)."""
    out = []
    for days in AHEAD_DAYS:
        out += [(now - timedelta(days=days), now),
                (now - timedelta(days=days + 3, hours=2), now),  # starts 3 days earlier
                (now - timedelta(days=days - 2), now - timedelta(days=2, hours=5)),  # later, ends earlier
                (now - timedelta(days=days), now + timedelta(days=1))]  # ends tomorrow
    return out


def test_a_run_answers_the_periods_near_it_as_the_rollups_do(demo_data, city):  # noqa: F811
    now = city["now"]
    runs = refresh_heat_ahead()
    assert {(r.days, r.cell_m) for r in runs} == {(d, c) for d in AHEAD_LENGTHS for c in AHEAD_CELLS}
    assert HeatRunCell.objects.filter(run__in=runs).count() == sum(r.cells for r in runs) > 0
    for start, end in _periods(now):
        first, last = rollups.Window.of(start, end, start).days
        for cell_m in AHEAD_CELLS:
            assert hotspots._nearest_run(cell_m, first, last) is not None, (start, end, cell_m)
            _same(start, end, cell_m)
    # capped, with a minimum, within a view (a town's map)
    start, end = now - timedelta(days=30), now
    whole = _same(start, end, 250)
    assert len(whole.cells) > 5
    assert _same(start, end, 250, limit=5).cells == whole.cells[:5]
    assert _same(start, end, 250, min_count=2).shown == len([c for c in whole.cells if c.count >= 2])
    lon, lat = whole.cells[0].lon, whole.cells[0].lat
    view = cells_covering(BBox(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01), 250)
    inside = _same(start, end, 250, within=view)
    assert 0 < len(inside.cells) < len(whole.cells)
    assert _same(start, end, 250, within=CellRange(0, 1, 0, 1)).cells == []


def test_a_run_keeps_its_incidents_and_extent_and_one_summed_before_it_did_answers_alike(demo_data, city,  # noqa: F811
                                                                                         monkeypatch):
    now = city["now"]
    runs = refresh_heat_ahead()
    for run in runs:  # the whole city's read takes the run's sums from it, not from a scan of its cells
        cells = HeatRunCell.objects.filter(run=run)
        assert run.total == sum(cells.values_list("total", flat=True)) > 0
        assert run.cells == cells.filter(total__gte=1).count()
        i0, i1, j0, j1 = run.extent
        assert (cells.filter(i=i0).exists(), cells.filter(i=i1).exists(), cells.filter(j=j0).exists(),
                cells.filter(j=j1).exists()) == (True, True, True, True)
        assert not cells.exclude(i__range=(i0, i1), j__range=(j0, j1)).exists()
        assert run.small_totals == [cells.filter(total=k).count() for k in range(1, SMALL_TOTALS + 1)]
        assert run.cells - sum(run.small_totals[:2]) == cells.filter(total__gte=3).count()
    start, end = now - timedelta(days=30), now
    kept = _same(start, end, 250)
    # a map zoomed out to the whole city reads the run's fullest by its index, as the whole city's read does;
    # a view one cell short of the run's extent joins every cell of the run in the view
    read = []
    monkeypatch.setattr(hotspots, "_run_sums", lambda run, least, real=hotspots._run_sums: read.append(run) or
                        real(run, least))
    _, run = hotspots._nearest_run(250, *rollups.Window.of(start, end, start).days)
    i0, i1, j0, j1 = run.extent
    around = CellRange(i0 - 3, i1 + 3, j0 - 3, j1 + 3)
    for view, by_index in ((around, True), (CellRange(i0, i1, j0, j1), True), (CellRange(i0 + 1, i1, j0, j1), False)):
        read.clear()
        answer = heat_map(OPERATOR, start=start, end=end, cell_m=250, within=view, limit=10_000)
        assert answer == heat_map(OPERATOR, start=start, end=end, cell_m=250, within=view, ahead=False,
                                  limit=10_000)
        assert bool(read) is by_index, view
        assert answer == kept if view is around else by_index or answer != kept
    assert _same(start, end, 250, within=around) == kept
    # the cells a minimum shows: from the run's small totals up to SMALL_TOTALS + 1, counted by its index past it
    whole = kept.cells
    for least in (2, 3, SMALL_TOTALS + 1, SMALL_TOTALS + 2):
        answer = heat_map(OPERATOR, start=start, end=end, cell_m=250, limit=len(whole) + 5, min_count=least)
        assert answer.shown == len([c for c in whole if c.count >= least]) == heat_map(
            OPERATOR, start=start, end=end, cell_m=250, limit=len(whole) + 5, min_count=least, ahead=False).shown
    HeatRun.objects.update(small_totals=None)  # runs summed before they were kept: counted by the index
    assert _same(start, end, 250) == kept
    HeatRun.objects.update(total=None, extent=None)  # runs summed before these were kept: summed from their cells
    assert _same(start, end, 250) == kept


def test_a_period_is_read_from_the_run_that_leaves_least_to_sum(demo_data, city):  # noqa: F811
    """The review page asks for the N days ending now (web/static/web/review.js): they start within the
    first of the N whole days ending yesterday. Started in the morning, the N days' run is read and the
    part of that day before the start taken away; in the afternoon, the N - 1's and the part after the
    start added. A period from a midnight to tonight (a calendar's) is the N - 1's and today's rows, and one
    starting at a midnight has no part-day to weigh. Each answers as the rollups do."""
    now = city["now"]
    refresh_heat_ahead()
    today = rollups.local_midnight(now)
    for days in AHEAD_DAYS:
        morning, afternoon = today - timedelta(days=days, hours=-9), today - timedelta(days=days, hours=-15)
        for start, end, length, up in ((morning, now, days, False), (afternoon, now, days - 1, True),
                                       (today - timedelta(days=days - 1), today + timedelta(days=1), days - 1, False),
                                       (today - timedelta(days=days), today, days, False)):
            window, run = hotspots._ahead_window(250, start, end)
            d0 = today - timedelta(days=length)
            assert (run.days, run.first_day, run.last_day) == (length, d0.date(), today.date()), (days, start, end)
            assert window.d0 == d0 and (window.d0 > start) is up and window.gaps() == [
                gap for gap in ((min(start, d0), max(start, d0)), (min(window.d1, end), max(window.d1, end)))
                if gap[0] < gap[1]], (days, start, end)
            _same(start, end, 250)
    assert rollups.Window.of(today, now, today, up=True).d0 == today  # a midnight is not rounded up


def test_periods_far_from_every_run_and_filtered_or_scoped_reads_do_not_use_one(demo_data, city):  # noqa: F811
    now = city["now"]
    refresh_heat_ahead()
    first, last = rollups.Window.of(now - timedelta(days=50), now, now).days
    assert hotspots._nearest_run(250, first, last) is None  # 20 days from the 30 and 90 days' runs
    assert hotspots._nearest_run(300, *rollups.Window.of(now - timedelta(days=30), now, now).days) is None
    _same(now - timedelta(days=50), now, 250)
    _same(now - timedelta(days=30), now, 250, categories=["other"])
    leader = Actor.of(f.user("grid_leader", person=f.team_of(city["grids"][0]).leader))
    start, end = now - timedelta(days=30), now
    assert heat_map(leader, start=start, end=end, cell_m=250).cells == heat_cells_direct(
        leader, start=start, end=end, cell_m=250)
    _same(start, end, 250, actor=leader)


def test_a_run_written_with_other_category_codes_is_not_read_for_the_api(demo_data, city):  # noqa: F811
    now = city["now"]
    refresh_heat_ahead()
    start, end = now - timedelta(days=30), now
    assert all(json.loads("{" + props + "}")["categories"]
               for props in HeatRunCell.objects.values_list("props", flat=True)[:50])
    busiest = Category.objects.get(code=_same(start, end, 250).cells[0].top_category)
    busiest.code = "renamed-" + busiest.code  # a code changed since the run was summed: its props are stale
    busiest.save(update_fields=["code"])
    fast = _same(start, end, 250)
    assert fast.cells[0].top_category == busiest.code
    assert f'"top_category":"{busiest.code}"' in hotspots.heat_features(OPERATOR, start=start, end=end,
                                                                         cell_m=250).features


def test_changes_after_a_run_count_as_late_rows_and_a_new_run_has_them(demo_data, city):  # noqa: F811
    now = city["now"]
    refresh_heat_ahead()
    HeatLate.objects.all().delete()  # what the run saw (its days) is in it: start from nothing
    categories = list(Category.objects.filter(active=True).order_by("code"))
    old = list(Incident.objects.filter(created_at__lt=now - timedelta(days=5)).exclude(grid=None).order_by("id"))
    # another category (an UPDATE of day rows), a duplicate merged (counted no more), a relocated
    # triage report (a new cell), reports imported with their own past dates (INSERTs)
    Incident.objects.filter(pk__in=[i.pk for i in old[:6]]).update(category=categories[-1])
    dispatched = list(Incident.objects.filter(state="dispatched", created_at__lt=now - timedelta(days=2))
                      .order_by("id"))
    incident_merge(duplicate_id=dispatched[0].pk, into_id=dispatched[1].pk, actor=f.operator())
    waiting = Incident.objects.filter(state="reported", grid=None, location__isnull=False).order_by("id").first()
    if waiting is not None:
        x, y = f.interior_point(city["grids"][1])
        incident_relocate(incident_id=waiting.pk, actor=f.operator(), x=x, y=y)
    f.report_many([f.item("other", at=f.interior_point(city["grids"][2])) for _ in range(3)],
                  now=now - timedelta(days=20))
    assert HeatLate.objects.count() >= 6
    assert {r.n for r in HeatLate.objects.all()} & {-1} and {r.n for r in HeatLate.objects.all()} & {1}
    for start, end in _periods(now):
        for cell_m in (250, 1000):
            _same(start, end, cell_m)
    # a new run has the changes, so it does not add the late rows again; the job deletes them
    assert refresh_heat_ahead() == []  # the day is the same and few late rows: nothing to do
    runs = refresh_heat_ahead(force=True)
    assert len(runs) == len(AHEAD_LENGTHS) * len(AHEAD_CELLS)
    assert HeatRun.objects.count() == len(runs)  # the runs replaced are gone, and their cells
    assert not HeatRunCell.objects.exclude(run__in=runs).exists()
    assert HeatLate.objects.count() == 0
    for start, end in _periods(now):
        _same(start, end, 250)


def test_a_run_of_an_earlier_day_is_read_with_the_days_since(demo_data, city):  # noqa: F811
    now = city["now"]
    today = rollups.local_day(now)
    runs = refresh_heat_ahead(today=today - timedelta(days=2))
    assert {r.last_day for r in runs} == {today - timedelta(days=2)}
    for start, end in _periods(now)[:4]:
        _same(start, end, 500)
    assert len(refresh_heat_ahead(today=today)) == len(runs)  # the day changed: summed again
    assert set(HeatRun.objects.values_list("last_day", flat=True)) == {today}


def test_many_late_rows_make_the_job_sum_again(demo_data, city, monkeypatch):  # noqa: F811
    refresh_heat_ahead()
    monkeypatch.setattr(hotspots, "LATE_REBUILD", 2)
    for days in (10, 11):  # two day rows changed: two late rows
        f.report_many([f.item("other", at=f.interior_point(city["grids"][0]))], now=city["now"] - timedelta(days=days))
    assert len(refresh_heat_ahead()) == len(AHEAD_LENGTHS) * len(AHEAD_CELLS)


def test_the_job_leaves_when_another_is_at_work_and_refuses_a_callers_transaction(demo_data, city):  # noqa: F811
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [hotspots.AHEAD_LOCK])
        assert refresh_heat_ahead() == []
        assert not HeatRun.objects.exists()
        with other.cursor() as cursor:  # released now: closing would free it only when the backend exits,
            cursor.execute("SELECT pg_advisory_unlock(%s)", [hotspots.AHEAD_LOCK])  # later on a busy host
    finally:
        other.close()
    with transaction.atomic(), pytest.raises(RuntimeError):
        refresh_heat_ahead()
    call_command("refresh_heatmaps")  # the daily runs, then the live ones
    assert HeatRun.objects.filter(part_start=None).count() == len(AHEAD_LENGTHS) * len(AHEAD_CELLS)
    assert HeatRun.objects.exclude(part_start=None).count() == 2 * len(AHEAD_DAYS) * len(AHEAD_CELLS)


def test_a_rebuild_logs_no_late_rows_and_forgets_the_runs(demo_data, city):  # noqa: F811
    refresh_heat_ahead()
    HeatLate.objects.all().delete()
    rollups.rebuild_rollups()
    assert not HeatLate.objects.exists() and not HeatRun.objects.exists()
    now = city["now"]
    refresh_heat_ahead()
    _same(now - timedelta(days=30), now, 250)


def test_the_database_runs_the_late_trigger_the_module_renders_today(demo_data):
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'incidents_heat_late'")
        (source,) = cursor.fetchone()
        cursor.execute("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass "
                       "AND tgname LIKE 'heat_late_%%' ORDER BY 1", [heat_ahead.PARTITION])
        triggers = cursor.fetchall()
    rendered = heat_ahead.late_trigger_sql()
    assert f"$late${source}$late$" in rendered
    assert [name for name, _ in triggers] == ["heat_late_delete", "heat_late_insert", "heat_late_update"]
    for name, definition in triggers:
        assert f"CREATE TRIGGER {name} AFTER" in definition and "incidents_heat_late()" in definition
        assert rollups.REBUILDING in definition


def test_the_whole_city_heatmap_over_the_api_reads_the_run(demo_data, city, client):  # noqa: F811
    now = city["now"]
    refresh_heat_ahead()
    client.force_login(f.user("operator"))
    start, end = (now - timedelta(days=90)).isoformat(), now.isoformat()
    body = client.get("/api/review/heatmap/", {"start": start, "end": end, "cell": 1000}).json()
    plain = heat_map(OPERATOR, start=now - timedelta(days=90), end=now, cell_m=1000, ahead=False)
    assert body["total"] == plain.total
    assert [feature["properties"]["count"] for feature in body["features"]] == [c.count for c in plain.cells]
    # the features written by the database are those of the cells, the envelope as DRF writes it
    assert body["features"] == json.loads(json.dumps(hotspots.heat_geojson(plain.cells), ensure_ascii=False))
    assert {k: v for k, v in body.items() if k != "features"} == {
        "type": "FeatureCollection", "cell_m": 1000, "srid_cells": 4549, "total": plain.total, "capped": False,
        "start": timezone.localtime(now - timedelta(days=90)).isoformat(), "end": timezone.localtime(now).isoformat()}


def test_runs_of_another_clusters_transactions_are_forgotten(demo_data):
    """A restored copy on another cluster: its runs' snapshots name transaction ids from its future, so
    no late row would count; the job drops them (and the restore script deletes them)."""
    today = rollups.local_day(timezone.now())
    alien = HeatRun.objects.create(cell_m=250, days=30, first_day=today - timedelta(days=30), last_day=today,
                                   snapshot="90000000000:90000000000:", built_at=timezone.now())
    HeatRunCell.objects.create(run=alien, i=1, j=1, total=5, category_ids=[None], category_ns=[5], grid_ids=[],
                               grid_ns=[])
    refresh_heat_ahead()
    assert not HeatRun.objects.filter(pk=alien.pk).exists() and not HeatRunCell.objects.filter(run=alien).exists()
    assert HeatRun.objects.count() == len(AHEAD_LENGTHS) * len(AHEAD_CELLS)


def _ending_now(days):
    now = timezone.now()
    return now - timedelta(days=days), now


def test_a_live_run_answers_the_n_days_ending_now_with_minutes_to_sum(demo_data, city):  # noqa: F811
    """The live runs (``refresh_heat_live``): the N days ending when they were summed, and the N days to
    tonight, with today so far. A read of the N days ending now takes the first and sums again the minutes
    since at either end; one of the N days to tonight (a calendar's) the second, with nothing to sum but
    the changes since; a period near them answers as the rollups do whichever run it takes."""
    assert hotspots.refresh_heat_live() == []  # no daily run yet to make them from
    refresh_heat_ahead()
    before = timezone.now()
    live = hotspots.refresh_heat_live()
    tomorrow = rollups.local_day(timezone.now()) + timedelta(days=1)
    today = rollups.local_midnight(timezone.now())
    assert sorted((r.days, r.cell_m, r.part_start == today - timedelta(days=r.days - 1)) for r in live) == sorted(
        (d, c, calendar) for d in AHEAD_DAYS for c in AHEAD_CELLS for calendar in (False, True))
    for run in live:
        if run.holds_part_day:  # the N days ending when it was summed
            assert before - timedelta(days=run.days) <= run.part_start <= timezone.now() - timedelta(days=run.days)
        assert (run.first_day, run.last_day) == (rollups.local_day(run.part_start), tomorrow)
        cells = HeatRunCell.objects.filter(run=run)
        assert run.total == sum(cells.values_list("total", flat=True)) > 0 and run.cells == cells.count()
    for days in AHEAD_DAYS:
        start, end = _ending_now(days)
        window, run = hotspots._ahead_window(250, start, end)
        assert run.holds_part_day and run.days == days
        # read from the incidents: the minutes between the two starts, and from now to tonight (none yet)
        assert all(min(b, end) - a < timedelta(minutes=5) for a, b in window.gaps()), window.gaps()
        for cell_m in AHEAD_CELLS:
            _same(*_ending_now(days), cell_m)
        calendar = (today - timedelta(days=days - 1), today + timedelta(days=1))  # a calendar's, to tonight
        window, run = hotspots._ahead_window(250, *calendar)
        assert (run.part_start, run.days, window.gaps()) == (calendar[0], days, [])
        _same(*calendar, 250)
        _same(start - timedelta(hours=20), end - timedelta(hours=3), 500)  # off it by hours
    start, end = _ending_now(30)
    whole = _same(start, end, 250)
    lon, lat = whole.cells[0].lon, whole.cells[0].lat  # a town's map
    assert 0 < len(_same(start, end, 250, within=cells_covering(BBox(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01),
                                                                  250)).cells) < len(whole.cells)
    # ending days before the live run: too much to read from the incidents, the daily runs answer
    assert hotspots._ahead_window(250, start, end - timedelta(days=2))[1].part_start is None
    _same(start, end - timedelta(days=2), 250)
    # a daily run is never made from a live one, and the daily job keeps the live runs
    assert all(hotspots._nearest_run(c, *rollups.Window.of(*_ending_now(d), today).days)[1].part_start is None
               for d in AHEAD_DAYS for c in AHEAD_CELLS)
    refresh_heat_ahead(force=True)
    assert set(HeatRun.objects.filter(part_start__isnull=False)) == set(live)
    _same(*_ending_now(30), 250)


def test_changes_after_a_live_run_count_and_a_change_of_its_first_day_sends_reads_to_another_run(
        demo_data, city, monkeypatch):  # noqa: F811
    refresh_heat_ahead()
    start = timezone.now() - timedelta(days=30)
    first = rollups.local_midnight(start)
    after = first + timedelta(days=1)
    grid = city["grids"][0]
    # two reports of the live run's first day: one before its start, one after (in the run)
    f.report_many([f.item("other", at=f.interior_point(grid))], now=first + (start - first) / 2)
    f.report_many([f.item("other", at=f.interior_point(grid))], now=start + (after - start) / 2)
    outside, inside = Incident.objects.order_by("-id")[:2][::-1]
    hotspots.refresh_heat_live()
    HeatLate.objects.all().delete()  # what the runs saw is in them: start from nothing
    categories = list(Category.objects.filter(active=True).order_by("code"))
    # today's reports and changes, and one of a whole day of the run, after it was summed: late rows
    f.report_many([f.item("other", at=f.interior_point(city["grids"][1])) for _ in range(3)])
    recent = Incident.objects.filter(created_at__gte=start + timedelta(days=3)).exclude(grid=None).order_by("id")
    Incident.objects.filter(pk__in=[i.pk for i in recent[:3]]).update(category=categories[-1])
    assert HeatLate.objects.count() >= 4
    for days in AHEAD_DAYS:
        assert hotspots._ahead_window(250, *_ending_now(days))[1].part_start is not None
        _same(*_ending_now(days), 250)
    # a change of the first day committed between the read's check and its sums: the live run's answer, as
    # before the change (its late rows are of that day, in the run or not: never added)
    was = heat_map(OPERATOR, start=start, end=timezone.now(), cell_m=250)
    monkeypatch.setattr(hotspots, "_live_usable", lambda run: True)
    Incident.objects.filter(pk=outside.pk).update(category=categories[1])
    assert heat_map(OPERATOR, start=start, end=timezone.now(), cell_m=250) == was
    monkeypatch.undo()
    # a change of a report of the first day, in the run or not: the live run cannot tell, others answer
    for incident in (inside, outside):
        Incident.objects.filter(pk=incident.pk).update(category=categories[0])
        window, run = hotspots._ahead_window(250, *_ending_now(30))
        assert not run.holds_part_day, incident  # a daily run, or the live one from a midnight
        assert hotspots._ahead_window(250, *_ending_now(90))[1].part_start is not None  # its first day is another
        _same(*_ending_now(30), 250)
        hotspots.refresh_heat_live()  # summed again: it has the change
        assert hotspots._ahead_window(250, *_ending_now(30))[1].part_start is not None
        _same(*_ending_now(30), 250)


def test_live_runs_are_replaced_and_the_job_keeps_its_lock(demo_data, city):  # noqa: F811
    from django.db import connections

    refresh_heat_ahead()
    first = hotspots.refresh_heat_live()
    again = hotspots.refresh_heat_live()
    assert set(HeatRun.objects.filter(part_start__isnull=False)) == set(again) and not set(first) & set(again)
    assert not HeatRunCell.objects.filter(run__in=first).exists()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [hotspots.AHEAD_LOCK])
        assert hotspots.refresh_heat_live() == []
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [hotspots.AHEAD_LOCK])
    finally:
        other.close()
    with transaction.atomic(), pytest.raises(RuntimeError):
        hotspots.refresh_heat_live()
    # a code changed since the daily runs were summed: no live run of them (the reads leave them too)
    category = Category.objects.order_by("id").first()
    category.code = "renamed-" + category.code
    category.save(update_fields=["code"])
    assert hotspots.refresh_heat_live() == [] and not HeatRun.objects.filter(part_start__isnull=False).exists()
    call_command("refresh_heatmaps", "--force")
    assert HeatRun.objects.filter(part_start__isnull=False).count() == 2 * len(AHEAD_DAYS) * len(AHEAD_CELLS)
