"""The point locator: EPSG:4326 points -> comprehensive and dedicated grids, one rule set.

The rules, for every caller (the API, intake, relocation, camera placement):

* a grid contains a point when it *covers* it (a point on an edge or a
  vertex is inside);
* when several comprehensive grids cover the point (a shared edge or
  vertex), the one with the smallest ``code`` wins (plain code-point string
  order, ties broken by smallest ``id``), so the answer never depends on
  input order;
* dedicated grids covering the point are reported alongside, sorted the
  same way;
* when no comprehensive grid covers the point: ``outside`` is True and the
  nearest comprehensive grid and its distance in metres (planar, in
  ``METRIC_SRID``) are reported. When another grid is within a few
  centimetres (5 cm + 0.01 % of the distance), the candidates are ranked by
  geography (WGS84) metres rounded to the centimetre, then code (see
  ``_ties``), as PostGIS orders ``ST_Distance(geography)``;
* a located point is *near the edge* when it is less than ``NEAR_EDGE_M``
  metres (planar, in ``METRIC_SRID``) from the outline of its comprehensive
  grid; a point on a shared edge is at 0 m (see ``_near_edge``).

Points are EPSG:4326 lon/lat in degrees. Exact tests use GEOS (shapely 2);
most points are answered from a precomputed raster (see ``_raster``), the
nearest grid from precomputed candidate segments (see ``_nearest``). One
point or a million go through the same ``PolygonIndex.locate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gis_core._near_edge import deep_cells, edge_distance_m, metric_outlines
from gis_core._nearest import NearestTable
from gis_core._raster import IMPURE, Raster, build_raster
from gis_core._segments import boundary_segments
from gis_core.coords import in_metric_domain, validate_lonlat_arrays
from gis_core.geometry import InvalidGeometry

COMPREHENSIVE = "comprehensive"
DEDICATED = "dedicated"
GridKind = Literal["comprehensive", "dedicated"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

DEFAULT_MAX_CELLS = 1 << 18
DEFAULT_CELL_EPS_DEG = 1e-9

NEAR_EDGE_M = 10.0
"""A located point closer than this (metres, planar in METRIC_SRID) to its grid's outline is near the edge."""


@dataclass(frozen=True)
class LocatorFeature:
    """One grid: ``geometry`` is a shapely (Multi)Polygon in EPSG:4326 degrees."""

    id: int
    code: str
    kind: GridKind
    village_id: int
    geometry: BaseGeometry


@dataclass(frozen=True)
class Location:
    """The answer for one point (``LocateArrays.at``).

    Inside a comprehensive grid: ``nearest_grid_id`` repeats that grid and
    ``distance_m`` is 0.0. Outside: ``grid_id`` and ``village_id`` are None,
    ``distance_m`` is the distance in metres (planar, METRIC_SRID) to the
    nearest comprehensive grid, inf with ``nearest_grid_id`` None when the
    index has none, NaN when the nearest grid was not asked for.
    ``dedicated`` holds dedicated grid ids sorted by code. ``near_edge`` is
    None when it was not asked for.
    """

    grid_id: int | None
    village_id: int | None
    dedicated: tuple[int, ...]
    outside: bool
    nearest_grid_id: int | None
    distance_m: float
    near_edge: bool | None


@dataclass(frozen=True)
class LocateArrays:
    """Vectorised answers for n points (one entry per input point).

    ``grid_id``/``village_id``/``nearest_grid_id`` are int64 with -1 for
    none; ``nearest_distance_m`` is float64 metres (0 inside, inf when there
    is no comprehensive grid at all, NaN outside with ``nearest=False`` and for a point far from
    everything, outside ``gis_core.coords.in_metric_domain``, which has no nearest grid either).
    Dedicated grid ids per point are a CSR pair: ids of point i are
    ``dedicated_ids[dedicated_offsets[i]:dedicated_offsets[i + 1]]``, sorted
    by code. ``near_edge`` is a bool per point (False outside), or None with
    ``near_edge=False``.
    """

    grid_id: IntArray
    village_id: IntArray
    outside: NDArray[np.bool_]
    nearest_grid_id: IntArray
    nearest_distance_m: FloatArray
    dedicated_offsets: IntArray
    dedicated_ids: IntArray
    near_edge: NDArray[np.bool_] | None

    def __len__(self) -> int:
        """Return the number of points."""
        return int(self.grid_id.shape[0])

    def dedicated_for(self, i: int) -> tuple[int, ...]:
        """Return the dedicated grid ids (sorted by code) of point ``i``."""
        lo, hi = self.dedicated_offsets[i], self.dedicated_offsets[i + 1]
        return tuple(int(v) for v in self.dedicated_ids[lo:hi])

    def at(self, i: int) -> Location:
        """Return the answer for point ``i``."""

        def opt(value: np.integer) -> int | None:
            return None if value < 0 else int(value)

        return Location(
            grid_id=opt(self.grid_id[i]),
            village_id=opt(self.village_id[i]),
            dedicated=self.dedicated_for(i),
            outside=bool(self.outside[i]),
            nearest_grid_id=opt(self.nearest_grid_id[i]),
            distance_m=float(self.nearest_distance_m[i]),
            near_edge=None if self.near_edge is None else bool(self.near_edge[i]),
        )


