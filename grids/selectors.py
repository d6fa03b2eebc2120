"""Reads on villages, grids and teams (querysets the APIs and pages share)."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from grids.models import Grid, GridTeam, TeamMembership, Village


def village_list(*, town_code: str | None = None) -> QuerySet[Village]:
    """Return villages with their town, optionally of one town."""
    qs = Village.objects.select_related("town")
    return qs.filter(town__code=town_code) if town_code else qs


def grid_list(*, generation_id: int | None = None, kind: str | None = None,
              village_code: str | None = None) -> QuerySet[Grid]:
    """Return grids of a generation (default: the active ones), filtered by kind and village."""
    qs = Grid.objects.filter(generation_id=generation_id) if generation_id else Grid.objects.active()
    if kind:
        qs = qs.filter(kind=kind)
    if village_code:
        qs = qs.filter(village__code=village_code)
    return qs.select_related("village", "team__leader")


def team_of_grid(*, grid: Grid) -> GridTeam | None:
    """Return the grid's team with its members and their people, or None."""
    return (
        GridTeam.objects.filter(grid=grid)
        .select_related("grid__village", "leader")
        .prefetch_related(Prefetch("memberships", queryset=TeamMembership.objects.select_related("person")))
        .first()
    )
