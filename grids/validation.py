"""Check that a generation's comprehensive grids partition its villages (PostGIS, metric areas).

Raw SQL here: the checks need pairwise self-joins and per-village unions measured in
EPSG:4549, which the ORM cannot express without fetching every geometry into Python.
"""
from __future__ import annotations

from django.db import connection

from gis_core.srid import METRIC_SRID
from grids.models import BoundaryGeneration

TOLERANCE_M2 = 1.0

_INVALID = """
SELECT code, ST_IsValidReason(boundary) FROM grids_grid
WHERE generation_id = %(g)s AND NOT ST_IsValid(boundary) ORDER BY code"""

_OUTSIDE_VILLAGE = """
SELECT g.code, v.code, ST_Area(ST_Transform(ST_Difference(g.boundary, v.boundary), %(metric_srid)s))
FROM grids_grid g JOIN grids_village v ON v.id = g.village_id
WHERE g.generation_id = %(g)s
  AND ST_Area(ST_Transform(ST_Difference(g.boundary, v.boundary), %(metric_srid)s)) > %(tol)s ORDER BY g.code"""

_OVERLAPS = """
SELECT a.code, b.code, ST_Area(ST_Transform(ST_Intersection(a.boundary, b.boundary), %(metric_srid)s))
FROM grids_grid a JOIN grids_grid b
  ON a.generation_id = b.generation_id AND a.code < b.code AND a.boundary && b.boundary
WHERE a.generation_id = %(g)s AND a.kind = 'comprehensive' AND b.kind = 'comprehensive'
  AND ST_Area(ST_Transform(ST_Intersection(a.boundary, b.boundary), %(metric_srid)s)) > %(tol)s ORDER BY 1, 2"""

_GAPS = """
SELECT code, gap FROM (
  SELECT v.code, ST_Area(ST_Transform(
           ST_Difference(v.boundary, COALESCE(u.geom, 'SRID=4326;POLYGON EMPTY'::geometry)), %(metric_srid)s)) AS gap
  FROM grids_village v
  JOIN grids_boundarygeneration bg ON bg.town_id = v.town_id AND bg.id = %(g)s
  LEFT JOIN (SELECT village_id, ST_Union(boundary) AS geom FROM grids_grid
             WHERE generation_id = %(g)s AND kind = 'comprehensive' GROUP BY village_id) u ON u.village_id = v.id
) gaps WHERE gap > %(tol)s ORDER BY code"""


def validate_generation(generation: BoundaryGeneration) -> list[str]:
    """Return the problems that keep the generation from being a partition (empty: valid)."""
    params = {"g": generation.pk, "tol": TOLERANCE_M2, "metric_srid": METRIC_SRID}
    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(_INVALID, params)
        problems += [f"grid {code}: invalid geometry ({reason})" for code, reason in cursor.fetchall()]
        if problems:
            return problems
        cursor.execute(_OUTSIDE_VILLAGE, params)
        problems += [f"grid {g}: {a:.1f} m² outside its village {v}" for g, v, a in cursor.fetchall()]
        cursor.execute(_OVERLAPS, params)
        problems += [f"grids {a} and {b} overlap by {area:.1f} m²" for a, b, area in cursor.fetchall()]
        cursor.execute(_GAPS, params)
        problems += [f"village {v}: {area:.1f} m² not covered by any comprehensive grid"
                     for v, area in cursor.fetchall()]
    return problems
