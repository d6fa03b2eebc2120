"""Patrols and tracks (patrols/): a constructed walk gives known figures (distance, time in the own grid,
coverage, 在岗率); doubtful points are flagged, not dropped; re-sent batches store nothing twice; tracks
are seen only in scope; old tracks are deleted."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import LineString, Point
from django.test import override_settings
from rest_framework.test import APIClient

from gis_core.srid import METRIC_SRID
from grids.models import Grid, Person
from patrols.figures import day_figures, own_grids_q
from patrols.models import Patrol, TrackPoint
from patrols.tasks import purge
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 2)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


def client_of(person: Person, *groups: str) -> APIClient:
    return f.api_client(*(groups or ("grid_member",)), person=person)


def walk(grid: Grid, *, steps: int, step_m: float, every_s: int, start: datetime = T0, east0: float = 0.0):
    """Points eastwards from the grid's interior point, ``step_m`` apart every ``every_s`` seconds."""
    origin = Point(*f.interior_point(grid), srid=4326).transform(METRIC_SRID, clone=True)
    out = []
    for n in range(steps):
        p = Point(origin.x + east0 + n * step_m, origin.y, srid=METRIC_SRID).transform(4326, clone=True)
        out.append({"lon": p.x, "lat": p.y, "t": (start + timedelta(seconds=n * every_s)).isoformat(), "accuracy": 8})
    return out


def post_points(api: APIClient, patrol_id: int, points: list[dict]):
    return api.post(f"/api/patrols/{patrol_id}/points/", {"points": points}, format="json")


def started(api: APIClient, key: str = "phone-patrol-0001", at: datetime = T0) -> int:
    answer = api.post("/api/patrols/", {"key": key}, format="json")
    assert answer.status_code == 201, answer.json()
    Patrol.objects.filter(pk=answer.json()["id"]).update(started_at=at)
    return answer.json()["id"]


def test_a_walk_in_the_own_grid_gives_its_known_figures(worker):
    grid, person, api = worker
    patrol = started(api)
    points = walk(grid, steps=20, step_m=5.0, every_s=10)  # 95 m in 190 s, well inside the grid
    answer = post_points(api, patrol, points)
    assert answer.json() == {"stored": 20, "duplicates": 0, "flagged": 0, "outside": 0}
    Patrol.objects.filter(pk=patrol).update(ended_at=T0 + timedelta(minutes=30))
    figures = day_figures(person.pk, DAY)
    assert figures.distance_m == pytest.approx(95.0, abs=0.5)
    assert figures.in_own_grid_s == 190 and figures.on_patrol_s == 1800
    assert figures.presence == pytest.approx(190 / (8 * 3600))
    # coverage: a 25 m band along the walk over the area of the person's grids, computed here with GEOS
    own = Grid.objects.active().filter(own_grids_q(person.pk)).distinct()
    area = sum(g.boundary.transform(METRIC_SRID, clone=True).area for g in own)
    line = LineString([(p["lon"], p["lat"]) for p in points], srid=4326).transform(METRIC_SRID, clone=True)
    band = line.buffer(25).intersection(grid.boundary.transform(METRIC_SRID, clone=True)).area
    assert figures.coverage == pytest.approx(band / area, rel=0.01)
    # the API says the same, to the worker themself
    day = api.get("/api/patrols/day/", {"day": DAY.isoformat()}).json()
    assert (day["distance_m"], day["in_own_grid_s"], day["points"], day["flagged"]) == (95.0, 190, 20, 0)


def test_doubtful_points_are_flagged_and_left_out_and_gaps_are_not_bridged(worker):
    grid, person, api = worker
    patrol = started(api)
    points = walk(grid, steps=10, step_m=5.0, every_s=10)                  # 45 m, 90 s
    far = walk(grid, steps=1, step_m=0, every_s=0, start=T0 + timedelta(seconds=95), east0=600)[0]  # 600 m in 5 s
    vague = {**walk(grid, steps=1, step_m=0, every_s=0, start=T0 + timedelta(seconds=97))[0], "accuracy": 80}
    later = walk(grid, steps=3, step_m=5.0, every_s=10, start=T0 + timedelta(seconds=400), east0=45)  # after a gap
    answer = post_points(api, patrol, points + [far, vague] + later)
    assert answer.json() == {"stored": 15, "duplicates": 0, "flagged": 2, "outside": 0}
    flags = dict(TrackPoint.objects.filter(patrol_id=patrol).values_list("recorded_at", "flag"))
    assert sorted(flags.values()).count("") == 13 and set(flags.values()) == {"", "too_fast", "inaccurate"}
    figures = day_figures(person.pk, DAY)
    # 45 m + 10 m after the gap; the 310 s gap is not walked; the flagged points count nowhere
    assert figures.distance_m == pytest.approx(55.0, abs=0.5) and figures.in_own_grid_s == 110
    assert (figures.points, figures.flagged) == (15, 2)
    track = api.get(f"/api/patrols/{patrol}/track/").json()
    line = [feat for feat in track["features"] if feat["properties"]["kind"] == "track"][0]
    assert len(line["geometry"]["coordinates"]) == 13
    assert sum(1 for feat in track["features"] if feat["properties"].get("flag")) == 2


