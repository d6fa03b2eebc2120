"""Shapely helpers: metric reprojection, measurements and polygon clean-up.

Input geometries are in EPSG:4326 (lon, lat) unless a name says otherwise;
metric work is always done in EPSG:4549 (CGCS2000 / 3-degree GK CM 120E,
metres), never in degrees.
"""

from __future__ import annotations

import math
import re

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID


class InvalidGeometry(ValueError):
    """Raised when a geometry cannot be turned into a usable polygonal area."""


def _reproject(geom: BaseGeometry, src: int, dst: int) -> BaseGeometry:
    """Return ``geom`` reprojected from EPSG ``src`` to EPSG ``dst`` as a 2D geometry."""
    transformer = get_transformer(src, dst)

    def _fn(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Transform coordinate arrays with pyproj, raising on failure."""
        return transformer.transform(x, y, errcheck=True)

    return shapely.transform(geom, _fn, include_z=False, interleaved=False)


def to_metric(geom: BaseGeometry) -> BaseGeometry:
    """Reproject a shapely geometry from EPSG:4326 (degrees) to EPSG:4549 (metres)."""
    return _reproject(geom, STORAGE_SRID, METRIC_SRID)


def from_metric(geom: BaseGeometry) -> BaseGeometry:
    """Reproject a shapely geometry from EPSG:4549 (metres) to EPSG:4326 (degrees)."""
    return _reproject(geom, METRIC_SRID, STORAGE_SRID)


def area_km2(geom_4326: BaseGeometry) -> float:
    """Return the area in square kilometres of an EPSG:4326 geometry, measured in EPSG:4549."""
    return float(to_metric(geom_4326).area) / 1e6


_GEOD = Geod(ellps="WGS84")


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the geodesic distance in metres between two WGS84 (lon, lat) points (on the ellipsoid: any
    two points, however far apart; a photo's claimed place, a patrol's step)."""
    return abs(_GEOD.inv(a[0], a[1], b[0], b[1])[2])


def distance_m(a_4326: BaseGeometry, b_4326: BaseGeometry) -> float:
    """Return the planar distance in metres between two EPSG:4326 geometries, in EPSG:4549."""
    return float(to_metric(a_4326).distance(to_metric(b_4326)))


def _polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """Return the non-empty Polygon parts of any geometry, recursing into collections."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, (MultiPolygon, GeometryCollection)):
        parts: list[Polygon] = []
        for sub in geom.geoms:
            parts.extend(_polygon_parts(sub))
        return parts
    return []


def force_2d_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Return ``geom`` (any SRID, unchanged) as a 2D MultiPolygon.

    Drop Z/M, wrap a Polygon, keep only the polygonal parts of a
    GeometryCollection. Raise ``InvalidGeometry`` if no polygon area remains.
    """
    if geom is None or not isinstance(geom, BaseGeometry):
        raise InvalidGeometry(f"expected a shapely geometry, got {type(geom).__name__}")
    flat = shapely.force_2d(geom)
    parts = [p for p in _polygon_parts(flat) if p.area > 0.0]
    if not parts:
        raise InvalidGeometry(
            f"geometry of type {geom.geom_type} has no polygon area (expected Polygon or MultiPolygon)"
        )
    if isinstance(flat, MultiPolygon) and len(parts) == len(flat.geoms):
        return flat
    return MultiPolygon(parts)


_VALIDITY_RE = re.compile(r"^(?P<reason>.*?)\s*\[(?P<where>[^\]]*)\]\s*$")


def _validity_note(geom: BaseGeometry) -> str:
    """Turn GEOS' explain_validity text into a note like 'self-intersection at (x y) repaired'."""
    text = explain_validity(geom)
    match = _VALIDITY_RE.match(text)
    if match is None:
        return f"{text.strip().lower() or 'invalid geometry'} repaired"
    return f"{match['reason'].strip().lower()} at ({match['where'].strip()}) repaired"


def _make_valid_polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Repair ``geom`` with shapely.make_valid and return its polygonal part (same SRID)."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = [p for p in _polygon_parts(fixed) if p.area > 0.0]
    if not parts:
        raise InvalidGeometry("geometry has no polygon area after repair")
    result = MultiPolygon(parts)
    if not result.is_valid:
        # Parts touching along an edge; merging them yields a valid polygonal set.
        merged = shapely.unary_union(parts)
        result = MultiPolygon(_polygon_parts(merged))
    return result


def repair_polygonal(geom: BaseGeometry) -> tuple[MultiPolygon, str | None]:
    """Return a valid 2D MultiPolygon for ``geom`` and a repair note (None if already valid).

    The SRID/units are unchanged. Raise ``InvalidGeometry`` when the
    geometry is empty, not polygonal, or has no area after repair.
    """
    if geom is None or not isinstance(geom, BaseGeometry):
        raise InvalidGeometry(f"expected a shapely geometry, got {type(geom).__name__}")
    if geom.is_empty:
        raise InvalidGeometry("geometry is empty")
    flat = shapely.force_2d(geom)
    if flat.is_valid:
        return force_2d_multipolygon(flat), None
    note = _validity_note(flat)
    return _make_valid_polygonal(flat), note


def geojson_polygon_vertices(geometry: dict, limit: int) -> int:
    """Return how many positions a GeoJSON Polygon or MultiPolygon holds, counting no further than
    ``limit + 1``, before any geometry is built from it; raise InvalidGeometry when it holds more
    than ``limit``, none at all, or its coordinates are not nested as its type says (polygons of
    rings of at least 4 positions of 2 or 3 finite numbers).

    Pure Python on the parsed JSON: cheap beside building the geometry, so an oversized or
    malformed boundary is refused before any GEOS, GDAL or PROJ work is spent on it."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry("a GeoJSON Polygon or MultiPolygon")
    coordinates = geometry.get("coordinates")
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list):
        raise InvalidGeometry(f"the coordinates of a {kind} are a list")
    count = 0
    for rings in polygons:
        if not isinstance(rings, list) or not rings:
            raise InvalidGeometry("a polygon is a non-empty list of rings")
        for ring in rings:
            if not isinstance(ring, list) or len(ring) < 4:
                raise InvalidGeometry("a ring is a list of at least 4 positions (the last one the first again)")
            count += len(ring)
            if count > limit:
                raise InvalidGeometry(f"more than {limit} vertices: a grid boundary has at most {limit}")
            if not all(_is_position(p) for p in ring):
                raise InvalidGeometry("a position is a list of 2 or 3 finite numbers")
            if ring[0] != ring[-1]:
                raise InvalidGeometry("a ring is closed: its last position is its first")
    if count == 0:
        raise InvalidGeometry(f"an empty {kind}: a grid boundary has at least one ring")
    return count


def _is_position(p) -> bool:
    return (isinstance(p, list) and len(p) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p))
