"""What publishing a draft boundary generation would change, for the planner's preview.

On the planner's floor because it reads incidents and cameras too (grids never import them).
Points are placed by the one locator (``grids.locator.locate_many`` on the draft and on the active
generation); the metric areas of boundary differences are raw SQL in EPSG:4549, as
``grids.validation``, which the ORM would only do by fetching geometries.

- problems: what keeps the draft from being a partition (``grids.validation``; publishing refuses it);
- changed grids: codes whose boundary differs from the active generation's (more than 1 m² of
  symmetric difference), codes only in the draft (added) or only in the active one (removed);
- incidents: the open incidents whose point the draft puts in another comprehensive grid than the one
  they were located in (they keep their grid and team; new reports there go to the new grid's team);
- cameras: the cameras whose position changes comprehensive grid;
- grids without a team: the draft's comprehensive grids nobody would be dispatched to.
"""
from __future__ import annotations

from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Polygon
from django.db import connection
from django.db.models import F, FloatField, Func

from cameras.models import Camera
from core.actors import Actor
from gis_core.srid import METRIC_SRID
from grids.locator import locate_many
from grids.models import BoundaryGeneration, Grid
from grids.validation import TOLERANCE_M2, validate_generation
from incidents import rules
from incidents.selectors import incidents_visible_to

MAX_LISTED = 500

_CHANGED = """
SELECT COALESCE(a.code, d.code),
       CASE WHEN a.id IS NULL THEN 'added' WHEN d.id IS NULL THEN 'removed' ELSE 'redrawn' END,
       CASE WHEN a.id IS NOT NULL AND d.id IS NOT NULL
            THEN ST_Area(ST_Transform(ST_SymDifference(a.boundary, d.boundary), %(metric_srid)s)) END
FROM (SELECT * FROM grids_grid WHERE generation_id = %(active)s) a
FULL JOIN (SELECT * FROM grids_grid WHERE generation_id = %(draft)s) d ON d.code = a.code
WHERE a.id IS NULL OR d.id IS NULL
   OR ST_Area(ST_Transform(ST_SymDifference(a.boundary, d.boundary), %(metric_srid)s)) > %(tol)s
ORDER BY 1"""

_NO_TEAM = """
SELECT g.code FROM grids_grid g LEFT JOIN grids_gridteam t ON t.grid_id = g.id
WHERE g.generation_id = %(draft)s AND g.kind = 'comprehensive' AND t.id IS NULL ORDER BY g.code"""


def generation_preview(draft: BoundaryGeneration, actor: Actor) -> dict:
    """Return the problems, changed grids, moved incidents and cameras, and grids without a team of
    publishing ``draft`` in place of its town's active generation; the incidents are those the actor
    may see (``incidents_visible_to``, the one scoping rule)."""
    active = BoundaryGeneration.objects.filter(town_id=draft.town_id, status=BoundaryGeneration.Status.ACTIVE).first()
    params = {"draft": draft.pk, "active": active.pk if active else None, "tol": TOLERANCE_M2,
              "metric_srid": METRIC_SRID}
    problems = validate_generation(draft)
    with connection.cursor() as cursor:
        cursor.execute(_CHANGED, params)
        changed = [{"code": code, "change": kind, "area_m2": None if area is None else round(area, 1)}
                   for code, kind, area in cursor.fetchall()]
    incidents = _moved_incidents(draft, active, actor) if active else []
    cameras = _moved_cameras(draft, active)
    with connection.cursor() as cursor:
        cursor.execute(_NO_TEAM, params)
        no_team = [row[0] for row in cursor.fetchall()]
    return {"generation": draft.pk, "status": draft.status, "active": params["active"], "valid": not problems,
            "problems": problems, "changed_grids": changed, "incidents_moved": len(incidents),
            "incidents": incidents[:MAX_LISTED], "cameras": cameras, "grids_without_team": no_team}


def _codes(points: list[tuple[float, float]], generation: BoundaryGeneration | None) -> list[str | None]:
    """Return the code of the comprehensive grid of ``generation`` each EPSG:4326 point falls in (None
    outside), by the locator's rule (``grids.locator``: covers, the smaller code on a shared edge)."""
    if not points or generation is None:
        return [None] * len(points)
    lons, lats = zip(*points, strict=True)
    located = locate_many(lons, lats, generation=generation, nearest=False, near_edge=False)
    return [located.grids[g].code if g >= 0 else None for g in located.found.grid_id.tolist()]


def _lon_lat(field: str) -> dict:
    return {"lon": Func(F(field), function="ST_X", output_field=FloatField()),
            "lat": Func(F(field), function="ST_Y", output_field=FloatField())}


def _moved_incidents(draft: BoundaryGeneration, active: BoundaryGeneration, actor: Actor) -> list[dict]:
    """Return the open incidents located in ``active`` that the actor may see and that the draft puts
    in another comprehensive grid, by id."""
    rows = list(incidents_visible_to(actor)
                .filter(generation_id=active.pk, state__in=sorted(rules.OPEN), location__isnull=False,
                        grid__isnull=False)
                .annotate(**_lon_lat("location")).order_by("pk").values_list("pk", "grid__code", "lon", "lat"))
    new = _codes([(lon, lat) for _, _, lon, lat in rows], draft)
    return [{"id": pk, "from_grid": old, "to_grid": to}
            for (pk, old, _, _), to in zip(rows, new, strict=True) if to != old]


def _moved_cameras(draft: BoundaryGeneration, active: BoundaryGeneration | None) -> list[dict]:
    """Return the cameras whose position the draft puts in another comprehensive grid than the active
    generation does, by code. Only the cameras within the two generations' extent can (one town's, not
    the city's)."""
    generations = [g.pk for g in (draft, active) if g is not None]
    extent = Grid.objects.filter(generation_id__in=generations).aggregate(extent=Extent("boundary"))["extent"]
    if extent is None:
        return []
    rows = list(Camera.objects.filter(location__contained=Polygon.from_bbox(extent))
                .annotate(**_lon_lat("location")).order_by("code").values_list("code", "lon", "lat"))
    points = [(lon, lat) for _, lon, lat in rows]
    moves = zip(rows, _codes(points, active), _codes(points, draft), strict=True)
    return [{"code": code, "from_grid": old, "to_grid": new} for (code, _, _), old, new in moves if old != new]

