"""Camera coverage per grid, on the literal square town (tests/conftest.py): the area of each grid
inside the counted cameras' view sectors, in m² of EPSG:4549, overlaps counted once; a sector that only
touches a grid's edge does not count for it; offline cameras count only when asked."""
from __future__ import annotations

import pytest
import shapely
from django.contrib.gis.geos import Point

from cameras.models import Camera
from cameras.selectors import coverage_by_grid
from gis_core.geometry import to_metric
from grids.models import Grid
from tests.conftest import A1, A2, B1, D1

pytestmark = pytest.mark.django_db


def camera(code: str, lon: float, lat: float, bearing: float, fov: float = 90, range_m: float = 200,
           status: str = "online") -> Camera:
    cam = Camera(code=code, name=code, location=Point(lon, lat, srid=4326), bearing_deg=bearing, fov_deg=fov,
                 range_m=range_m, status=status)
    cam.save()
    return cam


def metric(geom) -> shapely.Geometry:
    return to_metric(shapely.from_wkb(bytes(geom.wkb)))


def coverage(generation, **kw) -> dict[str, object]:
    return {c.grid.code: c for c in coverage_by_grid(Grid.objects.filter(generation=generation).order_by("code"), **kw)}


def test_a_sector_inside_one_grid_counts_whole_there_and_nowhere_else(square_town):
    cam = camera("CAM001", 120.005, 31.005, bearing=0)  # the middle of A1, looking north, 200 m
    cov = coverage(square_town)
    sector_m2 = metric(cam.sector).area
    assert cov[A1].covered_m2 == pytest.approx(sector_m2, rel=1e-6)
    assert cov[A1].cameras == ["CAM001"]
    assert cov[A1].area_m2 == pytest.approx(metric(Grid.objects.get(code=A1).boundary).area, rel=1e-9)
    assert cov[A1].share == pytest.approx(sector_m2 / cov[A1].area_m2)
    assert cov[A2].covered_m2 == cov[B1].covered_m2 == 0 and cov[A2].cameras == cov[B1].cameras == []


def test_a_sector_across_an_edge_is_split_and_one_touching_it_is_not_counted(square_town):
    across = camera("CAM001", 120.01, 31.005, bearing=0)  # on the A1|A2 edge, looking along it
    camera("CAM002", 120.01, 31.008, bearing=90, fov=180)  # on the edge, looking east: all in A2
    cov = coverage(square_town)
    a1_edge = metric(Grid.objects.get(code=A1).boundary)
    assert cov[A1].cameras == ["CAM001"]  # CAM002's half-disc only touches A1 along the edge
    assert cov[A2].cameras == ["CAM001", "CAM002"]
    half = metric(across.sector).intersection(a1_edge).area
    assert cov[A1].covered_m2 == pytest.approx(half, rel=1e-6)
    assert 0.45 < half / metric(across.sector).area < 0.55


def test_a_camera_on_a_shared_vertex_sees_into_both_grids(square_town):
    cam = camera("CAM001", 120.01, 31.00, bearing=0)  # the corner shared by A1 and A2, looking north
    cov = coverage(square_town)
    assert cov[A1].cameras == cov[A2].cameras == ["CAM001"]
    assert cov[A1].covered_m2 + cov[A2].covered_m2 == pytest.approx(metric(cam.sector).area, rel=1e-6)


def test_overlapping_sectors_are_counted_once(square_town):
    one = camera("CAM001", 120.025, 31.005, bearing=0)
    camera("CAM002", 120.025, 31.005, bearing=0, range_m=100)  # wholly inside the first
    camera("CAM003", 120.025, 31.005, bearing=45)  # half over the first
    cov = coverage(square_town)
    union = shapely.union_all([metric(c.sector) for c in Camera.objects.filter(code__startswith="CAM")])
    assert cov[B1].cameras == ["CAM001", "CAM002", "CAM003"]
    assert cov[B1].covered_m2 == pytest.approx(union.area, rel=1e-6)
    assert cov[B1].covered_m2 < 1.6 * metric(one.sector).area


def test_offline_cameras_count_only_when_asked_and_a_camera_outside_counts_where_it_sees(square_town):
    camera("CAM001", 120.005, 31.003, bearing=0, status="offline")  # in A1 and in the dedicated grid D1
    camera("CAM002", 120.00, 30.9995, bearing=45, range_m=300)  # outside the town, looking into A1
    online = coverage(square_town)
    assert online[A1].cameras == ["CAM002"] and online[D1].cameras == []
    every = coverage(square_town, statuses=("online", "offline"))
    assert every[A1].cameras == ["CAM001", "CAM002"] and every[D1].cameras == ["CAM001"]
    assert every[A1].covered_m2 > online[A1].covered_m2 > 0


def test_the_coverage_api(square_town, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("coverage_reader"))
    camera("CAM001", 120.005, 31.005, bearing=0)
    camera("CAM002", 120.025, 31.005, bearing=0, status="offline")
    fc = client.get("/api/cameras/coverage/", {"generation": square_town.pk}).json()
    assert fc["type"] == "FeatureCollection"
    props = {f["properties"]["code"]: f["properties"] for f in fc["features"]}
    assert list(props) == sorted([A1, A2, B1, D1])  # by code
    assert props[A1]["cameras"] == ["CAM001"] and props[B1]["cameras"] == []
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    comprehensive = [p for p in props.values() if p["kind"] == "comprehensive"]
    assert fc["totals"]["grids"] == 3
    assert fc["totals"]["area_m2"] == pytest.approx(sum(p["area_m2"] for p in comprehensive), abs=2)
    assert fc["totals"]["covered_m2"] == props[A1]["covered_m2"]

    every = client.get("/api/cameras/coverage/",
                       {"generation": square_town.pk, "status": "all", "kind": "comprehensive"})
    assert {f["properties"]["code"] for f in every.json()["features"]} == {A1, A2, B1}
    assert every.json()["totals"]["covered_m2"] > fc["totals"]["covered_m2"]
    village = client.get("/api/cameras/coverage/", {"generation": square_town.pk, "village": "999999100002"}).json()
    assert [f["properties"]["code"] for f in village["features"]] == [B1]

    bad = client.get("/api/cameras/coverage/", {"status": "broken", "kind": "x", "generation": "0"})
    assert bad.status_code == 400 and {"status", "kind", "generation"} <= set(bad.json())
