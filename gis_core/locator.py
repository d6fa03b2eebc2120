"""Fast in-process point locator for grid dispatch.

Answers the same question as the PostGIS query
``ST_Covers(boundary, ST_SetSRID(ST_MakePoint(lon, lat), 4326))``:

* comprehensive grids covering the point (a point on an edge or vertex is
  covered); when several do, the one with the smallest ``code`` wins
  (plain code-point string order, ties broken by smallest ``id``);
* dedicated grids covering the point, sorted the same way;
* when no comprehensive grid covers the point: ``outside`` is True and the
  nearest comprehensive grid and its distance in metres (planar, in
  EPSG:4549) are reported. When another grid is within a few centimetres
  (5 cm + 0.01 % of the distance), the candidates are ranked as the PostGIS
  side does: geography (WGS84) metres rounded to the centimetre, then code
  (see ``_ties``).

Points are EPSG:4326 lon/lat in degrees. Exact tests use GEOS (shapely 2);
most points are answered from a precomputed raster (see ``_raster``), the
nearest grid from precomputed candidate segments (see ``_nearest``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gis_core._nearest import NearestTable
from gis_core._raster import IMPURE, Raster, build_raster
from gis_core._segments import boundary_segments
from gis_core.coords import validate_lonlat, validate_lonlat_arrays
from gis_core.geometry import InvalidGeometry

COMPREHENSIVE = "comprehensive"
DEDICATED = "dedicated"
GridKind = Literal["comprehensive", "dedicated"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

DEFAULT_MAX_CELLS = 1 << 18
DEFAULT_CELL_EPS_DEG = 1e-9


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
    """Answer for one point.

    Inside a comprehensive grid: ``nearest_grid_*`` repeat that grid and
    ``distance_m`` is 0.0. Outside: ``grid_id``/``grid_code``/``village_id``
    are None and ``distance_m`` is the EPSG:4549 distance in metres to the
    nearest comprehensive grid (``nearest_grid_*`` None and ``distance_m``
    inf when the index has no comprehensive grid).
    """

    grid_id: int | None
    grid_code: str | None
    village_id: int | None
    dedicated: tuple[tuple[int, str], ...]
    outside: bool
    nearest_grid_id: int | None
    nearest_grid_code: str | None
    distance_m: float


@dataclass(frozen=True)
class LocateArrays:
    """Vectorised answers for n points (one entry per input point).

    ``grid_id``/``village_id``/``nearest_grid_id`` are int64 with -1 for
    none; ``nearest_distance_m`` is float64 metres (0 inside, inf when there
    is no comprehensive grid at all, NaN outside with ``nearest=False``). Dedicated grid ids per point are a CSR
    pair: ids of point i are ``dedicated_ids[dedicated_offsets[i]:
    dedicated_offsets[i + 1]]``, sorted by code.
    """

    grid_id: IntArray
    village_id: IntArray
    outside: NDArray[np.bool_]
    nearest_grid_id: IntArray
    nearest_distance_m: FloatArray
    dedicated_offsets: IntArray
    dedicated_ids: IntArray

    def __len__(self) -> int:
        """Return the number of points."""
        return int(self.grid_id.shape[0])

    def dedicated_for(self, i: int) -> tuple[int, ...]:
        """Return the dedicated grid ids (sorted by code) of point ``i``."""
        lo, hi = self.dedicated_offsets[i], self.dedicated_offsets[i + 1]
        return tuple(int(v) for v in self.dedicated_ids[lo:hi])


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
    """Locate EPSG:4326 points in comprehensive and dedicated grids (see module doc)."""

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
        """Prepare the geometries and build the STRtree, the raster and the nearest tables."""
        shapely.prepare(self._geoms)
        if self._geoms.size:
            # Build GEOS' lazy prepared-geometry indexes now, not during concurrent reads.
            probe = shapely.point_on_surface(self._geoms)
            shapely.intersects_xy(self._geoms, shapely.get_x(probe), shapely.get_y(probe))
            shapely.covers(self._geoms, probe)
        self._tree = shapely.STRtree(self._geoms)
        self.raster: Raster | None = None
        if self._geoms.size:
            self.raster = build_raster(
                self._tree, self._geoms, self._is_comp, self._rank, raster_shape, max_cells, cell_eps_deg
            )
        comp = np.flatnonzero(self._is_comp)
        self._nearest_table: NearestTable | None = None
        if comp.size:
            segments = boundary_segments(self._geoms[comp], comp)
            near_cells = None if self.raster is None else np.flatnonzero(self.raster.cell_state < 0)
            self._nearest_table = NearestTable(segments, self.raster, near_cells, self._rank)

    # ------------------------------------------------------------------ API

    def locate(self, lon: float, lat: float) -> Location:
        """Locate one EPSG:4326 point (degrees).

        Covering grids come from the GEOS STRtree (independent of the raster
        used by ``locate_many``); the nearest grid uses the same search.
        """
        validate_lonlat(lon, lat)
        point = Point(lon, lat)
        cand = self._tree.query(point)
        hits = [int(i) for i in cand if shapely.covers(self._geoms[i], point)]
        hits.sort(key=lambda i: int(self._rank[i]))
        comps = [i for i in hits if self._is_comp[i]]
        dedicated = tuple((int(self._ids[i]), self._codes[i]) for i in hits if not self._is_comp[i])
        if comps:
            best = comps[0]
            gid, code = int(self._ids[best]), self._codes[best]
            return Location(gid, code, int(self._village[best]), dedicated, False, gid, code, 0.0)
        near, dist = self._nearest(np.array([lon]), np.array([lat]))
        near_id = int(self._ids[near[0]]) if near[0] >= 0 else None
        near_code = self._codes[near[0]] if near[0] >= 0 else None
        return Location(None, None, None, dedicated, True, near_id, near_code, float(dist[0]))

    def locate_many(self, lons: ArrayLike, lats: ArrayLike, *, nearest: bool = True) -> LocateArrays:
        """Locate many EPSG:4326 points (degrees, 1-D arrays) at once; see ``LocateArrays``.

        With ``nearest=False`` the nearest grid of outside points is not
        searched: their ``nearest_grid_id`` is -1 and distance NaN.
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
        if not nearest:
            dist[out_idx] = np.nan
        elif out_idx.size:
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

    def _nearest(self, x: FloatArray, y: FloatArray, cells: IntArray | None = None) -> tuple[IntArray, FloatArray]:
        """Return (nearest comprehensive feature index or -1, distance in EPSG:4549 metres)."""
        if self._nearest_table is None:
            return np.full(x.shape[0], -1, dtype=np.int64), np.full(x.shape[0], np.inf)
        return self._nearest_table.nearest(x, y, cells)
