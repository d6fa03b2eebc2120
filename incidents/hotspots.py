"""Heatmap cells, hotspots of recurring issues and trends, for the town leaders' review (研判).

Scoped like every read (``incidents.selectors.incidents_visible_to``): a grid leader's heatmap holds
their own grid's incidents only. Counted: the incidents reported in the period [start, end) that
have a location, except the cancelled, duplicate and out-of-jurisdiction ones (as the assessment
figures, ``incidents.rules.NOT_COUNTED``), optionally of some categories and sources.

- cells: square bins ``cell_m`` metres wide in EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E,
  the design's metric CRS; never degrees), ``cell_m`` a multiple of ``rollups.CELL_M`` (50 m). The
  bins start at the origin (``cell_index``: a point at x, y is in bin floor(x / cell_m),
  floor(y / cell_m), whose centre is at the bin's middle), so a bin of any offered size is a block
  of the rollups' 50 m bins and is summed from them. Each cell comes back with its centre in WGS84,
  its count, its count per category and the grid most of its incidents were located in. Sorted by
  count, so the first are the hotspots.
- read from the rollups (``incidents.rollups``) for the whole local days of the period, corrected by
  the ordinary path (the ``*_direct`` aggregation on the incidents, kept as the reference) for the
  incidents of its part-days; a test keeps both paths equal. The heatmap's cells are summed in the
  database (``heat_map``), which hands back the fullest cells only (an answer holds at most a limit).
- trend: incidents reported and closed per local day or week (Asia/Shanghai; a week starts on
  Monday), every bucket of the period present, with the reports per category.
"""
from __future__ import annotations

import functools
import math
import operator
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from django.contrib.gis.db.models.functions import Transform
from django.db import connections, transaction
from django.db.models import BooleanField, Count, F, FloatField, Func, Max, Q, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Floor, TruncDay, TruncWeek
from django.utils import timezone

from core import db
from core.actors import Actor
from gis_core.coords import from_metric, metric_domain, to_metric
from gis_core.srid import METRIC_SRID
from gis_core.tiles import BBox
from grids.models import Grid
from incidents import heat_ahead, rollups, rules
from incidents.heat_ahead import AHEAD_CELLS, AHEAD_DAYS, AHEAD_DRIFT_DAYS, LATE_REBUILD, HeatLate, HeatRun, HeatRunCell
from incidents.models import Category, Incident
from incidents.selectors import incidents_visible_to, scope_q, scoped

BUCKETS = {"day": TruncDay, "week": TruncWeek}


@dataclass(slots=True)
class Cell:
    x: float  # the centre in EPSG:4549 (metres)
    y: float
    lon: float  # the centre in WGS84
    lat: float
    count: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    grid_code: str | None = None
    grid_name: str | None = None

    @property
    def top_category(self) -> str | None:
        return max(self.categories, key=lambda code: (self.categories[code], code)) if self.categories else None


def counted(actor: Actor, *, categories: list[str] | None = None, sources: list[str] | None = None):
    """Return the visible incidents the heatmap and the trend count, of these categories and sources
    (the caller adds the period: reported in it, or closed in it)."""
    return _narrowed(incidents_visible_to(actor).filter(rules.counted_q()), categories, sources)


def _narrowed(qs, categories: list[str] | None, sources: list[str] | None):
    if categories:
        qs = qs.filter(category__code__in=categories)
    if sources:
        qs = qs.filter(source__in=sources)
    return qs


def _rollup(actor: Actor, kind: int, categories: list[str] | None, sources: list[str] | None, *,
            lean: bool = False):
    """Return the rollup rows of ``kind`` the actor may see, of these categories and sources (``lean``:
    the lean rows when the actor sees everything, ``rollups.LEAN``)."""
    if lean:
        kind += rollups.lean_offset(scope_q(actor))
    return _narrowed(scoped(actor, rollups.Rollup.objects.filter(kind=kind)), categories, sources)


def cell_index(metres, cell_m: int):
    """Return the index of the cell ``cell_m`` wide that holds a coordinate in metres (EPSG:4549):
    ``floor(metres / cell_m)``; the cell spans [index * cell_m, (index + 1) * cell_m). A database
    expression when ``metres`` is one. Cells of sizes that are multiples of one another nest."""
    if isinstance(metres, (int, float)):
        return math.floor(metres / cell_m)
    return Floor(Cast(metres, FloatField()) / Value(float(cell_m)))


CellCounts = Counter  # (i, j, category id, grid id) -> incidents


@dataclass(frozen=True)
class CellRange:
    """The cells ``cell_m`` wide with indexes i0..i1 (x) and j0..j1 (y), both ends included: a map's view."""

    i0: int
    i1: int
    j0: int
    j1: int

    def holds(self, other: CellRange) -> bool:
        """Whether every cell of ``other`` is one of these."""
        return self.i0 <= other.i0 and other.i1 <= self.i1 and self.j0 <= other.j0 and other.j1 <= self.j1


NOWHERE = CellRange(0, -1, 0, -1)  # a view outside the metric domain: no cell


def cells_covering(bbox: BBox, cell_m: int) -> CellRange:
    """Return the cells that cover a view given in degrees: its edges, sampled and projected to EPSG:4549
    (a box in degrees is not one in metres), enclose it; the part outside the metric domain is left out."""
    west, south, east, north = metric_domain()
    w, s, e, n = max(bbox.west, west), max(bbox.south, south), min(bbox.east, east), min(bbox.north, north)
    if w > e or s > n:
        return NOWHERE
    t = np.linspace(0.0, 1.0, 17)
    lons = np.concatenate([w + (e - w) * t, w + (e - w) * t, np.full(17, w), np.full(17, e)])
    lats = np.concatenate([np.full(17, s), np.full(17, n), s + (n - s) * t, s + (n - s) * t])
    xs, ys = to_metric(lons, lats)
    keep = np.isfinite(xs) & np.isfinite(ys)
    if not keep.any():
        return NOWHERE
    xs, ys = xs[keep], ys[keep]
    return CellRange(cell_index(float(xs.min()), cell_m), cell_index(float(xs.max()), cell_m),
                     cell_index(float(ys.min()), cell_m), cell_index(float(ys.max()), cell_m))


def _direct_rows(qs, cell_m: int, *periods: tuple[datetime, datetime], within: CellRange | None = None,
                 net: bool = False):
    """Return the grouped rows (i, j, category id, grid id, a count per period) of the incidents of ``qs``
    reported in the periods [start, end) (the ordinary path); only the cells ``within`` when given.
    ``net``: one count, the first period's minus the second's (the rounding's correction)."""
    # only points where EPSG:4549 means something (a report from the other side of the earth, kept in
    # triage, would make ST_Transform fail: "Point outside of projection domain"); tested on the
    # coordinates, not with ST_CoveredBy, which the planner answers with a GiST scan of every point
    # ANDed with the time index (at 1M, 232 ms of a heatmap's 235 ms part-day correction)
    west, south, east, north = metric_domain()
    reported = [Q(created_at__gte=start, created_at__lt=end) for start, end in periods]
    qs = (qs.filter(functools.reduce(operator.or_, reported), location__isnull=False)
          .alias(lon=Func("location", function="ST_X", output_field=FloatField()),
                 lat=Func("location", function="ST_Y", output_field=FloatField()))
          .filter(lon__gte=west, lon__lte=east, lat__gte=south, lat__lte=north))
    metric = Transform("location", METRIC_SRID)
    qs = qs.annotate(i=cell_index(Func(metric, function="ST_X"), cell_m),
                     j=cell_index(Func(metric, function="ST_Y"), cell_m))
    if within is not None:
        qs = qs.filter(i__gte=within.i0, i__lte=within.i1, j__gte=within.j0, j__lte=within.j1)
    qs = qs.values_list("i", "j", "category_id", "grid_id")
    if net:
        return qs.annotate(n=Count("id", filter=reported[0]) - Count("id", filter=reported[1])).order_by()
    return qs.annotate(**{f"n{k}": Count("id", filter=q) for k, q in enumerate(reported)}).order_by()


def _cell_counts_direct(qs, cell_m: int, *periods: tuple[datetime, datetime],
                        within: CellRange | None = None) -> list[CellCounts]:
    """Return per period [start, end) the cell counts of the incidents of ``qs`` reported in it (the
    ordinary path), in one query; only the cells ``within`` when given."""
    rows = list(_direct_rows(qs, cell_m, *periods, within=within))
    return [Counter({(int(r[0]), int(r[1]), r[2], r[3]): r[4 + k] for r in rows}) for k in range(len(periods))]


