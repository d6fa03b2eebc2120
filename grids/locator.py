"""Point location on PostGIS: a point -> village and grid(s) of a boundary generation.

The rules (shared with the in-process index in gis_core.locator):
- covers semantics: a point on an edge or a vertex of a grid is inside it;
- when several comprehensive grids cover the point (a shared edge or vertex), the one with
  the smallest code wins, so the answer never depends on row order;
- dedicated grids covering the point are reported alongside, sorted by code;
- no comprehensive grid covers the point: ``outside`` plus the nearest comprehensive grid
  and its geodesic distance in metres.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.gis.geos import Point

from gis_core.coords import parse_crs, to_wgs84, validate_lonlat
from grids.models import BoundaryGeneration, Grid, Village

NEAR_EDGE_M = 10.0


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


def point_from(x: float, y: float, crs: str = "EPSG:4326") -> Point:
    """Return an EPSG:4326 GEOS point from coordinates in any accepted CRS (ValueError if bad)."""
    lon, lat = to_wgs84(float(x), float(y), parse_crs(crs))
    validate_lonlat(lon, lat)
    return Point(lon, lat, srid=4326)


def grids_of(generation: BoundaryGeneration | None):
    """Return the grids to locate against: one generation, or every town's active generation."""
    if generation is not None:
        return Grid.objects.filter(generation=generation)
    return Grid.objects.active()


def locate(x: float, y: float, crs: str = "EPSG:4326", *,
           generation: BoundaryGeneration | None = None) -> GridLocation:
    """Locate a point given in ``crs`` into the grids of ``generation`` (default: active ones)."""
    point = point_from(x, y, crs)
    return locate_point(point, generation=generation)


def locate_point(point: Point, *, generation: BoundaryGeneration | None = None) -> GridLocation:
    """Locate an EPSG:4326 point (see the module docstring for the rules)."""
    grids = grids_of(generation)
    covering = list(
        grids.covering(point).with_edge_distance(point).select_related("village").order_by("code")
    )
    comprehensive = [g for g in covering if g.kind == Grid.Kind.COMPREHENSIVE]
    dedicated = [g for g in covering if g.kind == Grid.Kind.DEDICATED]
    if comprehensive:
        grid = comprehensive[0]
        return GridLocation(
            lon=point.x, lat=point.y, generation_id=grid.generation_id, grid=grid,
            village=grid.village, dedicated=dedicated,
            near_edge=len(comprehensive) > 1 or grid.edge_distance_m < NEAR_EDGE_M,
        )
    nearest = grids.filter(kind=Grid.Kind.COMPREHENSIVE).nearest(point).select_related("village").first()
    return GridLocation(
        lon=point.x, lat=point.y,
        generation_id=nearest.generation_id if nearest else None,
        grid=None, village=None, dedicated=dedicated, outside=True,
        nearest_grid=nearest, distance_m=nearest.distance_m if nearest else None,
    )

