"""Convert point coordinates between the CRSs used by Chinese map sources.

Supported systems (canonical names in ``ACCEPTED_CRS``):

* ``EPSG:4326`` - WGS84 longitude/latitude in degrees (storage CRS).
* ``EPSG:4490`` - CGCS2000 longitude/latitude in degrees.
* ``EPSG:4549`` - CGCS2000 / 3-degree Gauss-Kruger CM 120E, easting/northing
  in metres (false easting 500000 m, no zone prefix).
* ``GCJ02`` - the obfuscated "Mars coordinates" used by AMap/Tencent maps,
  longitude/latitude in degrees.
* ``BD09`` - Baidu's further-obfuscated longitude/latitude in degrees.
* ``EPSG:3857`` - Web Mercator easting/northing in metres (web map tiles).

Projected inputs (EPSG:4549, EPSG:3857) are accepted only inside their CRS's area of use (EPSG's
bounding box, read from pyproj): outside it a projection's inverse is garbage or infinite, so such a
point is refused (``ValueError``), never passed on. Projections to metres (``to_metric``) never raise:
a point the projection cannot take comes back as NaN, and ``in_metric_domain`` tells the points for
which metric work is meaningful at all (CGCS2000's area of use, China), so that a point on the other
side of the earth is never projected.

All functions take and return ``(x, y)`` = ``(lon, lat)`` or
``(easting, northing)`` order, never lat/lon.

References for the public algorithms implemented here:

* GCJ-02: the widely published "eviltransform"/"coordtransform" formulas
  (Krasovsky 1940 ellipsoid, polynomial offsets ``transform_lat``/
  ``transform_lon``), e.g. https://github.com/googollee/eviltransform.
* BD-09: Baidu's published GCJ-02 -> BD-09 formula (x_pi = pi * 3000 / 180).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError

from gis_core.srid import CGCS2000, CGCS2000_GK_CM120, METRIC_SRID, STORAGE_SRID, WEB_MERCATOR, WGS84

FloatArray = NDArray[np.float64]
_ArrayConverter = Callable[[ArrayLike, ArrayLike], tuple[FloatArray, FloatArray]]

EPSG_4326 = "EPSG:4326"
EPSG_4490 = "EPSG:4490"
EPSG_4549 = "EPSG:4549"
GCJ02 = "GCJ02"
BD09 = "BD09"
EPSG_3857 = "EPSG:3857"

ACCEPTED_CRS: tuple[str, ...] = (EPSG_4326, EPSG_4490, EPSG_4549, GCJ02, BD09, EPSG_3857)

_ALIASES: dict[str, str] = {
    "epsg:4326": EPSG_4326,
    "wgs84": EPSG_4326,
    "4326": EPSG_4326,
    "epsg:4490": EPSG_4490,
    "cgcs2000": EPSG_4490,
    "4490": EPSG_4490,
    "epsg:4549": EPSG_4549,
    "4549": EPSG_4549,
    "cgcs2000_gk_cm120": EPSG_4549,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "epsg:3857": EPSG_3857,
    "3857": EPSG_3857,
    "webmercator": EPSG_3857,
}
CRS_NAMES: tuple[str, ...] = tuple(_ALIASES)  # every accepted spelling (lower case; matched case-insensitively)

_EPSG_OF: dict[str, int] = {EPSG_4490: CGCS2000, EPSG_4549: CGCS2000_GK_CM120, EPSG_3857: WEB_MERCATOR}
_PROJECTED: dict[str, int] = {EPSG_4549: CGCS2000_GK_CM120, EPSG_3857: WEB_MERCATOR}  # metres in
_ROUND_TRIP_TOL_M = 0.01  # a projected input must come back to itself within this after WGS84 and back

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 algorithm.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# Bounding box outside which GCJ-02 applies no shift (public rule).
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# Baidu's constant.
_X_PI = math.pi * 3000.0 / 180.0

_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_ITER = 50


class UnknownCRS(ValueError):
    """Raised when a CRS name is not one of the supported systems."""


def parse_crs(value: str) -> str:
    """Return the canonical CRS name (one of ``ACCEPTED_CRS``) for ``value``.

    Matching is case-insensitive and ignores surrounding whitespace.
    Raise ``UnknownCRS`` listing the accepted names otherwise.
    """
    if isinstance(value, str):
        canonical = _ALIASES.get(value.strip().lower())
        if canonical is not None:
            return canonical
    accepted = ", ".join(ACCEPTED_CRS)
    aliases = ", ".join(sorted({k for k in _ALIASES if not k.startswith("epsg:")}))
    raise UnknownCRS(f"unknown CRS {value!r}; accepted values are {accepted} (case-insensitive aliases: {aliases})")


def validate_lonlat(lon: float, lat: float) -> None:
    """Raise ``ValueError`` unless lon is in [-180, 180] and lat in [-90, 90] degrees."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"coordinates must be finite numbers, got lon={lon!r}, lat={lat!r}")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon!r} is outside the range -180..180 degrees")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat!r} is outside the range -90..90 degrees")


