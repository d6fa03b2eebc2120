"""Reads on incidents. Scoping (who may see which incident) is decided here, once; every list,
detail, action, map layer, export, count and live message goes through ``incidents_visible_to``."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from grids.models import GridTeam, VillageLeader
from incidents.lifecycle import OPEN_FOR_CLOCKS
from incidents.models import Incident
from incidents.permissions import Actor, Role

SEE_ALL = {Role.OPERATOR, Role.TOWN_LEADER, Role.PLANNER, Role.SYSTEM}


def scope_q(actor: Actor) -> Q | None:
    """Return the filter of incidents the actor may see (None: all of them)."""
    roles = actor.global_roles()
    if roles & SEE_ALL:
        return None
    q = Q(pk__in=[])
    if Role.INTEGRATION in roles and actor.user is not None:
        q |= Q(submitted_by=actor.user)
    if actor.person_id is not None:
        person = actor.person_id
        grid_ids = GridTeam.objects.filter(Q(leader_id=person) | Q(memberships__person_id=person)).values("grid_id")
        village_ids = VillageLeader.objects.filter(person_id=person).values("village_id")
        q |= (Q(grid_id__in=grid_ids) | Q(handling_grid_id__in=grid_ids) | Q(assignee_id=person)
              | Q(village_id__in=village_ids))
    return q


def incidents_visible_to(actor: Actor) -> QuerySet[Incident]:
    """Return the incidents the actor may see (nothing for an anonymous user)."""
    if actor.user is None and not actor.is_system:
        return Incident.objects.none()
    q = scope_q(actor)
    qs = Incident.objects.all()
    return qs if q is None else qs.filter(q)


def with_overdue(qs: QuerySet[Incident], now: datetime | None = None) -> QuerySet[Incident]:
    """Filter to incidents whose clock has run out and that are still being handled."""
    now = now or timezone.now()
    return qs.filter(state__in=OPEN_FOR_CLOCKS).filter(
        Q(handle_due_at__lt=now) | Q(state=Incident.State.DISPATCHED, accept_due_at__lt=now))


def incident_list(*, actor: Actor, filters: dict) -> QuerySet[Incident]:
    """Return visible incidents filtered by the API's validated query."""
    qs = incidents_visible_to(actor).select_related(
        "category", "grid", "village", "assignee", "handling_grid")
    simple = {"state": "state__in", "category": "category__code__in", "source": "source__in",
              "grid": "grid__code", "village": "village__code", "created_after": "created_at__gte",
              "created_before": "created_at__lt"}
    for key, lookup in simple.items():
        if filters.get(key):
            qs = qs.filter(**{lookup: filters[key]})
    if filters.get("triage") is not None:
        qs = qs.exclude(triage="") if filters["triage"] else qs.filter(triage="")
    if filters.get("overdue"):
        qs = with_overdue(qs)
    return qs


def is_overdue(incident: Incident, now: datetime | None = None) -> bool:
    """Return True when the incident is still being handled and a clock has run out."""
    now = now or timezone.now()
    if incident.state not in OPEN_FOR_CLOCKS:
        return False
    accept_due, handle_due = incident.accept_due_at, incident.handle_due_at
    accept_late = incident.state == Incident.State.DISPATCHED and accept_due is not None and accept_due < now
    return accept_late or (handle_due is not None and handle_due < now)
