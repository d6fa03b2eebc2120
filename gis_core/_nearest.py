"""Nearest comprehensive grid (EPSG:4549 metres) for points outside every grid.

Distances are measured to the grids' outer boundary segments (``_segments``).
Two lookup levels answer most points with numpy: the locator raster (cells
that are not wholly inside a grid) and a coarser "far" grid that extends one
raster span beyond it on every side. For each of their cells a short list of
candidate segments is precomputed (every segment that can be nearest, or
within the tie band of the nearest, for *some* point of the cell), and
points are projected to EPSG:4549 with a polynomial fitted over the level
(``_projection``, error checked to be about 1 mm at most). Points beyond the
far grid use pyproj and a GEOS STRtree. Near-ties between grids are settled
as on the PostGIS side (``_ties``).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from gis_core._projection import LocalProjector
from gis_core._raster import Grid, choose_shape
from gis_core._segments import Segments
from gis_core._ties import resolve, tie_band
from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

# Extra reach (fraction of the cell radius, plus metres) when choosing
# candidate segments; covers the projection error and cell growth.
_REACH_FRACTION = 0.01
_REACH_METRES = 0.01
# Candidate lists longer than this are padded to the next power of two.
_EXACT_WIDTHS = 8
# The far grid reaches this many raster spans beyond the raster per side.
FAR_MARGIN_SPANS = 1.0
FAR_MAX_CELLS = 1 << 16
# Cells per block side when candidates are first gathered with GEOS.
_BUILD_BLOCK = 8


def _reach(radius: FloatArray, dmin: FloatArray) -> FloatArray:
    """Return how far beyond the centre's nearest distance ``dmin`` a candidate may lie (m).

    Any point p within ``radius`` of centre c has nearest distance <= dmin(c)
    + radius, so a segment within the tie band of p's nearest one has
    dist(c, s) <= dmin(c) + 2 radius + tie_band(dmin(c) + radius).
    """
    r = radius * (1.0 + _REACH_FRACTION) + _REACH_METRES
    return 2.0 * r + tie_band(dmin + r)


def _prune(s: Segments, e: FloatArray, n: FloatArray, radius: FloatArray, grp: IntArray, seg: IntArray) -> NDArray:
    """Return a mask of (group, segment) pairs that can matter somewhere in a group's disc.

    Groups are contiguous runs of ``grp``; group g is the disc of ``radius``
    m around (e[g], n[g]) in EPSG:4549. With s* the segment nearest to the
    centre c, s is dropped when beyond ``_reach`` or when it is dominated by
    s* over the whole disc: the distance to a convex set has a Hessian
    bounded by 1/d, so |grad(d_s - d*)| <= L = |u_s(c) - u*(c)| +
    r/(d_s(c) - r) + r/(d*(c) - r) in the disc (u = unit vector away from
    the segment), and d_s - d* > x everywhere if d_s(c) - d*(c) > r L + x.
    Here x = 0 for segments of the same grid as s* and the tie band for
    segments of other grids (which ``_ties`` must see).
    """
    r = radius * (1.0 + _REACH_FRACTION) + _REACH_METRES
    qx, qy = s.closest(e[grp], n[grp], seg)
    px, py = e[grp] - qx, n[grp] - qy
    d = np.hypot(px, py)
    starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
    counts = np.diff(np.r_[starts, grp.size])
    best = np.repeat(np.minimum.reduceat(d, starts), counts)
    hits = np.flatnonzero(d == best)
    first = hits[np.r_[True, grp[hits[1:]] != grp[hits[:-1]]]]
    safe = np.maximum(d, 1e-300)
    ux, uy = px / safe, py / safe
    rr = r[grp]
    lip = np.hypot(ux - np.repeat(ux[first], counts), uy - np.repeat(uy[first], counts))
    lip += rr / np.maximum(d - rr, rr) + rr / np.maximum(best - rr, rr)
    other = s.owner[seg] != np.repeat(s.owner[seg[first]], counts)
    slack = np.where(other, tie_band(best + rr), 0.0)
    dominated = (best > 2.0 * rr) & (d - best > rr * lip + slack)
    return (d <= best + _reach(radius[grp], best)) & ~dominated


def _expand(offsets: IntArray, values: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Return (position in ``rows``, value) for every CSR entry of each row, in row order."""
    counts = offsets[rows + 1] - offsets[rows]
    total = int(counts.sum())
    owner = np.repeat(np.arange(rows.shape[0]), counts)
    starts = np.repeat(offsets[rows] - (np.cumsum(counts) - counts), counts)
    return owner, values[starts + np.arange(total)]


