"""Any coordinate on earth is a located incident, the out-of-town triage queue, or a 400 naming the field;
never a 500 (issue 11). Through the real API: batch, single POST, Open311, relocate and /api/locate."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from rest_framework.test import APIClient

from gis_core.coords import EPSG_3857, EPSG_4549, from_wgs84, in_metric_domain, to_metric, to_wgs84
from incidents.models import Incident
from tests.auth import token_for
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

# The points that raised a pyproj error (500, and a whole batch rolled back) before: the Gauss-Kruger
# projection of CM 120E is undefined 90 degrees away from it on the equator.
KNOWN_BAD = [(30.0, 0.0), (-155.0, 0.0), (-157.5, 0.0), (-160.0, 0.0), (-150.0, 0.0), (30.0, 1e-9)]
SPECIAL = [(0.0, 0.0), (180.0, 0.0), (-180.0, 0.0), (180.0, 90.0), (-180.0, -90.0), (0.0, 90.0), (0.0, -90.0),
           (179.999999, 0.0), (-179.999999, 0.0), (180.0, 45.0), (-180.0, -45.0), (120.0, 0.0), (-60.0, 0.0),
           (119.343908, 32.588310), (120.0, 90.0), (-60.0, -90.0)]
INVALID = [  # (lon, lat, the field the 400 names)
    (181.0, 0.0, "lon"), (-180.0000001, 0.0, "lon"), (0.0, 91.0, "lat"), (0.0, -90.5, "lat"), (1e308, 0.0, "lon"),
    (0.0, -1e308, "lat"), ("NaN", 0.0, "lon"), (0.0, "Infinity", "lat"), ("-inf", 0.0, "lon"), ("abc", 0.0, "lon"),
    (0.0, "12,5", "lat"), (True, 0.0, "lon"), (0.0, False, "lat"), ([1], 0.0, "lon"), (0.0, {"a": 1}, "lat"),
    (10**400, 0.0, "lon"),
]


def _client(*groups: str) -> APIClient:
    user = f.user(*groups)
    if "integration" in groups:
        from incidents.models import SourceGrant

        SourceGrant.objects.create(client=user, source="hotline_12345")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def _row(x, y, crs: str | None = None) -> dict:
    row = {"source": "hotline_12345", "category": "other", "title": "坐标测试", "lon": x, "lat": y}
    return row | ({"crs": crs} if crs else {})


def _earth_grid() -> list[tuple[float, float]]:
    """Every 7.5 degrees of longitude and 5 of latitude, both poles, both sides of the antimeridian."""
    lons = np.arange(-180.0, 180.0 + 1e-9, 7.5).tolist()
    lats = np.arange(-90.0, 90.0 + 1e-9, 5.0).tolist()
    return [*itertools.product(lons, lats), *KNOWN_BAD, *SPECIAL]


def _projected_rows() -> list[tuple[dict, bool]]:
    """EPSG:4549 and EPSG:3857 rows over and far beyond their areas of use: (row, inside the area)."""
    out = []
    for easting, northing in itertools.product([-1e9, -2e7, 0.0, 3e5, 5e5, 7e5, 2e7, 1e9],
                                               [-1e8, -1e7, 0.0, 2.7e6, 3.6e6, 5.9e6, 1e7, 1e9]):
        inside = 118.5 <= to_wgs84_or_nan(easting, northing, EPSG_4549)[0] <= 121.5
        out.append((_row(easting, northing, EPSG_4549), inside))
    for easting, northing in itertools.product([-2.1e7, -2.0037e7, 0.0, 1.33e7, 2.0037e7, 2.1e7],
                                               [-2.1e7, -1.99e7, 0.0, 3.8e6, 1.99e7, 2.1e7]):
        inside = abs(easting) <= 20037508.34 and abs(northing) <= 20048966.1  # 85.06 degrees
        out.append((_row(easting, northing, EPSG_3857), inside))
    return out


def to_wgs84_or_nan(x: float, y: float, crs: str) -> tuple[float, float]:
    try:
        return to_wgs84(x, y, crs)
    except ValueError:
        return math.nan, math.nan


def test_a_batch_over_the_whole_earth_is_stored_or_refused_row_by_row_never_a_500():
    client = _client("integration")
    points = _earth_grid()
    projected = _projected_rows()
    rows = ([_row(lon, lat) for lon, lat in points] + [_row(lon, lat, crs) for lon, lat in points[::17]
                                                         for crs in ("GCJ02", "BD09", "EPSG:4490")]
            + [row for row, _ in projected] + [_row(x, y) for x, y, _ in INVALID])
    response = client.post("/api/incidents/batch/", rows, format="json")
    assert response.status_code == 200, response.content[:500]
    results = response.json()["results"]
    assert len(results) == len(rows)
    assert {r["status"] for r in results} <= {"created", "invalid"}
    n = len(points)
    assert all(r["status"] == "created" for r in results[:n]), [
        (points[k], r) for k, r in enumerate(results[:n]) if r["status"] != "created"][:3]
    start = n + len(points[::17]) * 3
    for (row, inside), result in zip(projected, results[start:start + len(projected)], strict=True):
        assert result["status"] == ("created" if inside else "invalid"), (row, result)
        if not inside:
            assert set(result["errors"]) == {"lon", "lat"}
            assert "area of use" in result["errors"]["lon"][0]
    for (_, _, field), result in zip(INVALID, results[-len(INVALID):], strict=True):
        assert result["status"] == "invalid" and field in result["errors"], result
    created = Incident.objects.filter(pk__in=[r["id"] for r in results if r["status"] == "created"])
    far = created.exclude(triage="").filter(triage="outside_town")
    assert far.count() == created.exclude(grid__isnull=False).count()  # all the others: in no grid, outside
    for lon, lat in KNOWN_BAD:  # far from any town: triage, no nearest grid, no duplicate check
        k = points.index((lon, lat))
        incident = created.get(pk=results[k]["id"])
        assert (incident.triage, incident.nearest_grid_id, incident.distance_m) == ("outside_town", None, None)
        assert incident.possible_duplicate_of_id is None


@pytest.mark.parametrize(("lon", "lat"), KNOWN_BAD + [(0.0, 90.0), (-180.0, -90.0), (180.0, 0.0)])
def test_single_post_far_away_goes_to_the_triage_queue(lon, lat):
    client = _client("integration")
    first = client.post("/api/incidents/", _row(lon, lat), format="json")
    again = client.post("/api/incidents/", _row(lon, lat), format="json")  # a possible-duplicate check ran before
    for response in (first, again):
        assert response.status_code == 201, response.content
        assert response.json()["properties"]["triage"] == "outside_town"


@pytest.mark.parametrize(("x", "y", "field"), INVALID)
def test_single_post_bad_value_is_a_400_naming_the_field(x, y, field):
    before = Incident.objects.count()
    response = _client("integration").post("/api/incidents/", _row(x, y), format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Incident.objects.count() == before


@pytest.mark.parametrize(("x", "y", "crs"), [
    (1e9, 3.6e6, EPSG_4549), (5e5, -1e8, EPSG_4549), (-2e7, 0.0, EPSG_4549), (0.0, 3.6e6, EPSG_4549),
    (2.1e7, 0.0, EPSG_3857), (0.0, 2.006e7, EPSG_3857)])
def test_projected_input_outside_its_area_of_use_is_a_400(x, y, crs):
    response = _client("integration").post("/api/incidents/", _row(x, y, crs), format="json")
    assert response.status_code == 400 and {"lon", "lat"} <= set(response.json()), response.content
    assert "area of use" in response.json()["lon"][0]


@pytest.mark.parametrize("crs", [EPSG_4549, EPSG_3857])
def test_projected_input_inside_its_area_of_use_is_located(crs):
    lon, lat = f.interior_point(f.grid())
    x, y = from_wgs84(lon, lat, crs)
    response = _client("integration").post("/api/incidents/", _row(x, y, crs), format="json")
    assert response.status_code == 201 and response.json()["properties"]["grid_code"] == f.grid().code


@pytest.mark.parametrize(("lat", "long", "ok"), [(0.0, 30.0, True), (0.0, -155.0, True), (90.0, 180.0, True),
                                                 (91.0, 0.0, False), (0.0, 181.0, False), ("NaN", 0.0, False),
                                                 (0.0, "Infinity", False), (True, 0.0, False), ("1e308", 0.0, False)])
def test_open311_post_anywhere(lat, long, ok):
    user = f.user("integration")
    from incidents.models import SourceGrant

    SourceGrant.objects.create(client=user, source="citizen")
    body = {"service_code": "other", "lat": lat, "long": long, "description": "far away"}
    response = APIClient().post(f"/open311/v2/requests.json?api_key={token_for(user)}", body, format="json")
    if ok:
        assert response.status_code == 201, response.content
        assert Incident.objects.get(pk=response.json()[0]["service_request_id"]).triage == "outside_town"
    else:
        assert response.status_code == 400, response.content
        field = "lat" if lat != 0.0 else "long"
        assert any(e["description"].startswith(f"{field}:") for e in response.json()), response.content


@pytest.mark.parametrize(("lon", "lat", "crs", "status"), [
    (30.0, 0.0, None, 200), (-155.0, 0.0, None, 200), (180.0, 90.0, None, 200), (181.0, 0.0, None, 400),
    (0.0, 91.0, None, 400), ("nan", 0.0, None, 400), ("inf", 0.0, None, 400), ("1e308", 0.0, None, 400),
    ("abc", 0.0, None, 400), (1e9, 3.6e6, EPSG_4549, 400), (5e5, -1e8, EPSG_4549, 400), (2.1e7, 0, EPSG_3857, 400),
    ("true", 0.0, None, 400)])
def test_locate_api_anywhere(lon, lat, crs, status):
    client = _client("operator")
    query = {"lon": lon, "lat": lat} | ({"crs": crs} if crs else {})
    response = client.get("/api/locate", query)
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["outside"] is True and response.json()["nearest_grid"] is None
    else:
        assert {"lon", "lat"} & set(response.json())


@pytest.mark.parametrize(("lon", "lat", "status"), [(30.0, 0.0, 200), (-155.0, 0.0, 200), (0.0, -90.0, 200),
                                                    (181.0, 0.0, 400), (0.0, 91.0, 400), (True, 0.0, 400),
                                                    ("NaN", 0.0, 400), (1e308, 0.0, 400)])
def test_relocate_anywhere(lon, lat, status):
    incident = f.report("other", address="火星基地第九区")  # in triage: unresolved address
    client = _client("operator")
    response = client.post(f"/api/incidents/{incident.pk}/relocate/", {"lon": lon, "lat": lat}, format="json")
    assert response.status_code == status, response.content
    incident.refresh_from_db()
    if status == 200:
        assert (incident.triage, incident.nearest_grid_id) == ("outside_town", None)
    else:
        assert incident.location is None


def test_metric_projection_never_raises_and_marks_what_it_cannot_take():
    lons, lats = np.array([30.0, -155.0, 120.0, 0.0, np.nan, 200.0]), np.array([0.0, 0.0, 32.0, 0.0, 0.0, 0.0])
    x, y = to_metric(lons, lats)
    assert np.isnan(x[0]) and np.isnan(x[1]) and np.isfinite(x[2]) and np.isnan(x[4]) and np.isnan(x[5])
    assert in_metric_domain(lons, lats).tolist() == [False, False, True, False, False, False]


def test_the_heatmap_counts_only_points_where_metres_mean_something():
    client = _client("integration")
    rows = [_row(lon, lat) for lon, lat in KNOWN_BAD + [(-60.0, 0.0), (116.4, 39.9), (119.343908, 32.588310)]]
    assert {r["status"] for r in client.post("/api/incidents/batch/", rows, format="json").json()["results"]} == {
        "created"}
    response = _client("town_leader").get("/api/review/heatmap/")
    assert response.status_code == 200, response.content  # before: a 500 from ST_Transform (lon 30, lat 0)
    body = response.json()
    cells = body["features"] if "features" in body else body["cells"]
    lons = [(c["geometry"]["coordinates"][0] if "geometry" in c else c["lon"]) for c in cells]
    assert all(np.isfinite(lons)) and all(60.0 < lon < 140.0 for lon in lons)
    assert any(abs(lon - 116.4) < 0.1 for lon in lons) and any(abs(lon - 119.34) < 0.1 for lon in lons)
