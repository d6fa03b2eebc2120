"""Nearest comprehensive grid (EPSG:4549 metres) for points outside every grid.

For a point not covered by a polygon, its distance to the polygon equals
its distance to the nearest boundary segment. All ring segments of the
comprehensive grids are kept in EPSG:4549 metres. For every raster cell a
point could be outside in, a short list of candidate segments is
precomputed (segments that can be nearest for *some* point of the cell),
together with an affine approximation of the EPSG:4326 -> EPSG:4549
projection over that cell (error ~1e-5 m for 20-50 m cells). Points outside
the raster use pyproj and a GEOS STRtree instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from gis_core._raster import BLOCK, Raster
from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

# Extra reach (fraction of the cell radius, plus metres) when choosing
# candidate segments; covers the affine approximation and cell growth.
_REACH_FRACTION = 0.01
_REACH_METRES = 0.01
# Squared distances within this relative difference count as a tie, which
# is then broken by grid code; absorbs last-bit rounding between the two
# segments that meet at a shared vertex.
_TIE_REL = 1e-12
# Candidate lists longer than this are padded to the next power of two.
_EXACT_WIDTHS = 8


@dataclass(frozen=True)
class Segments:
    """Ring segments a->b of the comprehensive grids in EPSG:4549 metres."""

    ax: FloatArray
    ay: FloatArray
    bx: FloatArray
    by: FloatArray
    owner: IntArray
    tree: shapely.STRtree

    def table(self) -> FloatArray:
        """Return rows (ax, ay, ex, ey, 1/|e|^2) per segment, e = b - a (metres; 0 for points)."""
        ex, ey = self.bx - self.ax, self.by - self.ay
        ee = ex * ex + ey * ey
        inv = np.divide(1.0, ee, out=np.zeros_like(ee), where=ee > 0.0)
        return np.column_stack([self.ax, self.ay, ex, ey, inv])


def boundary_segments(geoms: NDArray[np.object_], owners: IntArray) -> Segments:
    """Return the ring segments of EPSG:4326 ``geoms`` in EPSG:4549, tagged with ``owners``."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    mx, my = get_transformer(STORAGE_SRID, METRIC_SRID).transform(coords[:, 0], coords[:, 1], errcheck=True)
    same = coord_ring[1:] == coord_ring[:-1]
    ax, ay, bx, by = mx[:-1][same], my[:-1][same], mx[1:][same], my[1:][same]
    owner = owners[part_owner[ring_part[coord_ring[:-1][same]]]].astype(np.int64)
    lines = shapely.linestrings(np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1))
    return Segments(ax, ay, bx, by, owner, shapely.STRtree(lines))


def segment_distances(
    px: FloatArray, py: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray
) -> FloatArray:
    """Return the planar distance (metres) from points p to segments a-b, element-wise."""
    ex, ey = bx - ax, by - ay
    dx, dy = px - ax, py - ay
    ee = ex * ex + ey * ey
    t = np.divide(dx * ex + dy * ey, ee, out=np.zeros_like(ee), where=ee > 0.0)
    np.clip(t, 0.0, 1.0, out=t)
    return np.hypot(dx - t * ex, dy - t * ey)


def _pick_by_rank(
    groups: IntArray, dist: FloatArray, feat: IntArray, rank: IntArray, n_groups: int
) -> tuple[IntArray, FloatArray]:
    """Return per group (contiguous ``groups`` ids 0..n-1) the closest feature, ties by rank."""
    out_feat = np.full(n_groups, -1, dtype=np.int64)
    out_dist = np.full(n_groups, np.inf)
    if groups.size == 0:
        return out_feat, out_dist
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    best = np.minimum.reduceat(dist, starts)
    counts = np.diff(np.r_[starts, groups.shape[0]])
    tied = dist <= np.repeat(best, counts) * (1.0 + _TIE_REL)
    tie_rank = np.where(tied, rank[feat], np.iinfo(np.int64).max)
    best_rank = np.minimum.reduceat(tie_rank, starts)
    by_rank = np.empty(rank.shape[0], dtype=np.int64)
    by_rank[rank] = np.arange(rank.shape[0])
    out_feat[groups[starts]] = by_rank[best_rank]
    out_dist[groups[starts]] = best
    return out_feat, out_dist


