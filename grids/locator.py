"""Point location for the grids: gis_core's locator fed from the database, answering with grids.

The rules are gis_core.locator's (covers; smallest code on shared edges; dedicated grids
alongside; outside -> the nearest comprehensive grid and metres; near the edge within
NEAR_EDGE_M). This module keeps one index per set of grids in memory:

- the active generations of every town: one small prepared query per call checks which are
  active (another process may have activated one), and activation empties the cache after
  its commit;
- one given generation: an active or retired generation never changes, so it is known by its
  id and activation time; a draft is edited in place, so it is known by a digest of its rows
  (read on every call, a few milliseconds).

Every caller locates through ``locate`` (one point, any accepted CRS) or ``locate_many``
(EPSG:4326 arrays, for batches): the API, intake, relocation, camera placement.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import shapely
from django.db import connection
from numpy.typing import ArrayLike

from core import db
from gis_core.coords import parse_crs, to_wgs84, validate_lonlat
from gis_core.locator import LocateArrays, LocatorFeature, PolygonIndex
from grids.models import BoundaryGeneration, Grid, Village

_CACHE_SIZE = 8


@dataclass(frozen=True)
class _Indexed:
    """One set of grids in memory: the locator's index and the grids by id (boundary deferred)."""

    index: PolygonIndex
    grids: Mapping[int, Grid]


_lock = threading.Lock()
_cache: dict[tuple, _Indexed] = {}


@dataclass(frozen=True)
class GridLocation:
    """Where a point lies: the grid, its village, dedicated grids, or the nearest grid."""

    lon: float
    lat: float
    generation_id: int | None
    grid: Grid | None
    village: Village | None
    dedicated: list[Grid] = field(default_factory=list)
    outside: bool = False
    nearest_grid: Grid | None = None
    distance_m: float | None = None
    near_edge: bool = False

    def as_dict(self) -> dict:
        """Return a JSON-ready description (codes and names, distances in metres)."""
        def brief(grid: Grid | None) -> dict | None:
            if grid is None:
                return None
            return {"id": grid.pk, "code": grid.code, "name": grid.name, "kind": grid.kind,
                    "purpose": grid.purpose or None}

        return {
            "lon": self.lon,
            "lat": self.lat,
            "generation": self.generation_id,
            "outside": self.outside,
            "grid": brief(self.grid),
            "village": {"id": self.village.pk, "code": self.village.code, "name": self.village.name}
            if self.village else None,
            "dedicated": [brief(g) for g in self.dedicated],
            "nearest_grid": brief(self.nearest_grid),
            "distance_m": None if self.distance_m is None else round(self.distance_m, 2),
            "near_edge": self.near_edge,
        }


@dataclass(frozen=True)
class GridLocations:
    """Answers for many points: the locator's arrays (ids) and the grids they name, by id."""

    found: LocateArrays
    grids: Mapping[int, Grid]


def locate(x: float, y: float, crs: str = "EPSG:4326", *,
           generation: BoundaryGeneration | None = None) -> GridLocation:
    """Locate a point given in ``crs`` into the grids of ``generation`` (default: the active ones).

    Raise ``ValueError`` on an unknown CRS or coordinates out of range.
    """
    lon, lat = to_wgs84(float(x), float(y), parse_crs(crs))
    validate_lonlat(lon, lat)
    located = locate_many([lon], [lat], generation=generation)
    where, grids = located.found.at(0), located.grids
    if where.grid_id is not None:
        grid = grids[where.grid_id]
        return GridLocation(lon=lon, lat=lat, generation_id=grid.generation_id, grid=grid, village=grid.village,
                            dedicated=[grids[g] for g in where.dedicated], near_edge=bool(where.near_edge))
    nearest = grids.get(where.nearest_grid_id) if where.nearest_grid_id is not None else None
    return GridLocation(
        lon=lon, lat=lat, generation_id=nearest.generation_id if nearest else None, grid=None, village=None,
        dedicated=[grids[g] for g in where.dedicated], outside=True, nearest_grid=nearest,
        distance_m=where.distance_m if nearest else None,
    )


def locate_many(lons: ArrayLike, lats: ArrayLike, *, generation: BoundaryGeneration | None = None,
                nearest: bool = True, near_edge: bool = True) -> GridLocations:
    """Locate EPSG:4326 points (1-D arrays, degrees) into the grids of ``generation`` (default: the
    active ones). ``nearest``/``near_edge`` as in ``PolygonIndex.locate``; ``ValueError`` on bad input."""
    indexed = _indexed(generation)
    return GridLocations(indexed.index.locate(lons, lats, nearest=nearest, near_edge=near_edge), indexed.grids)


