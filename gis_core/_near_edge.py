"""The near-edge rule: how far (EPSG:4549 metres) a located point is from its grid's outline.

The distance is planar, in ``METRIC_SRID``, from the point to the outline
(outer and inner rings) of the comprehensive grid it was located in. Most
points are far from every outline: a raster cell whose neighbours within
``reach_m`` all lie inside the same grid is *deep*, and no point in it can be
near its grid's edge, so only points in the other cells are measured.

Why a deep cell is safe: the cells of the block around it each lie strictly
inside the grid (``contains_properly``), so the grid's outline lies outside
the block, at least ``k`` cells away in longitude or latitude from any point
of the centre cell. Transverse Mercator with scale factor 1 on its central
meridian (EPSG:4549) never shrinks lengths, so planar metres are at least
ellipsoidal ones, and ``_min_cell_m`` bounds those from below.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray

from gis_core._raster import IMPURE, Raster
from gis_core.coords import get_transformer
from gis_core.geometry import to_metric
from gis_core.srid import METRIC_SRID, STORAGE_SRID

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

# GRS80 / WGS84 ellipsoid (CGCS2000 uses GRS80; the two differ by 0.1 mm in the semi-minor axis).
_A = 6378137.0
_E2 = 0.0066943800229
# Metres per degree of latitude, at least (the meridian's radius of curvature is smallest at the equator).
_LAT_M_PER_DEG_MIN = math.radians(1.0) * _A * (1.0 - _E2)
# Share of a cell's size in metres not relied upon (covers the local approximations below).
_SAFETY = 0.01
# More rings than this and the deep-cell test costs more than it saves: every cell is measured.
_MAX_RINGS = 32


def _min_cell_m(raster: Raster) -> float:
    """Return a lower bound (metres) on the ground size of one raster cell, in either direction."""
    top = min(max(abs(raster.y0), abs(raster.y0 + raster.ny * raster.dy)) + 0.01, 89.9)
    phi = math.radians(top)
    lon_m_per_deg = math.radians(1.0) * _A * math.cos(phi) / math.sqrt(1.0 - _E2 * math.sin(phi) ** 2)
    return min(raster.dx * lon_m_per_deg, raster.dy * _LAT_M_PER_DEG_MIN) * (1.0 - _SAFETY)


def _window(state: NDArray[np.int32], rings: int, axis: int, reduce) -> NDArray[np.int32]:  # noqa: ANN001
    """Return ``reduce`` (np.minimum or np.maximum) of ``state`` over +-``rings`` cells along ``axis``."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (rings, rings)
    padded = np.pad(state, pad, constant_values=IMPURE)
    size = state.shape[axis]
    out = state.copy()
    for shift in range(2 * rings + 1):
        part = padded[shift:shift + size, :] if axis == 0 else padded[:, shift:shift + size]
        out = reduce(out, part)
    return out


def deep_cells(raster: Raster, reach_m: float) -> NDArray[np.bool_]:
    """Return, per raster cell, whether every point of it is at least ``reach_m`` from its grid's outline.

    Only cells wholly inside one comprehensive grid can be deep; a cell is when
    every cell within ``k`` rings around it (``k`` cells span ``reach_m``) lies
    inside the same grid.
    """
    state = raster.cell_state.reshape(raster.ny, raster.nx)
    cell_m = _min_cell_m(raster)
    rings = math.ceil(reach_m / cell_m) if cell_m > 0.0 else _MAX_RINGS + 1
    if rings > _MAX_RINGS:
        return np.zeros(state.size, dtype=bool)
    low = _window(_window(state, rings, 1, np.minimum), rings, 0, np.minimum)
    high = _window(_window(state, rings, 1, np.maximum), rings, 0, np.maximum)
    return ((state >= 0) & (low == state) & (high == state)).ravel()


def metric_outlines(geoms: NDArray[np.object_], wanted: NDArray[np.bool_]) -> NDArray[np.object_]:
    """Return the outlines (rings) in EPSG:4549 of the EPSG:4326 ``geoms`` where ``wanted``, else None."""
    out = np.full(geoms.shape[0], None, dtype=object)
    for i in np.flatnonzero(wanted):
        out[i] = to_metric(shapely.boundary(geoms[i]))
    return out


def edge_distance_m(outlines: NDArray[np.object_], feats: IntArray, lons: FloatArray, lats: FloatArray) -> FloatArray:
    """Return the EPSG:4549 metres from each EPSG:4326 point to the outline of feature ``feats[i]``."""
    if feats.size == 0:
        return np.empty(0, dtype=np.float64)
    x, y = get_transformer(STORAGE_SRID, METRIC_SRID).transform(lons, lats)
    return shapely.distance(outlines[feats], shapely.points(np.asarray(x), np.asarray(y)))