class NearestTable:
    """Find the nearest comprehensive grid of EPSG:4326 points in metres (EPSG:4549)."""

    def __init__(self, segments: Segments, raster: Raster | None, rank: IntArray) -> None:
        """Precompute per-cell candidate segments and projection for cells not fully inside."""
        self.segments = segments
        self.raster = raster
        self._rank = rank
        if raster is not None:
            self._build_cells(raster)

    def _build_cells(self, raster: Raster) -> None:
        """Fill the per-cell affine projection and candidate-segment CSR (metres).

        Candidates are found per block of ``BLOCK`` x ``BLOCK`` cells with
        GEOS, then narrowed per cell with numpy.
        """
        cells = np.flatnonzero(raster.cell_state < 0)
        self._slot = np.full(raster.nx * raster.ny, -1, dtype=np.int64)
        self._slot[cells] = np.arange(cells.size)
        nodes = _grid_nodes(raster)
        ix, iy = cells % raster.nx, cells // raster.nx
        self._ex, self._ny, radius, jac = _cell_frames(nodes, raster, ix, iy, ix + 1, iy + 1)
        lon_c, lat_c = raster.x0 + (ix + 0.5) * raster.dx, raster.y0 + (iy + 0.5) * raster.dy
        self._frame = np.column_stack([self._ex, self._ny, *jac, lon_c, lat_c])
        n_bx = -(-raster.nx // BLOCK)
        blocks, cell_block = np.unique((iy // BLOCK) * n_bx + ix // BLOCK, return_inverse=True)
        bx, by = (blocks % n_bx) * BLOCK, (blocks // n_bx) * BLOCK
        bx_hi, by_hi = np.minimum(bx + BLOCK, raster.nx), np.minimum(by + BLOCK, raster.ny)
        b_ex, b_ny, b_radius, _ = _cell_frames(nodes, raster, bx, by, bx_hi, by_hi)
        b_offsets, b_cand = self._candidates_geos(b_ex, b_ny, b_radius)
        pair_cell, seg = _expand(b_offsets, b_cand, cell_block.astype(np.int64))
        s = self.segments
        d = segment_distances(self._ex[pair_cell], self._ny[pair_cell], s.ax[seg], s.ay[seg], s.bx[seg], s.by[seg])
        starts = np.flatnonzero(np.r_[True, pair_cell[1:] != pair_cell[:-1]])
        dmin = np.minimum.reduceat(d, starts)
        keep = d <= (dmin + _reach(radius))[pair_cell]
        pair_cell, seg = pair_cell[keep], seg[keep]
        order = np.lexsort((self._rank[s.owner[seg]], pair_cell))
        offsets = np.r_[0, np.cumsum(np.bincount(pair_cell, minlength=cells.size))].astype(np.int64)
        self._groups = _WidthGroups(offsets, seg[order], s.table(), s.owner)

    def _candidates_geos(self, ex: FloatArray, ny: FloatArray, radius: FloatArray) -> tuple[IntArray, IntArray]:
        """Return a CSR of segments that can be nearest to some point within ``radius`` m of (ex, ny)."""
        centres = shapely.points(ex, ny)
        near_pairs, near_d = self.segments.tree.query_nearest(centres, return_distance=True, all_matches=False)
        dmin = np.full(ex.shape[0], np.inf)
        np.minimum.at(dmin, near_pairs[0], near_d)
        owner, seg = self.segments.tree.query(centres, predicate="dwithin", distance=dmin + _reach(radius))
        order = np.argsort(owner, kind="stable")
        offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=ex.shape[0]))].astype(np.int64)
        return offsets, seg[order].astype(np.int64)

    @property
    def mean_candidates(self) -> float:
        """Return the mean number of candidate segments per precomputed cell."""
        return self._groups.mean_count if self.raster is not None else 0.0

    def nearest(self, x: FloatArray, y: FloatArray, cells: IntArray | None = None) -> tuple[IntArray, FloatArray]:
        """Return (nearest feature index, distance in metres) for EPSG:4326 points known outside.

        ``cells`` optionally gives each point's raster cell (-1 outside the raster).
        """
        n = x.shape[0]
        feat = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        done = np.zeros(n, dtype=bool)
        if self.raster is not None:
            if cells is None:
                cells = np.full(n, -1, dtype=np.int64)
                pts, found = self.raster.cells_of(x, y)
                cells[pts] = found
            slots = np.where(cells >= 0, self._slot[np.maximum(cells, 0)], -1)
            pts = np.flatnonzero(slots >= 0)
            feat[pts], dist[pts] = self._nearest_in_cells(x[pts], y[pts], slots[pts])
            done[pts] = True
        rest = np.flatnonzero(~done)
        if rest.size:
            feat[rest], dist[rest] = self._nearest_exact(x[rest], y[rest])
        return feat, dist

    def _nearest_in_cells(self, x: FloatArray, y: FloatArray, slots: IntArray) -> tuple[IntArray, FloatArray]:
        """Return nearest feature/distance (metres) for points using the per-cell tables."""
        f = self._frame[slots]
        du, dv = x - f[:, 6], y - f[:, 7]
        px = f[:, 0] + f[:, 2] * du + f[:, 3] * dv
        py = f[:, 1] + f[:, 4] * du + f[:, 5] * dv
        return self._groups.nearest(px, py, slots)

    def _nearest_exact(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, FloatArray]:
        """Return nearest feature/distance (metres) via pyproj and the GEOS segment tree."""
        n = x.shape[0]
        feat = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        mx, my = get_transformer(STORAGE_SRID, METRIC_SRID).transform(x, y)
        ok = np.flatnonzero(np.isfinite(mx) & np.isfinite(my))
        if ok.size == 0:
            return feat, dist
        pairs, d = self.segments.tree.query_nearest(
            shapely.points(mx[ok], my[ok]), return_distance=True, all_matches=True
        )
        order = np.argsort(pairs[0], kind="stable")
        found, found_d = _pick_by_rank(
            pairs[0][order], d[order], self.segments.owner[pairs[1][order]], self._rank, ok.size
        )
        feat[ok], dist[ok] = found, found_d
        return feat, dist


class _WidthGroups:
    """Candidate segments per cell, stored as dense (5, rows, width) tables by list length.

    Lists are in grid-code rank order; longer lists are padded with their
    last entry, which never changes the first minimum.
    """

    def __init__(self, offsets: IntArray, cand: IntArray, segtab: FloatArray, seg_owner: IntArray) -> None:
        """Group the CSR candidate lists (segment indices) of all slots by padded width."""
        counts = np.diff(offsets)
        self.mean_count = float(counts.mean()) if counts.size else 0.0
        pow2 = 2 ** np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
        self.width = np.where(counts <= _EXACT_WIDTHS, counts, pow2)
        self.row = np.zeros(counts.size, dtype=np.int64)
        self.tables: dict[int, tuple[FloatArray, IntArray]] = {}
        for w in np.unique(self.width[self.width > 0]):
            slots = np.flatnonzero(self.width == w)
            self.row[slots] = np.arange(slots.size)
            take = offsets[slots][:, None] + np.minimum(np.arange(w), counts[slots][:, None] - 1)
            # Component-major (5, rows, width) so each gathered column is contiguous.
            self.tables[int(w)] = (np.ascontiguousarray(np.moveaxis(segtab[cand[take]], 2, 0)), seg_owner[cand[take]])

    def nearest(self, px: FloatArray, py: FloatArray, slots: IntArray) -> tuple[IntArray, FloatArray]:
        """Return (feature, distance m) nearest to metric points (px, py) among their slot's candidates."""
        feat = np.full(px.shape[0], -1, dtype=np.int64)
        dist = np.full(px.shape[0], np.inf)
        width = self.width[slots]
        for w, (tab, owner) in self.tables.items():
            sel = np.flatnonzero(width == w)
            if sel.size == 0:
                continue
            rows = self.row[slots[sel]]
            ax, ay, ex, ey, inv = (column[rows] for column in tab)
            dx = px[sel, None] - ax
            dy = py[sel, None] - ay
            t = dx * ex + dy * ey
            t *= inv
            np.clip(t, 0.0, 1.0, out=t)
            ex *= t
            ey *= t
            dx -= ex
            dy -= ey
            d2 = dx * dx + dy * dy
            best = d2.min(axis=1)
            pick = np.argmax(d2 <= best[:, None] * (1.0 + _TIE_REL), axis=1)
            feat[sel] = owner[rows, pick]
            dist[sel] = np.sqrt(best)
        return feat, dist


def _reach(radius: FloatArray) -> FloatArray:
    """Return how far beyond the centre's nearest distance a candidate may lie (metres).

    Any point p within ``radius`` of centre c has nearest distance <= dmin(c)
    + radius, so its nearest segment s has dist(c, s) <= dmin(c) + 2 radius.
    """
    return 2.0 * radius * (1.0 + _REACH_FRACTION) + _REACH_METRES


def _expand(offsets: IntArray, values: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Return (position in ``rows``, value) for every CSR entry of each row, in row order."""
    counts = offsets[rows + 1] - offsets[rows]
    total = int(counts.sum())
    owner = np.repeat(np.arange(rows.shape[0]), counts)
    starts = np.repeat(offsets[rows] - (np.cumsum(counts) - counts), counts)
    return owner, values[starts + np.arange(total)]


def _cell_frames(
    nodes: tuple[FloatArray, FloatArray], raster: Raster, ix: IntArray, iy: IntArray, ix_hi: IntArray, iy_hi: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return metric centre (m), radius (m) and lon/lat->metre Jacobian of raster rectangles.

    Each rectangle spans nodes ix..ix_hi, iy..iy_hi; the Jacobian rows are
    dE/dlon, dE/dlat, dN/dlon, dN/dlat in metres per degree.
    """
    stride = raster.nx + 1
    corners = [iy * stride + ix, iy * stride + ix_hi, iy_hi * stride + ix, iy_hi * stride + ix_hi]
    cx = [nodes[0][c] for c in corners]
    cy = [nodes[1][c] for c in corners]
    ex, ny = sum(cx) / 4.0, sum(cy) / 4.0
    wx, wy = (ix_hi - ix) * raster.dx, (iy_hi - iy) * raster.dy
    jac = np.stack(
        [
            (cx[1] - cx[0] + cx[3] - cx[2]) / (2.0 * wx),
            (cx[2] - cx[0] + cx[3] - cx[1]) / (2.0 * wy),
            (cy[1] - cy[0] + cy[3] - cy[2]) / (2.0 * wx),
            (cy[2] - cy[0] + cy[3] - cy[1]) / (2.0 * wy),
        ]
    )
    radius = np.max([np.hypot(x - ex, y - ny) for x, y in zip(cx, cy, strict=True)], axis=0)
    return ex, ny, radius, jac


def _grid_nodes(raster: Raster) -> tuple[FloatArray, FloatArray]:
    """Return EPSG:4549 coordinates (metres) of all (nx+1)*(ny+1) raster nodes, row-major."""
    lon = raster.x0 + np.arange(raster.nx + 1) * raster.dx
    lat = raster.y0 + np.arange(raster.ny + 1) * raster.dy
    glon, glat = np.meshgrid(lon, lat)
    mx, my = get_transformer(STORAGE_SRID, METRIC_SRID).transform(glon.ravel(), glat.ravel())
    return np.asarray(mx), np.asarray(my)
