"""Reads on cameras: how much of each grid the cameras' view sectors see."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from cameras.models import Camera
from gis_core.srid import METRIC_SRID
from grids.models import Grid

# Raw SQL: the area of the union of the sectors that see into a grid, clipped to the grid, is one
# aggregate per grid (ST_Union inside ST_Intersection) that the ORM cannot group. Areas are taken in
# EPSG:4549 (metres); the candidate join runs on the stored EPSG:4326 columns, through their indexes.
# "Sees into" is ST_Relate's interior-intersects pattern: a sector that only touches a grid's edge does
# not count for it.
_COVERAGE = f"""
SELECT g.id,
       ST_Area(ST_Transform(g.boundary, {METRIC_SRID})) AS area_m2,
       COALESCE(ST_Area(ST_Intersection(ST_Transform(g.boundary, {METRIC_SRID}),
                                        ST_Union(ST_Transform(c.sector, {METRIC_SRID})))), 0) AS covered_m2,
       COALESCE(array_agg(c.code ORDER BY c.code) FILTER (WHERE c.id IS NOT NULL), '{{}}') AS cameras
  FROM grids_grid g
  LEFT JOIN cameras_camera c
    ON c.status = ANY(%(statuses)s) AND ST_Relate(g.boundary, c.sector, 'T********')
 WHERE g.id = ANY(%(grids)s)
 GROUP BY g.id
"""


@dataclass(frozen=True)
class GridCoverage:
    """How much of one grid the cameras see: areas in m², ``share`` in 0..1, the cameras seeing into it."""

    grid: Grid
    area_m2: float
    covered_m2: float
    cameras: list[str]

    @property
    def boundary(self):
        return self.grid.boundary

    @property
    def share(self) -> float:
        return min(1.0, self.covered_m2 / self.area_m2) if self.area_m2 else 0.0


# The state coverage depends on, in one small query: every camera row and the grid rows asked about,
# each as its id and the version of its row (xmin: the transaction that wrote it; ctid: where that
# version lies, so two writes in one transaction differ too). Any change to a camera (save, queryset
# update, delete, a new one) or to one of those grids (a redrawn draft) gives another answer, and a
# newly activated generation asks about other grids; nothing has to remember to invalidate.
_STATE = """
SELECT (SELECT md5(coalesce(string_agg(c.id || ':' || c.xmin::text || ':' || c.ctid::text, ',' ORDER BY c.id), ''))
          FROM cameras_camera c),
       (SELECT md5(coalesce(string_agg(g.id || ':' || g.xmin::text || ':' || g.ctid::text, ',' ORDER BY g.id), ''))
          FROM grids_grid g WHERE g.id = ANY(%(grids)s))
"""
COVERAGE_CACHE_S = 24 * 3600  # an entry is never stale (its key is the state); this only frees memory


def coverage_by_grid(grids, *, statuses: tuple[str, ...] = (Camera.Status.ONLINE,)) -> list[GridCoverage]:
    """Return the camera coverage of each grid of ``grids`` (a Grid queryset), in the queryset's order.

    Only cameras whose status is in ``statuses`` count (by default the online ones: an offline
    camera sees nothing). Overlapping sectors are counted once. The union is computed once per state
    of the cameras and of these grids (the cache key, ``_STATE``), not on every request.
    """
    grids = list(grids)
    ids = sorted(g.pk for g in grids)
    with connection.cursor() as cursor:
        cursor.execute(_STATE, {"grids": ids})
        state = cursor.fetchone()
    digest = hashlib.sha256(repr((state, sorted(statuses), ids)).encode()).hexdigest()
    key = f"cameras.coverage.{digest}"
    rows = cache.get(key)
    if rows is None:
        rows = _coverage_rows(ids, statuses)
        cache.set(key, rows, COVERAGE_CACHE_S)
    return [GridCoverage(g, *rows[g.pk]) for g in grids]


def _coverage_rows(grid_ids: list[int], statuses) -> dict[int, tuple[float, float, list[str]]]:
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE, {"statuses": list(statuses), "grids": grid_ids})
        return {pk: (area, covered, list(codes)) for pk, area, covered, codes in cursor.fetchall()}