def _check_feature(feature: LocatorFeature) -> BaseGeometry:
    """Return the 2D geometry of ``feature``; raise on a bad kind or geometry."""
    if feature.kind not in (COMPREHENSIVE, DEDICATED):
        raise ValueError(f"grid {feature.id}: kind must be 'comprehensive' or 'dedicated'")
    geom = feature.geometry
    if not isinstance(geom, (Polygon, MultiPolygon)) or geom.is_empty:
        raise InvalidGeometry(f"grid {feature.id}: geometry must be a non-empty (Multi)Polygon")
    geom = shapely.force_2d(geom)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidGeometry(f"grid {feature.id} ({feature.code}): invalid geometry: {reason}")
    return geom


def _group_first(points: IntArray, keys: IntArray) -> tuple[IntArray, IntArray]:
    """Return (unique points, index of the smallest key per point) for pair arrays."""
    order = np.lexsort((keys, points))
    sorted_pts = points[order]
    first = np.ones(sorted_pts.shape[0], dtype=bool)
    first[1:] = sorted_pts[1:] != sorted_pts[:-1]
    return sorted_pts[first], order[first]


def _expand_csr(
    offsets: IntArray, values: IntArray, rows: IntArray, counts: NDArray[np.int32], owners: IntArray
) -> tuple[IntArray, IntArray]:
    """Return (owner per pair, value per pair) for CSR ``rows`` (``counts`` long), tagged with owners."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.repeat(offsets[rows] - (np.cumsum(counts) - counts), counts)
    return np.repeat(owners, counts), values[starts + np.arange(total)]


class PolygonIndex:
    """Locate EPSG:4326 points in comprehensive and dedicated grids (see the module doc)."""

    def __init__(
        self,
        features: Iterable[LocatorFeature],
        *,
        max_cells: int = DEFAULT_MAX_CELLS,
        raster_shape: tuple[int, int] | None = None,
        cell_eps_deg: float = DEFAULT_CELL_EPS_DEG,
    ) -> None:
        """Index ``features`` (EPSG:4326); the raster has at most ``max_cells`` cells.

        ``raster_shape`` = (nx, ny) overrides the automatic raster size;
        ``cell_eps_deg`` is how far (degrees) each cell is grown before its
        purity test. Raise ``InvalidGeometry``/``ValueError`` on bad input.
        """
        self.features: tuple[LocatorFeature, ...] = tuple(features)
        geoms = [_check_feature(f) for f in self.features]
        ids = [f.id for f in self.features]
        if len(set(ids)) != len(ids):
            raise ValueError("grid ids must be unique")
        self._ids = np.array(ids, dtype=np.int64)
        # Copies with a trailing -1 so that feature index -1 maps to -1.
        self._ids_or_none = np.append(self._ids, -1)
        self._codes = [f.code for f in self.features]
        self._village = np.array([f.village_id for f in self.features], dtype=np.int64)
        self._village_or_none = np.append(self._village, -1)
        self._is_comp = np.array([f.kind == COMPREHENSIVE for f in self.features], dtype=bool)
        by_code = sorted(range(len(ids)), key=lambda i: (self._codes[i], ids[i]))
        self._rank = np.empty(len(ids), dtype=np.int64)
        self._rank[by_code] = np.arange(len(ids))
        self._geoms = np.array(geoms, dtype=object)
        self._build_indexes(max_cells, raster_shape, cell_eps_deg)

    def _build_indexes(self, max_cells: int, raster_shape: tuple[int, int] | None, cell_eps_deg: float) -> None:
        """Prepare the geometries; build the raster, the nearest tables and the near-edge outlines."""
        shapely.prepare(self._geoms)
        if self._geoms.size:
            # Build GEOS' lazy prepared-geometry indexes now, not during concurrent reads.
            probe = shapely.point_on_surface(self._geoms)
            shapely.intersects_xy(self._geoms, shapely.get_x(probe), shapely.get_y(probe))
        tree = shapely.STRtree(self._geoms)
        self.raster: Raster | None = None
        if self._geoms.size:
            self.raster = build_raster(
                tree, self._geoms, self._is_comp, self._rank, raster_shape, max_cells, cell_eps_deg
            )
        comp = np.flatnonzero(self._is_comp)
        self._nearest_table: NearestTable | None = None
        if comp.size:
            segments = boundary_segments(self._geoms[comp], comp)
            near_cells = None if self.raster is None else np.flatnonzero(self.raster.cell_state < 0)
            self._nearest_table = NearestTable(segments, self.raster, near_cells, self._rank)
        self._outlines_m = metric_outlines(self._geoms, self._is_comp)
        self._deep: NDArray[np.bool_] | None = None
        if self.raster is not None:
            self._deep = deep_cells(self.raster, NEAR_EDGE_M)

    # ------------------------------------------------------------------ API

    def locate(self, lons: ArrayLike, lats: ArrayLike, *, nearest: bool = True, near_edge: bool = True) -> LocateArrays:
        """Locate EPSG:4326 points (degrees; two scalars or two 1-D arrays); see ``LocateArrays``.

        ``nearest=False`` skips the nearest-grid search for outside points
        (their ``nearest_grid_id`` is -1 and distance NaN); ``near_edge=False``
        skips the near-edge rule (``near_edge`` is None). Raise ``ValueError``
        on NaN, inf, out-of-range values or arrays of different shapes.
        """
        x, y = validate_lonlat_arrays(lons, lats)
        x, y = x.ravel(), y.ravel()
        n = x.shape[0]
        comp = np.full(n, -1, dtype=np.int64)
        cells = np.full(n, -1, dtype=np.int64)
        ded_pts, ded_feats = np.empty(0, np.int64), np.empty(0, np.int64)
        if self.raster is not None and n:
            pts, found = self.raster.cells_of(x, y)
            cells[pts] = found
            ded_pts, ded_feats = self._raster_pass(x, y, pts, found, comp)
        outside = comp < 0
        near = comp.copy()
        dist = np.zeros(n, dtype=np.float64)
        out_idx = np.flatnonzero(outside)
        if nearest:
            # a point far from everything (outside in_metric_domain) has no nearest grid: the metric
            # projection is meaningless there and undefined at places (lon 30 at the equator)
            far = out_idx[~in_metric_domain(x[out_idx], y[out_idx])]
            dist[far] = np.nan
            out_idx = out_idx[in_metric_domain(x[out_idx], y[out_idx])]
        else:
            dist[out_idx] = np.nan
        if nearest and out_idx.size:
            near[out_idx], dist[out_idx] = self._nearest(x[out_idx], y[out_idx], cells[out_idx])
        order = np.lexsort((self._rank[ded_feats], ded_pts))
        offsets = np.concatenate(([0], np.cumsum(np.bincount(ded_pts, minlength=n))))
        return LocateArrays(
            grid_id=self._ids_or_none[comp],
            village_id=self._village_or_none[comp],
            outside=outside,
            nearest_grid_id=self._ids_or_none[near],
            nearest_distance_m=dist,
            dedicated_offsets=offsets.astype(np.int64),
            dedicated_ids=self._ids[ded_feats[order]],
            near_edge=self._near_edge(x, y, comp, cells) if near_edge else None,
        )

    # ------------------------------------------------------------ internals

    def _raster_pass(
        self, x: FloatArray, y: FloatArray, pts: IntArray, cells: IntArray, comp: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Fill ``comp`` (feature index per point) for points ``pts`` in raster ``cells``.

        Return the dedicated (point, feature) pairs.
        """
        raster = self.raster
        assert raster is not None
        state = raster.cell_state[cells]
        pure = state != IMPURE
        comp[pts[pure]] = state[pure]
        counts = raster.cell_count[cells]
        sel = np.flatnonzero(counts)
        pair_pts, pair_feats = _expand_csr(raster.cell_offsets, raster.cell_feats, cells[sel], counts[sel], pts[sel])
        if pair_pts.size == 0:
            return pair_pts, pair_feats
        tested = np.repeat(~pure[sel], counts[sel])
        hit = np.ones(pair_pts.shape[0], dtype=bool)
        hit[tested] = shapely.intersects_xy(self._geoms[pair_feats[tested]], x[pair_pts[tested]], y[pair_pts[tested]])
        comp_hit = hit & tested & self._is_comp[pair_feats]
        if comp_hit.any():
            first_pts, first = _group_first(pair_pts[comp_hit], self._rank[pair_feats[comp_hit]])
            comp[first_pts] = pair_feats[comp_hit][first]
        ded = hit & ~self._is_comp[pair_feats]
        return pair_pts[ded], pair_feats[ded]

    def _near_edge(self, x: FloatArray, y: FloatArray, comp: IntArray, cells: IntArray) -> NDArray[np.bool_]:
        """Return whether each point is within NEAR_EDGE_M of the outline of its grid ``comp`` (-1: no)."""
        result = np.zeros(x.shape[0], dtype=bool)
        inside = comp >= 0
        if self._deep is not None:
            inside &= ~((cells >= 0) & self._deep[np.maximum(cells, 0)])
        measure = np.flatnonzero(inside)
        result[measure] = edge_distance_m(self._outlines_m, comp[measure], x[measure], y[measure]) < NEAR_EDGE_M
        return result

    def _nearest(self, x: FloatArray, y: FloatArray, cells: IntArray | None = None) -> tuple[IntArray, FloatArray]:
        """Return (nearest comprehensive feature index or -1, distance in EPSG:4549 metres)."""
        if self._nearest_table is None:
            return np.full(x.shape[0], -1, dtype=np.int64), np.full(x.shape[0], np.inf)
        return self._nearest_table.nearest(x, y, cells)
