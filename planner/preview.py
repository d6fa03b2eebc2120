"""What publishing a draft boundary generation would change, for the planner's preview.

On the planner's floor because it reads incidents and cameras too (grids never import them).
Raw SQL, as ``grids.validation``: joins of points against two generations' polygons, and metric
areas of boundary differences in EPSG:4549, which the ORM would only do by fetching geometries.

- problems: what keeps the draft from being a partition (``grids.validation``; publishing refuses it);
- changed grids: codes whose boundary differs from the active generation's (more than 1 m² of
  symmetric difference), codes only in the draft (added) or only in the active one (removed);
- incidents: the open incidents whose point the draft puts in another comprehensive grid than the one
  they were located in (they keep their grid and team; new reports there go to the new grid's team);
  on a shared edge the smallest code wins, as the locator's rule;
- cameras: the cameras whose position changes comprehensive grid;
- grids without a team: the draft's comprehensive grids nobody would be dispatched to.
"""
from __future__ import annotations

from django.db import connection

from core.actors import Actor
from gis_core.srid import METRIC_SRID
from grids.models import BoundaryGeneration
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

_INCIDENTS = """
SELECT id, old_code, new_code FROM (
  SELECT DISTINCT ON (i.id) i.id, g.code AS old_code, n.code AS new_code
  FROM incidents_incident i
  JOIN grids_grid g ON g.id = i.grid_id
  LEFT JOIN grids_grid n ON n.generation_id = %(draft)s AND n.kind = 'comprehensive'
                        AND ST_Covers(n.boundary, i.location)
  WHERE i.generation_id = %(active)s AND i.state = ANY(%(open)s) AND i.location IS NOT NULL
  ORDER BY i.id, n.code
) moved WHERE new_code IS DISTINCT FROM old_code ORDER BY id"""

_CAMERAS = """
SELECT code, old_code, new_code FROM (
  SELECT c.code,
         (SELECT g.code FROM grids_grid g WHERE g.generation_id = %(active)s AND g.kind = 'comprehensive'
            AND ST_Covers(g.boundary, c.location) ORDER BY g.code LIMIT 1) AS old_code,
         (SELECT g.code FROM grids_grid g WHERE g.generation_id = %(draft)s AND g.kind = 'comprehensive'
            AND ST_Covers(g.boundary, c.location) ORDER BY g.code LIMIT 1) AS new_code
  FROM cameras_camera c
) placed WHERE new_code IS DISTINCT FROM old_code ORDER BY code"""

_NO_TEAM = """
SELECT g.code FROM grids_grid g LEFT JOIN grids_gridteam t ON t.grid_id = g.id
WHERE g.generation_id = %(draft)s AND g.kind = 'comprehensive' AND t.id IS NULL ORDER BY g.code"""


def generation_preview(draft: BoundaryGeneration, actor: Actor) -> dict:
    """Return the problems, changed grids, moved incidents and cameras, and grids without a team of
    publishing ``draft`` in place of its town's active generation; the incidents are those the actor
    may see (``incidents_visible_to``, the one scoping rule)."""
    active = BoundaryGeneration.objects.filter(town_id=draft.town_id, status=BoundaryGeneration.Status.ACTIVE).first()
    params = {"draft": draft.pk, "active": active.pk if active else None, "tol": TOLERANCE_M2,
              "open": sorted(rules.OPEN), "metric_srid": METRIC_SRID}
    problems = validate_generation(draft)
    with connection.cursor() as cursor:
        cursor.execute(_CHANGED, params)
        changed = [{"code": code, "change": kind, "area_m2": None if area is None else round(area, 1)}
                   for code, kind, area in cursor.fetchall()]
        cursor.execute(_INCIDENTS, params)
        incidents = [{"id": pk, "from_grid": old, "to_grid": new} for pk, old, new in cursor.fetchall()]
    visible = set(incidents_visible_to(actor).filter(pk__in=[i["id"] for i in incidents]).values_list("pk", flat=True))
    incidents = [i for i in incidents if i["id"] in visible]
    with connection.cursor() as cursor:
        cursor.execute(_CAMERAS, params)
        cameras = [{"code": code, "from_grid": old, "to_grid": new} for code, old, new in cursor.fetchall()]
        cursor.execute(_NO_TEAM, params)
        no_team = [row[0] for row in cursor.fetchall()]
    return {"generation": draft.pk, "status": draft.status, "active": params["active"], "valid": not problems,
            "problems": problems, "changed_grids": changed, "incidents_moved": len(incidents),
            "incidents": incidents[:MAX_LISTED], "cameras": cameras, "grids_without_team": no_team}
