"""grids.locator answers as the PostGIS reference (tests/grids/postgis_locator.py) does, on the Gongdao
partition: the grid, the dedicated grids, the nearest grid; distances and the near-edge flag, measured
planar in METRIC_SRID by the one and geodesic by the other, to their tolerance."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import Point

from gis_core.locator import NEAR_EDGE_M
from gis_core.srid import STORAGE_SRID
from grids import locator
from grids.models import BoundaryGeneration, Grid
from tests.grids import postgis_locator
from tests.grids.postgis_locator import locate_many_in_db

pytestmark = pytest.mark.django_db


def _sample_points(rng: np.random.Generator, grids: list[Grid], n_random: int, n_vertex: int, n_edge: int):
    """Return lon/lat arrays: random points around the town, grid vertices, points on grid edges."""
    geoms = [shapely.from_wkb(bytes(g.boundary.wkb)) for g in grids]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    pad = 0.01
    rx = rng.uniform(x0 - pad, x1 + pad, n_random)
    ry = rng.uniform(y0 - pad, y1 + pad, n_random)
    coords = np.vstack([shapely.get_coordinates(shapely.boundary(g)) for g in geoms])
    pick = rng.integers(0, len(coords), n_vertex)
    vx, vy = coords[pick, 0], coords[pick, 1]
    starts = rng.integers(0, len(coords) - 1, n_edge)
    t = rng.random(n_edge)
    a, b = coords[starts], coords[starts + 1]
    ex, ey = a[:, 0] + t * (b[:, 0] - a[:, 0]), a[:, 1] + t * (b[:, 1] - a[:, 1])
    return np.concatenate([rx, vx, ex]), np.concatenate([ry, vy, ey])


@pytest.mark.slow
def test_in_process_locator_agrees_with_postgis_on_10000_points():
    generation = BoundaryGeneration.objects.get(town__code="321003100", status="active")
    grids = list(Grid.objects.filter(generation=generation))
    lons, lats = _sample_points(np.random.default_rng(20261128), grids, 6000, 2000, 2000)

    db = locate_many_in_db(lons, lats, [generation.pk])
    fast = locator.locate_many(lons, lats, generation=generation).found

    mismatch = np.flatnonzero(db.grid_id != fast.grid_id)
    assert mismatch.size == 0, [(lons[i], lats[i], db.grid_id[i], fast.grid_id[i]) for i in mismatch[:5]]
    assert [fast.dedicated_for(i) for i in range(len(lons))] == db.dedicated
    outside = db.grid_id < 0
    assert outside.sum() > 1000 and (~outside).sum() > 6000
    assert np.array_equal(db.nearest_grid_id[outside], fast.nearest_grid_id[outside])
    np.testing.assert_allclose(fast.nearest_distance_m[outside], db.distance_m[outside], rtol=5e-3, atol=1.0)
    clear = np.abs(db.edge_m - NEAR_EDGE_M) > 0.01  # geodesic and planar metres differ by well under 1 cm here
    assert np.array_equal(fast.near_edge[clear], (db.edge_m < NEAR_EDGE_M)[clear])
    assert fast.near_edge.sum() > 3000 and clear.sum() > 9990


def test_one_point_agrees_with_the_reference_one_point_and_bulk_sql():
    generation = BoundaryGeneration.objects.get(town__code="321003100", status="active")
    grids = list(Grid.objects.filter(generation=generation))
    lons, lats = _sample_points(np.random.default_rng(7), grids, 100, 50, 50)
    db = locate_many_in_db(lons, lats, [generation.pk])
    near_edge = 0
    for i in range(len(lons)):
        loc = locator.locate(lons[i], lats[i], generation=generation)
        ref = postgis_locator.locate(lons[i], lats[i], generation=generation)
        assert (loc.grid.pk if loc.grid else -1) == (ref.grid.pk if ref.grid else -1) == db.grid_id[i]
        assert [g.pk for g in loc.dedicated] == [g.pk for g in ref.dedicated] == list(db.dedicated[i])
        assert loc.village == ref.village and loc.outside == ref.outside
        if loc.outside:
            assert loc.nearest_grid.pk == ref.nearest_grid.pk == db.nearest_grid_id[i]
            assert loc.distance_m == pytest.approx(ref.distance_m, rel=5e-3, abs=1.0)
        else:
            edge_m = ref_edge_m(ref, lons[i], lats[i])
            if abs(edge_m - NEAR_EDGE_M) > 0.01:  # geodesic and planar metres differ by well under 1 cm here
                assert loc.near_edge == ref.near_edge
            near_edge += loc.near_edge
    assert near_edge > 50  # the vertices and edge points


def ref_edge_m(ref, lon: float, lat: float) -> float:
    """Return the reference's geodesic metres from the point to its grid's outline (0 on a shared edge)."""
    point = Point(lon, lat, srid=STORAGE_SRID)
    return Grid.objects.filter(pk=ref.grid.pk).annotate(d=postgis_locator.edge_distance(point)).get().d


def test_index_is_rebuilt_after_activation(square_town):
    from django.utils import timezone

    from grids.services import generation_activate

    before = locator.locate(120.005, 31.005)
    assert before.grid.code == "999999100001001"
    draft = BoundaryGeneration.objects.create(town=square_town.town)
    for grid in square_town.grids.all():
        grid.pk = None
        grid.generation = draft
        grid.code = grid.code[:-3] + str(int(grid.code[-3:]) + 10).zfill(3)
        grid.save()
    generation_activate(generation=draft)
    assert locator.locate(120.005, 31.005).grid.code == "999999100001011"
    square_town.refresh_from_db()
    assert square_town.status == "retired" and square_town.retired_at <= timezone.now()
