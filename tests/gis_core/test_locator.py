"""Tests for gis_core.locator.PolygonIndex (EPSG:4326 inputs, metres for distances)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from gis_core.geometry import InvalidGeometry, from_metric, to_metric
from gis_core.locator import (
    COMPREHENSIVE,
    DEDICATED,
    NEAR_EDGE_M,
    LocateArrays,
    Location,
    LocatorFeature,
    PolygonIndex,
)

# Four 0.01-degree squares near Gongdao meeting at (X1, Y1), plus one dedicated.
X0, X1, X2 = 119.30, 119.31, 119.32
Y0, Y1, Y2 = 32.50, 32.51, 32.52
CODE_SW, CODE_SE = "321003100001002", "321003100001001"
CODE_NW, CODE_NE = "321003100001004", "321003100001003"


def _squares() -> list[LocatorFeature]:
    """Return the 2x2 comprehensive squares and one dedicated square over the shared edge."""
    return [
        LocatorFeature(1, CODE_SW, COMPREHENSIVE, 10, box(X0, Y0, X1, Y1)),
        LocatorFeature(2, CODE_SE, COMPREHENSIVE, 11, box(X1, Y0, X2, Y1)),
        LocatorFeature(3, CODE_NW, COMPREHENSIVE, 10, box(X0, Y1, X1, Y2)),
        LocatorFeature(4, CODE_NE, COMPREHENSIVE, 12, box(X1, Y1, X2, Y2)),
        LocatorFeature(9, "321003100009001", DEDICATED, 10, box(119.305, 32.5025, 119.315, 32.5075)),
    ]


def one(index: PolygonIndex, lon: float, lat: float) -> Location:
    """Return the answer for one point, through the same entry as many points."""
    return index.locate(lon, lat).at(0)


@pytest.fixture(scope="module")
def squares() -> PolygonIndex:
    """Return an index over the literal squares."""
    return PolygonIndex(_squares())


def test_interior_point(squares: PolygonIndex) -> None:
    loc = one(squares, 119.302, 32.501)
    assert (loc.grid_id, loc.village_id) == (1, 10)
    assert not loc.outside and loc.dedicated == ()
    assert (loc.nearest_grid_id, loc.distance_m) == (1, 0.0)


def test_shared_edge_picks_smallest_code(squares: PolygonIndex) -> None:
    loc = one(squares, X1, 32.5012)
    assert loc.grid_id == 2  # CODE_SE < CODE_SW


def test_shared_vertex_picks_smallest_code(squares: PolygonIndex) -> None:
    assert one(squares, X1, Y1).grid_id == 2  # CODE_SE
    # Vertex shared by SW and NW only (west edge): SW has the smaller code.
    assert one(squares, X0, Y1).grid_id == 1  # CODE_SW


def test_outer_vertex_and_edge_are_covered(squares: PolygonIndex) -> None:
    assert one(squares, X0, Y0).grid_id == 1
    assert one(squares, X2, Y2).grid_id == 4
    assert one(squares, 119.315, Y2).grid_id == 4


def test_dedicated_reported_alongside(squares: PolygonIndex) -> None:
    loc = one(squares, 119.306, 32.505)
    assert loc.grid_id == 1
    assert loc.dedicated == (9,)
    on_edge = one(squares, 119.305, 32.5025)  # dedicated corner: covered
    assert on_edge.dedicated == (9,)


def test_outside_point_reports_nearest_and_metres(squares: PolygonIndex) -> None:
    loc = one(squares, 119.33, 32.505)
    assert loc.outside and loc.grid_id is None and loc.village_id is None
    assert loc.nearest_grid_id == 2
    _, _, geodesic = Geod(ellps="WGS84").inv(119.33, 32.505, X2, 32.505)
    assert loc.distance_m == pytest.approx(geodesic, abs=1.0)
    assert 930.0 < loc.distance_m < 945.0


def test_locate_many_literal(squares: PolygonIndex) -> None:
    lons = np.array([119.302, X1, X1, 119.306, 119.33])
    lats = np.array([32.501, 32.505, Y1, 32.505, 32.505])
    res = squares.locate(lons, lats)
    assert isinstance(res, LocateArrays) and len(res) == 5
    assert res.grid_id.tolist() == [1, 2, 2, 1, -1]
    assert res.village_id.tolist() == [10, 11, 11, 10, -1]
    assert res.outside.tolist() == [False, False, False, False, True]
    assert res.nearest_grid_id.tolist() == [1, 2, 2, 1, 2]
    assert res.nearest_distance_m[:4].tolist() == [0.0] * 4
    assert res.dedicated_for(1) == (9,) and res.dedicated_for(3) == (9,)
    assert res.dedicated_for(0) == res.dedicated_for(2) == res.dedicated_for(4) == ()


def test_locate_many_empty_input(squares: PolygonIndex) -> None:
    res = squares.locate(np.array([]), np.array([]))
    assert len(res) == 0 and res.dedicated_offsets.tolist() == [0]


def test_rejects_bad_input(squares: PolygonIndex) -> None:
    with pytest.raises(ValueError):
        squares.locate(math.nan, 32.5)
    with pytest.raises(ValueError):
        squares.locate(200.0, 32.5)
    with pytest.raises(ValueError):
        squares.locate(np.array([119.3, np.inf]), np.array([32.5, 32.5]))
    with pytest.raises(ValueError):
        squares.locate(np.array([119.3]), np.array([32.5, 32.5]))


def test_rejects_bad_features() -> None:
    bowtie = Polygon([(119.3, 32.5), (119.31, 32.51), (119.31, 32.5), (119.3, 32.51)])
    with pytest.raises(InvalidGeometry):
        PolygonIndex([LocatorFeature(1, "a", COMPREHENSIVE, 1, bowtie)])
    with pytest.raises(InvalidGeometry):
        PolygonIndex([LocatorFeature(1, "a", COMPREHENSIVE, 1, Point(119.3, 32.5))])
    with pytest.raises(ValueError):
        PolygonIndex([LocatorFeature(1, "a", "other", 1, box(0, 0, 1, 1))])  # type: ignore[arg-type]
    sq = box(119.3, 32.5, 119.31, 32.51)
    with pytest.raises(ValueError):
        PolygonIndex([LocatorFeature(1, "a", COMPREHENSIVE, 1, sq)] * 2)


def test_no_comprehensive_grids() -> None:
    index = PolygonIndex([LocatorFeature(5, "d", DEDICATED, 1, box(119.3, 32.5, 119.31, 32.51))])
    loc = one(index, 119.305, 32.505)
    assert loc.outside and loc.nearest_grid_id is None and math.isinf(loc.distance_m)
    assert loc.dedicated == (5,)
    res = index.locate(np.array([119.305]), np.array([32.505]))
    assert res.nearest_grid_id.tolist() == [-1] and res.dedicated_for(0) == (5,)


def test_empty_index() -> None:
    index = PolygonIndex([])
    assert one(index, 119.3, 32.5).outside
    assert index.locate(np.array([119.3]), np.array([32.5])).outside.tolist() == [True]


def test_duplicate_codes_break_ties_by_id() -> None:
    feats = [
        LocatorFeature(8, "same", COMPREHENSIVE, 1, box(X0, Y0, X1, Y1)),
        LocatorFeature(7, "same", COMPREHENSIVE, 1, box(X1, Y0, X2, Y1)),
    ]
    assert one(PolygonIndex(feats), X1, 32.505).grid_id == 7


# ---------------------------------------------------------------------------
# Synthetic town partition (also imported by the throughput benchmark)
# ---------------------------------------------------------------------------


def make_partition(n_grids: int = 50, seed: int = 7) -> list[LocatorFeature]:
    """Return a ~100 km2 Voronoi partition near Gongdao (EPSG:4326) plus dedicated grids."""
    rng = np.random.default_rng(seed)
    cx, cy, hx, hy = 119.345, 32.585, 0.055, 0.046
    angles = np.linspace(0.0, 2.0 * math.pi, 240, endpoint=False)
    radius = 0.9 + 0.08 * np.sin(3 * angles + 1.0) + 0.04 * np.sin(11 * angles)
    radius += rng.uniform(-0.01, 0.01, angles.size)
    town = Polygon(np.column_stack([cx + hx * radius * np.cos(angles), cy + hy * radius * np.sin(angles)]))
    seeds: list[Point] = []
    while len(seeds) < n_grids:
        p = Point(rng.uniform(cx - hx, cx + hx), rng.uniform(cy - hy, cy + hy))
        if town.contains(p):
            seeds.append(p)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=town.envelope.buffer(0.05))
    codes = rng.permutation(n_grids)
    feats = []
    for i, cell in enumerate(cells.geoms):
        code = f"321003100{codes[i] // 8 + 1:03d}{codes[i] % 8 + 1:03d}"
        feats.append(LocatorFeature(100 + i, code, COMPREHENSIVE, 1 + int(codes[i]) // 8, cell.intersection(town)))
    river = to_metric(LineString([(cx - hx, cy - 0.01), (cx, cy + 0.005), (cx + hx, cy - 0.02)]))
    dedicated = [
        from_metric(river.buffer(60.0)).intersection(town),
        Point(cx + 0.01, cy + 0.01).buffer(0.006),
        box(cx - 0.03, cy - 0.03, cx - 0.01, cy - 0.015),
        Point(cx - 0.02, cy + 0.02).buffer(0.004, quad_segs=4),
    ]
    for j, geom in enumerate(dedicated):
        feats.append(LocatorFeature(900 + j, f"321003100900{j + 1:03d}", DEDICATED, 1, geom))
    return feats


def _sample_points(feats: list[LocatorFeature], index: PolygonIndex, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return lon/lat arrays: uniform points, exact vertices, points on edges and cell lines."""
    rng = np.random.default_rng(11)
    xmin, ymin, xmax, ymax = shapely.total_bounds([f.geometry for f in feats])
    coords = shapely.get_coordinates([f.geometry for f in feats])
    vertices = coords[rng.choice(len(coords), n // 5)]
    seg = rng.choice(len(coords) - 1, n // 5)
    t = rng.uniform(0.0, 1.0, (seg.size, 1))
    on_edges = coords[seg] + t * (coords[seg + 1] - coords[seg])
    raster = index.raster
    assert raster is not None
    ix = rng.integers(0, raster.nx, n // 10)
    cell_lines = np.column_stack([raster.x0 + ix * raster.dx, rng.uniform(ymin, ymax, ix.size)])
    m = n - len(vertices) - len(on_edges) - len(cell_lines)
    pad = 0.01
    uniform = np.column_stack([rng.uniform(xmin - pad, xmax + pad, m), rng.uniform(ymin - pad, ymax + pad, m)])
    pts = np.concatenate([uniform, vertices, on_edges, cell_lines])
    return pts[:, 0], pts[:, 1]


@pytest.fixture(scope="module")
def partition() -> tuple[list[LocatorFeature], PolygonIndex, np.ndarray, np.ndarray]:
    """Return the synthetic features, their index and ~20,000 sample points."""
    feats = make_partition()
    index = PolygonIndex(feats)
    lons, lats = _sample_points(feats, index, 20_000)
    return feats, index, lons, lats


def _brute_force(feats: list[LocatorFeature], lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, list]:
    """Return (grid id per point, dedicated ids per point) from plain shapely covers tests."""
    pts = shapely.points(lons, lats)
    order = sorted(range(len(feats)), key=lambda i: (feats[i].code, feats[i].id))
    grid = np.full(len(pts), -1, dtype=np.int64)
    dedicated: list[list[int]] = [[] for _ in pts]
    for i in reversed(order):  # smallest code written last wins
        hit = shapely.covers(feats[i].geometry, pts)
        if feats[i].kind == COMPREHENSIVE:
            grid[hit] = feats[i].id
    for i in order:
        if feats[i].kind == DEDICATED:
            for k in np.flatnonzero(shapely.covers(feats[i].geometry, pts)):
                dedicated[k].append(feats[i].id)
    return grid, dedicated


def test_partition_raster_is_mostly_pure(partition) -> None:  # noqa: ANN001
    _, index, _, _ = partition
    assert index.raster is not None and index.raster.pure_fraction > 0.8


def test_locate_many_matches_brute_force(partition) -> None:  # noqa: ANN001
    feats, index, lons, lats = partition
    res = index.locate(lons, lats)
    grid, dedicated = _brute_force(feats, lons, lats)
    assert np.array_equal(res.grid_id, grid)
    assert [list(res.dedicated_for(i)) for i in range(len(res))] == dedicated
    assert np.array_equal(res.outside, grid < 0)
    # Sanity: the sample really contains boundary points shared by two grids.
    pts = shapely.points(lons, lats)
    n_cover = sum(shapely.covers(f.geometry, pts).astype(int) for f in feats if f.kind == COMPREHENSIVE)
    assert (n_cover >= 2).sum() > 1000 and (n_cover == 0).sum() > 500


def _near_edge_brute_force(feats: list[LocatorFeature], grid: np.ndarray, lons: np.ndarray, lats: np.ndarray):
    """Return, per point, whether it is within NEAR_EDGE_M (EPSG:4549) of its grid's outline (False outside)."""
    outline = {f.id: to_metric(f.geometry.boundary) for f in feats if f.kind == COMPREHENSIVE}
    near = np.zeros(len(grid), dtype=bool)
    for i in np.flatnonzero(grid >= 0):
        near[i] = outline[int(grid[i])].distance(to_metric(Point(lons[i], lats[i]))) < NEAR_EDGE_M
    return near


def test_near_edge_matches_brute_force(partition) -> None:  # noqa: ANN001
    feats, index, lons, lats = partition
    lons, lats = lons[::4], lats[::4]
    res = index.locate(lons, lats)
    assert res.near_edge is not None
    assert np.array_equal(res.near_edge, _near_edge_brute_force(feats, res.grid_id, lons, lats))
    assert 500 < res.near_edge.sum() < (~res.outside).sum()


def test_near_edge_matches_brute_force_on_fine_cells(squares: PolygonIndex) -> None:
    """The squares' raster cells are a few metres wide: a deep cell needs several rings around it."""
    rng = np.random.default_rng(5)
    lons, lats = rng.uniform(X0 - 0.001, X2 + 0.001, 20_000), rng.uniform(Y0 - 0.001, Y2 + 0.001, 20_000)
    res = squares.locate(lons, lats)
    assert np.array_equal(res.near_edge, _near_edge_brute_force(_squares(), res.grid_id, lons, lats))
    assert 200 < res.near_edge.sum() < 2000


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 64), (900, 700)])
def test_every_raster_gives_the_same_answers(partition, shape) -> None:  # noqa: ANN001
    """(1, 1) tests every point with GEOS (no cell is pure); finer rasters answer more from cells."""
    feats, default_index, lons, lats = partition
    index = PolygonIndex(feats, raster_shape=shape)
    lons, lats = lons[::3], lats[::3]
    res, expected = index.locate(lons, lats), default_index.locate(lons, lats)
    for name in ("grid_id", "village_id", "outside", "nearest_grid_id", "nearest_distance_m", "near_edge",
                 "dedicated_offsets", "dedicated_ids"):
        assert np.array_equal(getattr(res, name), getattr(expected, name)), name
    grid, dedicated = _brute_force(feats, lons, lats)
    assert np.array_equal(res.grid_id, grid)
    assert [list(res.dedicated_for(i)) for i in range(len(res))] == dedicated


def test_one_point_answers_as_in_a_batch(partition) -> None:  # noqa: ANN001
    feats, index, lons, lats = partition
    res = index.locate(lons, lats)
    for i in range(0, len(lons), 97):
        assert one(index, float(lons[i]), float(lats[i])) == res.at(i)


def _moved(lon: float, lat: float, east_m: float) -> tuple[float, float]:
    """Return the point ``east_m`` metres east of (lon, lat), moved in EPSG:4549."""
    p = from_metric(affinity.translate(to_metric(Point(lon, lat)), xoff=east_m))
    return p.x, p.y


def test_near_edge_literal(squares: PolygonIndex) -> None:
    assert one(squares, 119.302, 32.501).near_edge is False  # some 200 m from every edge
    assert one(squares, *_moved(X0, 32.505, 5.0)).near_edge is True  # 5 m inside the west edge
    assert one(squares, *_moved(X0, 32.505, 15.0)).near_edge is False
    assert one(squares, *_moved(X0, 32.505, -5.0)).near_edge is False  # outside: not located, not near
    assert one(squares, X1, 32.505).near_edge is True  # on the shared edge
    assert one(squares, X1, Y1).near_edge is True  # on the shared vertex
    assert one(squares, X2, Y2).near_edge is True  # an outer vertex
    assert one(squares, *_moved(119.305, 32.505, 3.0)).near_edge is False  # 3 m from a dedicated grid's edge
    assert squares.locate(119.302, 32.501, near_edge=False).near_edge is None


def test_nearest_matches_polygon_distances(partition) -> None:  # noqa: ANN001
    feats, index, lons, lats = partition
    res = index.locate(lons, lats)
    out = np.flatnonzero(res.outside)
    comps = [f for f in feats if f.kind == COMPREHENSIVE]
    metric = np.array([to_metric(f.geometry) for f in comps], dtype=object)
    pts = np.array([to_metric(Point(lons[i], lats[i])) for i in out], dtype=object)
    dist = shapely.distance(metric[:, None], pts[None, :])
    best = dist.min(axis=0)
    # Points a hair outside a straight lon/lat edge can be a hair inside the same
    # edge once projected (edges bend slightly): allow 1 cm.
    np.testing.assert_allclose(res.nearest_distance_m[out], best, rtol=1e-9, atol=0.01)
    ids = np.array([f.id for f in comps])[dist.argmin(axis=0)]
    assert (ids == res.nearest_grid_id[out]).mean() > 0.999


def test_nearest_distance_close_to_geodesic(partition) -> None:  # noqa: ANN001
    """Compare with a geography-style (WGS84 ellipsoid) distance to the same nearest point."""
    feats, index, lons, lats = partition
    res = index.locate(lons[:3000], lats[:3000])
    by_id = {f.id: to_metric(f.geometry) for f in feats}
    geod = Geod(ellps="WGS84")
    for i in np.flatnonzero(res.outside)[:200]:
        p = to_metric(Point(lons[i], lats[i]))
        near = from_metric(shapely.shortest_line(p, by_id[int(res.nearest_grid_id[i])]))
        (x0, y0), (x1, y1) = near.coords
        _, _, d = geod.inv(x0, y0, x1, y1)
        assert abs(res.nearest_distance_m[i] - d) <= max(1.0, 0.005 * d)


@pytest.mark.parametrize("spread", [0.3, 2.0, 8.0])
def test_nearest_far_points_match_brute_force(spread: float) -> None:
    """Points in the raster margin, the far grid and beyond it (exact GEOS fallback)."""
    feats = make_partition(n_grids=30, seed=3)
    index = PolygonIndex(feats)
    xmin, ymin, xmax, ymax = shapely.total_bounds([f.geometry for f in feats])
    wx, wy = (xmax - xmin) * spread, (ymax - ymin) * spread
    rng = np.random.default_rng(int(spread * 10))
    lons, lats = rng.uniform(xmin - wx, xmax + wx, 3000), rng.uniform(ymin - wy, ymax + wy, 3000)
    res = index.locate(lons, lats)
    out = np.flatnonzero(res.outside)
    comps = [f for f in feats if f.kind == COMPREHENSIVE]
    metric = np.array([to_metric(f.geometry) for f in comps], dtype=object)
    pts = np.array([to_metric(Point(lons[i], lats[i])) for i in out], dtype=object)
    dist = shapely.distance(metric[:, None], pts[None, :])
    best = dist.min(axis=0)
    np.testing.assert_allclose(res.nearest_distance_m[out], best, rtol=1e-9, atol=0.01)
    row = {f.id: k for k, f in enumerate(comps)}
    chosen = np.array([row[int(g)] for g in res.nearest_grid_id[out]])
    assert np.all(dist[chosen, np.arange(out.size)] <= best + 0.01)
    for i in out[:: max(1, out.size // 50)]:
        loc = one(index, float(lons[i]), float(lats[i]))
        assert (loc.nearest_grid_id, loc.distance_m) == (res.nearest_grid_id[i], res.nearest_distance_m[i])


@pytest.mark.parametrize(("code_a", "code_b", "winner"), [("002", "001", 2), ("001", "002", 1)])
def test_nearest_tie_at_shared_corner_prefers_smallest_code(code_a: str, code_b: str, winner: int) -> None:
    """Two triangles share the union's corner (X2, Y2); a point north-east of it is equally near both."""
    lower = Polygon([(X1, Y1), (X2, Y1), (X2, Y2)])
    upper = Polygon([(X1, Y1), (X2, Y2), (X1, Y2)])
    index = PolygonIndex(
        [
            LocatorFeature(1, "321003100001" + code_a, COMPREHENSIVE, 1, lower),
            LocatorFeature(2, "321003100001" + code_b, COMPREHENSIVE, 1, upper),
        ]
    )
    for lon, lat in [(X2 + 0.001, Y2 + 0.001), (X2 + 0.008, Y2 + 0.007), (X2 + 0.05, Y2 + 0.04), (X2 + 2.0, Y2 + 2.0)]:
        loc = one(index, lon, lat)
        assert loc.outside and loc.nearest_grid_id == winner
        assert index.locate(np.array([lon]), np.array([lat])).nearest_grid_id.tolist() == [winner]


def test_locate_many_without_nearest(squares: PolygonIndex) -> None:
    res = squares.locate(np.array([119.302, 119.33]), np.array([32.501, 32.505]), nearest=False)
    assert res.grid_id.tolist() == [1, -1]
    assert res.nearest_grid_id.tolist() == [1, -1]
    assert res.nearest_distance_m[0] == 0.0 and np.isnan(res.nearest_distance_m[1])


def test_holes_and_gaps() -> None:
    """A ring grid around a filled hole, and an unfilled hole (gap) in another grid."""
    outer = box(X0, Y0, X2, Y2)
    filled = box(119.305, 32.505, 119.315, 32.515)
    gap = box(119.3, 32.52, 119.31, 32.53)
    with_gap = box(X0 - 0.01, Y2, X2 + 0.01, Y2 + 0.02).difference(box(119.303, 32.523, 119.307, 32.527))
    index = PolygonIndex(
        [
            LocatorFeature(1, "321003100001001", COMPREHENSIVE, 1, outer.difference(filled)),
            LocatorFeature(2, "321003100001002", COMPREHENSIVE, 1, filled),
            LocatorFeature(3, "321003100001003", COMPREHENSIVE, 1, with_gap),
        ]
    )
    assert one(index, 119.31, 32.51).grid_id == 2
    assert one(index, 119.305, 32.51).grid_id == 1  # edge of the filled hole: smaller code
    assert gap.covers(Point(119.305, 32.525))
    loc = one(index, 119.305, 32.525)  # centre of the unfilled hole
    assert loc.outside and loc.nearest_grid_id == 3
    ring = to_metric(Point(119.305, 32.525)).distance(to_metric(with_gap))
    assert loc.distance_m == pytest.approx(ring, abs=0.01)
    assert 180.0 < loc.distance_m < 240.0
