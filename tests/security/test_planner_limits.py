"""A grid boundary has at most GRID_BOUNDARY_MAX_VERTICES vertices, checked before any geometry work
(planner edits over the API, the service, boundary imports); empty, invalid, self-intersecting,
malformed or out-of-range boundaries are a 400 with a field message, and nothing changes."""
from __future__ import annotations

import math

import geopandas as gpd
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.core.management import CommandError, call_command

from gis_core.geometry import InvalidGeometry, geojson_polygon_vertices, to_metric
from grids.models import BoundaryGeneration, Grid
from planner import apis as planner_apis
from planner.services import grid_redraw
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def _ring(n: int, lon: float = 119.35, lat: float = 32.62, r: float = 0.002) -> list[list[float]]:
    """A closed ring of ``n`` positions (n - 1 distinct vertices round a circle, then the first again)."""
    points = [[lon + r * math.cos(2 * math.pi * k / (n - 1)), lat + r * math.sin(2 * math.pi * k / (n - 1))]
              for k in range(n - 1)]
    return points + [points[0]]


@pytest.fixture
def draft():
    planner = f.api_client("planner")
    draft = planner.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    grid = Grid.objects.filter(generation_id=draft, kind="comprehensive").order_by("code").first()
    return planner, draft, grid


def _put(draft, geometry, crs: str | None = None):
    planner, generation, grid = draft
    body = {"geometry": geometry} | ({"crs": crs} if crs else {})
    return planner.put(f"/api/generations/{generation}/grids/{grid.code}/boundary/", body, format="json")


def test_counting_stops_at_the_limit():
    assert geojson_polygon_vertices({"type": "Polygon", "coordinates": [_ring(10)]}, 10) == 10
    assert geojson_polygon_vertices({"type": "MultiPolygon", "coordinates": [[_ring(5)], [_ring(5)]]}, 10) == 10
    with pytest.raises(InvalidGeometry, match="more than 10 vertices"):
        geojson_polygon_vertices({"type": "MultiPolygon", "coordinates": [[_ring(5)], [_ring(6)]]}, 10)
    for bad in ({"type": "Polygon", "coordinates": "x"}, {"type": "Polygon", "coordinates": [1, 2]},
                {"type": "Polygon", "coordinates": [[1, 2]]}, {"type": "Point", "coordinates": [1, 2]}, []):
        with pytest.raises(InvalidGeometry):
            geojson_polygon_vertices(bad, 10)


def test_a_boundary_over_the_limit_is_refused_before_any_geometry_is_built(draft, settings, monkeypatch):
    settings.GRID_BOUNDARY_MAX_VERTICES = 100
    grid = draft[2]
    before = grid.boundary.wkb
    built = []
    monkeypatch.setattr(planner_apis, "GEOSGeometry", lambda *a, **k: built.append(1) or GEOSGeometry(*a, **k))
    answer = _put(draft, {"type": "Polygon", "coordinates": [_ring(101)]})
    assert answer.status_code == 400
    assert answer.json()["geometry"] == ["more than 100 vertices: a grid boundary has at most 100"]
    assert built == []
    grid.refresh_from_db()
    assert grid.boundary.wkb == before
    # at the limit it is accepted
    assert _put(draft, {"type": "Polygon", "coordinates": [_ring(100)]}).status_code == 200
    assert built == [1]
    grid.refresh_from_db()
    assert grid.boundary.num_points == 100


def test_the_default_limit_refuses_a_huge_boundary(draft, settings):
    assert settings.GRID_BOUNDARY_MAX_VERTICES == 10_000
    polygons = [[_ring(6_000, lon=119.35 + k * 0.01)] for k in range(2)]
    answer = _put(draft, {"type": "MultiPolygon", "coordinates": polygons})
    assert answer.status_code == 400 and "at most 10000" in answer.json()["geometry"][0]
    # the demo data's boundaries are far below it
    assert max(g.boundary.num_points for g in Grid.objects.active()) < 1_000


def test_the_service_checks_the_limit_too(draft, settings):
    settings.GRID_BOUNDARY_MAX_VERTICES = 50
    with pytest.raises(InvalidGeometry, match="at most 50"):
        grid_redraw(grid=draft[2], boundary=GEOSGeometry(shapely.to_wkt(shapely.Polygon(_ring(60))), srid=4326))


@pytest.mark.parametrize("geometry,crs,message", [
    ({"type": "Polygon", "coordinates": []}, None, "empty"),
    ({"type": "MultiPolygon", "coordinates": []}, None, "empty"),
    ({"type": "MultiPolygon", "coordinates": [[]]}, None, "non-empty list of rings"),
    ({"type": "Polygon", "coordinates": [[[119.3, 32.6], [119.31, 32.6], [119.3, 32.6]]]}, None, "at least 4"),
    ({"type": "Polygon", "coordinates": [[[119.30, 32.60], [119.31, 32.61], [119.31, 32.60], [119.30, 32.61],
                                          [119.30, 32.60]]]}, None, "Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[119.3, 32.6], [119.31, 32.6], [119.3, 32.61], [119.3, 32.7]]]},
     None, "closed"),
    ({"type": "Polygon", "coordinates": [[119.3, 32.6]]}, None, "a ring is a list"),
    ({"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4], ["a", "b"]]]}, None, "finite numbers"),
    ({"type": "Polygon", "coordinates": [[[1, 2], [True, 2], [3, 4], [1, 2]]]}, None, "finite numbers"),
    ({"type": "Polygon", "coordinates": [_ring(20, lon=500.0)]}, None, "outside longitude"),
    ({"type": "Polygon", "coordinates": [_ring(20, lon=1e9, lat=1e9, r=10.0)]}, "EPSG:4549", "outside longitude"),
])
def test_empty_malformed_invalid_or_misplaced_boundaries_are_a_400(draft, geometry, crs, message):
    grid = draft[2]
    before = grid.boundary.wkb
    answer = _put(draft, geometry, crs)
    assert answer.status_code == 400, answer.content
    assert message in " ".join(answer.json()["geometry"]), answer.json()
    grid.refresh_from_db()
    assert grid.boundary.wkb == before


def test_the_importer_refuses_a_boundary_over_the_limit(square_town, tmp_path, settings):
    settings.GRID_BOUNDARY_MAX_VERTICES = 40
    grids = list(Grid.objects.filter(generation=square_town).order_by("code"))
    shapes = [shapely.from_wkb(bytes(g.boundary.wkb)) for g in grids]
    shapes[0] = shapely.segmentize(shapes[0], 0.001)  # the same square, with more vertices
    assert shapely.get_num_coordinates(shapes[0]) > 40
    frame = gpd.GeoDataFrame({"code": [g.code for g in grids], "name": [g.name for g in grids],
                              "kind": [g.kind for g in grids], "purpose": [g.purpose or None for g in grids]},
                             geometry=[to_metric(s) for s in shapes], crs="EPSG:4549")
    path = tmp_path / "dense.gpkg"
    frame.to_file(path, driver="GPKG")
    before = (BoundaryGeneration.objects.count(), Grid.objects.count())
    with pytest.raises(CommandError, match="more than 40 vertices"):
        call_command("import_boundaries", str(path), "--town", "999999100", "--commit", verbosity=0)
    assert (BoundaryGeneration.objects.count(), Grid.objects.count()) == before
    settings.GRID_BOUNDARY_MAX_VERTICES = 10_000
    call_command("import_boundaries", str(path), "--town", "999999100", "--commit", verbosity=0)
    assert BoundaryGeneration.objects.count() == before[0] + 1
