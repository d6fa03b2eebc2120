"""Tests for gis_core.sector.view_sector (EPSG:4326 output, metres for range)."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point

from gis_core.geometry import to_metric
from gis_core.sector import view_sector

LON, LAT = 119.3439, 32.5883


@pytest.mark.parametrize(
    ("fov", "segments"), [(10.0, 24), (60.0, 24), (90.0, 24), (180.0, 24), (359.0, 64), (360.0, 64)]
)
def test_area_matches_circle_fraction(fov: float, segments: int) -> None:
    r = 150.0
    sector = view_sector(LON, LAT, 30.0, fov, r, segments=segments)
    assert sector.is_valid
    expected = fov / 360.0 * math.pi * r * r
    assert to_metric(sector).area == pytest.approx(expected, rel=0.01)


def test_bearing_east_points_east() -> None:
    sector = view_sector(LON, LAT, 90.0, 60.0, 200.0)
    c = sector.centroid
    assert c.x > LON and abs(c.y - LAT) < 1e-4
    apex_m, centroid_m = to_metric(Point(LON, LAT)), to_metric(c)
    # Centroid of a 60-degree sector lies at 2 r sin(30)/(3 * pi/6) from the apex.
    assert apex_m.distance(centroid_m) == pytest.approx(2 * 200 * 0.5 / (3 * math.pi / 6), rel=0.01)


@pytest.mark.parametrize(
    ("bearing", "dx_sign", "dy_sign"), [(0.0, 0, 1), (180.0, 0, -1), (270.0, -1, 0), (-90.0, -1, 0)]
)
def test_bearing_directions(bearing: float, dx_sign: int, dy_sign: int) -> None:
    c = view_sector(LON, LAT, bearing, 40.0, 300.0).centroid
    for delta, sign in ((c.x - LON, dx_sign), (c.y - LAT, dy_sign)):
        if sign == 0:
            assert abs(delta) < 2e-5
        else:
            assert delta * sign > 1e-4


def test_bearing_is_true_north_not_grid_north() -> None:
    """West of 120E grid north is rotated; a bearing of 0 must still follow the meridian."""
    lon = 118.5
    sector = view_sector(lon, LAT, 0.0, 2.0, 5000.0)
    tip_lon = max(sector.exterior.coords, key=lambda p: p[1])[0]
    assert abs(tip_lon - lon) < 1e-5


def test_apex_is_vertex() -> None:
    sector = view_sector(LON, LAT, 45.0, 70.0, 120.0)
    assert (LON, LAT) in list(sector.exterior.coords)
    assert sector.exterior.coords[0] == (LON, LAT)
    assert len(sector.exterior.coords) == 24 + 1 + 2


def test_full_circle_has_no_apex_and_contains_camera() -> None:
    circle = view_sector(LON, LAT, 0.0, 360.0, 100.0)
    assert (LON, LAT) not in list(circle.exterior.coords)
    assert circle.contains(Point(LON, LAT))
    assert len(circle.exterior.coords) == 24 + 1


def test_radius_in_metres() -> None:
    sector = view_sector(LON, LAT, 10.0, 30.0, 250.0)
    apex = to_metric(Point(LON, LAT))
    far = max(to_metric(Point(p)).distance(apex) for p in sector.exterior.coords)
    assert far == pytest.approx(250.0, rel=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fov_deg": 0.0},
        {"fov_deg": -5.0},
        {"fov_deg": 361.0},
        {"fov_deg": math.nan},
        {"range_m": 0.0},
        {"range_m": -1.0},
        {"range_m": math.inf},
        {"bearing_deg": math.nan},
        {"segments": 0},
        {"segments": 2.5},
        {"lon": math.nan},
        {"lat": 95.0},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    args = {"lon": LON, "lat": LAT, "bearing_deg": 0.0, "fov_deg": 60.0, "range_m": 100.0}
    args.update(kwargs)
    with pytest.raises(ValueError):
        view_sector(**args)


def test_full_circle_needs_three_segments() -> None:
    with pytest.raises(ValueError):
        view_sector(LON, LAT, 0.0, 360.0, 100.0, segments=2)
