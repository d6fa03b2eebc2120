"""Operator actions on the triage queue and on duplicates (each locks its rows and records events)."""
from __future__ import annotations

from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from grids.locator import locate
from incidents import rules
from incidents.intake import get_dispatcher
from incidents.lifecycle import apply_transition, check_allowed, locked, new_event, notify_changed
from incidents.models import Incident
from incidents.rules import TransitionRefused


def incident_relocate(*, incident_id: int, actor: Actor, x: float, y: float, crs: str = "EPSG:4326",
                      note: str = "") -> Incident:
    """Place a triaged incident by hand; once inside a grid it is registered and dispatched."""
    now = timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "relocate", actor)
        where = locate(x, y, crs)
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


def incident_merge(*, duplicate_id: int, into_id: int, actor: Actor, note: str = "",
                   now: datetime | None = None) -> Incident:
    """Close ``duplicate_id`` as a duplicate of ``into_id`` (both rows locked, lower id first), at
    ``now`` (default: the current time)."""
    if duplicate_id == into_id:
        raise TransitionRefused("an incident cannot be merged into itself", reason="state")
    now = now or timezone.now()
    with transaction.atomic():
        rows = {i: locked(i) for i in sorted((duplicate_id, into_id))}
        duplicate, target = rows[duplicate_id], rows[into_id]
        refusal = rules.merge_target_refusal(target.state)
        if refusal:
            raise TransitionRefused(refusal, reason="state")
        check_allowed(duplicate, "mark_duplicate", actor)
        duplicate.merged_into = target
        event = apply_transition(duplicate, "mark_duplicate", actor, note=note, now=now, checked=True,
                                 data={"merged_into": target.pk})
        duplicate.save()
        event.save()
        new_event(target, "merged", actor, note=note, now=now, data={"duplicate": duplicate.pk}).save()
        notify_changed([duplicate.pk, target.pk])
    return duplicate


def incident_status_note(*, incident_id: int, actor: Actor, note: str, now: datetime | None = None) -> Incident:
    """Record a status note (办理进度) for the reporter and the source system; the state stays."""
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "status_note", actor)
        new_event(incident, "status_note", actor, note=note, now=now).save()
        notify_changed([incident.pk])
    return incident
