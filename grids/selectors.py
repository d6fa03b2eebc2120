"""Reads on villages, grids and teams (querysets the APIs and pages share)."""
from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from core.actors import Actor, Role
from grids.models import BoundaryGeneration, Grid, GridTeam, TeamMembership, Village

Status = BoundaryGeneration.Status
# Who may read a generation's grids, by its status: drafts are the planners' work in progress; the
# active generation is every logged-in user's map; retired ones are history, for those who answer for it.
DRAFT_READERS = {Role.PLANNER, Role.OPERATOR}  # superusers count as operators (core.actors)
RETIRED_READERS = {Role.PLANNER, Role.OPERATOR, Role.TOWN_LEADER, Role.GRID_LEADER}


def village_list(*, town_code: str | None = None) -> QuerySet[Village]:
    """Return villages with their town, optionally of one town."""
    qs = Village.objects.select_related("town")
    return qs.filter(town__code=town_code) if town_code else qs


def generations_visible_to(actor: Actor) -> QuerySet[BoundaryGeneration]:
    """Return the generations whose grids ``actor`` may read by id: the active ones for whoever may read
    the grids at all (the same grids as without ``generation``; the API asks for a login, the views'
    permission decides), retired ones for planners, operators and leaders, drafts for planners and
    operators."""
    if actor.is_system:
        return BoundaryGeneration.objects.all()
    roles = actor.global_roles()
    statuses = [Status.ACTIVE]
    if roles & RETIRED_READERS:
        statuses.append(Status.RETIRED)
    if roles & DRAFT_READERS:
        statuses.append(Status.DRAFT)
    return BoundaryGeneration.objects.filter(Q(status__in=statuses))


def grid_list(*, actor: Actor, generation_id: int | None = None, kind: str | None = None,
              village_code: str | None = None) -> QuerySet[Grid]:
    """Return grids of a generation (default: the active ones), filtered by kind and village.

    A generation the actor may not read (``generations_visible_to``) gives no grids, as one that does
    not exist: nothing tells a draft exists."""
    if generation_id:
        qs = Grid.objects.filter(generation_id=generation_id,
                                 generation__in=generations_visible_to(actor).values("pk"))
    else:
        qs = Grid.objects.active()
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
