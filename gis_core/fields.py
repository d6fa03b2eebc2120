"""API fields for coordinates: a CRS name, and a point's x/y checked after conversion to WGS84."""
from __future__ import annotations

import math

from rest_framework import serializers

from gis_core.coords import ACCEPTED_CRS, UnknownCRS, parse_crs, to_wgs84, validate_lonlat


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
        if not math.isfinite(attrs[name]):
            raise serializers.ValidationError({name: "must be a finite number"})
    try:
        validate_lonlat(*to_wgs84(attrs[x], attrs[y], attrs.get(crs, "EPSG:4326")))
    except ValueError as exc:
        raise serializers.ValidationError({x: str(exc), y: str(exc)}) from exc
