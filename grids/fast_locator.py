"""The in-process locator over the active generations, for bulk location.

It answers exactly as grids.locator does on PostGIS (a test checks this on many random
points), without a database round trip per point. The index is rebuilt when the set of
active generations changes (activation invalidates it after commit).
"""
from __future__ import annotations

import threading

import numpy as np
import shapely
from django.db import connection

from core import db
from gis_core.coords import from_wgs84_array
from gis_core.geometry import to_metric
from gis_core.locator import LocatorFeature, PolygonIndex
from grids.models import BoundaryGeneration, Grid

_lock = threading.Lock()
_cache: dict[tuple, PolygonIndex] = {}
_grids: dict[tuple, dict[int, Grid]] = {}
_outlines_m: dict[int, object] = {}  # grid id -> its outline in EPSG:4549 (grids of a generation never change)


def features_of(grids) -> list[LocatorFeature]:
    """Return locator features (shapely geometry in EPSG:4326) for a grid queryset."""
    return [
        LocatorFeature(
            id=g.pk, code=g.code, kind=g.kind, village_id=g.village_id,
            geometry=shapely.from_wkb(bytes(g.boundary.wkb)),
        )
        for g in grids.only("pk", "code", "kind", "village_id", "boundary")
    ]


def _active_key() -> tuple:
    """Return (id, activated_at) of the active generations: one small prepared query per intake,
    so a generation activated by another process is seen at once."""
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_active_generations",
                   "SELECT id, activated_at FROM grids_boundarygeneration WHERE status = %(status)s ORDER BY id",
                   {"status": BoundaryGeneration.Status.ACTIVE.value})
        return tuple(cursor.fetchall())


def _key(generation: BoundaryGeneration | None) -> tuple:
    return ("gen", generation.pk) if generation is not None else ("active", _active_key())


def _load(key: tuple, generation: BoundaryGeneration | None) -> PolygonIndex:
    """Return the cached index of ``key``, building it (and its grids) when missing; hold _lock."""
    index = _cache.get(key)
    if index is None:
        grids = Grid.objects.filter(generation=generation) if generation else Grid.objects.active()
        features = features_of(grids)
        index = PolygonIndex(features)
        for feature in features:  # the outlines edge_distance_m measures to, once per grid
            _outlines_m.setdefault(feature.id, to_metric(shapely.boundary(feature.geometry)))
        if len(_cache) > 8:
            _cache.clear()
            _grids.clear()
        _cache[key] = index
        _grids[key] = {g.pk: g for g in grids.select_related("generation", "village").defer("boundary",
                                                                                      "village__boundary")}
    return index


def index_for(generation: BoundaryGeneration | None = None) -> PolygonIndex:
    """Return the cached index of one generation, or of every town's active generation."""
    with _lock:
        return _load(_key(generation), generation)


def active_index() -> tuple[PolygonIndex, dict[int, Grid]]:
    """Return the index of the active generations and their grids by id (boundary deferred).

    One small query checks which generations are active (another process may have activated
    one); the grids are read once per set of active generations, not once per call.
    """
    key = _key(None)
    with _lock:
        index = _load(key, None)
        return index, _grids[key]


def invalidate_cache() -> None:
    """Forget every cached index (called after a generation is activated)."""
    with _lock:
        _cache.clear()
        _grids.clear()


def edge_distance_m(grid_ids: np.ndarray, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Return metres (EPSG:4549) from each point to its grid's outline; inf where grid id is -1."""
    grid_ids = np.asarray(grid_ids)
    out = np.full(grid_ids.shape, np.inf)
    inside = np.flatnonzero(grid_ids >= 0)
    if not inside.size:
        return out
    missing = set(grid_ids[inside].tolist()).difference(_outlines_m)
    for grid in Grid.objects.filter(pk__in=missing).only("pk", "boundary") if missing else ():
        _outlines_m[grid.pk] = to_metric(shapely.boundary(shapely.from_wkb(bytes(grid.boundary.wkb))))
    outlines = np.array([_outlines_m[int(g)] for g in grid_ids[inside]], dtype=object)
    x, y = from_wgs84_array(np.asarray(lons)[inside], np.asarray(lats)[inside], "EPSG:4549")
    out[inside] = shapely.distance(outlines, shapely.points(x, y))
    return out