def warm_up() -> int:
    """Build the index of the active generations now, not on the first request; return its grid count."""
    return len(_indexed(None).grids)


def invalidate_cache() -> None:
    """Forget every cached index (called after a generation's activation commits)."""
    with _lock:
        _cache.clear()


def features_of(grids) -> list[LocatorFeature]:
    """Return locator features (shapely geometry in EPSG:4326) for grids (a queryset or a list)."""
    return [
        LocatorFeature(id=g.pk, code=g.code, kind=g.kind, village_id=g.village_id,
                       geometry=shapely.from_wkb(bytes(g.boundary.wkb)))
        for g in grids
    ]


def _indexed(generation: BoundaryGeneration | None) -> _Indexed:
    """Return the cached index of ``generation`` (None: the active ones), building it when missing.

    The key names the content: the active generations' ids and activation times (the grids are
    then read by those ids, so key and grids agree), an active or retired generation's id and
    activation time, or a draft's digest taken from the very rows the index is built from."""
    if generation is None:
        active = _active_generations()
        key: tuple = ("active", active)
        grids = lambda: Grid.objects.filter(generation_id__in=[gen_id for gen_id, _ in active])  # noqa: E731
    elif generation.status == BoundaryGeneration.Status.DRAFT:
        rows = _rows(Grid.objects.filter(generation=generation))
        key, grids = ("draft", generation.pk, _digest(rows)), lambda: rows
    else:
        key = ("generation", generation.pk, generation.activated_at)
        grids = lambda: Grid.objects.filter(generation=generation)  # noqa: E731
    indexed = _cache.get(key)  # the common case: no queryset built, no lock taken
    if indexed is not None:
        return indexed
    with _lock:
        indexed = _cache.get(key)
        if indexed is None:
            found = grids()
            rows = found if isinstance(found, list) else _rows(found)
            indexed = _Indexed(PolygonIndex(features_of(rows)), {g.pk: g for g in rows})
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = indexed
        return indexed


def _rows(grids) -> list[Grid]:
    """Return the grids with their generation and village (the village's boundary deferred)."""
    return list(grids.select_related("generation", "village").defer("village__boundary").order_by("pk"))


def _digest(rows: list[Grid]) -> str:
    """Return a digest of every column of ``rows`` the index and its answers read."""
    digest = hashlib.blake2b(digest_size=16)
    for g in rows:
        digest.update(repr((g.pk, g.code, g.kind, g.name, g.purpose, g.village_id)).encode())
        digest.update(bytes(g.boundary.wkb))
    return digest.hexdigest()


def _active_generations() -> tuple:
    """Return (id, activated_at) of the active generations: one small prepared query per call, so a
    generation activated by another process is seen at once."""
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_active_generations",
                   "SELECT id, activated_at FROM grids_boundarygeneration WHERE status = %(status)s ORDER BY id",
                   {"status": BoundaryGeneration.Status.ACTIVE.value})
        return tuple(cursor.fetchall())


def grids_at(lons: ArrayLike, lats: ArrayLike, *, generation: BoundaryGeneration | None = None) -> list[Grid | None]:
    """Return the comprehensive grid (with its village) each EPSG:4326 point stands in, of ``generation``
    (default: the active ones), None outside: what a placed thing (camera, component) is filed under."""
    located = locate_many(lons, lats, generation=generation, nearest=False, near_edge=False)
    return [located.grids[g] if g >= 0 else None for g in located.found.grid_id.tolist()]


def follow_generation(rows: list, generation: BoundaryGeneration) -> list[tuple[object, Grid | None]]:
    """Return (row, grid) for each of ``rows`` (objects with a ``location`` point and a ``grid_id``) whose
    comprehensive grid in ``generation`` is another than its current one: what moves when it is published.
    A row keeping its grid code still moves, to the new generation's row of that code."""
    if not rows:
        return []
    now_in = grids_at([r.location.x for r in rows], [r.location.y for r in rows], generation=generation)
    return [(row, grid) for row, grid in zip(rows, now_in, strict=True)
            if row.grid_id != (grid.pk if grid is not None else None)]
