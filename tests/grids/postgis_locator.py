"""The reference locator in PostGIS, which the tests hold grids.locator to.

The same rules as gis_core.locator, written as PostGIS queries: covers (an edge or vertex is
inside); the smallest code wins on a shared edge; dedicated grids alongside, by code; outside ->
the nearest comprehensive grid, by geodesic metres (distances equal to the centimetre are a tie,
broken by code). PostGIS measures geodesic metres where the in-process locator measures planar
metres in METRIC_SRID (they differ by a few parts in 1e5 here), so a test compares distances with
a tolerance and ``near_edge`` away from NEAR_EDGE_M.

``locate`` answers one point with the ORM; ``locate_many_in_db`` many points in two statements
(raw SQL: the per-point LATERAL subqueries over an unnested array are not expressible in the ORM;
every value is a bound parameter).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.contrib.gis.db import models
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import FloatField, Func, Value
from django.db.models.functions import Round

from gis_core.coords import parse_crs, to_wgs84, validate_lonlat
from gis_core.locator import NEAR_EDGE_M
from gis_core.srid import STORAGE_SRID
from grids.locator import GridLocation
from grids.models import BoundaryGeneration, Grid


class KnnDistance(Func):
    """Return the index-assisted planar distance ``a <-> b`` (degrees for EPSG:4326): orders a shortlist."""

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


class GeographyDistance(Func):
    """Return the geodesic distance in metres between two EPSG:4326 geometries (on the spheroid)."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        (sql_a, params_a), (sql_b, params_b) = (compiler.compile(e) for e in self.get_source_expressions())
        return f"ST_Distance(({sql_a})::geography, ({sql_b})::geography)", [*params_a, *params_b]


def _point_value(point: Point) -> Value:
    """Wrap an EPSG:4326 GEOS point as a query parameter."""
    return Value(point, output_field=models.PointField(srid=STORAGE_SRID))


def nearest(grids, point: Point, shortlist: int = 5):
    """Return ``grids`` nearest first, with ``distance_m`` (geodesic metres): the KNN operator orders
    a shortlist through the spatial index, the true distance decides, rounded to the centimetre, then
    the code."""
    ids = list(grids.order_by(KnnDistance("boundary", _point_value(point))).values_list("pk", flat=True)[:shortlist])
    return (Grid.objects.filter(pk__in=ids)
            .annotate(distance_m=GeographyDistance("boundary", _point_value(point)))
            .order_by(Round("distance_m", 2), "code"))


def edge_distance(point: Point) -> GeographyDistance:
    """Return an expression: geodesic metres from the EPSG:4326 point to each grid's outline."""
    return GeographyDistance(Func("boundary", function="ST_Boundary"), _point_value(point))


def locate(x: float, y: float, crs: str = "EPSG:4326", *,
           generation: BoundaryGeneration | None = None) -> GridLocation:
    """Locate a point given in ``crs`` into the grids of ``generation`` (default: the active ones)."""
    lon, lat = to_wgs84(float(x), float(y), parse_crs(crs))
    validate_lonlat(lon, lat)
    point = Point(lon, lat, srid=STORAGE_SRID)
    grids = Grid.objects.filter(generation=generation) if generation is not None else Grid.objects.active()
    covering = list(
        grids.filter(boundary__covers=point)
        .annotate(edge_distance_m=edge_distance(point))
        .select_related("village").order_by("code")
    )
    comprehensive = [g for g in covering if g.kind == Grid.Kind.COMPREHENSIVE]
    dedicated = [g for g in covering if g.kind == Grid.Kind.DEDICATED]
    if comprehensive:
        grid = comprehensive[0]
        return GridLocation(
            lon=lon, lat=lat, generation_id=grid.generation_id, grid=grid, village=grid.village,
            dedicated=dedicated, near_edge=len(comprehensive) > 1 or grid.edge_distance_m < NEAR_EDGE_M,
        )
    near = nearest(grids.filter(kind=Grid.Kind.COMPREHENSIVE), point).select_related("village").first()
    return GridLocation(
        lon=lon, lat=lat, generation_id=near.generation_id if near else None, grid=None, village=None,
        dedicated=dedicated, outside=True, nearest_grid=near, distance_m=near.distance_m if near else None,
    )


_POINTS = """
WITH pts AS (
  SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom
  FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS t(x, y, i)
)"""

_COVERING = _POINTS + """
SELECT p.i, c.id, c.edge_m,
  (SELECT array_agg(g.id ORDER BY g.code) FROM grids_grid g
    WHERE g.generation_id = ANY(%(gens)s) AND g.kind = 'dedicated' AND ST_Covers(g.boundary, p.geom))
FROM pts p LEFT JOIN LATERAL (
  SELECT g.id, ST_Distance(ST_Boundary(g.boundary)::geography, p.geom::geography) AS edge_m FROM grids_grid g
  WHERE g.generation_id = ANY(%(gens)s) AND g.kind = 'comprehensive' AND ST_Covers(g.boundary, p.geom)
  ORDER BY g.code LIMIT 1) c ON true
ORDER BY p.i"""

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
    """Per-point answers: grid id (-1 outside) and geodesic metres to its outline (inf outside),
    dedicated ids, nearest grid and metres when outside."""

    grid_id: np.ndarray
    edge_m: np.ndarray
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
    edge_m = np.full(n, np.inf)
    nearest_ids = np.full(n, -1, dtype=np.int64)
    distance = np.zeros(n, dtype=np.float64)
    dedicated: list[tuple[int, ...]] = [()] * n
    with connection.cursor() as cursor:
        cursor.execute(_COVERING, {"xs": xs, "ys": ys, "gens": list(generation_ids)})
        for i, gid, edge, ded in cursor.fetchall():
            grid_id[i - 1] = -1 if gid is None else gid
            edge_m[i - 1] = np.inf if edge is None else edge
            dedicated[i - 1] = tuple(ded or ())
        outside = np.flatnonzero(grid_id < 0)
        if nearest and len(outside):
            cursor.execute(_NEAREST, {"xs": [xs[k] for k in outside], "ys": [ys[k] for k in outside],
                                      "gens": list(generation_ids)})
            for i, gid, d in cursor.fetchall():
                nearest_ids[outside[i - 1]] = gid
                distance[outside[i - 1]] = d
    return BulkLocation(grid_id=grid_id, edge_m=edge_m, dedicated=dedicated, nearest_grid_id=nearest_ids,
                        distance_m=distance)
