"""The planner's writes: a draft boundary generation started from the active one, and a draft's grid
redrawn. Publishing is ``grids.services.generation_activate`` (the one way, shared with the import
commands), which validates the partition under the generation's lock."""
from __future__ import annotations

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.db import transaction
from django.utils import timezone

from core.versions import row_version
from gis_core.geometry import InvalidGeometry, force_2d_multipolygon
from gis_core.srid import STORAGE_SRID
from grids.models import BoundaryGeneration, Grid, GridTeam, TeamMembership, Town
from grids.services import GenerationError


@transaction.atomic
def generation_draft(*, town: Town, description: str = "") -> BoundaryGeneration:
    """Start a draft from the town's active generation: every grid copied with its code, name, kind,
    purpose, village and boundary, and its team (leader, every post) with it, so the grids that keep
    their code keep their people when the draft is published."""
    active = BoundaryGeneration.objects.filter(town=town, status=BoundaryGeneration.Status.ACTIVE).first()
    if active is None:
        raise GenerationError(f"{town.name} has no active generation to start a draft from")
    draft = BoundaryGeneration.objects.create(town=town, description=description[:200] or
                                              f"draft from generation {active.pk}")
    old = list(active.grids.select_related("team").order_by("code"))
    new = Grid.objects.bulk_create([
        Grid(generation=draft, village_id=g.village_id, kind=g.kind, code=g.code, code20=g.code20, name=g.name,
             purpose=g.purpose, boundary=g.boundary) for g in old])
    teams = {g.code: GridTeam(grid=n, leader_id=g.team.leader_id)
             for g, n in zip(old, new, strict=True) if hasattr(g, "team")}
    GridTeam.objects.bulk_create(teams.values())
    TeamMembership.objects.bulk_create([
        TeamMembership(team=teams[m.team.grid.code], person_id=m.person_id, role=m.role, slot=m.slot,
                       on_duty=m.on_duty)
        for m in TeamMembership.objects.filter(team__grid__generation=active).select_related("team__grid")])
    return draft


class StaleGrid(Exception):
    """The grid was redrawn since the editor loaded it: ``grid`` as it is now (``edited_by``, ``edited_at``)."""

    def __init__(self, grid: Grid):
        super().__init__(f"grid {grid.code} was changed by {grid.edited_by or 'someone'} since you loaded it")
        self.grid = grid


def grid_version(grid_id: int, *, lock: bool = False) -> str | None:
    """Return the version of a grid (``core.versions.row_version``)."""
    return row_version(Grid, grid_id, lock=lock)


@transaction.atomic
def grid_redraw(*, grid: Grid, boundary: GEOSGeometry, editor: str = "", expected: str | None = None) -> Grid:
    """Give a draft's grid a new boundary (any SRID; stored as a 2D EPSG:4326 MultiPolygon).

    Only a draft can change; an invalid polygon (self-intersecting, empty, not polygonal) is refused
    with the reason, not repaired behind the planner's back. Whether the draft still partitions its
    villages is the preview's and the publication's question. The generation row is locked, as
    publication locks it: an edit lands before a publication (which then validates it) or is refused.
    ``expected``: the grid's version (``grid_version``) the edit was made on; another version now is a
    ``StaleGrid`` (someone redrew it since).
    """
    generation = BoundaryGeneration.objects.select_for_update().get(pk=grid.generation_id)
    if expected is not None and grid_version(grid.pk, lock=True) != expected:
        raise StaleGrid(Grid.objects.get(pk=grid.pk))
    if generation.status != BoundaryGeneration.Status.DRAFT:
        raise GenerationError(f"generation {generation.pk} is {generation.status}: only a draft can change")
    if boundary.srid is None:
        raise InvalidGeometry("the boundary has no SRID: say which CRS its coordinates are in")
    limit = settings.GRID_BOUNDARY_MAX_VERTICES
    if boundary.num_points > limit:  # before the transformation and the validity check
        raise InvalidGeometry(f"more than {limit} vertices: a grid boundary has at most {limit}")
    if boundary.srid != STORAGE_SRID:
        try:
            boundary = boundary.transform(STORAGE_SRID, clone=True)
        except (GDALException, GEOSException) as exc:
            raise InvalidGeometry(f"cannot transform the coordinates from EPSG:{boundary.srid} ({exc}): "
                                  "outside longitude -180..180 / latitude -90..90 or that CRS's area: is the CRS right?"
                                  ) from exc
    shape = shapely.from_wkb(bytes(boundary.wkb))
    if shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(f"a grid boundary is a non-empty Polygon or MultiPolygon, not {shape.geom_type}"
                              + (" (empty)" if shape.is_empty else ""))
    x0, y0, x1, y1 = shape.bounds
    if not (np.isfinite(shape.bounds).all() and -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidGeometry("the coordinates are outside longitude -180..180 / latitude -90..90 once "
                              f"transformed to EPSG:{STORAGE_SRID}: is the CRS right?")
    if not shape.is_valid:
        raise InvalidGeometry(f"invalid polygon: {shapely.is_valid_reason(shape)}")
    grid.boundary = GEOSGeometry(memoryview(shapely.to_wkb(force_2d_multipolygon(shape))), srid=STORAGE_SRID)
    grid.edited_by, grid.edited_at = editor[:150], timezone.now()
    grid.save(update_fields=["boundary", "edited_by", "edited_at"])
    return grid