def _cell_rows(part, part_cell_m: int, cell_m: int, within: CellRange | None = None, sign: int = 1):
    """Return the rows (i, j, category id, grid id, n) of ``part``, rows with cells ``part_cell_m`` wide
    (``cell_x``, ``cell_y``) and a count ``n``, in the cells ``cell_m`` wide that hold them (a block of
    theirs), only those ``within`` when given; ``sign`` -1 takes them away."""
    blocks = cell_m // part_cell_m
    if within is not None:  # the part's cells inside the view's cells
        part = part.filter(cell_x__gte=within.i0 * blocks, cell_x__lt=(within.i1 + 1) * blocks,
                           cell_y__gte=within.j0 * blocks, cell_y__lt=(within.j1 + 1) * blocks)
    part = part.filter(cell_x__isnull=False).annotate(i=cell_index(F("cell_x"), blocks),
                                                       j=cell_index(F("cell_y"), blocks))
    if sign < 0:
        return part.annotate(taken=-F("n")).values_list("i", "j", "category_id", "grid_id", "taken").order_by()
    return part.values_list("i", "j", "category_id", "grid_id", "n").order_by()


def _day_rows(actor: Actor, first, last, cell_m: int, categories, sources, within: CellRange | None = None,
              sign: int = 1):
    """Return the rows (i, j, category id, grid id, n) of the local days [first, last) from the RECEIVED
    day rows the actor may see (``_cell_rows``)."""
    rows = _rollup(actor, rollups.Kind.RECEIVED, categories, sources).filter(day__gte=first, day__lt=last)
    return _cell_rows(rows, rollups.CELL_M, cell_m, within, sign)


def _rollup_rows(actor: Actor, window: rollups.Window, cell_m: int, categories, sources,
                 within: CellRange | None = None) -> list:
    """Return the rows (i, j, category id, grid id, n) of the window's whole days from the rollups, their
    cells those of ``cell_m`` that hold them, as querysets (``heat_map`` sums them): for a reader who sees
    everything and a cell size that is a multiple of ``rollups.HEAT_CELL_M``, the whole months from the
    month rows (``rollups.HEAT``) and the days of the part-months from the day rows; otherwise (a scoped
    reader, another size) the day rows (``scope_q`` filters them). A key may come in several rows."""
    first, last = window.days
    months = None
    if scope_q(actor) is None and cell_m % rollups.HEAT_CELL_M == 0:
        months = rollups.whole_months(first, last)
    if months is None:
        return [_day_rows(actor, first, last, cell_m, categories, sources, within)]
    m0, m1 = months
    month_rows = _rollup(actor, rollups.Kind.HEAT_RECEIVED, categories, sources).filter(day__gte=m0, day__lt=m1)
    spans = [(lo, hi) for lo, hi in ((first, m0), (m1, last)) if lo < hi]  # the part-months' days, if any
    return [_cell_rows(month_rows, rollups.HEAT_CELL_M, cell_m, within)] + [
        _day_rows(actor, lo, hi, cell_m, categories, sources, within) for lo, hi in spans]


def _cells(counts: CellCounts, cell_m: int) -> list[Cell]:
    """Return the cells of the counts: per cell its count per category (by code), its total and its main
    grid (the grid code and name with the most incidents in it, the higher code on a tie), the fullest
    first (the reference path's assembly; ``heat_map`` does the same in SQL). Grouped with pandas."""
    keys = [key for key, n in counts.items() if n]
    if not keys:
        return []
    frame = pd.DataFrame(keys, columns=["i", "j", "category", "grid"]).astype(
        {"category": "Int64", "grid": "Int64"})  # ids, none for an incident outside every grid
    frame["n"] = np.fromiter((counts[key] for key in keys), dtype=np.int64, count=len(keys))
    codes = dict(Category.objects.filter(pk__in=frame["category"].dropna().unique().tolist())
                 .values_list("pk", "code"))
    grids = {pk: (code, name) for pk, code, name in Grid.objects.filter(
        pk__in=frame["grid"].dropna().unique().tolist()).values_list("pk", "code", "name")}
    frame["code"] = frame["category"].map(codes)
    per_category = frame.groupby(["i", "j", "code"], dropna=False, sort=False)["n"].sum()
    per_category = per_category[per_category != 0].reset_index()
    cell_keys = zip(frame["i"].tolist(), frame["j"].tolist(), strict=True)
    categories: dict[tuple[int, int], dict] = {key: {} for key in cell_keys}
    totals: dict[tuple[int, int], int] = dict.fromkeys(categories, 0)
    for i, j, code, n in zip(*(per_category[c].tolist() for c in ("i", "j", "code", "n")), strict=True):
        categories[(i, j)][code if isinstance(code, str) else None] = n
        totals[(i, j)] += n
    located = frame[frame["grid"].notna()].copy()
    main: dict[tuple[int, int], tuple[str, str]] = {}
    if len(located):
        located["grid_code"] = located["grid"].map({pk: code for pk, (code, _) in grids.items()})
        located["grid_name"] = located["grid"].map({pk: name for pk, (_, name) in grids.items()})
        per_grid = (located.groupby(["i", "j", "grid_code", "grid_name"], sort=False)["n"].sum().reset_index()
                    .sort_values(["n", "grid_code", "grid_name"], ascending=False, kind="stable")
                    .drop_duplicates(["i", "j"]))
        main = {(i, j): (code, name) for i, j, code, name in
                zip(*(per_grid[c].tolist() for c in ("i", "j", "grid_code", "grid_name")), strict=True)}
    cell_keys = list(categories)
    xs = np.array([(i + 0.5) * cell_m for i, _ in cell_keys], dtype=float)
    ys = np.array([(j + 0.5) * cell_m for _, j in cell_keys], dtype=float)
    lons, lats = from_metric(xs, ys)
    cells = [Cell(x, y, lon, lat, totals[key], categories[key], *main.get(key, (None, None)))
             for key, x, y, lon, lat in zip(cell_keys, xs.tolist(), ys.tolist(), lons.tolist(), lats.tolist(),
                                            strict=True)]
    cells.sort(key=lambda c: (-c.count, c.x, c.y))
    return cells


def heat_cells_direct(actor: Actor, *, start: datetime, end: datetime, cell_m: int,
                      categories: list[str] | None = None, sources: list[str] | None = None,
                      within: CellRange | None = None) -> list[Cell]:
    """Return ``heat_cells`` aggregated on the incidents themselves (the reference path)."""
    qs = counted(actor, categories=categories, sources=sources)
    return _cells(_cell_counts_direct(qs, cell_m, (start, end), within=within)[0], cell_m)


@dataclass(frozen=True)
class HeatMap:
    """A heatmap answer: its cells with at least ``min_count`` incidents (the fullest first, at most the
    limit), how many such cells there are, and the incidents of every cell."""

    cells: list[Cell]
    shown: int
    total: int


# The cells summed in the database, so that a city's year (700,000 keys of cell, category and grid at
# 250 m) is not carried to Python: the parts' rows (p) summed per cell (c); for the fullest cells only
# (top), their counts per category (kc) and per grid (kg), whence each cell's categories and main grid
# (most incidents, then the higher code and name, as ``_cells`` decides; names compared by code point,
# COLLATE "C"). A key's count is never negative (the part-days' correction takes away what the rollups
# counted), so a sum that is zero is a key or a grid ``_cells`` leaves out, and a cell with nothing is
# never among the fullest.
_HEAT_PARTS = """p AS MATERIALIZED (
    SELECT i::integer AS i, j::integer AS j, category_id, grid_id, n::integer AS n
    FROM ({parts}) AS p (i, j, category_id, grid_id, n)
)"""
# A cell's main grid: the grid with most incidents in it, then the higher code and name (byte order),
# as ``_cells`` decides it; the one order both the read (``_HEAT_TAIL``) and the runs' sum use.
_MAIN_GRID_ORDER = 'g.n DESC, g.code COLLATE "C" DESC, g.name COLLATE "C" DESC'
# A cell's counts per category and top category as the heatmap API's JSON ("categories": {code: n},
# "top_category": the most, then the higher code, as ``Cell.top_category``), aggregated over its rows
# ``k`` (category_id, n) joined to their category ``cat``: written by the runs' sum for each cell of a
# run (``props``) and by a read for the cells it sums (``heat_features``).
_CATEGORIES_PROPS = """'"categories":{' || string_agg(COALESCE(to_json(cat.code)::text, '"null"') || ':' || k.n, ','
                                          ORDER BY k.category_id)
       || '},"top_category":'
       || COALESCE(to_json((array_agg(cat.code ORDER BY k.n DESC, cat.code COLLATE "C" DESC))[1])::text, 'null')"""