def _grid_nodes(grid: Grid, project: LocalProjector) -> tuple[FloatArray, FloatArray]:
    """Return EPSG:4549 coordinates (metres) of all (nx+1)*(ny+1) grid nodes, row-major."""
    lon = grid.x0 + np.arange(grid.nx + 1) * grid.dx
    lat = grid.y0 + np.arange(grid.ny + 1) * grid.dy
    glon, glat = np.meshgrid(lon, lat)
    return project(glon.ravel(), glat.ravel())


def _discs(
    nodes: tuple[FloatArray, FloatArray], grid: Grid, ix: IntArray, iy: IntArray, span: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return metric centre (E, N) and radius (m) of grid rectangles of ``span`` x ``span`` cells.

    The centre is the mean of the four corner nodes and the radius the
    largest centre-to-corner distance, so the disc holds the whole rectangle
    (up to its edges' sub-millimetre curvature, covered by the reach margin).
    """
    ix_hi, iy_hi = np.minimum(ix + span, grid.nx), np.minimum(iy + span, grid.ny)
    stride = grid.nx + 1
    corners = [iy * stride + ix, iy * stride + ix_hi, iy_hi * stride + ix, iy_hi * stride + ix_hi]
    cx = [nodes[0][c] for c in corners]
    cy = [nodes[1][c] for c in corners]
    e, n = sum(cx) / 4.0, sum(cy) / 4.0
    radius = np.max([np.hypot(x - e, y - n) for x, y in zip(cx, cy, strict=True)], axis=0)
    return e, n, radius


def _geos_candidates(s: Segments, e: FloatArray, n: FloatArray, radius: FloatArray) -> tuple[IntArray, IntArray]:
    """Return a CSR of segments that can matter for some point within ``radius`` m of (e, n)."""
    centres = shapely.points(e, n)
    near_pairs, near_d = s.tree.query_nearest(centres, return_distance=True, all_matches=False)
    dmin = np.full(e.shape[0], np.inf)
    np.minimum.at(dmin, near_pairs[0], near_d)
    owner, seg = s.tree.query(centres, predicate="dwithin", distance=dmin + _reach(radius, dmin))
    order = np.argsort(owner, kind="stable")
    owner, seg = owner[order], seg[order].astype(np.int64)
    keep = _prune(s, e, n, radius, owner, seg)
    owner, seg = owner[keep], seg[keep]
    offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=e.shape[0]))].astype(np.int64)
    return offsets, seg


class _Level:
    """Per-cell candidate segments for selected cells of a grid, and its local projection."""

    def __init__(self, grid: Grid, cells: IntArray, segments: Segments, rank: IntArray) -> None:
        """Precompute ``cells`` of ``grid``: GEOS per block of cells, then numpy per cell."""
        self.grid, self.segments, self.rank = grid, segments, rank
        self.slot = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
        self.slot[cells] = np.arange(cells.size)
        self.project = LocalProjector(grid.bounds)
        nodes = _grid_nodes(grid, self.project)
        ix, iy = cells % grid.nx, cells // grid.nx
        e, n, radius = _discs(nodes, grid, ix, iy, 1)
        n_bx = -(-grid.nx // _BUILD_BLOCK)
        blocks, cell_block = np.unique((iy // _BUILD_BLOCK) * n_bx + ix // _BUILD_BLOCK, return_inverse=True)
        bx, by = (blocks % n_bx) * _BUILD_BLOCK, (blocks // n_bx) * _BUILD_BLOCK
        b_offsets, b_cand = _geos_candidates(segments, *_discs(nodes, grid, bx, by, _BUILD_BLOCK))
        pair_cell, seg = _expand(b_offsets, b_cand, cell_block.astype(np.int64).ravel())
        if seg.size:
            keep = _prune(segments, e, n, radius, pair_cell, seg)
            pair_cell, seg = pair_cell[keep], seg[keep]
        order = np.lexsort((rank[segments.owner[seg]], pair_cell))
        offsets = np.r_[0, np.cumsum(np.bincount(pair_cell, minlength=cells.size))].astype(np.int64)
        self._build_groups(offsets, seg[order])

    def _build_groups(self, offsets: IntArray, cand: IntArray) -> None:
        """Store candidate lists as dense int32 (rows, width) tables, one per padded width.

        Lists are in grid-code rank order; padding repeats the last entry,
        which never changes the first minimum. ``mixed`` marks cells whose
        candidates belong to more than one grid (possible near-ties).
        """
        counts = np.diff(offsets)
        self.mean_count = float(counts.mean()) if counts.size else 0.0
        owner = self.segments.owner[cand]
        change = np.r_[False, owner[1:] != owner[:-1]].astype(np.int64)
        self.mixed = np.add.reduceat(change, offsets[:-1]) > 0 if cand.size else np.zeros(counts.size, bool)
        self.mixed &= counts > 1
        pow2 = 2 ** np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
        width = np.where(counts <= _EXACT_WIDTHS, counts, pow2)
        self.widths = [int(w) for w in np.unique(width)]
        self.width_index = np.searchsorted(self.widths, width).astype(np.int8)
        self.row = np.zeros(counts.size, dtype=np.int64)
        self.tables: list[NDArray[np.int32]] = []
        for w in self.widths:
            slots = np.flatnonzero(width == w)
            self.row[slots] = np.arange(slots.size)
            take = offsets[slots][:, None] + np.minimum(np.arange(w), np.maximum(counts[slots][:, None] - 1, 0))
            self.tables.append(cand[take].astype(np.int32) if cand.size else np.zeros((slots.size, w), np.int32))

    def nearest(self, x: FloatArray, y: FloatArray, slots: IntArray) -> tuple[IntArray, FloatArray]:
        """Return (feature, distance m) nearest to EPSG:4326 points lying in cells ``slots``."""
        px, py = self.project(x, y)
        feat = np.full(x.shape[0], -1, dtype=np.int64)
        dist = np.full(x.shape[0], np.inf)
        group = self.width_index[slots]
        order = np.argsort(group, kind="stable")  # radix sort on int8
        bounds = np.r_[0, np.cumsum(np.bincount(group, minlength=len(self.widths)))]
        ties: list[tuple[IntArray, IntArray, FloatArray]] = []
        for k, table in enumerate(self.tables):
            sel = order[bounds[k] : bounds[k + 1]]
            if sel.size == 0 or self.widths[k] == 0:
                continue
            seg = table[self.row[slots[sel]]]
            d2 = self.segments.squared_distances(px[sel, None], py[sel, None], seg)
            best = d2.min(axis=1)
            feat[sel] = self.segments.owner[seg[np.arange(sel.size), np.argmin(d2, axis=1)]]
            dist[sel] = np.sqrt(best)
            tied = _tied_rows(self.segments, seg, d2, dist[sel], self.mixed[slots[sel]])
            if tied.size:
                rows = np.repeat(sel[tied], seg.shape[1])
                ties.append((rows, seg[tied].ravel().astype(np.int64), d2[tied].ravel()))
        if ties:
            pt, seg, d2 = (np.concatenate(parts) for parts in zip(*ties, strict=True))
            rows, chosen, planar = resolve(pt, seg, d2, self.segments, self.rank, (x, y))
            feat[rows], dist[rows] = chosen, planar
        return feat, dist


def _tied_rows(s: Segments, seg: NDArray, d2: FloatArray, d: FloatArray, mixed: NDArray[np.bool_]) -> IntArray:
    """Return rows (of (n, w) candidate tables) where another grid is within the tie band."""
    rows = np.flatnonzero(mixed)
    if rows.size == 0:
        return rows
    owner = s.owner[seg[rows]]
    chosen = owner[np.arange(rows.size), np.argmin(d2[rows], axis=1)]
    limit = d[rows] + tie_band(d[rows])
    near = (d2[rows] <= (limit * limit)[:, None]) & (owner != chosen[:, None])
    return rows[near.any(axis=1)]


def _far_grid(inner: Grid) -> tuple[Grid, IntArray]:
    """Return the far grid around ``inner`` and its cells not wholly inside ``inner`` (degrees)."""
    x0, y0, x1, y1 = inner.bounds
    mx, my = (x1 - x0) * FAR_MARGIN_SPANS, (y1 - y0) * FAR_MARGIN_SPANS
    fx0, fy0 = max(x0 - mx, -180.0), max(y0 - my, -90.0)
    fx1, fy1 = min(x1 + mx, 180.0), min(y1 + my, 90.0)
    nx, ny = choose_shape((fx0, fy0, fx1, fy1), FAR_MAX_CELLS)
    grid = Grid(fx0, fy0, (fx1 - fx0) / nx, (fy1 - fy0) / ny, nx, ny)
    ix = np.tile(np.arange(nx), ny)
    iy = np.repeat(np.arange(ny), nx)
    inside = (
        (fx0 + ix * grid.dx >= x0)
        & (fx0 + (ix + 1) * grid.dx <= x1)
        & (fy0 + iy * grid.dy >= y0)
        & (fy0 + (iy + 1) * grid.dy <= y1)
    )
    return grid, np.flatnonzero(~inside)


class NearestTable:
    """Find the nearest comprehensive grid of EPSG:4326 points in metres (EPSG:4549)."""

    def __init__(self, segments: Segments, raster: Grid | None, near_cells: IntArray | None, rank: IntArray) -> None:
        """Precompute lookup levels: ``near_cells`` of ``raster``, then a far grid around it."""
        self.segments = segments
        self._rank = rank
        self.levels: list[_Level] = []
        if raster is not None and near_cells is not None and segments.ax.size:
            self.levels.append(_Level(raster, near_cells, segments, rank))
            far, far_cells = _far_grid(raster)
            self.levels.append(_Level(far, far_cells, segments, rank))

    def nearest(self, x: FloatArray, y: FloatArray, cells: IntArray | None = None) -> tuple[IntArray, FloatArray]:
        """Return (nearest feature index, distance in metres) for EPSG:4326 points known outside.

        ``cells`` optionally gives each point's cell in the first level's grid
        (-1 outside it), as already computed by the caller.
        """
        n = x.shape[0]
        feat = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        todo = np.arange(n)
        for k, level in enumerate(self.levels):
            if k == 0 and cells is not None:
                pts = np.flatnonzero(cells >= 0)
                found = cells[pts]
            else:
                pts, found = level.grid.cells_of(x[todo], y[todo])
                pts = todo[pts]
            slots = level.slot[found]
            ok = slots >= 0
            pts, slots = pts[ok], slots[ok]
            feat[pts], dist[pts] = level.nearest(x[pts], y[pts], slots)
            done = np.zeros(n, dtype=bool)
            done[pts] = True
            todo = todo[~done[todo]]
        if todo.size:
            feat[todo], dist[todo] = self._nearest_exact(x[todo], y[todo])
        return feat, dist

    def _nearest_exact(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, FloatArray]:
        """Return nearest feature/distance (metres) via pyproj and the GEOS segment tree."""
        feat = np.full(x.shape[0], -1, dtype=np.int64)
        dist = np.full(x.shape[0], np.inf)
        mx, my = get_transformer(STORAGE_SRID, METRIC_SRID).transform(x, y)
        ok = np.flatnonzero(np.isfinite(mx) & np.isfinite(my))
        if ok.size == 0 or self.segments.ax.size == 0:
            return feat, dist
        points = shapely.points(mx[ok], my[ok])
        near_pairs, near_d = self.segments.tree.query_nearest(points, return_distance=True, all_matches=False)
        best = np.full(ok.size, np.inf)
        np.minimum.at(best, near_pairs[0], near_d)
        pt, seg = self.segments.tree.query(points, predicate="dwithin", distance=best * (1 + 1e-9) + tie_band(best))
        d2 = self.segments.squared_distances(mx[ok][pt], my[ok][pt], seg)
        rows, chosen, planar = resolve(pt, seg, d2, self.segments, self._rank, (x[ok], y[ok]))
        feat[ok[rows]], dist[ok[rows]] = chosen, planar
        return feat, dist
