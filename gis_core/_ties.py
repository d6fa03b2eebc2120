"""Choose the nearest grid among near-equal candidates by geography metres, as PostGIS would.

Planar EPSG:4549 distances and PostGIS geography distances differ by a few
parts in 1e5, and geography treats polygon edges as great-circle arcs, which
bow away from the straight lon/lat edges by up to about a centimetre per
kilometre of edge. That can swap two grids whose distances are within
centimetres. Whenever another grid is within ``tie_band(d)`` metres of the
nearest one, the candidates are re-ranked the way PostGIS measures
``ST_Distance(geography, geography)`` and the tests' PostGIS reference
(``tests/grids/postgis_locator.py``) orders it:

1. per grid, the edge nearest on the unit sphere (edges are great-circle
   arcs between the stored lon/lat vertices; the point on the arc nearest
   to the query point, else the nearer end);
2. the WGS84 ellipsoidal distance to that point (pyproj's geodesic; PostGIS
   uses Vincenty's formula, equal to well under a millimetre here);
3. rounded to the centimetre (half up), then the smaller code.

The reported distance stays the planar EPSG:4549 one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pyproj import Geod

from gis_core._segments import Segments

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

TIE_BAND_M = 0.05
TIE_BAND_REL = 1e-4
_GEOD = Geod(ellps="WGS84")


def tie_band(d: FloatArray) -> FloatArray:
    """Return how close (metres) another grid must be to distance ``d`` (m) to be re-ranked."""
    return TIE_BAND_M + TIE_BAND_REL * d


def _unit(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return unit-sphere vectors (n, 3) for lon/lat in degrees."""
    lon, lat = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _angle(u: FloatArray, v: FloatArray) -> FloatArray:
    """Return the angle (radians) between unit vectors, row-wise."""
    return np.arctan2(np.linalg.norm(np.cross(u, v), axis=1), np.einsum("ij,ij->i", u, v))


def _arc_nearest(p: FloatArray, a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return (angle, nearest unit vector) from points p to great-circle arcs a-b, row-wise."""
    normal = np.cross(a, b)
    size = np.linalg.norm(normal, axis=1)
    normal /= np.maximum(size, 1e-300)[:, None]
    foot = p - np.einsum("ij,ij->i", p, normal)[:, None] * normal
    foot /= np.maximum(np.linalg.norm(foot, axis=1), 1e-300)[:, None]
    on_arc = (size > 0.0) & (np.einsum("ij,ij->i", np.cross(a, foot), normal) >= 0.0)
    on_arc &= np.einsum("ij,ij->i", np.cross(foot, b), normal) >= 0.0
    to_a, to_b, to_foot = _angle(p, a), _angle(p, b), _angle(p, foot)
    end = np.where((to_a <= to_b)[:, None], a, b)
    nearest = np.where(on_arc[:, None], foot, end)
    return np.where(on_arc, to_foot, np.minimum(to_a, to_b)), nearest


def _geography_cm(pt: IntArray, seg: IntArray, owner: IntArray, s: Segments, lon: FloatArray, lat: FloatArray):
    """Return (point, owner, geodesic cm rounded half up) per (point, owner) pair, PostGIS-style."""
    p = _unit(lon[pt], lat[pt])
    angle, nearest = _arc_nearest(
        p, _unit(s.lonlat[seg, 0], s.lonlat[seg, 1]), _unit(s.lonlat[seg, 2], s.lonlat[seg, 3])
    )
    order = np.lexsort((angle, owner, pt))
    first = order[np.r_[True, (pt[order][1:] != pt[order][:-1]) | (owner[order][1:] != owner[order][:-1])]]
    q = nearest[first]
    qlon, qlat = np.degrees(np.arctan2(q[:, 1], q[:, 0])), np.degrees(np.arcsin(np.clip(q[:, 2], -1.0, 1.0)))
    _, _, metres = _GEOD.inv(lon[pt[first]], lat[pt[first]], qlon, qlat)
    return pt[first], owner[first], np.floor(np.asarray(metres) * 100.0 + 0.5)


def _group_min(pt: IntArray, values: FloatArray) -> FloatArray:
    """Return, for rows sorted by ``pt``, each row's group minimum of ``values``."""
    starts = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])
    return np.repeat(np.minimum.reduceat(values, starts), np.diff(np.r_[starts, pt.size]))


def resolve(
    pt: IntArray,
    seg: IntArray,
    d2: FloatArray,
    segments: Segments,
    rank: IntArray,
    points: tuple[FloatArray, FloatArray],
) -> tuple[IntArray, IntArray, FloatArray]:
    """Pick one grid per point from candidate (point, segment, squared planar m^2) triples.

    ``points`` = (lon, lat) arrays in degrees indexed by ``pt``. Return
    (points, chosen feature, planar distance m), one row per point.
    """
    lon, lat = points
    owner = segments.owner[seg]
    order = np.lexsort((d2, owner, pt))
    pt, seg, d2, owner = pt[order], seg[order], d2[order], owner[order]
    d = np.sqrt(d2)
    best = _group_min(pt, d)
    near = d <= best + tie_band(best)
    pt, seg, d, owner = pt[near], seg[near], d[near], owner[near]
    first = np.r_[True, (pt[1:] != pt[:-1]) | (owner[1:] != owner[:-1])]
    o_pt, o_owner, o_d = pt[first], owner[first], d[first]  # nearest segment per (point, owner)
    starts = np.flatnonzero(np.r_[True, o_pt[1:] != o_pt[:-1]])
    counts = np.diff(np.r_[starts, o_pt.size])
    multi = np.repeat(counts > 1, counts)
    key = o_d.copy()
    if multi.any():
        tied = np.isin(pt, o_pt[multi])
        g_pt, g_owner, cm = _geography_cm(pt[tied], seg[tied], owner[tied], segments, lon, lat)
        width = int(segments.owner.max()) + 1
        rows = np.flatnonzero(multi)
        where = np.searchsorted(g_pt * width + g_owner, o_pt[rows] * width + o_owner[rows])
        key[rows] = cm[where]
    order = np.lexsort((rank[o_owner], key, o_pt))
    o_pt, o_owner, o_d = o_pt[order], o_owner[order], o_d[order]
    pick = np.r_[True, o_pt[1:] != o_pt[:-1]]
    return o_pt[pick], o_owner[pick], o_d[pick]