_HEAT_TAIL = """, cats AS (
    SELECT k.i, k.j, array_agg(k.category_id ORDER BY k.category_id) AS ids,
           array_agg(k.n ORDER BY k.category_id) AS ns, {props} AS props
    FROM (SELECT i, j, category_id, SUM(n) AS n FROM kc GROUP BY i, j, category_id HAVING SUM(n) <> 0) AS k
    LEFT JOIN incidents_category AS cat ON cat.id = k.category_id
    GROUP BY k.i, k.j
), main AS (
    SELECT DISTINCT ON (g.i, g.j) g.i, g.j, g.code, g.name
    FROM (SELECT kg.i, kg.j, grid.code, grid.name, SUM(kg.n) AS n
          FROM kg JOIN grids_grid AS grid ON grid.id = kg.grid_id
          GROUP BY kg.i, kg.j, grid.code, grid.name HAVING SUM(kg.n) <> 0) AS g
    ORDER BY g.i, g.j, """ + _MAIN_GRID_ORDER + """
)
SELECT s.total, s.shown, t.i, t.j, t.total, {out}
FROM (SUMS) AS s (total, shown)
LEFT JOIN (CELLS) AS t ON true
ORDER BY t.total DESC, t.i, t.j
"""
# What the statement gives of each cell: its counts per category (ids) and its main grid, as rows
# (``_heat_map_sql``), or the properties of its GeoJSON feature as JSON text (``heat_features``): the
# categories' part (``_CATEGORIES_PROPS``: a run's own for a cell no part touches) and the main grid.
_HEAT_ROWS_OUT = "t.ids, t.ns, t.code, t.name"
_HEAT_JSON_OUT = """t.props || ',"grid_code":' || COALESCE(to_json(t.code)::text, 'null')
       || ',"grid_name":' || COALESCE(to_json(t.name)::text, 'null')"""
# the categories' codes by id from 1 (NULL where no category has the id): a run's props are written with them
_CODES_SQL = """SELECT array_agg(cat.code ORDER BY g.id)
FROM generate_series(1, (SELECT max(id) FROM incidents_category)) AS g (id)
LEFT JOIN incidents_category AS cat ON cat.id = g.id"""
# the incidents of every cell summed (c) and how many cells hold at least min_count
_SUMS_OF_C = "SELECT COALESCE(SUM(total), 0), COUNT(*) FILTER (WHERE total >= %s) FROM c"
_HEAT_SQL = f"""WITH {_HEAT_PARTS}, c AS MATERIALIZED (
    SELECT i, j, SUM(n) AS total FROM p GROUP BY i, j
), top AS MATERIALIZED (
    SELECT i, j, total FROM c WHERE total >= %s ORDER BY total DESC, i, j {{limit}}
){{kept_cte}}, inside AS MATERIALIZED (
    SELECT p.i, p.j, p.category_id, p.grid_id, p.n FROM p JOIN {{kept}} AS top USING (i, j)
), kc AS (
    SELECT i, j, category_id, n FROM inside
), kg AS (
    SELECT i, j, grid_id, n FROM inside
)""" + _HEAT_TAIL.replace("CELLS", """SELECT top.i, top.j, top.total, cats.ids, cats.ns, main.code, main.name,
                  cats.props
           FROM top LEFT JOIN cats USING (i, j) LEFT JOIN main USING (i, j)""").replace("SUMS", _SUMS_OF_C)
# From a run kept ahead (``heat_ahead``: a row a cell, its counts per category and per grid in arrays,
# its main grid) and the parts that bring it to the period (their sums per cell, pc, with their rows'
# categories, grids and counts as arrays): a cell no part touches is the run's row as it is; a touched one is
# summed again from its arrays and its parts' arrays (ta: the touched cells kept). ``_HEAT_AHEAD_SQL`` joins
# all the run's cells (those ``within`` a view) to the parts; ``_HEAT_AHEAD_TOP_SQL``, for the fullest
# ``limit`` of the whole city, reads only the run's fullest cells from its index by total
# (``heatruncell_run_top``: enough of them that the touched ones cannot push one of the fullest out) and the
# touched cells, and its sums from the index (the run's) corrected by the touched cells; there the arrays of
# an untouched cell are carried for the rows (``_HEAT_ROWS_OUT``) only: its JSON is the run's props.
# No part is joined to the cells kept: its estimate is a guess (a few rows), and a nested loop of p over
# the touched cells took 2 x 260 ms at 10M.
_AHEAD_CELL_COLUMNS = "category_ids, category_ns, grid_ids, grid_ns, main_grid_id, props"
_AHEAD_PC = """pc AS MATERIALIZED (
    SELECT i, j, SUM(n) AS n, array_agg(category_id) AS p_category_ids, array_agg(grid_id) AS p_grid_ids,
           array_agg(n) AS p_ns
    FROM p GROUP BY i, j
)"""
_AHEAD_TAIL = """{kept_cte}, ta AS MATERIALIZED (
    SELECT i, j, category_ids, category_ns, grid_ids, grid_ns, p_category_ids, p_grid_ids, p_ns
    FROM {kept} WHERE touched
), kc AS (
    SELECT ta.i, ta.j, u.category_id, u.n FROM ta, unnest(ta.category_ids, ta.category_ns) AS u (category_id, n)
    UNION ALL SELECT ta.i, ta.j, u.category_id, u.n FROM ta, unnest(ta.p_category_ids, ta.p_ns) AS u (category_id, n)
), kg AS (
    SELECT ta.i, ta.j, u.grid_id, u.n FROM ta, unnest(ta.grid_ids, ta.grid_ns) AS u (grid_id, n)
    UNION ALL SELECT ta.i, ta.j, u.grid_id, u.n FROM ta, unnest(ta.p_grid_ids, ta.p_ns) AS u (grid_id, n)
)""" + _HEAT_TAIL.replace("CELLS", """SELECT top.i, top.j, top.total, {ids}
                  CASE WHEN top.touched THEN main.code ELSE grid.code END AS code,
                  CASE WHEN top.touched THEN main.name ELSE grid.name END AS name,
                  CASE WHEN top.touched THEN cats.props ELSE top.props END AS props
           FROM top LEFT JOIN cats USING (i, j) LEFT JOIN main USING (i, j)
           LEFT JOIN grids_grid AS grid ON grid.id = top.main_grid_id""")
