"""Tests for gis_core.geometry (EPSG:4326 inputs, EPSG:4549 metric work)."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
)

from gis_core.geometry import (
    InvalidGeometry,
    area_km2,
    distance_m,
    force_2d_multipolygon,
    from_metric,
    repair_polygonal,
    to_metric,
)

SQUARE = box(119.30, 32.50, 119.31, 32.51)


def test_to_metric_and_back() -> None:
    metric = to_metric(SQUARE)
    minx, miny, maxx, maxy = metric.bounds
    assert 400_000 < minx < maxx < 500_000 and 3_590_000 < miny < maxy < 3_610_000
    assert shapely.equals_exact(from_metric(metric), SQUARE, tolerance=1e-9)


def test_to_metric_drops_z() -> None:
    p = to_metric(Point(120.0, 32.5, 15.0))
    assert not p.has_z and p.x == pytest.approx(500_000.0, abs=1e-6)


def test_area_km2_matches_geodesic_area() -> None:
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(SQUARE)
    assert area_km2(SQUARE) == pytest.approx(abs(geodesic) / 1e6, rel=1e-3)
    assert 1.0 < area_km2(SQUARE) < 1.1  # 1.11 km x 0.94 km


def test_distance_m_matches_geodesic() -> None:
    a, b = Point(119.30, 32.50), Point(119.31, 32.50)
    _, _, geodesic = Geod(ellps="WGS84").inv(119.30, 32.50, 119.31, 32.50)
    assert distance_m(a, b) == pytest.approx(geodesic, rel=1e-3)
    assert distance_m(SQUARE, Point(119.305, 32.505)) == 0.0


def test_force_2d_multipolygon_variants() -> None:
    z_poly = Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 0, 1)])
    out = force_2d_multipolygon(z_poly)
    assert isinstance(out, MultiPolygon) and not out.has_z and len(out.geoms) == 1
    multi = MultiPolygon([SQUARE])
    assert force_2d_multipolygon(multi).equals(multi)
    gc = GeometryCollection([SQUARE, LineString([(0, 0), (1, 1)]), Point(3, 3), MultiPolygon([box(5, 5, 6, 6)])])
    parts = force_2d_multipolygon(gc)
    assert isinstance(parts, MultiPolygon) and len(parts.geoms) == 2


@pytest.mark.parametrize(
    "geom",
    [
        Point(0, 0),
        LineString([(0, 0), (1, 1)]),
        Polygon(),
        GeometryCollection([Point(0, 0)]),
        Polygon([(0, 0), (1, 1), (2, 2), (0, 0)]),
    ],
)
def test_force_2d_multipolygon_rejects_non_areal(geom: shapely.Geometry) -> None:
    with pytest.raises(InvalidGeometry):
        force_2d_multipolygon(geom)


def test_repair_valid_geometry_has_no_note() -> None:
    fixed, note = repair_polygonal(SQUARE)
    assert note is None and isinstance(fixed, MultiPolygon) and fixed.equals(SQUARE)


def test_repair_bowtie() -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])
    fixed, note = repair_polygonal(bowtie)
    assert fixed.is_valid and isinstance(fixed, MultiPolygon)
    assert fixed.area == pytest.approx(2.0)
    assert note == "self-intersection at (1 1) repaired"


def test_repair_ring_self_intersection_keeps_area() -> None:
    # Shell touching itself at a point (inverted hole).
    poly = Polygon([(0, 0), (4, 0), (4, 4), (2, 4), (3, 2), (1, 2), (2, 4), (0, 4), (0, 0)])
    fixed, note = repair_polygonal(poly)
    assert fixed.is_valid and note is not None and note.endswith("repaired")
    assert "(2 4)" in note
    assert fixed.area == pytest.approx(poly.buffer(0).area)


def test_repair_overlapping_multipolygon() -> None:
    multi = MultiPolygon([box(0, 0, 2, 2), box(1, 1, 3, 3)])
    fixed, note = repair_polygonal(multi)
    assert fixed.is_valid and note is not None
    assert fixed.area == pytest.approx(7.0)


@pytest.mark.parametrize(
    "geom",
    [Polygon(), LineString([(0, 0), (1, 1)]), Polygon([(0, 0), (1, 1), (2, 2), (0, 0)]), None],
)
def test_repair_rejects_empty_or_arealess(geom: shapely.Geometry | None) -> None:
    with pytest.raises(InvalidGeometry):
        repair_polygonal(geom)  # type: ignore[arg-type]