def test_a_walk_in_another_grid_counts_as_distance_not_presence(worker):
    _, person, api = worker
    grids = Grid.objects.active().filter(kind="comprehensive")
    elsewhere = grids.exclude(own_grids_q(person.pk)).order_by("code").last()
    patrol = started(api)
    post_points(api, patrol, walk(elsewhere, steps=7, step_m=10.0, every_s=10))
    figures = day_figures(person.pk, DAY)
    assert figures.distance_m == pytest.approx(60.0, abs=0.5) and figures.in_own_grid_s == 0 and figures.presence == 0


def test_starts_batches_and_ends_are_safe_to_send_again(worker):
    grid, _, api = worker
    first = api.post("/api/patrols/", {"key": "phone-patrol-0001"}, format="json")
    again = api.post("/api/patrols/", {"key": "phone-patrol-0001"}, format="json")
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])
    other = api.post("/api/patrols/", {"key": "phone-patrol-0002"}, format="json")
    assert other.status_code == 409 and "still running" in other.json()["detail"]
    patrol = first.json()["id"]
    points = walk(grid, steps=5, step_m=3.0, every_s=10, start=datetime.now(TZ))
    assert post_points(api, patrol, points).json()["stored"] == 5
    assert post_points(api, patrol, points[2:] + points).json() == {"stored": 0, "duplicates": 8, "flagged": 0,
                                                                   "outside": 0}
    ended = api.post(f"/api/patrols/{patrol}/end/").json()["ended_at"]
    assert api.post(f"/api/patrols/{patrol}/end/").json()["ended_at"] == ended
    # points recorded offline before the end still arrive; points long after it do not
    late = walk(grid, steps=1, step_m=0, every_s=0, start=datetime.now(TZ) + timedelta(hours=1))
    assert post_points(api, patrol, late).json()["outside"] == 1
    assert api.post("/api/patrols/", {"key": "phone-patrol-0002"}, format="json").status_code == 201


@pytest.mark.parametrize("bad", [
    {"points": []}, {"points": [{"lon": 119.5, "lat": 95, "t": "2026-03-02T09:00:00+08:00", "accuracy": 5}]},
    {"points": [{"lon": 119.5, "lat": 32.3, "accuracy": 5}]}, {"points": "many"}, [1, 2],
    {"points": [{"lon": 119.5, "lat": 32.3, "t": "2026-03-02T09:00:00+08:00", "accuracy": -1}]},
])
def test_bad_batches_are_refused_with_field_messages(worker, bad):
    _, _, api = worker
    patrol = started(api)
    answer = api.post(f"/api/patrols/{patrol}/points/", bad, format="json")
    assert answer.status_code == 400
    assert not TrackPoint.objects.exists()


def test_too_many_points_in_one_batch(worker):
    grid, _, api = worker
    patrol = started(api)
    answer = post_points(api, patrol, walk(grid, steps=1001, step_m=0.5, every_s=1))
    assert answer.status_code == 400 and "points" in answer.json()


def test_tracks_are_seen_only_in_scope(worker):
    grid, person, api = worker
    patrol = started(api)
    post_points(api, patrol, walk(grid, steps=3, step_m=5.0, every_s=10))
    leader = client_of(f.team_of(grid).leader, "grid_leader")
    stranger_grid = Grid.objects.active().filter(kind="comprehensive").exclude(own_grids_q(person.pk)).first()
    stranger = client_of(f.team_of(stranger_grid).memberships.exclude(person=person).first().person)
    day = {"day": DAY.isoformat()}
    for api_, sees in ((api, True), (leader, True), (f.api_client("operator"), True),
                       (f.api_client("town_leader"), True), (stranger, False), (f.api_client("integration"), False),
                       (f.api_client("planner"), False)):
        listed = api_.get("/api/patrols/", day).json()
        assert ([p["id"] for p in listed] == [patrol]) is sees
        assert (api_.get(f"/api/patrols/{patrol}/track/").status_code == 200) is sees
        assert (api_.get("/api/patrols/day/", {**day, "person": person.external_id}).status_code == 200) is sees
    assert APIClient().get("/api/patrols/").status_code == 401
    # only a person patrols, and only their own patrol takes points
    operator = f.api_client("operator")
    assert operator.post("/api/patrols/", {"key": "phone-patrol-0009"}, format="json").status_code == 403
    assert post_points(leader, patrol, walk(grid, steps=1, step_m=0, every_s=0)).status_code == 404


@override_settings(PATROL_RETENTION_DAYS=30)
def test_old_tracks_are_deleted(worker):
    grid, person, api = worker
    old, recent = started(api, "phone-patrol-old1", T0), None
    post_points(api, old, walk(grid, steps=3, step_m=5.0, every_s=10))
    Patrol.objects.filter(pk=old).update(ended_at=T0 + timedelta(hours=1))
    recent = started(api, "phone-patrol-new1", T0 + timedelta(days=29))
    assert purge(now=T0 + timedelta(days=31)) == 4  # the old patrol and its 3 points
    assert list(Patrol.objects.values_list("pk", flat=True)) == [recent]  # running: kept