_HEAT_AHEAD_SQL = f"""WITH {_HEAT_PARTS}, {_AHEAD_PC}, c AS MATERIALIZED (
    SELECT COALESCE(a.i, pc.i) AS i, COALESCE(a.j, pc.j) AS j, COALESCE(a.total, 0) + COALESCE(pc.n, 0) AS total,
           pc.i IS NOT NULL AS touched, a.category_ids, a.category_ns, a.grid_ids, a.grid_ns, a.main_grid_id, a.props,
           pc.p_category_ids, pc.p_grid_ids, pc.p_ns
    FROM (SELECT i, j, total, {_AHEAD_CELL_COLUMNS}
          FROM incidents_heatruncell WHERE run_id = %s {{within}}) AS a
    FULL JOIN pc ON pc.i = a.i AND pc.j = a.j
), top AS MATERIALIZED (
    SELECT * FROM c WHERE total >= %s ORDER BY total DESC, i, j {{limit}}
)""" + _AHEAD_TAIL.replace("SUMS", _SUMS_OF_C)
_HEAT_AHEAD_TOP_SQL = f"""WITH {_HEAT_PARTS}, {_AHEAD_PC}, touched AS MATERIALIZED (
    SELECT pc.i, pc.j, COALESCE(a.total, 0) + pc.n AS total, a.total AS was, true AS touched, a.main_grid_id, a.props,
           a.category_ids, a.category_ns, a.grid_ids, a.grid_ns, pc.p_category_ids, pc.p_grid_ids, pc.p_ns
    FROM pc LEFT JOIN incidents_heatruncell AS a ON a.run_id = %s AND a.i = pc.i AND a.j = pc.j
), c AS MATERIALIZED (
    SELECT a.* FROM (SELECT i, j, total, false AS touched, main_grid_id, props, {{arrays}},
                            NULL::integer[] AS p_category_ids, NULL::integer[] AS p_grid_ids, NULL::integer[] AS p_ns
                     FROM incidents_heatruncell WHERE run_id = %s AND total >= %s
                     ORDER BY total DESC, i, j {{limit}} + (SELECT count(*) FROM touched)) AS a
    WHERE NOT EXISTS (SELECT 1 FROM pc WHERE pc.i = a.i AND pc.j = a.j)
    UNION ALL SELECT i, j, total, touched, main_grid_id, props, category_ids, category_ns, grid_ids, grid_ns,
                     p_category_ids, p_grid_ids, p_ns FROM touched
), top AS MATERIALIZED (
    SELECT * FROM c WHERE total >= %s ORDER BY total DESC, i, j {{limit}}
)""" + _AHEAD_TAIL.replace(
    "SUMS", """SELECT r.total + t.n, r.shown - t.was_shown + t.now_shown
      FROM {run_sums} AS r (total, shown),
           (SELECT COALESCE(SUM(total - COALESCE(was, 0)), 0), COUNT(*) FILTER (WHERE was >= %s),
                   COUNT(*) FILTER (WHERE total >= %s) FROM touched) AS t (n, was_shown, now_shown)""")
HEAT_WORK_MEM = "256MB"  # the sums of a city's year at 250 m in memory (some 50 MB), not spilled to disk


def _compiled(parts: list) -> tuple[str, list]:
    """Return the querysets ``parts`` as one UNION ALL and its parameters ("" when none holds a row)."""
    sqls, params = [], []
    for part in parts:
        query = db.compiled(part)
        if query is None:  # a filter that holds nothing (an empty scope): no rows
            continue
        sql, part_params = query
        sqls.append(f"({sql})")
        params.extend(part_params)
    return " UNION ALL ".join(sqls), params


def _heat_rows(parts: list, min_count: int, limit: int | None, run, within: CellRange | None,
               json: bool, detail: int | None = None) -> list[tuple] | None:
    """Return the rows of the heatmap statement over the grouped rows ``parts`` (querysets of (i, j,
    category id, grid id, n)), summed in one statement on their database, with the cells of ``run`` (a
    ``HeatRun``, only those ``within`` when given) when one is given: (total, shown) and a cell (i, j,
    count, then ``_HEAT_ROWS_OUT`` or ``_HEAT_JSON_OUT``, this only for the fullest ``detail`` cells when
    given, NULL for the others) in every row; None when nothing can hold a row."""
    union, params = _compiled(parts)
    if not union:
        if run is None:
            return None
        union = "SELECT NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer WHERE false"
    shape = {"limit": "" if limit is None else f"LIMIT {int(limit)}",
             "out": _HEAT_JSON_OUT if json else _HEAT_ROWS_OUT, "props": _CATEGORIES_PROPS if json else "NULL::text"}
    # the run's arrays of an untouched cell are carried for the rows (``_HEAT_ROWS_OUT``) only: its JSON is
    # the run's props (the whole city's read sorted 20,000 rows of arrays for nothing)
    shape.update(kept="top", kept_cte="", arrays=("NULL::integer[] AS category_ids, NULL::integer[] AS category_ns, "
                                                  "NULL::integer[] AS grid_ids, NULL::integer[] AS grid_ns") if json
                 else "category_ids, category_ns, grid_ids, grid_ns",
                 ids="" if json else """CASE WHEN top.touched THEN cats.ids ELSE top.category_ids END AS ids,
                  CASE WHEN top.touched THEN cats.ns ELSE top.category_ns END AS ns,""")
    if json and detail is not None:  # the rank is the statement's order (a cell's (i, j) is unique)
        shape["out"] = f"CASE WHEN row_number() OVER (ORDER BY t.total DESC, t.i, t.j) <= {int(detail)} " \
                       f"THEN {_HEAT_JSON_OUT} END"
        # the categories and main grid of those only (kc, kg): a touched cell's are summed again
        shape.update(kept="kept", kept_cte=f", kept AS MATERIALIZED (SELECT * FROM top ORDER BY total DESC, i, j "
                                           f"LIMIT {int(detail)})")
    if run is None:
        query = _HEAT_SQL.format(parts=union, **shape)
        params = [*params, min_count, min_count]
    elif limit is not None and _covers(within, run):  # the whole city's fullest: the run's fullest and the touched
        run_sums, sums_params = _run_sums(run, min_count)
        query = _HEAT_AHEAD_TOP_SQL.format(parts=union, run_sums=run_sums, **shape)
        params = [*params, run.pk, run.pk, min_count, min_count, *sums_params, min_count, min_count]
    else:
        box = "" if within is None else "AND i BETWEEN %s AND %s AND j BETWEEN %s AND %s"
        query = _HEAT_AHEAD_SQL.format(parts=union, within=box, **shape)
        params = [*params, run.pk, *([] if within is None else [within.i0, within.i1, within.j0, within.j1]),
                  min_count, min_count]
    alias = parts[0].db if parts else "default"
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{HEAT_WORK_MEM}'")
        cursor.execute(query, params)
        return cursor.fetchall()


def _covers(within: CellRange | None, run: HeatRun) -> bool:
    """Whether a view (None: everywhere) holds every cell of ``run``: a map zoomed out to the whole city
    reads the run's fullest cells by its index, as a read of the whole city does (the parts are the view's)."""
    return within is None or (run.extent is not None and within.holds(CellRange(*run.extent)))


def _run_sums(run: HeatRun, min_count: int) -> tuple[str, list]:
    """Return the SQL of a row (the incidents of ``run``'s cells, how many of its cells hold at least
    ``min_count``) and its parameters: the run's own figures when it kept them (``HeatRun.total``; every
    cell of a run holds one incident or more; ``HeatRun.small_totals``, the cells under a small minimum), else
    counted from its index by total, or summed from its cells (a whole scan of them)."""
    if run.total is None:
        return ("(SELECT COALESCE(SUM(total), 0), COUNT(*) FILTER (WHERE total >= %s) FROM incidents_heatruncell "
                "WHERE run_id = %s)"), [min_count, run.pk]
    if min_count <= 1:
        return "(SELECT %s::bigint, %s::bigint)", [run.total, run.cells]
    if run.small_totals is not None and min_count - 1 <= len(run.small_totals):  # its cells less the smaller
        return "(SELECT %s::bigint, %s::bigint)", [run.total, run.cells - sum(run.small_totals[:min_count - 1])]
    return ("(SELECT %s::bigint, (SELECT count(*) FROM incidents_heatruncell WHERE run_id = %s AND total >= %s))",
            [run.total, run.pk, min_count])


def _heat_map_sql(parts: list, cell_m: int, min_count: int, limit: int | None, run=None,
                  within: CellRange | None = None) -> HeatMap:
    """Return the heatmap of the grouped rows ``parts`` (``_heat_rows``)."""
    rows = _heat_rows(parts, min_count, limit, run, within, json=False)
    if rows is None:
        return HeatMap([], 0, 0)
    total, shown = int(rows[0][0]), int(rows[0][1])
    found = [r[2:] for r in rows if r[2] is not None]
    if not found:
        return HeatMap([], shown, total)
    codes = dict(Category.objects.filter(pk__in={c for r in found for c in r[3] if c is not None})
                 .values_list("pk", "code"))
    xs = np.array([(float(r[0]) + 0.5) * cell_m for r in found], dtype=float)
    ys = np.array([(float(r[1]) + 0.5) * cell_m for r in found], dtype=float)
    lons, lats = from_metric(xs, ys)
    cells = []
    for r, x, y, lon, lat in zip(found, xs.tolist(), ys.tolist(), lons.tolist(), lats.tolist(), strict=True):
        per_category: dict[str | None, int] = {}
        for category, n in zip(r[3], r[4], strict=True):
            code = codes.get(category)
            per_category[code] = per_category.get(code, 0) + int(n)
        cells.append(Cell(x, y, lon, lat, int(r[2]), per_category, r[5], r[6]))
    return HeatMap(cells, shown, total)


