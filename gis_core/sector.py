"""Camera view sectors (pie slices) built in metres and returned in EPSG:4326."""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import Polygon

from gis_core.coords import get_transformer, validate_lonlat
from gis_core.srid import METRIC_SRID, STORAGE_SRID

# Offset (degrees of latitude) used to find the direction of true north on
# the EPSG:4549 grid at the apex (grid convergence correction).
_NORTH_PROBE_DEG = 1e-4


def _validate_sector_args(
    lon: float, lat: float, bearing_deg: float, fov_deg: float, range_m: float, segments: int
) -> None:
    """Raise ``ValueError`` with a message when any view-sector argument is unusable."""
    validate_lonlat(lon, lat)
    if not math.isfinite(bearing_deg):
        raise ValueError(f"bearing_deg must be a finite number of degrees, got {bearing_deg!r}")
    if not (math.isfinite(fov_deg) and 0.0 < fov_deg <= 360.0):
        raise ValueError(f"fov_deg must satisfy 0 < fov_deg <= 360 degrees, got {fov_deg!r}")
    if not (math.isfinite(range_m) and range_m > 0.0):
        raise ValueError(f"range_m must be a positive number of metres, got {range_m!r}")
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"segments must be an integer >= 1, got {segments!r}")
    if fov_deg >= 360.0 and segments < 3:
        raise ValueError(f"a full circle needs segments >= 3, got {segments!r}")


def _grid_bearing_of_true_north(lon: float, lat: float, ex: float, ny: float) -> float:
    """Return the EPSG:4549 grid bearing (degrees clockwise) of true north at the apex."""
    to_metric = get_transformer(STORAGE_SRID, METRIC_SRID)
    probe_lat = lat + _NORTH_PROBE_DEG if lat + _NORTH_PROBE_DEG <= 90.0 else lat - _NORTH_PROBE_DEG
    px, py = to_metric.transform(lon, probe_lat, errcheck=True)
    dx, dy = px - ex, py - ny
    if probe_lat < lat:
        dx, dy = -dx, -dy
    return math.degrees(math.atan2(dx, dy))


def view_sector(
    lon: float,
    lat: float,
    bearing_deg: float,
    fov_deg: float,
    range_m: float,
    segments: int = 24,
) -> Polygon:
    """Return a camera view sector as an EPSG:4326 Polygon.

    The apex is the camera at (``lon``, ``lat``) in EPSG:4326 degrees; the
    slice is centred on ``bearing_deg`` (degrees clockwise from true north),
    opens ``fov_deg`` degrees (0 < fov <= 360; 360 gives a circle without an
    apex vertex) and reaches ``range_m`` metres. The arc is approximated by
    ``segments`` straight segments for the whole opening. The shape is
    built in EPSG:4549 (metres, corrected for grid convergence) and then
    reprojected to EPSG:4326.
    """
    _validate_sector_args(lon, lat, bearing_deg, fov_deg, range_m, segments)
    to_metric = get_transformer(STORAGE_SRID, METRIC_SRID)
    ex, ny = to_metric.transform(lon, lat, errcheck=True)
    centre = bearing_deg + _grid_bearing_of_true_north(lon, lat, ex, ny)
    full_circle = fov_deg >= 360.0
    if full_circle:
        angles = np.radians(centre + np.linspace(0.0, 360.0, segments, endpoint=False))
    else:
        half = fov_deg / 2.0
        angles = np.radians(np.linspace(centre - half, centre + half, segments + 1))
    xs = ex + range_m * np.sin(angles)
    ys = ny + range_m * np.cos(angles)
    if not full_circle:
        xs = np.concatenate(([ex], xs))
        ys = np.concatenate(([ny], ys))
    lons, lats = get_transformer(METRIC_SRID, STORAGE_SRID).transform(xs, ys, errcheck=True)
    if not full_circle:
        # Keep the apex bit-identical to the camera position.
        lons[0], lats[0] = lon, lat
    return Polygon(np.column_stack([lons, lats]))
