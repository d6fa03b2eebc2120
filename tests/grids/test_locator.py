"""grids.locator: edges, vertices, outside, dedicated grids, near the edge, every accepted CRS."""
from __future__ import annotations

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from pyproj import Geod

from gis_core.coords import from_wgs84
from grids.locator import locate
from grids.models import BoundaryGeneration, Grid
from tests.conftest import A1, A2, B1, D1

pytestmark = pytest.mark.django_db


def test_interior_point_is_in_its_grid_and_village(square_town):
    loc = locate(120.005, 31.008, generation=square_town)
    assert (loc.grid.code, loc.village.code, loc.outside) == (A1, "999999100001", False)
    assert loc.dedicated == [] and not loc.near_edge


def test_point_on_shared_edge_goes_to_smaller_code(square_town):
    loc = locate(120.01, 31.007, generation=square_town)
    assert loc.grid.code == A1
    assert loc.near_edge


def test_shared_vertex_between_villages_is_deterministic(square_town):
    assert locate(120.02, 31.0, generation=square_town).grid.code == A2
    assert locate(120.02, 31.01, generation=square_town).grid.code == A2


def test_outer_vertex_and_outer_edge_are_kept(square_town):
    assert locate(120.0, 31.0, generation=square_town).grid.code == A1
    assert locate(120.03, 31.005, generation=square_town).grid.code == B1


def test_dedicated_grid_reported_alongside(square_town):
    loc = locate(120.012, 31.003, generation=square_town)
    assert loc.grid.code == A2
    assert [g.code for g in loc.dedicated] == [D1]
    assert loc.dedicated[0].purpose == "market"


def test_point_outside_returns_nearest_grid_and_metres(square_town):
    loc = locate(120.05, 31.005, generation=square_town)
    assert loc.outside and loc.grid is None and loc.village is None
    assert loc.nearest_grid.code == B1
    _, _, expected = Geod(ellps="WGS84").inv(120.03, 31.005, 120.05, 31.005)
    assert loc.distance_m == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "EPSG:4549", "GCJ02", "BD09"])
def test_every_accepted_crs_locates_the_same_point(square_town, crs):
    x, y = from_wgs84(120.015, 31.006, crs)
    if crs not in ("EPSG:4326", "EPSG:4490"):
        assert (x, y) != pytest.approx((120.015, 31.006), abs=1e-6)
    loc = locate(x, y, crs, generation=square_town)
    assert loc.grid.code == A2
    assert loc.lon == pytest.approx(120.015, abs=1e-7) and loc.lat == pytest.approx(31.006, abs=1e-7)


def test_gcj02_input_without_conversion_would_land_elsewhere(square_town):
    """GCJ-02 shifts by hundreds of metres: near an edge, the conversion decides the grid."""
    gx, gy = from_wgs84(120.0099, 31.005, "GCJ02")
    assert locate(gx, gy, "GCJ02", generation=square_town).grid.code == A1
    assert locate(gx, gy, "EPSG:4326", generation=square_town).grid.code != A1


@pytest.mark.parametrize("x,y,crs", [(float("nan"), 31.0, "EPSG:4326"), (200.0, 31.0, "EPSG:4326"),
                                     (120.0, 95.0, "EPSG:4326"), (120.0, 31.0, "EPSG:3857x")])
def test_bad_input_raises_value_error(square_town, x, y, crs):
    with pytest.raises(ValueError):
        locate(x, y, crs, generation=square_town)


def test_active_generations_used_by_default(square_town):
    assert locate(120.005, 31.005).grid.code == A1


def test_gongdao_town_seat_is_in_a_community():
    loc = locate(119.343908, 32.588310)
    assert not loc.outside
    assert loc.village.kind == "community"
    assert loc.grid.code.startswith("321003100")


def test_near_edge_is_measured_in_metres_to_the_grid_outline(square_town):
    x, y = from_wgs84(120.0, 31.005, "EPSG:4549")  # on A1's west edge, an outer edge of the town
    assert locate(x + 5.0, y, "EPSG:4549", generation=square_town).near_edge
    assert not locate(x + 15.0, y, "EPSG:4549", generation=square_town).near_edge
    assert not locate(x - 5.0, y, "EPSG:4549", generation=square_town).near_edge  # outside


def test_a_draft_is_located_as_it_is_now(square_town):
    draft = BoundaryGeneration.objects.create(town=square_town.town)
    for grid in square_town.grids.all():
        grid.pk, grid.generation = None, draft
        grid.save()
    assert locate(120.012, 31.005, generation=draft).grid.code == A2
    for code, bbox in ((A1, (120.0, 31.0, 120.015, 31.01)), (A2, (120.015, 31.0, 120.02, 31.01))):
        boundary = MultiPolygon(Polygon.from_bbox(bbox), srid=4326)
        Grid.objects.filter(generation=draft, code=code).update(boundary=boundary)
    assert locate(120.012, 31.005, generation=draft).grid.code == A1  # the redrawn draft, not a cached index
    assert locate(120.012, 31.005, generation=square_town).grid.code == A2
