"""The leaders' review API: heatmap cells in metres (EPSG:4549), hotspots, the trend by local day or
week, scoped like every read, and 400s for a bad query."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from gis_core.coords import from_wgs84, to_wgs84
from gis_core.tiles import parse_bbox
from grids.models import Grid, GridTeam
from incidents import analytics_apis
from incidents.hotspots import cells_covering, heat_cells, heat_cells_direct
from incidents.lifecycle import incident_transition
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
LOCAL = ZoneInfo("Asia/Shanghai")


_client = f.api_client


def _centre(cell: float) -> tuple[float, float]:
    """A cell centre (EPSG:4549: cells span [i * cell, (i + 1) * cell)) inside the home grid."""
    x, y = from_wgs84(*f.interior_point(f.grid()), "EPSG:4549")
    return (x // cell + 0.5) * cell, (y // cell + 0.5) * cell


def _report_at(x: float, y: float, code: str = "other", **kwargs):
    return f.report(code, at=to_wgs84(x, y, "EPSG:4549"), **kwargs)


def _cells(client: APIClient, **query) -> dict[tuple[float, float], dict]:
    response = client.get("/api/review/heatmap/", query)
    assert response.status_code == 200, response.content
    _same_as_cells(client, query, response.json())
    return {(c["properties"]["x"], c["properties"]["y"]): c for c in response.json()["features"]}


def _same_as_cells(client: APIClient, query: dict, body: dict) -> None:
    """The answer in the cells layout holds the same cells in the same order as [lon, lat, count], the
    fullest ``hotspots`` of them as the same features, in the same envelope (the same period)."""
    period = {"start": body["start"], "end": body["end"]}
    for hotspots in (0, 1, 1000):
        asked = {**query, **period, "layout": "cells", "hotspots": hotspots}
        compact = client.get("/api/review/heatmap/", asked).json()
        assert compact.pop("cells") == [[*c["geometry"]["coordinates"], c["properties"]["count"]]
                                        for c in body["features"]]
        assert compact.pop("hotspots") == body["features"][:hotspots]
        assert (compact.pop("layout"), compact.pop("fields")) == ("cells", ["lon", "lat", "count"])
        assert [datetime.fromisoformat(compact.pop(key)) for key in period] == [
            datetime.fromisoformat(value) for value in period.values()]
        assert compact == {key: value for key, value in body.items() if key not in ("type", "features", *period)}


def test_incidents_are_counted_in_the_metric_cell_that_holds_them():
    cx, cy = _centre(250)
    same = [(cx + 10, cy - 20), (cx - 100, cy + 100), (cx + 124, cy - 125)]  # in it, its south edge too
    for x, y in same:
        _report_at(x, y, "straw_burning")
    _report_at(cx + 40, cy, "other")
    _report_at(cx + 125, cy)  # on the east edge: the next cell east
    _report_at(cx, cy, "other", now=timezone.now() - timedelta(days=40))  # before the period
    cancelled = _report_at(cx, cy)
    incident_transition(incident_id=cancelled.pk, action="cancel", actor=f.operator())  # never counted

    cells = _cells(_client("operator"), cell=250)
    assert set(cells) == {(cx, cy), (cx + 250, cy)}
    centre = cells[(cx, cy)]
    assert centre["properties"]["count"] == 4
    assert centre["properties"]["categories"] == {"straw_burning": 3, "other": 1}
    assert centre["properties"]["top_category"] == "straw_burning"
    assert centre["properties"]["grid_code"] == f.grid().code
    lon, lat = centre["geometry"]["coordinates"]
    back = from_wgs84(lon, lat, "EPSG:4549")
    assert abs(back[0] - cx) < 0.2 and abs(back[1] - cy) < 0.2  # the centre, in WGS84 (6 decimals)
    assert cells[(cx + 250, cy)]["properties"]["count"] == 1
    first = list(cells.values())[0]
    assert first["properties"]["count"] == 4  # the fullest first: the hotspots

    only = _cells(_client("operator"), cell=250, min_count=2, category="straw_burning")
    assert list(only) == [(cx, cy)] and only[(cx, cy)]["properties"]["count"] == 3


def test_an_answer_with_more_cells_than_it_may_hold_keeps_the_fullest_and_says_so(monkeypatch):
    cx, cy = _centre(250)
    for dx, n in ((0, 3), (250, 1), (500, 2), (-250, 1)):  # four cells with 3, 1, 2 and 1 incidents
        for _ in range(n):
            _report_at(cx + dx, cy)
    monkeypatch.setattr(analytics_apis, "MAX_HEAT_CELLS", 2)
    response = _client("operator").get("/api/review/heatmap/", {"cell": 250})
    body = response.json()
    assert [c["properties"]["count"] for c in body["features"]] == [3, 2]
    assert (body["capped"], body["total"]) == (True, 7)  # the total counts every cell, shown or not
    body = _client("operator").get("/api/review/heatmap/", {"cell": 250, "min_count": 2}).json()
    assert ([c["properties"]["count"] for c in body["features"]], body["capped"], body["total"]) == ([3, 2], False, 7)
    body = _client("operator").get("/api/review/heatmap/", {"cell": 250, "layout": "cells", "hotspots": 1}).json()
    assert ([c[2] for c in body["cells"]], body["capped"], body["total"]) == ([3, 2], True, 7)
    assert [c["properties"]["count"] for c in body["hotspots"]] == [3]


def test_wider_cells_are_blocks_of_the_narrower_ones():
    cx, cy = _centre(1000)
    points = [(cx + 10, cy + 10), (cx + 260, cy - 240), (cx + 480, cy + 30), (cx - 260, cy + 260), (cx + 740, cy + 5)]
    for x, y in points:
        _report_at(x, y)
    client = _client("operator")
    for cell in (250, 500, 1000):
        expected = Counter(((x // cell + 0.5) * cell, (y // cell + 0.5) * cell) for x, y in points)
        found = {key: c["properties"]["count"] for key, c in _cells(client, cell=cell).items()}
        assert found == dict(expected), cell


def test_a_point_on_a_cell_edge_is_counted_once():
    cx, cy = _centre(250)
    _report_at(cx + 125, cy + 0.5)  # on the edge between two cells (to the projection's precision)
    cells = _cells(_client("operator"), cell=250)
    assert sum(c["properties"]["count"] for c in cells.values()) == 1
    assert set(cells) <= {(cx, cy), (cx + 250, cy)}


def test_a_grid_leader_sees_only_their_grid_in_the_heatmap_and_the_trend():
    comprehensive = list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    own, other = comprehensive[0], comprehensive[-1]
    f.report("other", at=f.interior_point(own))
    f.report("other", at=f.interior_point(other))
    f.report("other", at=f.interior_point(other))
    leader = _client(person=GridTeam.objects.get(grid=own).leader)
    body = leader.get("/api/review/heatmap/").json()
    assert body["total"] == 1 and {c["properties"]["grid_code"] for c in body["features"]} == {own.code}
    _same_as_cells(leader, {}, body)
    series = leader.get("/api/review/trend/").json()["series"]
    assert sum(b["reported"] for b in series) == 1
    assert sum(b["reported"] for b in _client("operator").get("/api/review/trend/").json()["series"]) == 3


def test_the_trend_counts_by_local_day_with_every_day_present():
    midnight = timezone.localtime(timezone.now(), LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    day = midnight - timedelta(days=3)
    late, early = day.replace(hour=23, minute=30), day.replace(hour=0, minute=30) + timedelta(days=1)
    f.located("other", now=late)
    f.located("straw_burning", now=early)
    f.located("straw_burning", now=early + timedelta(hours=2))
    done = f.located("other")
    f.drive(done, ["accept", "report_handled", "verify", "close"], f.operator())
    start, end = day - timedelta(days=1), day + timedelta(days=5)
    body = _client("operator").get("/api/review/trend/", {"start": start.isoformat(), "end": end.isoformat()}).json()
    series = body["series"]
    assert [datetime.fromisoformat(b["start"]) for b in series] == [start + timedelta(days=n) for n in range(6)]
    by_day = {datetime.fromisoformat(b["start"]): b for b in series}
    assert by_day[day]["reported"] == 1 and by_day[day]["categories"] == {"other": 1}
    assert by_day[day + timedelta(days=1)]["categories"] == {"straw_burning": 2}
    today = midnight
    assert by_day[today]["closed"] == 1 and by_day[today]["reported"] == 1
    assert sum(b["closed"] for b in series) == 1


def test_the_trend_by_week_starts_on_monday():
    body = _client("operator").get("/api/review/trend/", {"bucket": "week", "start": "2026-11-04T00:00:00+08:00",
                                                          "end": "2026-11-20T00:00:00+08:00"}).json()
    starts = [datetime.fromisoformat(b["start"]) for b in body["series"]]
    assert [s.date().isoformat() for s in starts] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert all(s.weekday() == 0 and s.utcoffset() == timedelta(hours=8) for s in starts)


@pytest.mark.parametrize(("path", "query", "field"), [
    ("heatmap", {"cell": "10"}, "cell"),
    ("heatmap", {"cell": "120"}, "cell"),
    ("heatmap", {"cell": "many"}, "cell"),
    ("heatmap", {"cell": "9000"}, "cell"),
    ("heatmap", {"min_count": "0"}, "min_count"),
    ("heatmap", {"category": "no_such_category"}, "category"),
    ("heatmap", {"source": "pigeon"}, "source"),
    ("heatmap", {"start": "yesterday"}, "start"),
    ("heatmap", {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "end"),
    ("heatmap", {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ("heatmap", {"bbox": "119.5,32.2,119.4"}, "bbox"),
    ("heatmap", {"bbox": "119.6,32.2,119.4,32.3"}, "bbox"),  # west > east
    ("heatmap", {"layout": "svg"}, "layout"),
    ("heatmap", {"layout": "cells", "hotspots": "-1"}, "hotspots"),
    ("heatmap", {"layout": "cells", "hotspots": "1001"}, "hotspots"),
    ("heatmap", {"layout": "cells", "hotspots": "ten"}, "hotspots"),
    ("trend", {"bucket": "month"}, "bucket"),
    ("trend", {"start": "2025-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "bucket"),
])
def test_a_bad_query_is_a_400_with_a_field_message(path, query, field):
    response = _client("operator").get(f"/api/review/{path}/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_anonymous_gets_nothing():
    assert APIClient().get("/api/review/heatmap/").status_code in (401, 403)
    assert APIClient().get("/api/review/trend/").status_code in (401, 403)


def _degrees_box(x0: float, y0: float, x1: float, y1: float) -> str:
    """The view in degrees (west,south,east,north) enclosing a rectangle given in EPSG:4549 metres."""
    corners = [to_wgs84(x, y, "EPSG:4549") for x in (x0, x1) for y in (y0, y1)]
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    return f"{min(lons)},{min(lats)},{max(lons)},{max(lats)}"


def test_a_view_gets_the_cells_that_cover_it_on_both_paths(monkeypatch):

    cx, cy = _centre(250)
    for dx in (0, 250, 500, 1000, 2000):  # five cells eastwards, the last two far from the view
        _report_at(cx + dx, cy)
    _report_at(cx - 5000, cy, now=timezone.now() - timedelta(days=3))  # whole days: read from the rollups
    view = _degrees_box(cx - 100, cy - 100, cx + 600, cy + 100)  # the first three cells
    cells = _cells(_client("operator"), cell=250, bbox=view)
    assert set(cells) == {(cx, cy), (cx + 250, cy), (cx + 500, cy)}
    # the box in degrees is enclosed, the cells at its edges included; the same on both paths, at any cell
    operator = f.operator()
    now = timezone.now()
    for cell in (50, 250, 1000):
        within = cells_covering(parse_bbox(view), cell)
        fast = heat_cells(operator, start=now - timedelta(days=30), end=now, cell_m=cell, within=within)
        slow = heat_cells_direct(operator, start=now - timedelta(days=30), end=now, cell_m=cell, within=within)
        assert fast == slow
        if cell < 1000:  # (a 1 km cell at the view's edge may reach the fourth report)
            assert sum(c.count for c in fast) == 3
    far = _degrees_box(cx - 5100, cy - 100, cx - 4900, cy + 100)  # a rollup-read cell (three days ago)
    assert set(_cells(_client("operator"), cell=250, bbox=far)) == {(cx - 5000, cy)}
    # a view outside the metric domain (the other side of the earth) holds no cell
    assert _cells(_client("operator"), cell=250, bbox="-80,10,-79,11") == {}
    # the answer is bounded: the fullest cells up to the cap, and it says so
    assert _client("operator").get("/api/review/heatmap/", {"cell": 250}).json()["capped"] is False
    monkeypatch.setattr(analytics_apis, "MAX_HEAT_CELLS", 2)
    body = _client("operator").get("/api/review/heatmap/", {"cell": 250}).json()
    assert body["capped"] is True and len(body["features"]) == 2 and body["total"] == 6


def test_cells_sum_the_counts_per_category_and_name_the_main_grid():
    """hotspots._cells, which both paths share: per cell the count per category code and the total, the
    main grid the one with most (the higher code on a tie), none for a cell of grid-less incidents only,
    a cell whose counts cancel kept with 0 (the API's min_count leaves it out), the fullest first."""
    from incidents.hotspots import _cells
    from incidents.models import Category

    low, high = Grid.objects.active().filter(kind="comprehensive").order_by("code")[:2]
    a, b = Category.objects.order_by("code")[:2]
    x, y = _centre(250)
    i, j = int(x // 250), int(y // 250)
    cells = _cells(Counter({(i + 0, j, a.pk, None): 2, (i + 0, j, b.pk, low.pk): 1, (i + 0, j, b.pk, high.pk): 1,
                            (i + 1, j, a.pk, None): 3, (i + 2, j, a.pk, low.pk): 1, (i + 2, j, a.pk, high.pk): -1,
                            (i + 3, j, a.pk, low.pk): 0}), 250)
    assert [(c.x, c.y, c.count, c.categories, c.grid_code, c.grid_name) for c in cells] == [
        ((i + 0.5) * 250, (j + 0.5) * 250, 4, {a.code: 2, b.code: 2}, high.code, high.name),
        ((i + 1.5) * 250, (j + 0.5) * 250, 3, {a.code: 3}, None, None),
        ((i + 2.5) * 250, (j + 0.5) * 250, 0, {}, low.code, low.name)]
    lon, lat = to_wgs84((i + 0.5) * 250, (j + 0.5) * 250, "EPSG:4549")
    assert (cells[0].lon, cells[0].lat) == pytest.approx((lon, lat))
    assert _cells(Counter({(i, j, a.pk, None): 0}), 250) == []
