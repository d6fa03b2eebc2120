"""Writes on towns, generations and grids: every change goes through one function here."""
from __future__ import annotations

import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone

from gis_core.geometry import InvalidGeometry, force_2d_multipolygon
from gis_core.srid import STORAGE_SRID
from grids.models import BoundaryGeneration, Grid, GridTeam, TeamMembership, Town
from grids.signals import generation_activated


class GenerationError(Exception):
    """A generation cannot make the requested move (message says why; ``problems`` lists a partition's)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


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
        Grid(generation=draft, village_id=g.village_id, kind=g.kind, code=g.code, name=g.name, purpose=g.purpose,
             boundary=g.boundary) for g in old])
    teams = {g.code: GridTeam(grid=n, leader_id=g.team.leader_id)
             for g, n in zip(old, new, strict=True) if hasattr(g, "team")}
    GridTeam.objects.bulk_create(teams.values())
    TeamMembership.objects.bulk_create([
        TeamMembership(team=teams[m.team.grid.code], person_id=m.person_id, role=m.role, slot=m.slot,
                       on_duty=m.on_duty)
        for m in TeamMembership.objects.filter(team__grid__generation=active).select_related("team__grid")])
    return draft


@transaction.atomic
def grid_redraw(*, grid: Grid, boundary: GEOSGeometry) -> Grid:
    """Give a draft's grid a new boundary (any SRID; stored as a 2D EPSG:4326 MultiPolygon).

    Only a draft can change; an invalid polygon (self-intersecting, empty, not polygonal) is refused
    with the reason, not repaired behind the planner's back. Whether the draft still partitions its
    villages is the preview's and the publication's question. The generation row is locked, as
    publication locks it: an edit lands before a publication (which then validates it) or is refused.
    """
    generation = BoundaryGeneration.objects.select_for_update().get(pk=grid.generation_id)
    if generation.status != BoundaryGeneration.Status.DRAFT:
        raise GenerationError(f"generation {generation.pk} is {generation.status}: only a draft can change")
    if boundary.srid is None:
        raise InvalidGeometry("the boundary has no SRID: say which CRS its coordinates are in")
    if boundary.srid != STORAGE_SRID:
        boundary = boundary.transform(STORAGE_SRID, clone=True)
    shape = shapely.from_wkb(bytes(boundary.wkb))
    if shape.is_empty or shape.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(f"a grid boundary is a Polygon or MultiPolygon, not {shape.geom_type}")
    if not shape.is_valid:
        raise InvalidGeometry(f"invalid polygon: {shapely.is_valid_reason(shape)}")
    grid.boundary = GEOSGeometry(memoryview(shapely.to_wkb(force_2d_multipolygon(shape))), srid=STORAGE_SRID)
    grid.save(update_fields=["boundary"])
    return grid


@transaction.atomic
def generation_activate(*, generation: BoundaryGeneration) -> BoundaryGeneration:
    """Retire the town's active generation and make this one active (publish it), in one transaction.

    A draft whose comprehensive grids do not partition its villages is refused (GenerationError with
    the problems), checked under the lock, so nothing can publish an invalid partition. The partial
    unique index ``one_active_generation_per_town`` guarantees that no other session can leave two
    active generations behind; rows are locked in a fixed order. ``generation_activated`` is sent
    before the commit, so what follows the generation (cameras' grids) changes with it or not at all.
    """
    from grids.validation import validate_generation

    locked = list(
        BoundaryGeneration.objects.select_for_update()
        .filter(town=generation.town_id, status__in=["active", "draft"])
        .order_by("pk")
    )
    target = next((g for g in locked if g.pk == generation.pk), None)
    if target is None:
        raise GenerationError(f"generation {generation.pk} is {generation.status}; only a draft can be activated")
    if target.status == BoundaryGeneration.Status.ACTIVE:
        return target
    problems = validate_generation(target)
    if problems:
        raise GenerationError(f"generation {target.pk} does not partition its villages: {len(problems)} problem(s)",
                              problems)
    now = timezone.now()
    for current in locked:
        if current.status == BoundaryGeneration.Status.ACTIVE:
            current.status = BoundaryGeneration.Status.RETIRED
            current.retired_at = now
            current.save(update_fields=["status", "retired_at"])
    target.status = BoundaryGeneration.Status.ACTIVE
    target.activated_at = now
    target.save(update_fields=["status", "activated_at"])
    generation_activated.send(sender=BoundaryGeneration, generation=target)
    transaction.on_commit(_announce_activation)
    return target


def _announce_activation() -> None:
    from grids.fast_locator import invalidate_cache

    invalidate_cache()