def heat_map(actor: Actor, *, start: datetime, end: datetime, cell_m: int,
             categories: list[str] | None = None, sources: list[str] | None = None,
             within: CellRange | None = None, min_count: int = 1, limit: int | None = None,
             ahead: bool = True) -> HeatMap:
    """Return the cells of the period with at least ``min_count`` incidents (only those ``within`` a view
    when given: a map asks for what it shows), the fullest first (then west to east, south to north), at
    most ``limit``; read from the rollups for the whole local days of the period and corrected by the
    ordinary path for the incidents reported in its part-days (``rollups.Window``), summed in the database.
    For a reader who sees everything and no filter, from a run kept ahead (``heat_ahead``) when one is
    near the period (``ahead`` False: never, the same answer from the rollups alone)."""
    parts, run = _heat_parts(actor, start, end, cell_m, categories, sources, within, ahead)
    return _heat_map_sql(parts, cell_m, min_count, limit, run=run, within=within)


@dataclass(slots=True)
class HeatFeatures:
    """``heat_map``'s answer as the heatmap API writes it, already JSON: ``features`` is the text of an
    array's items, the GeoJSON features of the cells (centres as points, each with its count, counts per
    category, top category, main grid and centre in metres), the fullest first; ``points`` (when asked
    for) the text of every cell as ``[lon, lat, count]``, ``features`` then of the fullest few only."""

    features: str
    shown: int
    total: int
    points: str = ""


def heat_features(actor: Actor, *, start: datetime, end: datetime, cell_m: int,
                  categories: list[str] | None = None, sources: list[str] | None = None,
                  within: CellRange | None = None, min_count: int = 1, limit: int | None = None,
                  ahead: bool = True, detail: int | None = None) -> HeatFeatures:
    """Return ``heat_map``'s cells as the API's GeoJSON features, their properties written by the
    database (``_HEAT_JSON_OUT``) and their centres here (``from_metric``, as ``heat_map``): a city's
    20,000 cells without a Python object each (``heat_geojson`` is the same answer from ``heat_map``;
    a test keeps them equal). ``detail`` given: every cell as a point with its count (``points``) and the
    fullest ``detail`` as features, the others' properties neither written nor sent."""
    parts, run = _heat_parts(actor, start, end, cell_m, categories, sources, within, ahead)
    if run is not None and run.category_codes != _category_codes():  # its props name codes no longer so
        parts, run = _heat_parts(actor, start, end, cell_m, categories, sources, within, ahead=False)
    rows = _heat_rows(parts, min_count, limit, run, within, json=True, detail=detail)
    if rows is None:
        return HeatFeatures("", 0, 0)
    total, shown = int(rows[0][0]), int(rows[0][1])
    found = [r[2:] for r in rows if r[2] is not None]
    if not found:
        return HeatFeatures("", shown, total)
    xs = (np.fromiter((r[0] for r in found), dtype=float, count=len(found)) + 0.5) * cell_m
    ys = (np.fromiter((r[1] for r in found), dtype=float, count=len(found)) + 0.5) * cell_m
    lons, lats = from_metric(xs, ys)
    cells = zip(found, xs.tolist(), ys.tolist(), _degrees(lons), _degrees(lats), strict=True)
    if detail is None:
        return HeatFeatures(",".join(_feature(*cell) for cell in cells), shown, total)
    cells = list(cells)
    points = ",".join(f"[{lon},{lat},{r[2]}]" for r, _, _, lon, lat in cells)
    return HeatFeatures(",".join(_feature(*cell) for cell in cells[:detail]), shown, total, points)


def _feature(row: tuple, x: float, y: float, lon: str, lat: str) -> str:
    """A cell's GeoJSON feature as JSON text: ``row`` (i, j, count, its properties' JSON as the database
    wrote them), its centre in metres and in degrees (``_degrees``)."""
    return (f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},'
            f'"properties":{{"count":{row[2]},{row[3]},"x":{x!r},"y":{y!r}}}}}')


def _category_codes() -> list[str | None]:
    """Return the categories' codes by id from 1 (None for an id no category has): what a run's props
    were written with (``HeatRun.category_codes``)."""
    with connections[Category.objects.all().db].cursor() as cursor:
        cursor.execute(_CODES_SQL)
        return cursor.fetchone()[0] or []


def _degrees(values: np.ndarray) -> list[str]:
    """Degrees as JSON numbers to 6 decimals (0.1 m): the number ``round(value, 6)`` is, both rounding
    the exact value correctly; null where it is not finite (a centre PROJ cannot place)."""
    return [f"{value:.6f}" if math.isfinite(value) else "null" for value in values.tolist()]


def heat_geojson(cells: list[Cell]) -> list[dict]:
    """Return the cells as the heatmap API's GeoJSON features (points at their centres): the ordinary
    path ``heat_features`` answers like."""
    return [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [round(c.lon, 6), round(c.lat, 6)]},
        "properties": {"count": c.count, "categories": c.categories, "top_category": c.top_category,
                       "grid_code": c.grid_code, "grid_name": c.grid_name, "x": c.x, "y": c.y},
    } for c in cells]


def _heat_parts(actor: Actor, start: datetime, end: datetime, cell_m: int, categories, sources,
                within: CellRange | None, ahead: bool, live: bool = True) -> tuple[list, HeatRun | None]:
    """Return the grouped rows ``heat_map`` sums for the period (querysets) and the run kept ahead they
    bring to it (None: the rollups alone; ``live`` False: a daily run, never a live one)."""
    if cell_m % rollups.CELL_M:
        raise ValueError(f"cell_m must be a multiple of {rollups.CELL_M}")
    window, run = _heat_window(start, end), None
    if ahead and scope_q(actor) is None and not categories and not sources:
        window, run = _ahead_window(cell_m, start, end, live) or (window, None)
    if run is None:
        parts = _rollup_rows(actor, window, cell_m, categories, sources, within)
    else:
        parts = _ahead_parts(actor, run, *window.days, cell_m, within)
    if window.gaps():
        edge = counted(actor, categories=categories, sources=sources).filter(
            window.edge_q(columns=("created_at",), clocks=False))
        parts.append(_direct_rows(edge, cell_m, (start, end), (window.d0, window.d1), within=within, net=True))
    return parts, run


def _heat_window(start: datetime, end: datetime, up: bool = False) -> rollups.Window:
    """Return the period's window for a heatmap (``rollups.Window.of``; ``up``: its whole days from the
    midnight after ``start``). A heatmap has no clock: its ``now`` is where its days begin."""
    d0 = rollups.Window.of(start, end, start, up=up).d0
    return rollups.Window.of(start, end, d0, up=up)


def _ahead_window(cell_m: int, start: datetime, end: datetime,
                  live: bool = True) -> tuple[rollups.Window, HeatRun] | None:
    """Return the window of the period and the run kept ahead that answer it with the least to sum
    besides the run, None when no run is near. The daily runs: its whole days from the midnight before
    ``start`` or after it, each with its nearest run (``_nearest_run``). A period of N days ending now is
    read in the morning with the N days' run (the part of its first day before ``start`` taken away), in
    the afternoon with the N - 1's (the part after ``start`` added); one from a midnight to tonight is the
    N - 1's and today. The live runs (``live``): a window from the run's ``part_start`` to the end of its
    last day, the minutes between the two starts and after ``end`` read from the incidents (less than a
    day in all); not while a late row of its first day is one it did not see (``_live_usable``). Each is
    weighed by what it leaves to sum, in days: the whole days between the run and the window, the
    part-days between the window and the period up to now, and a live run's changes since it was summed
    (the late rows)."""
    now = timezone.now()

    def _days(a: datetime, b: datetime) -> float:
        return abs(min(a, now) - min(b, now)) / timedelta(days=1)

    choices, floor = [], _heat_window(start, end)
    for window in [floor] + ([_heat_window(start, end, up=True)] if floor.d0 < start else []):
        nearest = _nearest_run(cell_m, *window.days)
        if nearest is not None:
            choices.append((nearest[0] + _days(start, window.d0) + _days(end, window.d1), window, nearest[1]))
    if live:
        for run in HeatRun.objects.filter(cell_m=cell_m, part_start__isnull=False).order_by("-built_at", "-pk"):
            d0, d1 = run.part_start, _midnight(run.last_day)
            cost = _days(start, d0) + _days(end, d1) + _days(now, run.built_at)
            if cost < 1 and d0 < d1:  # what is left is read from the incidents: less than a day of them
                window = rollups.Window(start, end, d0, d0, d1, d0)  # no clock: its "now" is where it begins
                choices.append((cost, window, run))
    for _, window, run in sorted(choices, key=lambda choice: choice[0]):
        if run.part_start is None or _live_usable(run):
            return window, run
    return None


