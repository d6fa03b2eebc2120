"""Reads on cameras: how much of each grid the cameras' view sectors see."""
from __future__ import annotations

from dataclasses import dataclass

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


def coverage_by_grid(grids, *, statuses: tuple[str, ...] = (Camera.Status.ONLINE,)) -> list[GridCoverage]:
    """Return the camera coverage of each grid of ``grids`` (a Grid queryset), in the queryset's order.

    Only cameras whose status is in ``statuses`` count (by default the online ones: an offline
    camera sees nothing). Overlapping sectors are counted once.
    """
    grids = list(grids)
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE, {"statuses": list(statuses), "grids": [g.pk for g in grids]})
        rows = {pk: (area, covered, list(codes)) for pk, area, covered, codes in cursor.fetchall()}
    return [GridCoverage(g, *rows[g.pk]) for g in grids]
