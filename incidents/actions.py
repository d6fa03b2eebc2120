"""Operator actions on the triage queue and on duplicates (each locks its rows and records events)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from grids.locator import locate
from incidents.intake import get_dispatcher
from incidents.lifecycle import TransitionRefused, apply_transition, check_allowed, locked, new_event, notify_changed
from incidents.models import Incident
from incidents.permissions import Actor, Role


def check_relocate(incident: Incident, actor: Actor, *, roles: set[Role] | None = None) -> None:
    """Raise TransitionRefused unless the actor may place this incident by hand now (an operator,
    an incident still in the triage queue)."""
    if Role.OPERATOR not in (actor.global_roles() if roles is None else roles):
        raise TransitionRefused(f"{actor.label} may not relocate incidents", reason="role")
    if incident.state != Incident.State.REPORTED:
        raise TransitionRefused(f"cannot relocate an incident that is {incident.state}", reason="state")


def check_merge(incident: Incident, actor: Actor, *, roles: set[Role] | None = None) -> None:
    """Raise TransitionRefused unless the actor may merge this incident into the one it was flagged
    as a possible duplicate of (what the pages offer; the endpoint also takes another target)."""
    if incident.possible_duplicate_of_id is None:
        raise TransitionRefused("the incident is not flagged as a possible duplicate", reason="state")
    check_allowed(incident, "mark_duplicate", actor, roles=roles)
    target = Incident.objects.filter(pk=incident.possible_duplicate_of_id).values_list("state", flat=True).first()
    _check_merge_target(target)


def _check_merge_target(state: str | None) -> None:
    if state in (Incident.State.DUPLICATE, Incident.State.CANCELLED):
        raise TransitionRefused(f"cannot merge into an incident that is {state}", reason="state")


def incident_relocate(*, incident_id: int, actor: Actor, x: float, y: float, crs: str = "EPSG:4326",
                      note: str = "") -> Incident:
    """Place a triaged incident by hand; once inside a grid it is registered and dispatched."""
    now = timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_relocate(incident, actor)
        where = locate(x, y, crs)
        from django.contrib.gis.geos import Point

        incident.location = Point(where.lon, where.lat, srid=4326)
        incident.original_x, incident.original_y, incident.original_crs = x, y, crs
        incident.location_source, incident.location_note = "operator", note[:200]
        events = [new_event(incident, "relocate", actor, note=note, now=now,
                            data={"lon": where.lon, "lat": where.lat, "outside": where.outside})]
        related: list = []
        if where.outside:
            incident.triage = Incident.Triage.OUTSIDE
            incident.nearest_grid, incident.distance_m = where.nearest_grid, where.distance_m
        else:
            incident.triage = Incident.Triage.NONE
            incident.grid, incident.village = where.grid, where.village
            incident.generation_id, incident.town_id = where.grid.generation_id, where.village.town_id
            incident.near_edge, incident.located_dedicated = where.near_edge, where.dedicated
            incident.nearest_grid, incident.distance_m = None, None
            events.append(apply_transition(incident, "register", actor, now=now))
            related = get_dispatcher().dispatch_new([incident], now=now, events=events)
        incident.save()
        for obj in [*events, *related]:
            obj.save()
        notify_changed([incident.pk])
    return incident


def incident_merge(*, duplicate_id: int, into_id: int, actor: Actor, note: str = "") -> Incident:
    """Close ``duplicate_id`` as a duplicate of ``into_id`` (both rows locked, lower id first)."""
    if duplicate_id == into_id:
        raise TransitionRefused("an incident cannot be merged into itself", reason="state")
    now = timezone.now()
    with transaction.atomic():
        rows = {i: locked(i) for i in sorted((duplicate_id, into_id))}
        duplicate, target = rows[duplicate_id], rows[into_id]
        _check_merge_target(target.state)
        check_allowed(duplicate, "mark_duplicate", actor)
        duplicate.merged_into = target
        event = apply_transition(duplicate, "mark_duplicate", actor, note=note, now=now, checked=True,
                                 data={"merged_into": target.pk})
        duplicate.save()
        event.save()
        new_event(target, "merged", actor, note=note, now=now, data={"duplicate": duplicate.pk}).save()
        notify_changed([duplicate.pk, target.pk])
    return duplicate
