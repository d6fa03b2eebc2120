"""API fields for coordinates: a CRS name, and a point's x/y checked after conversion to WGS84."""
from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.geometry
from drf_spectacular.utils import extend_schema_field
from numpy.typing import ArrayLike, NDArray
from pyproj.exceptions import ProjError
from rest_framework import serializers
from rest_framework_gis import fields as gis_fields

from gis_core.coords import (
    ACCEPTED_CRS,
    BD09,
    CRS_NAMES,
    EPSG_3857,
    EPSG_4326,
    EPSG_4490,
    EPSG_4549,
    UnknownCRS,
    bd09_to_gcj02_array,
    gcj02_to_wgs84_array,
    get_transformer,
    parse_crs,
    projected_to_wgs84,
    to_wgs84,
    validate_lonlat,
)
from gis_core.srid import CGCS2000, WGS84


class CoordinateField(serializers.FloatField):
    """A coordinate: a finite number (JSON number or numeric text, as FloatField) but never a boolean
    (``float(True)`` is 1.0: FloatField would take ``true`` as a longitude)."""

    def to_internal_value(self, data) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def _case_insensitive(name: str) -> str:
    """Return a regular expression matching ``name`` in any case (JSON Schema patterns take no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else "\\" + c if c in r".^$*+?()[]{}|\/" else c
                   for c in name)


CRS_PATTERN = r"^\s*(" + "|".join(_case_insensitive(n) for n in CRS_NAMES) + r")\s*$"


@extend_schema_field({"type": "string", "pattern": CRS_PATTERN, "default": EPSG_4326})
class CRSField(serializers.CharField):
    """A coordinate reference system name, returned in its canonical spelling (default EPSG:4326)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", "EPSG:4326")
        kwargs.setdefault("help_text", f"one of {', '.join(ACCEPTED_CRS)}")
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        try:
            return parse_crs(super().to_internal_value(data))
        except UnknownCRS as exc:
            raise serializers.ValidationError(str(exc)) from exc


def check_point(attrs: dict, x: str = "lon", y: str = "lat", crs: str = "crs") -> None:
    """Raise a field-keyed ValidationError unless x/y are finite and land on the globe in WGS84."""
    for name in (x, y):
        if isinstance(attrs[name], bool) or not math.isfinite(attrs[name]):
            raise serializers.ValidationError({name: "must be a finite number"})
    name = attrs.get(crs, EPSG_4326)
    try:
        # WGS84 needs no conversion: to_wgs84 would check the same range and give the same message.
        validate_lonlat(*((attrs[x], attrs[y]) if name == EPSG_4326 else to_wgs84(attrs[x], attrs[y], name)))
    except ValueError as exc:
        raise serializers.ValidationError({x: str(exc), y: str(exc)}) from exc


def _on_globe(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True where lon/lat are finite and within -180..180 / -90..90 degrees (as validate_lonlat)."""
    return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)


def points_valid(xs: ArrayLike, ys: ArrayLike, crs: str) -> NDArray[np.bool_]:
    """Return, per point, whether ``check_point`` accepts it: the same conversions, for a whole array.

    For a batch of points in one CRS (one numpy pass instead of a 1-element one per point; a point's
    conversion does not depend on the others). It only decides; ``check_point`` gives the messages.
    """
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    name = parse_crs(crs)
    if name in (EPSG_4549, EPSG_3857):  # metres in: inside the CRS's area of use (as to_wgs84 checks)
        lon, lat, ok = projected_to_wgs84(x, y, name)
        return ok & _on_globe(lon, lat)
    ok = _on_globe(x, y)  # degrees in: the input itself must be on the globe
    if name == EPSG_4326:
        return ok
    idx = np.flatnonzero(ok)
    x, y = x[idx], y[idx]
    if name == EPSG_4490:
        try:
            lon, lat = get_transformer(CGCS2000, WGS84).transform(x, y)
        except ProjError:  # a point PROJ cannot take is "not valid", never a 500
            lon, lat = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    else:
        if name == BD09:  # BD09 -> GCJ02 -> WGS84; the GCJ02 step checks its input as well
            x, y = bd09_to_gcj02_array(x, y)
            inner = _on_globe(x, y)
            ok[idx[~inner]] = False
            idx, x, y = idx[inner], x[inner], y[inner]
        lon, lat = gcj02_to_wgs84_array(x, y)
    ok[idx] = _on_globe(lon, lat)
    return ok


class GeometryField(gis_fields.GeometryField):
    """drf-gis's geometry field, its GeoJSON written from the geometry's coordinates (read by shapely from
    its WKB: exact, a ring at a time) rather than from GDAL's GeoJSON text parsed back (drf-gis asks GDAL
    for it twice a geometry; GEOS's own ``coords`` reads a coordinate at a time through ctypes, slower
    still); rounded to ``precision`` as drf-gis does (``round``). Anything else it handles (a transform, no
    precision, a collection, Z) goes to it."""

    def to_representation(self, value):
        if (isinstance(value, dict) or value is None or self.precision is None or self.transform is not None
                or self.remove_dupes or self.auto_bbox or value.empty or value.hasz
                or value.geom_type == "GeometryCollection"):
            return super().to_representation(value)
        coordinates = shapely.geometry.mapping(shapely.from_wkb(bytes(value.wkb)))["coordinates"]  # exact doubles
        return gis_fields.GeoJsonDict({"type": value.geom_type, "coordinates": _rounded(coordinates, self.precision)})


def _rounded(coords: tuple, digits: int) -> tuple:
    """Return coordinates (a pair, or nested tuples of pairs) with every number rounded."""
    if not isinstance(coords[0], tuple):
        return tuple(round(c, digits) for c in coords)
    return tuple(_rounded(part, digits) for part in coords)