def _live_usable(run: HeatRun) -> bool:
    """Whether no late row of a live run's first day, when it holds part of it (a row cannot be told
    inside or outside it), is one its snapshot did not see."""
    return not run.holds_part_day or not _late_unseen_by(run).filter(day=run.first_day).exists()


def _late_unseen_by(run: HeatRun):
    """Return the late rows (``heat_ahead``) the run's snapshot did not see."""
    unseen = RawSQL("txid_visible_in_snapshot(xid, %s::txid_snapshot)", [run.snapshot], output_field=BooleanField())
    return HeatLate.objects.alias(seen=unseen).filter(seen=False)


def _nearest_run(cell_m: int, first: date, last: date) -> tuple[int, HeatRun] | None:
    """Return the run kept ahead (``heat_ahead``) of cells ``cell_m`` wide whose days are nearest the
    days [first, last) and how many whole days (at its start and end together) it is off them, None when
    none is within ``AHEAD_DRIFT_DAYS``."""
    drift = timedelta(days=AHEAD_DRIFT_DAYS)
    runs = HeatRun.objects.filter(cell_m=cell_m, part_start=None, last_day__gte=last - drift,
                                  last_day__lte=last + drift)
    best = None
    for run in runs.order_by("-built_at", "-pk"):
        off = abs((first - run.first_day).days) + abs((last - run.last_day).days)
        if off <= AHEAD_DRIFT_DAYS and (best is None or off < best[0]):
            best = (off, run)
    return best


def _ahead_parts(actor: Actor, run: HeatRun, first: date, last: date, cell_m: int,
                 within: CellRange | None) -> list:
    """Return the rows that bring ``run`` to the days [first, last): the day rows of the days one has
    and the other has not (added or taken away), and the late changes in the run's days it did not
    see (``heat_ahead``; a live run's whole days: ``_ahead_window`` reads one only while its first day
    has none)."""
    spans = [(first, run.first_day, 1), (run.first_day, first, -1), (run.last_day, last, 1), (last, run.last_day, -1)]
    parts = [_day_rows(actor, lo, hi, cell_m, None, None, within, sign) for lo, hi, sign in spans if lo < hi]
    late = _late_unseen_by(run).filter(day__gte=run.first_whole_day, day__lt=run.last_day)
    parts.append(_cell_rows(late, rollups.CELL_M, cell_m, within))
    return parts


# A run's cells from its keys by category (kc) and by grid (kg), each summed per cell: a row a cell, its
# total, its counts per category and per grid in arrays, its props (``_CATEGORIES_PROPS``) and main grid
# (``_MAIN_GRID_ORDER``), without its run's id (the first column, a parameter).
_RUN_CELLS_TAIL = """, cc AS (
    SELECT k.i, k.j, SUM(k.n)::integer AS total, array_agg(k.category_id ORDER BY k.category_id) AS ids,
           array_agg(k.n ORDER BY k.category_id) AS ns, """ + _CATEGORIES_PROPS + """ AS props
    FROM kc AS k LEFT JOIN incidents_category AS cat ON cat.id = k.category_id GROUP BY k.i, k.j
), gg AS (
    SELECT i, j, array_agg(grid_id ORDER BY grid_id) AS ids, array_agg(n ORDER BY grid_id) AS ns FROM kg GROUP BY i, j
), main AS (
    SELECT DISTINCT ON (g.i, g.j) g.i, g.j, g.grid_id
    FROM (SELECT kg.i, kg.j, kg.grid_id, grid.code, grid.name, kg.n
          FROM kg JOIN grids_grid AS grid ON grid.id = kg.grid_id) AS g
    ORDER BY g.i, g.j, """ + _MAIN_GRID_ORDER + """
)
SELECT %s, cc.i, cc.j, cc.total, cc.ids, cc.ns, COALESCE(gg.ids, '{}'), COALESCE(gg.ns, '{}'), main.grid_id, cc.props
FROM cc LEFT JOIN gg USING (i, j) LEFT JOIN main USING (i, j)"""
# A run's cells from the keys (i, j, category id, grid id, n) of its days at HEAT_CELL_M, summed into
# the run's cells (blocks of them): a row a cell, its counts per category and per grid in arrays, and
# its main grid as ``_HEAT_TAIL`` decides it. Written in the order of the run's index by total
# (``heatruncell_run_top``), so that its fullest cells, which the whole city's read takes, lie together.
_RUN_CELLS_SQL = """
INSERT INTO incidents_heatruncell (run_id, i, j, total, category_ids, category_ns, grid_ids, grid_ns, main_grid_id,
                                   props)
WITH k AS (
    SELECT floor(i / %s::float8)::integer AS i, floor(j / %s::float8)::integer AS j, category_id, grid_id,
           SUM(n) AS n
    FROM heat_keys GROUP BY 1, 2, 3, 4
), kc AS (
    SELECT i, j, category_id, SUM(n)::integer AS n FROM k GROUP BY i, j, category_id HAVING SUM(n) <> 0
), kg AS MATERIALIZED (
    SELECT i, j, grid_id, SUM(n)::integer AS n FROM k WHERE grid_id IS NOT NULL
    GROUP BY i, j, grid_id HAVING SUM(n) <> 0
)""" + _RUN_CELLS_TAIL + """
ORDER BY cc.total DESC, cc.i, cc.j
"""
# A live run's cells (``refresh_heat_live``): the cells of a daily run the parts ``p`` (i, j, category id,
# grid id, n at the run's size) touch summed again from its arrays and the parts' rows (b: those of the
# daily run), the others copied; in the order of the run's index by total, as ``_RUN_CELLS_SQL``.
_LIVE_CELLS_SQL = """
INSERT INTO incidents_heatruncell (run_id, i, j, total, category_ids, category_ns, grid_ids, grid_ns, main_grid_id,
                                   props)
WITH """ + _HEAT_PARTS + """, pc AS MATERIALIZED (
    SELECT DISTINCT i, j FROM p
), b AS MATERIALIZED (
    SELECT a.i, a.j, a.category_ids, a.category_ns, a.grid_ids, a.grid_ns
    FROM pc JOIN incidents_heatruncell AS a ON a.run_id = %s AND a.i = pc.i AND a.j = pc.j
), kc AS (
    SELECT i, j, category_id, SUM(n)::integer AS n
    FROM (SELECT b.i, b.j, u.category_id, u.n FROM b, unnest(b.category_ids, b.category_ns) AS u (category_id, n)
          UNION ALL SELECT i, j, category_id, n FROM p) AS k
    GROUP BY i, j, category_id HAVING SUM(n) <> 0
), kg AS MATERIALIZED (
    SELECT i, j, grid_id, SUM(n)::integer AS n
    FROM (SELECT b.i, b.j, u.grid_id, u.n FROM b, unnest(b.grid_ids, b.grid_ns) AS u (grid_id, n)
          UNION ALL SELECT i, j, grid_id, n FROM p WHERE grid_id IS NOT NULL) AS k
    GROUP BY i, j, grid_id HAVING SUM(n) <> 0
)""" + _RUN_CELLS_TAIL + """
UNION ALL
SELECT %s, a.i, a.j, a.total, a.category_ids, a.category_ns, a.grid_ids, a.grid_ns, a.main_grid_id, a.props
FROM incidents_heatruncell AS a
WHERE a.run_id = %s AND NOT EXISTS (SELECT 1 FROM pc WHERE pc.i = a.i AND pc.j = a.j)
ORDER BY 4 DESC, 2, 3
"""
_LATE_UNSEEN_SQL = (f"SELECT count(*) FROM {heat_ahead.LATE_TABLE} WHERE day >= %s AND day < %s "
                    "AND NOT txid_visible_in_snapshot(xid, %s::txid_snapshot)")
