"""What the command centre's map shows of a view, at any number of open incidents: the incidents in
the view themselves when there are at most ``limit`` of them, otherwise their counts per area (town,
village or grid by the zoom) computed on the server, so a page never loads an unbounded set.

Every read goes through ``incidents.selectors`` (``incident_list`` for the features,
``open_aggregates`` for the counts), so the scoping rule of ``incidents_visible_to`` holds here as in
every other read: a grid leader's view counts and shows only what they may see.
"""
from __future__ import annotations

from django.contrib.gis.db.models.functions import PointOnSurface
from django.db.models import QuerySet

from core.actors import Actor
from gis_core.tiles import BBox
from grids.models import Grid, Town, Village
from incidents import geojson, rules
from incidents.models import Incident
from incidents.selectors import incident_list, open_aggregates

VIEW_LIMIT = 500  # incidents in one view, by default
VIEW_LIMIT_MAX = 2000
# Below these zooms the counts are per town, then per village; from GRID_ZOOM per grid.
VILLAGE_ZOOM, GRID_ZOOM = 11.5, 14
# From this zoom a view with more than ``limit`` incidents shows ``limit`` of them (and says it is capped):
# the counts of one grid would say no more than the map there.
DETAIL_ZOOM = 17


def area_for_zoom(zoom: float) -> str:
    """Return the area the counts are made per at this zoom: "town", "village" or "grid"."""
    return "town" if zoom < VILLAGE_ZOOM else "village" if zoom < GRID_ZOOM else "grid"


def in_view(actor: Actor, bbox: BBox, filters: dict) -> QuerySet[Incident]:
    """Return the open incidents the actor may see in the box, filtered as the incident list is
    (``bbox`` edges included: ST_Intersects, which the location's GiST index narrows first)."""
    filters = {**filters, "state": filters.get("state") or sorted(rules.OPEN)}
    return incident_list(actor=actor, filters=filters).filter(location__intersects=bbox.polygon())


def view_ids(actor: Actor, bbox: BBox, filters: dict, limit: int) -> list[int]:
    """Return the ids of at most ``limit`` + 1 open incidents in the view (one more than the limit
    says that there are more), newest first. Unordered in the database: the read stops at limit + 1."""
    ids = in_view(actor, bbox, filters).order_by().values_list("id", flat=True)[:limit + 1]
    return sorted(ids, reverse=True)


def features_of(ids: list[int]) -> list[dict]:
    """Return the GeoJSON features of these incidents, in the order of ``ids``."""
    if not ids:
        return []
    return geojson.features(geojson.rows(Incident.objects.filter(pk__in=ids).order_by("-id")))


AREA_MODELS = {"town": Town, "village": Village, "grid": Grid}


def area_points(by: str, codes: list[str], bbox: BBox) -> dict[str, tuple[float, float]]:
    """Return code -> (lon, lat) of a point on the surface of each area named that lies in the box
    (for grids, of the active generation's grid with the code, else of the newest one)."""
    if not codes:
        return {}
    qs = AREA_MODELS[by].objects.filter(code__in=codes, boundary__bboverlaps=bbox.polygon())
    fields = ["code", "at"]
    if by == "grid":  # a code names one grid per generation: the active one's, else the newest
        fields += ["generation__status", "generation_id"]
    rows = qs.annotate(at=PointOnSurface("boundary")).values_list(*fields)
    if by == "grid":
        rows = sorted(rows, key=lambda r: (r[2] != "active", -r[3]))
    points = {}
    for code, point, *_ in rows:
        if code not in points and point is not None and bbox.contains(point.x, point.y):
            points[code] = (round(point.x, 6), round(point.y, 6))
    return points


def view_aggregates(actor: Actor, bbox: BBox, by: str, filters: dict) -> list[dict]:
    """Return the open incidents the actor may see counted per area (``open_aggregates``), as point
    features of the areas whose point lies in the box, largest count first."""
    areas = [a for a in open_aggregates(actor, by, categories=filters.get("category")) if a["code"]]
    points = area_points(by, [a["code"] for a in areas], bbox)
    out = [{"type": "Feature", "id": f"{by}.{a['code']}",
            "geometry": {"type": "Point", "coordinates": list(points[a["code"]])},
            "properties": {"area": by, "code": a["code"], "name": a["name"], "open": a["open"]}}
           for a in areas if a["code"] in points]
    return sorted(out, key=lambda f: (-f["properties"]["open"], f["properties"]["code"]))


def map_view(actor: Actor, bbox: BBox, zoom: float, filters: dict, limit: int = VIEW_LIMIT) -> dict:
    """Return what the map shows of the view: ``kind`` "incidents" (every open incident in the view,
    or ``limit`` of them with ``capped`` from DETAIL_ZOOM on) or "aggregates" (counts per area of
    ``by``, when more than ``limit`` are in the view: zoom in to see them)."""
    ids = view_ids(actor, bbox, filters, limit)
    capped = len(ids) > limit
    if not capped or zoom >= DETAIL_ZOOM:
        return {"type": "FeatureCollection", "kind": "incidents", "by": None, "capped": capped, "limit": limit,
                "features": features_of(ids[:limit])}
    by = area_for_zoom(zoom)
    return {"type": "FeatureCollection", "kind": "aggregates", "by": by, "capped": True, "limit": limit,
            "features": view_aggregates(actor, bbox, by, filters)}
