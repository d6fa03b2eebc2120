"""Map views: a viewport's bounding box read from a request, checked, as a polygon in EPSG:4326.

The map pages ask for what lies in the view (``bbox=west,south,east,north`` in degrees, WGS84, as
Leaflet's ``getBounds().toBBoxString()`` writes it) and the zoom level of the view (as Leaflet and the
slippy-map tile scheme number them). Anything that is not such a box is a ``ValueError`` naming what
is wrong, which the API turns into a 400 (never a 500 from GEOS or PostGIS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib.gis.geos import Polygon

from gis_core.srid import WGS84

MAX_ZOOM = 24  # deeper than any tile scheme the pages use


@dataclass(frozen=True)
class BBox:
    """A viewport in degrees (WGS84): west <= east, south <= north, within the globe."""

    west: float
    south: float
    east: float
    north: float

    def polygon(self) -> Polygon:
        """Return the box as a polygon in EPSG:4326."""
        return _box(self.west, self.south, self.east, self.north)

    def contains(self, lon: float, lat: float) -> bool:
        """Return whether a point lies in the box, its edges included."""
        return self.west <= lon <= self.east and self.south <= lat <= self.north


def _box(west: float, south: float, east: float, north: float) -> Polygon:
    poly = Polygon.from_bbox((west, south, east, north))
    poly.srid = WGS84
    return poly


def parse_bbox(text: str) -> BBox:
    """Return the box of ``west,south,east,north`` (degrees, WGS84); raise ValueError saying what is wrong.

    A box crossing the antimeridian (west > east) is refused: the pages never ask for one. A box a
    little past the poles or the antimeridian (Leaflet's view at zoom 0-2) is clipped to the globe.
    """
    parts = str(text).split(",")
    if len(parts) != 4:
        raise ValueError("four numbers: west,south,east,north (degrees, WGS84)")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("four numbers: west,south,east,north (degrees, WGS84)") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError("the numbers must be finite")
    if west > east or south > north:
        raise ValueError("west must not exceed east, nor south north")
    if east < -180 or west > 180 or north < -90 or south > 90:
        raise ValueError("the box lies outside the globe (longitude -180..180, latitude -90..90)")
    return BBox(max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))


def check_zoom(zoom: float) -> float:
    """Return the zoom level if it is one a map can have (0..MAX_ZOOM, fractions allowed); else ValueError."""
    if not (math.isfinite(zoom) and 0 <= zoom <= MAX_ZOOM):
        raise ValueError(f"a zoom level from 0 to {MAX_ZOOM}")
    return zoom