# the late rows no run will read: seen by every run (visible in its snapshot; when there is no run,
# any committed row), or outside every run's days (a run summed later sees them, committed)
_LATE_PRUNE_SQL = f"""
DELETE FROM {heat_ahead.LATE_TABLE}
WHERE NOT EXISTS (SELECT 1 FROM (SELECT DISTINCT snapshot FROM incidents_heatrun) AS r
                  WHERE NOT txid_visible_in_snapshot(xid, r.snapshot::txid_snapshot))
   OR day >= (SELECT max(last_day) FROM incidents_heatrun) OR day < (SELECT min(first_day) FROM incidents_heatrun)
"""
AHEAD_LOCK = 0x4EA7  # the advisory lock of the job (pg_try_advisory_lock): one run at a time


@contextmanager
def _the_job(name: str):
    """Yield the default connection while this process holds the job's advisory lock (``AHEAD_LOCK``),
    None when another holds it (it leaves). Never inside a caller's transaction: each period is summed in
    a REPEATABLE READ transaction of its own, whose snapshot its runs keep (a caller's own writes would be
    late rows the snapshot did not see, counted twice)."""
    conn = connections["default"]
    if conn.in_atomic_block:
        raise RuntimeError(f"{name} sums each period in a transaction of its own")
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [AHEAD_LOCK])
        held = cursor.fetchone()[0]
    if not held:
        yield None
        return
    try:
        yield conn
    finally:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AHEAD_LOCK])


def refresh_heat_ahead(*, today: date | None = None, force: bool = False) -> list[HeatRun]:
    """Sum the runs kept ahead (``heat_ahead``) that are missing or stale: for each of ``AHEAD_DAYS`` (N),
    the whole city's cells of every size of ``AHEAD_CELLS`` over the local days [today - N, today) and
    [today - N + 1, today), when its runs are of an earlier day or ``LATE_REBUILD`` late rows fall in their
    days (``force``: always). Replace the runs of the period in the same transaction (a reader sees the old
    or the new), then delete the late rows no run will read. Return the runs summed. Safe to run twice, and
    at once: a job finding another at work leaves (``_the_job``)."""
    today = today or rollups.local_day(timezone.now())
    made: list[HeatRun] = []
    with _the_job("refresh_heat_ahead") as conn:
        if conn is None:
            return []
        with conn.cursor() as cursor:  # runs of another cluster's transactions (a restored copy): forgotten
            cursor.execute("SELECT id FROM incidents_heatrun WHERE txid_snapshot_xmax(snapshot::txid_snapshot) "
                           "> txid_snapshot_xmax(txid_current_snapshot())")
            alien = [pk for (pk,) in cursor.fetchall()]
        if alien:
            HeatRunCell.objects.filter(run__in=alien).delete()
            HeatRun.objects.filter(pk__in=alien).delete()
        for days in AHEAD_DAYS:
            made.extend(_refresh_period(conn, today, days, force))
        with conn.cursor() as cursor:
            cursor.execute(_LATE_PRUNE_SQL)
            if made:  # the replaced runs' rows gone and the visibility map set: the runs' sums read the index alone
                cursor.execute(f"VACUUM (ANALYZE) {HeatRunCell._meta.db_table}")
    return made


def _refresh_period(conn, today: date, days: int, force: bool) -> list[HeatRun]:
    """Sum the runs of the N = ``days`` and N - 1 whole days ending yesterday, from one snapshot: the keys
    of the later N - 1 days gathered once, their runs summed, the first day's keys added, the N days' runs
    summed (``_RUN_CELLS_SQL`` sums a key's rows)."""
    first = today - timedelta(days=days)
    lengths = (days - 1, days)
    with transaction.atomic(), conn.cursor() as cursor:
        # the runs' snapshot is the one every statement below reads
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT txid_current_snapshot()::text")
        snapshot = cursor.fetchone()[0]
        current = list(HeatRun.objects.filter(days__in=lengths, last_day=today, part_start=None))
        if not force and {(run.days, run.cell_m) for run in current} >= {(n, c) for n in lengths for c in AHEAD_CELLS}:
            cursor.execute(_LATE_UNSEEN_SQL, [first, today, min(current, key=lambda r: r.pk).snapshot])
            if cursor.fetchone()[0] < LATE_REBUILD:
                return []
        everyone = Actor.system("heat-ahead")
        cursor.execute(f"SET LOCAL work_mem = '{HEAT_WORK_MEM}'")
        cursor.execute("DROP TABLE IF EXISTS heat_keys")
        made = []
        for length in lengths:
            since = today - timedelta(days=length)  # the keys of the days [since, until) are gathered now
            until = today if length == lengths[0] else since + timedelta(days=1)
            window = rollups.Window.of(_midnight(since), _midnight(until), _midnight(since))
            union, params = _compiled(_rollup_rows(everyone, window, rollups.HEAT_CELL_M, None, None))
            keys = ("SELECT i::integer AS i, j::integer AS j, category_id, grid_id, SUM(n)::bigint AS n "
                    f"FROM ({union or 'SELECT 0, 0, 0, 0, 0 WHERE false'}) AS p (i, j, category_id, grid_id, n) "
                    "GROUP BY 1, 2, 3, 4")
            if length == lengths[0]:
                cursor.execute(f"CREATE TEMP TABLE heat_keys ON COMMIT DROP AS {keys}", params)
            else:
                cursor.execute(f"INSERT INTO heat_keys {keys}", params)
            made.extend(_sum_runs(cursor, since, today, snapshot))
        cursor.execute("DROP TABLE heat_keys")
        replaced = HeatRun.objects.filter(days__in=lengths, part_start=None).exclude(pk__in=[run.pk for run in made])
        HeatRunCell.objects.filter(run__in=replaced).delete()
        replaced.delete()
        # the planner's figures of the new rows, committed with them (with a stale estimate a read of a
        # city's year at 250 m nested-looped over its 72,000 cells: 90 s instead of 0.5)
        cursor.execute(f"ANALYZE {HeatRunCell._meta.db_table}")
    return made


def _sum_runs(cursor, first: date, today: date, snapshot: str) -> list[HeatRun]:
    """Sum the keys of ``heat_keys`` (the days [first, today)) into a run of each cell size."""
    made = []
    for cell_m in AHEAD_CELLS:
        run = HeatRun.objects.create(cell_m=cell_m, days=(today - first).days, first_day=first, last_day=today,
                                     snapshot=snapshot, built_at=timezone.now(), category_codes=_category_codes())
        blocks = cell_m // rollups.HEAT_CELL_M
        cursor.execute(_RUN_CELLS_SQL, [blocks, blocks, run.pk])
        made.append(_with_figures(cursor, run, cursor.rowcount))
    return made


def _with_figures(cursor, run: HeatRun, cells: int) -> HeatRun:
    """Keep on a run just summed (``cells`` of them) what a read of the whole city's fullest takes from it,
    not from a scan of its every cell: its incidents, small totals and extent."""
    small = ", ".join(f"count(*) FILTER (WHERE total = {k})" for k in range(1, heat_ahead.SMALL_TOTALS + 1))
    cursor.execute(f"SELECT COALESCE(SUM(total), 0), ARRAY[{small}], min(i), max(i), min(j), max(j) "
                   "FROM incidents_heatruncell WHERE run_id = %s", [run.pk])
    run.cells = cells
    run.total, run.small_totals, *extent = cursor.fetchone()
    run.extent = None if extent[0] is None else extent
    run.save(update_fields=["cells", "total", "small_totals", "extent"])
    return run


def live_starts(now: datetime, days: int) -> tuple[datetime, datetime]:
    """Return where the live runs of N = ``days`` days summed at ``now`` start: N days before ``now`` (the
    review page's N days ending now) and the midnight N - 1 days before today's (a calendar's N days
    to tonight)."""
    return now - timedelta(days=days), _midnight(rollups.local_day(now) - timedelta(days=days - 1))


def refresh_heat_live(*, now: datetime | None = None) -> list[HeatRun]:
    """Sum the live runs (``heat_ahead``): for each of ``AHEAD_DAYS`` (N) and size of ``AHEAD_CELLS``, the
    whole city's cells from each of ``live_starts`` (``now`` default: now) to tonight, today so far
    included, from the daily run nearest them and the parts that bring it there (``_heat_parts``, as a
    read; ``_LIVE_CELLS_SQL``). Replace the live runs of the period in the same transaction; return the
    runs summed. A size with no daily run near (the daily job has not summed them yet) or one written with
    other category codes has none: reads take the daily runs. The lock and transactions of
    ``refresh_heat_ahead``."""
    now = now or timezone.now()
    made: list[HeatRun] = []
    with _the_job("refresh_heat_live") as conn:
        if conn is None:
            return []
        for days in AHEAD_DAYS:
            made.extend(_refresh_live(conn, now, days))
    return made


