"""Set-based point location in PostGIS: many points in two statements (for batches and checks).

The rules are those of grids.locator (covers; smallest code on shared edges; dedicated grids
alongside; outside -> nearest comprehensive grid by geodesic metres; distances equal to the
centimetre are a tie, broken by code).
Raw SQL here because the per-point LATERAL subqueries over an unnested array are not
expressible in the ORM; every value is a bound parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection

_POINTS = """
WITH pts AS (
  SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom
  FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS t(x, y, i)
)"""

_COVERING = _POINTS + """
SELECT p.i,
  (SELECT g.id FROM grids_grid g
    WHERE g.generation_id = ANY(%(gens)s) AND g.kind = 'comprehensive' AND ST_Covers(g.boundary, p.geom)
    ORDER BY g.code LIMIT 1),
  (SELECT array_agg(g.id ORDER BY g.code) FROM grids_grid g
    WHERE g.generation_id = ANY(%(gens)s) AND g.kind = 'dedicated' AND ST_Covers(g.boundary, p.geom))
FROM pts p ORDER BY p.i"""

_NEAREST = _POINTS + """
SELECT DISTINCT ON (p.i) p.i, n.id, n.d
FROM pts p CROSS JOIN LATERAL (
  SELECT s.id, s.code, ST_Distance(s.boundary::geography, p.geom::geography) AS d
  FROM (SELECT g.id, g.code, g.boundary FROM grids_grid g
        WHERE g.generation_id = ANY(%(gens)s) AND g.kind = 'comprehensive'
        ORDER BY g.boundary <-> p.geom LIMIT 5) s) n
ORDER BY p.i, round(n.d::numeric, 2), n.code"""


@dataclass
class BulkLocation:
    """Per-point answers: grid id (-1 outside), dedicated ids, nearest grid and metres when outside."""

    grid_id: np.ndarray
    dedicated: list[tuple[int, ...]]
    nearest_grid_id: np.ndarray
    distance_m: np.ndarray


def locate_many_in_db(lons, lats, generation_ids: list[int], *, nearest: bool = True) -> BulkLocation:
    """Locate EPSG:4326 points against the grids of the given generations, in PostGIS.

    ``nearest=False`` skips the nearest-grid search for points outside every grid.
    """
    xs = [float(v) for v in lons]
    ys = [float(v) for v in lats]
    n = len(xs)
    grid_id = np.full(n, -1, dtype=np.int64)
    nearest_ids = np.full(n, -1, dtype=np.int64)
    distance = np.zeros(n, dtype=np.float64)
    dedicated: list[tuple[int, ...]] = [()] * n
    with connection.cursor() as cursor:
        cursor.execute(_COVERING, {"xs": xs, "ys": ys, "gens": list(generation_ids)})
        for i, gid, ded in cursor.fetchall():
            grid_id[i - 1] = -1 if gid is None else gid
            dedicated[i - 1] = tuple(ded or ())
        outside = np.flatnonzero(grid_id < 0)
        if nearest and len(outside):
            cursor.execute(_NEAREST, {"xs": [xs[k] for k in outside], "ys": [ys[k] for k in outside],
                                      "gens": list(generation_ids)})
            for i, gid, d in cursor.fetchall():
                nearest_ids[outside[i - 1]] = gid
                distance[outside[i - 1]] = d
    return BulkLocation(grid_id=grid_id, dedicated=dedicated, nearest_grid_id=nearest_ids, distance_m=distance)