def validate_lonlat_arrays(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return lon/lat as float64 arrays; raise ``ValueError`` on bad shape, NaN/inf or range."""
    x = np.asarray(lons, dtype=np.float64)
    y = np.asarray(lats, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"lon and lat arrays differ in shape: {x.shape} vs {y.shape}")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    bad |= (np.abs(x) > 180.0) | (np.abs(y) > 90.0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{int(bad.sum())} invalid lon/lat value(s) (NaN, inf or out of range); "
            f"first at index {i}: lon={x.ravel()[i]!r}, lat={y.ravel()[i]!r}"
        )
    return x, y


# --------------------------------------------------------------------------
# GCJ-02 (vectorised core; scalars go through 1-element arrays)
# --------------------------------------------------------------------------


def _transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    """Return the public GCJ-02 latitude offset polynomial (x = lon-105, y = lat-35)."""
    pi = math.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    """Return the public GCJ-02 longitude offset polynomial (x = lon-105, y = lat-35)."""
    pi = math.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 shift (dlon, dlat) in degrees for WGS84 lon/lat in degrees."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def _in_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    """Return True where the public GCJ-02 rule applies a shift (degrees)."""
    return (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1]) & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])


def wgs84_to_gcj02_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 lon/lat arrays (degrees) to GCJ-02; points outside China are unchanged."""
    lon, lat = validate_lonlat_arrays(lons, lats)
    dlon, dlat = _gcj_offset(lon, lat)
    mask = _in_china(lon, lat)
    return np.where(mask, lon + dlon, lon), np.where(mask, lat + dlat, lat)


def _fixed_point(
    forward: _ArrayConverter, target_x: FloatArray, target_y: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x, y) == target`` by fixed-point iteration from (x, y), in degrees.

    Each point is refined until its own correction is below 1e-9 degrees (at
    most 50 rounds), so a point's result does not depend on its batch.
    """
    x, y = x.copy(), y.copy()
    active = np.flatnonzero(np.ones(x.shape, dtype=bool))
    for _ in range(_INVERSE_MAX_ITER):
        if active.size == 0:
            break
        fx, fy = forward(x[active], y[active])
        step_x, step_y = fx - target_x[active], fy - target_y[active]
        x[active] -= step_x
        y[active] -= step_y
        active = active[(np.abs(step_x) >= _INVERSE_TOL_DEG) | (np.abs(step_y) >= _INVERSE_TOL_DEG)]
    return x, y


def _gcj_shift(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Apply the GCJ-02 shift without the out-of-China rule (degrees)."""
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 lon/lat arrays (degrees) to WGS84 by exact fixed-point inversion.

    Iterate ``w <- w - (gcj(w) - g)`` until the correction is below 1e-9
    degrees (at most 50 rounds). Points outside China are unchanged.
    """
    g_lon, g_lat = validate_lonlat_arrays(lons, lats)
    lon, lat = g_lon.copy(), g_lat.copy()
    mask = _in_china(g_lon, g_lat)
    lon[mask], lat[mask] = _fixed_point(_gcj_shift, g_lon[mask], g_lat[mask], g_lon[mask], g_lat[mask])
    return lon, lat


# --------------------------------------------------------------------------
# BD-09
# --------------------------------------------------------------------------


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Apply Baidu's public GCJ-02 -> BD-09 formula (degrees)."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 lon/lat arrays (degrees) to BD-09 (degrees)."""
    lon, lat = validate_lonlat_arrays(lons, lats)
    return _gcj_to_bd(lon, lat)


def bd09_to_gcj02_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 lon/lat arrays (degrees) to GCJ-02 (degrees), exactly.

    Start from Baidu's published approximate inverse and refine by
    fixed-point iteration until the correction is below 1e-9 degrees.
    """
    b_lon, b_lat = validate_lonlat_arrays(lons, lats)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _fixed_point(_gcj_to_bd, b_lon, b_lat, z * np.cos(theta), z * np.sin(theta))


# --------------------------------------------------------------------------
# Scalar wrappers
# --------------------------------------------------------------------------


def _scalar(fn: _ArrayConverter, lon: float, lat: float) -> tuple[float, float]:
    """Validate one lon/lat pair (degrees) and run a vectorised converter on it."""
    validate_lonlat(lon, lat)
    xs, ys = fn(np.array([lon], dtype=np.float64), np.array([lat], dtype=np.float64))
    return float(xs[0]), float(ys[0])


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert one WGS84 lon/lat (degrees) to GCJ-02 (degrees)."""
    return _scalar(wgs84_to_gcj02_array, lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert one GCJ-02 lon/lat (degrees) to WGS84 (degrees) with the exact inverse."""
    return _scalar(gcj02_to_wgs84_array, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert one GCJ-02 lon/lat (degrees) to BD-09 (degrees)."""
    return _scalar(gcj02_to_bd09_array, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert one BD-09 lon/lat (degrees) to GCJ-02 (degrees) with the exact inverse."""
    return _scalar(bd09_to_gcj02_array, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert one WGS84 lon/lat (degrees) to BD-09 (degrees) via GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert one BD-09 lon/lat (degrees) to WGS84 (degrees) via GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --------------------------------------------------------------------------
# Generic dispatch (pyproj for the EPSG systems)
# --------------------------------------------------------------------------


@lru_cache(maxsize=16)
def get_transformer(src_epsg: int, dst_epsg: int) -> Transformer:
    """Return a cached, thread-safe pyproj Transformer (always_xy) between two EPSG codes."""
    return Transformer.from_crs(f"EPSG:{src_epsg}", f"EPSG:{dst_epsg}", always_xy=True)


METRIC_DOMAIN_MARGIN_DEG = 5.0  # around CGCS2000's area of use: China's islands and a town on its edge


@lru_cache(maxsize=8)
def area_of_use(epsg: int) -> tuple[float, float, float, float]:
    """Return the EPSG area of use of a CRS as (west, south, east, north) in degrees (pyproj's database)."""
    area = CRS.from_epsg(epsg).area_of_use
    return float(area.west), float(area.south), float(area.east), float(area.north)


def _in_box(lon: FloatArray, lat: FloatArray, box: tuple[float, float, float, float]) -> NDArray[np.bool_]:
    """True where lon/lat (degrees, finite) lie in the box (west, south, east, north); NaN is outside."""
    west, south, east, north = box
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def metric_domain() -> tuple[float, float, float, float]:
    """Return the WGS84 box (west, south, east, north; degrees) where metric work in EPSG:4549 is
    meaningful: CGCS2000's area of use (China) grown by ``METRIC_DOMAIN_MARGIN_DEG``."""
    west, south, east, north = area_of_use(CGCS2000)
    m = METRIC_DOMAIN_MARGIN_DEG
    return west - m, max(south - m, -90.0), east + m, min(north + m, 90.0)


def in_metric_domain(lons: ArrayLike, lats: ArrayLike) -> NDArray[np.bool_]:
    """Return, per WGS84 point (degrees), whether it lies in ``metric_domain()``. Elsewhere the
    Gauss-Kruger projection is wildly distorted and, about 90 degrees from its central meridian,
    undefined (lon 30 or -150 at the equator): such points are far from any town, never projected."""
    x, y = np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    return _in_box(x, y, metric_domain())


def _transform(src_epsg: int, dst_epsg: int, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Transform arrays; a point PROJ cannot take comes back as inf/NaN, never as an exception."""
    try:
        out_x, out_y = get_transformer(src_epsg, dst_epsg).transform(x, y)
    except ProjError:  # not raised without errcheck by today's PROJ; kept so that no build can 500
        return np.full(np.shape(x), np.nan), np.full(np.shape(y), np.nan)
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def to_metric(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return EPSG:4549 easting/northing in metres for WGS84 lon/lat (degrees); NaN for a point that is
    not on the globe or that the projection cannot take. Never raises: callers drop the NaN points."""
    x, y = np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    out_x, out_y = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)
    if ok.any():
        mx, my = _transform(STORAGE_SRID, METRIC_SRID, x[ok], y[ok])
        finite = np.isfinite(mx) & np.isfinite(my)
        out_x[ok] = np.where(finite, mx, np.nan)
        out_y[ok] = np.where(finite, my, np.nan)
    return out_x, out_y


def from_metric(xs: ArrayLike, ys: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return WGS84 lon/lat (degrees) for EPSG:4549 metres computed here (``to_metric``'s inverse, e.g.
    heatmap cell centres): no area-of-use check, as for input; NaN where PROJ cannot. Never raises."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    lon, lat = _transform(METRIC_SRID, STORAGE_SRID, x, y)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    return np.where(bad, np.nan, lon), np.where(bad, np.nan, lat)


def _validate_metric_arrays(xs: ArrayLike, ys: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return projected easting/northing (metres) as float64 arrays; reject NaN/inf."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y arrays differ in shape: {x.shape} vs {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("easting/northing values must be finite numbers")
    return x, y


def projected_to_wgs84(xs: ArrayLike, ys: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Convert projected metres (EPSG:4549 or EPSG:3857) to WGS84; return (lon, lat, ok).

    ``ok`` is False where the input is not finite, or its WGS84 point is outside the CRS's area of use,
    or projecting that point back does not give the input again (an inverse far outside the projection's
    domain answers a plausible but wrong point). Never raises for such a point; lon/lat are NaN there.
    """
    epsg = _PROJECTED[parse_crs(crs)]
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    lon, lat = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    idx = np.flatnonzero(ok)
    lon[idx], lat[idx] = _transform(epsg, WGS84, x[idx], y[idx])
    ok[idx] = _in_box(lon[idx], lat[idx], area_of_use(epsg))
    idx = np.flatnonzero(ok)
    back_x, back_y = _transform(WGS84, epsg, lon[idx], lat[idx])
    ok[idx] = np.hypot(back_x - x[idx], back_y - y[idx]) <= _ROUND_TRIP_TOL_M  # NaN compares False
    lon[~ok], lat[~ok] = np.nan, np.nan
    return lon, lat, ok


def _outside_area_message(crs: str, bad: NDArray[np.bool_], x: FloatArray, y: FloatArray) -> str:
    name = parse_crs(crs)
    i = int(np.flatnonzero(bad.ravel())[0])
    west, south, east, north = area_of_use(_PROJECTED[name])
    return (f"{int(bad.sum())} point(s) outside the area of use of {name} (lon {west:g}..{east:g}, "
            f"lat {south:g}..{north:g} degrees); first at index {i}: x={x.ravel()[i]!r}, y={y.ravel()[i]!r}")


def to_wgs84_array(xs: ArrayLike, ys: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert coordinate arrays in ``crs`` to WGS84 lon/lat arrays (degrees).

    For EPSG:4549 and EPSG:3857 the input is easting/northing in metres, accepted inside the CRS's
    area of use only; for all other systems it is lon/lat in degrees. Raise ``ValueError`` (never a
    PROJ error) when any point is not finite, not on the globe or outside that area.
    """
    name = parse_crs(crs)
    if name in _PROJECTED:
        x, y = _validate_metric_arrays(xs, ys)
        lon, lat, ok = projected_to_wgs84(x, y, name)
        if not ok.all():
            raise ValueError(_outside_area_message(name, ~ok, x, y))
        return lon, lat
    x, y = validate_lonlat_arrays(xs, ys)
    if name == EPSG_4326:
        return x.copy(), y.copy()
    if name == EPSG_4490:
        return validate_lonlat_arrays(*_transform(CGCS2000, WGS84, x, y))
    if name == GCJ02:
        return gcj02_to_wgs84_array(x, y)
    return gcj02_to_wgs84_array(*bd09_to_gcj02_array(x, y))


def from_wgs84_array(lons: ArrayLike, lats: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 lon/lat arrays (degrees) to ``crs`` (metres for EPSG:4549/3857, else degrees).

    Raise ``ValueError`` (never a PROJ error) where the projection cannot take a point.
    """
    name = parse_crs(crs)
    x, y = validate_lonlat_arrays(lons, lats)
    if name == EPSG_4326:
        return x.copy(), y.copy()
    if name in _EPSG_OF:
        out_x, out_y = _transform(WGS84, _EPSG_OF[name], x, y)
        bad = ~(np.isfinite(out_x) & np.isfinite(out_y))
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(f"{int(bad.sum())} point(s) cannot be projected to {name}; first at index {i}: "
                             f"lon={x.ravel()[i]!r}, lat={y.ravel()[i]!r}")
        return out_x, out_y
    if name == GCJ02:
        return wgs84_to_gcj02_array(x, y)
    return gcj02_to_bd09_array(*wgs84_to_gcj02_array(x, y))


def to_wgs84(x: float, y: float, crs: str) -> tuple[float, float]:
    """Convert one point in ``crs`` to WGS84 (lon, lat) degrees.

    ``x, y`` are easting/northing in metres for EPSG:4549/3857 and lon/lat in
    degrees otherwise. Raise ``UnknownCRS`` or ``ValueError`` on bad input.
    """
    name = parse_crs(crs)
    if name not in _PROJECTED:
        validate_lonlat(x, y)
    lons, lats = to_wgs84_array(np.array([x]), np.array([y]), name)
    return float(lons[0]), float(lats[0])


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert one WGS84 (lon, lat) in degrees to ``crs`` (metres for EPSG:4549)."""
    validate_lonlat(lon, lat)
    xs, ys = from_wgs84_array(np.array([lon]), np.array([lat]), crs)
    return float(xs[0]), float(ys[0])