def _refresh_live(conn, now: datetime, days: int) -> list[HeatRun]:
    """Sum the live runs of N = ``days`` days summed at ``now``, from one snapshot."""
    tomorrow = _midnight(rollups.local_day(now) + timedelta(days=1))
    everyone = Actor.system("heat-live")
    with transaction.atomic(), conn.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT txid_current_snapshot()::text")
        snapshot = cursor.fetchone()[0]
        cursor.execute(f"SET LOCAL work_mem = '{HEAT_WORK_MEM}'")
        codes, made = _category_codes(), []
        for start, cell_m in [(start, cell_m) for start in live_starts(now, days) for cell_m in AHEAD_CELLS]:
            parts, base = _heat_parts(everyone, start, tomorrow, cell_m, None, None, None, ahead=True, live=False)
            if base is None or base.category_codes != codes:
                continue
            union, params = _compiled(parts)
            run = HeatRun.objects.create(cell_m=cell_m, days=days, first_day=rollups.local_day(start),
                                         last_day=rollups.local_day(tomorrow), part_start=start, snapshot=snapshot,
                                         built_at=timezone.now(), category_codes=codes)
            sql = _LIVE_CELLS_SQL.replace("{parts}", union or "SELECT 0, 0, 0, 0, 0 WHERE false")
            cursor.execute(sql, [*params, base.pk, run.pk, run.pk, base.pk])
            made.append(_with_figures(cursor, run, cursor.rowcount))
        replaced = HeatRun.objects.filter(days=days, part_start__isnull=False).exclude(pk__in=[r.pk for r in made])
        HeatRunCell.objects.filter(run__in=replaced).delete()
        replaced.delete()
        cursor.execute(f"ANALYZE {HeatRunCell._meta.db_table}")  # as ``_refresh_period``
    return made


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


def heat_cells(actor: Actor, *, start: datetime, end: datetime, cell_m: int,
               categories: list[str] | None = None, sources: list[str] | None = None,
               within: CellRange | None = None) -> list[Cell]:
    """Return every non-empty cell of the period (``heat_map``), the fullest first: equal to
    ``heat_cells_direct``."""
    return heat_map(actor, start=start, end=end, cell_m=cell_m, categories=categories, sources=sources,
                    within=within).cells


def _bucket_starts(start: datetime, end: datetime, bucket: str) -> list[datetime]:
    """Return the local starts of every bucket that overlaps [start, end)."""
    tz = timezone.get_current_timezone()
    first = timezone.localtime(start, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    step = timedelta(days=7 if bucket == "week" else 1)
    out, day = [], first.replace(tzinfo=None)
    while True:
        moment = timezone.make_aware(day, tz)
        if moment >= end:
            return out
        out.append(moment)
        day += step


TrendCounts = Counter  # (bucket start, "reported" | "closed", category code or None) -> incidents


def _trend_counts_direct(qs, bucket: str, *periods: tuple[datetime, datetime]) -> list[TrendCounts]:
    """Return per period [start, end) the trend counts of the incidents of ``qs`` (the ordinary path),
    in two queries."""
    trunc = BUCKETS[bucket]
    tz = timezone.get_current_timezone()
    out = [Counter() for _ in periods]
    for what, column, extra in (("reported", "created_at", Q()),
                                ("closed", "closed_at", Q(state=Incident.State.CLOSED))):
        within = [Q(**{f"{column}__gte": start, f"{column}__lt": end}) for start, end in periods]
        keys = ["b", "category__code"] if what == "reported" else ["b"]
        rows = (qs.filter(extra & functools.reduce(operator.or_, within)).annotate(b=trunc(column, tzinfo=tz))
                .values(*keys).annotate(**{f"n{k}": Count("id", filter=q) for k, q in enumerate(within)})
                .order_by())
        for r in rows:
            for k, counts in enumerate(out):
                counts[(r["b"], what, r.get("category__code"))] += r[f"n{k}"]
    return out


@functools.lru_cache(maxsize=4096)
def _bucket_of(day, bucket: str) -> datetime:
    """Return the local start of the bucket holding a local day."""
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _trend_counts_rollup(actor: Actor, window: rollups.Window, bucket: str, categories, sources) -> TrendCounts:
    """Return the trend counts of the window's whole days from the rollups."""
    first, last = window.days
    K = rollups.Kind
    counts: TrendCounts = Counter()
    reported = (_rollup(actor, K.RECEIVED, categories, sources, lean=True).filter(day__gte=first, day__lt=last)
                .values("day", "category__code").annotate(n=Sum("n")).order_by())
    for r in reported:
        counts[(_bucket_of(r["day"], bucket), "reported", r["category__code"])] += r["n"]
    closed = (_rollup(actor, K.CLOSED, categories, sources, lean=True).filter(day__gte=first, day__lt=last)
              .values("day").annotate(n=Sum("n")).order_by())
    for r in closed:
        counts[(_bucket_of(r["day"], bucket), "closed", None)] += r["n"]
    return counts


def _series(counts: TrendCounts, start: datetime, end: datetime, bucket: str) -> list[dict]:
    series = {b: {"start": b, "reported": 0, "closed": 0, "categories": {}} for b in _bucket_starts(start, end, bucket)}
    for (b, what, category), n in counts.items():
        entry = series.get(b)
        if entry is None or not n:
            continue
        entry[what] += n
        if what == "reported":
            entry["categories"][category] = n
    return list(series.values())


def trend_direct(actor: Actor, *, start: datetime, end: datetime, bucket: str,
                 categories: list[str] | None = None, sources: list[str] | None = None) -> list[dict]:
    """Return ``trend`` aggregated on the incidents themselves (the reference path)."""
    qs = counted(actor, categories=categories, sources=sources)
    return _series(_trend_counts_direct(qs, bucket, (start, end))[0], start, end, bucket)


def trend(actor: Actor, *, start: datetime, end: datetime, bucket: str,
          categories: list[str] | None = None, sources: list[str] | None = None) -> list[dict]:
    """Return per bucket: its local start, incidents reported, closed, and reported per category; read
    from the rollups for the whole local days, corrected by the ordinary path for the part-days."""
    window = rollups.Window.of(start, end, start)
    counts = _trend_counts_rollup(actor, window, bucket, categories, sources)
    edge = counted(actor, categories=categories, sources=sources).filter(
        window.edge_q(columns=("created_at", "closed_at"), clocks=False))
    if window.gaps():
        exact, rounded = _trend_counts_direct(edge, bucket, (start, end), (window.d0, window.d1))
        counts.update(exact)
        counts.subtract(rounded)
    return _series(counts, start, end, bucket)


COMPONENT_FIELDS = {"code": "component__code", "type_code": "component__type_id", "type_name": "component__type__name",
                    "name": "component__name", "owner_dept": "component__owner_dept", "state": "component__state"}


def component_hotspots(actor: Actor, *, start: datetime, end: datetime, limit: int = 20,
                       categories: list[str] | None = None, sources: list[str] | None = None) -> list[dict]:
    """Return the components with the most incidents reported in [start, end) that the actor may see and
    that count (``counted``): recurring problems per component (部件), most first (then by code), each with
    its incidents, how many are still open and the categories reported on it."""
    qs = counted(actor, categories=categories, sources=sources).filter(
        created_at__gte=start, created_at__lt=end, component__isnull=False)
    top = list(qs.values(*COMPONENT_FIELDS.values()).annotate(
        incidents=Count("id"), open=Count("id", filter=Q(state__in=rules.OPEN)), last_reported_at=Max("created_at"),
    ).order_by("-incidents", "component__code")[:limit])
    per_category = defaultdict(dict)
    for code, category, n in (qs.filter(component__code__in=[row["component__code"] for row in top])
                              .values_list("component__code", "category__code").annotate(n=Count("id")).order_by()):
        per_category[code][category] = n
    return [{**{name: row[path] for name, path in COMPONENT_FIELDS.items()}, "incidents": row["incidents"],
             "open": row["open"], "last_reported_at": row["last_reported_at"],
             "categories": per_category[row["component__code"]]} for row in top]
