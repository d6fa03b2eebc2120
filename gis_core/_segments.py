"""Outer boundary segments of the comprehensive grids, in EPSG:4549 metres.

For a point outside every comprehensive grid, its distance to a grid equals
its distance to that grid's boundary, and its distance to the union of the
grids is reached on the union's boundary. Ring segments shared (in opposite
directions) by two grids lie inside the union and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Segments:
    """Segments a -> a + e in EPSG:4549 metres, each owned by one feature (index)."""

    ax: FloatArray
    ay: FloatArray
    ex: FloatArray
    ey: FloatArray
    inv_len2: FloatArray  # 1 / |e|^2, 0 for degenerate segments
    owner: IntArray
    tree: shapely.STRtree
    lonlat: FloatArray  # (n, 4): lon/lat degrees of a and b, as stored (EPSG:4326)

    def closest(self, px: FloatArray, py: FloatArray, seg: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return the point (metres) of each segment ``seg`` closest to (px, py) (broadcast)."""
        t = ((px - self.ax[seg]) * self.ex[seg] + (py - self.ay[seg]) * self.ey[seg]) * self.inv_len2[seg]
        np.clip(t, 0.0, 1.0, out=t)
        return self.ax[seg] + t * self.ex[seg], self.ay[seg] + t * self.ey[seg]

    def squared_distances(self, px: FloatArray, py: FloatArray, seg: IntArray) -> FloatArray:
        """Return squared distances (m^2) from points (px, py) to segments ``seg`` (broadcast)."""
        dx = px - self.ax[seg]
        dy = py - self.ay[seg]
        ex, ey = self.ex[seg], self.ey[seg]
        t = dx * ex + dy * ey
        t *= self.inv_len2[seg]
        np.clip(t, 0.0, 1.0, out=t)
        dx -= t * ex
        dy -= t * ey
        return dx * dx + dy * dy


def _unshared(lon: FloatArray, lat: FloatArray, same: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Return a mask of segments i -> i+1 (degrees) that no other ring runs in reverse."""
    starts = np.flatnonzero(same)
    fwd = {(lon[i], lat[i], lon[i + 1], lat[i + 1]) for i in starts}
    keep = np.array([(lon[i + 1], lat[i + 1], lon[i], lat[i]) not in fwd for i in starts], dtype=bool)
    mask = np.zeros(same.shape, dtype=bool)
    mask[starts[keep]] = True
    return mask


def boundary_segments(geoms: NDArray[np.object_], owners: IntArray) -> Segments:
    """Return the unshared ring segments of EPSG:4326 ``geoms`` in EPSG:4549, tagged with ``owners``."""
    oriented = shapely.orient_polygons(geoms)  # shells CCW, holes CW: shared edges run opposite
    parts, part_owner = shapely.get_parts(oriented, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    keep = _unshared(coords[:, 0], coords[:, 1], coord_ring[1:] == coord_ring[:-1])
    mx, my = get_transformer(STORAGE_SRID, METRIC_SRID).transform(coords[:, 0], coords[:, 1], errcheck=True)
    ax, ay, bx, by = mx[:-1][keep], my[:-1][keep], mx[1:][keep], my[1:][keep]
    owner = owners[part_owner[ring_part[coord_ring[:-1][keep]]]].astype(np.int64)
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0.0)
    lines = shapely.linestrings(np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1))
    lonlat = np.column_stack([coords[:-1][keep], coords[1:][keep]])
    return Segments(ax, ay, ex, ey, inv, owner, shapely.STRtree(lines), lonlat)
