"""Tests for gis_core.coords (lon/lat in degrees, EPSG:4549 in metres)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gis_core import coords
from gis_core.coords import (
    ACCEPTED_CRS,
    UnknownCRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    to_wgs84,
    to_wgs84_array,
    validate_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Gongdao town seat: GCJ-02 as read from an AMap-based map, and its WGS84 position.
GONGDAO_GCJ = (119.349355, 32.586409)
GONGDAO_WGS = (119.343908, 32.588310)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("EPSG:4326", "EPSG:4326"),
        ("WGS84", "EPSG:4326"),
        ("wgs84", "EPSG:4326"),
        ("4326", "EPSG:4326"),
        ("epsg:4490", "EPSG:4490"),
        ("CGCS2000", "EPSG:4490"),
        ("4490", "EPSG:4490"),
        ("EPSG:4549", "EPSG:4549"),
        ("4549", "EPSG:4549"),
        ("CGCS2000_GK_CM120", "EPSG:4549"),
        ("GCJ02", "GCJ02"),
        ("GCJ-02", "GCJ02"),
        ("gcj02", "GCJ02"),
        (" BD09 ", "BD09"),
        ("BD-09", "BD09"),
        ("bd09", "BD09"),
    ],
)
def test_parse_crs_aliases(alias: str, canonical: str) -> None:
    assert parse_crs(alias) == canonical


def test_accepted_crs() -> None:
    assert ACCEPTED_CRS == ("EPSG:4326", "EPSG:4490", "EPSG:4549", "GCJ02", "BD09", "EPSG:3857")


@pytest.mark.parametrize("bad", ["EPSG:32650", "", "mars", None, 4326])
def test_unknown_crs_raises_with_accepted_list(bad: object) -> None:
    with pytest.raises(UnknownCRS) as info:
        parse_crs(bad)  # type: ignore[arg-type]
    assert "EPSG:4326" in str(info.value) and "BD09" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_to_wgs84_unknown_crs_raises() -> None:
    with pytest.raises(UnknownCRS):
        to_wgs84(119.3, 32.5, "EPSG:32650")


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(math.nan, 32.5), (119.3, math.nan), (math.inf, 32.5), (181.0, 0.0), (0.0, -90.5)],
)
def test_validate_lonlat_rejects(lon: float, lat: float) -> None:
    with pytest.raises(ValueError):
        validate_lonlat(lon, lat)


def test_validate_lonlat_accepts_edges() -> None:
    validate_lonlat(-180.0, -90.0)
    validate_lonlat(180.0, 90.0)


def test_nan_raises_everywhere() -> None:
    for crs in ACCEPTED_CRS:
        with pytest.raises(ValueError):
            to_wgs84(math.nan, 32.5, crs)
        with pytest.raises(ValueError):
            from_wgs84(119.3, math.nan, crs)
    with pytest.raises(ValueError):
        wgs84_to_gcj02(math.nan, 32.5)
    with pytest.raises(ValueError):
        to_wgs84_array(np.array([119.3, np.nan]), np.array([32.5, 32.5]), "GCJ02")


def test_gongdao_gcj02_to_wgs84() -> None:
    lon, lat = gcj02_to_wgs84(*GONGDAO_GCJ)
    assert lon == pytest.approx(GONGDAO_WGS[0], abs=2e-5)
    assert lat == pytest.approx(GONGDAO_WGS[1], abs=2e-5)
    back = wgs84_to_gcj02(lon, lat)
    assert back == pytest.approx(GONGDAO_GCJ, abs=1e-9)
    fwd = wgs84_to_gcj02(*GONGDAO_WGS)
    assert fwd == pytest.approx(GONGDAO_GCJ, abs=2e-5)


def test_gcj02_shift_magnitude_near_gongdao() -> None:
    """GCJ-02 moves points around Gongdao about 0.0054 deg east and 0.0019 deg south."""
    lon, lat = wgs84_to_gcj02(119.3, 32.5)
    assert 0.004 < lon - 119.3 < 0.007
    assert -0.003 < lat - 32.5 < -0.001


def test_gcj02_to_bd09_published_pair() -> None:
    # Widely quoted example: GCJ-02 (116.404, 39.915) -> BD-09 (116.41036949371029, 39.92133699351021).
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-12)
    assert lat == pytest.approx(39.92133699351021, abs=1e-12)
    back = bd09_to_gcj02(lon, lat)
    assert back == pytest.approx((116.404, 39.915), abs=1e-9)


def test_bd09_inverse_is_exact_where_one_step_formula_is_not() -> None:
    """The exact inverse beats Baidu's one-step approximation (error ~1e-6 deg)."""
    gcj = (119.349355, 32.586409)
    bd = gcj02_to_bd09(*gcj)
    assert bd09_to_gcj02(*bd) == pytest.approx(gcj, abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trips_random_points_in_china(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lon, lat in zip(rng.uniform(75, 135, 200), rng.uniform(18, 53, 200), strict=True):
        g = wgs84_to_gcj02(float(lon), float(lat))
        assert gcj02_to_wgs84(*g) == pytest.approx((lon, lat), abs=1e-8)
        b = wgs84_to_bd09(float(lon), float(lat))
        assert bd09_to_wgs84(*b) == pytest.approx((lon, lat), abs=1e-7)


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (100.0, -5.0)])
def test_gcj02_out_of_china_unchanged(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_epsg4549_round_trip_near_cm120() -> None:
    easting, northing = from_wgs84(120.01, 32.5, "EPSG:4549")
    assert easting == pytest.approx(500_940.0, abs=20.0)  # ~0.01 deg east of the central meridian
    assert 3.59e6 < northing < 3.61e6
    lon, lat = to_wgs84(easting, northing, "4549")
    assert (lon, lat) == pytest.approx((120.01, 32.5), abs=1e-9)
    assert from_wgs84(120.0, 32.5, "EPSG:4549")[0] == pytest.approx(500_000.0, abs=1e-6)


def test_epsg4490_is_practically_wgs84() -> None:
    lon, lat = to_wgs84(119.3, 32.5, "CGCS2000")
    assert (lon, lat) == pytest.approx((119.3, 32.5), abs=1e-6)
    assert from_wgs84(119.3, 32.5, "EPSG:4490") == pytest.approx((119.3, 32.5), abs=1e-6)


@pytest.mark.parametrize("crs", ACCEPTED_CRS)
def test_to_and_from_wgs84_all_crs(crs: str) -> None:
    x, y = from_wgs84(*GONGDAO_WGS, crs)
    assert to_wgs84(x, y, crs) == pytest.approx(GONGDAO_WGS, abs=1e-8)


def test_identity_wgs84() -> None:
    assert to_wgs84(119.3, 32.5, "WGS84") == (119.3, 32.5)


@pytest.mark.parametrize("crs", ACCEPTED_CRS)
def test_array_versions_match_scalar(crs: str) -> None:
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(119.2, 119.5, 50), rng.uniform(32.4, 32.7, 50)
    xs, ys = coords.from_wgs84_array(lons, lats, crs)
    back_lon, back_lat = to_wgs84_array(xs, ys, crs)
    np.testing.assert_allclose(back_lon, lons, atol=1e-8, rtol=0)
    np.testing.assert_allclose(back_lat, lats, atol=1e-8, rtol=0)
    for i in range(0, 50, 7):
        assert to_wgs84(float(xs[i]), float(ys[i]), crs) == pytest.approx((back_lon[i], back_lat[i]), abs=1e-12)


def test_array_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        to_wgs84_array(np.array([119.3]), np.array([32.5, 32.6]), "GCJ02")
