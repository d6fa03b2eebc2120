"""回访 return visits: after an incident is closed, the operator asks the reporter whether it was
fixed. "Dissatisfied" reopens it as rework in the same transaction (the rules' ``reopen``: closed ->
in progress, a fresh handling deadline) and gives it back to the person it was last assigned to, in
the same grid, with a "reopened" notice. Here in dispatch, not in incidents, because the reopening
assigns and notifies."""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import bulk
from core.actors import Actor
from dispatch.models import Assignment, Notification
from dispatch.routing import RoutingContext
from incidents.lifecycle import apply_transition, check_allowed, locked, new_event, notify_changed
from incidents.models import Incident, ReturnVisit

REOPEN_REASON = "reopened: dissatisfied return visit"


def incident_return_visit(*, incident_id: int, actor: Actor, outcome: str, comment: str = "",
                          now: datetime | None = None) -> Incident:
    """Record a return visit on a closed incident (events: ``return_visit`` with the outcome; when
    dissatisfied, then ``reopen`` with the comment as its reason, which a dissatisfied visit needs)."""
    now = now or timezone.now()
    if outcome not in ReturnVisit.Outcome.values:
        raise ValidationError({"outcome": [f"one of {', '.join(ReturnVisit.Outcome.values)}"]})
    dissatisfied = outcome == ReturnVisit.Outcome.DISSATISFIED
    if dissatisfied and not comment.strip():
        raise ValidationError({"comment": ["say what is not fixed: it is the reason the incident is reopened"]})
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "return_visit", actor)
        visit = ReturnVisit.objects.create(incident=incident, outcome=outcome, comment=comment,
                                           visited_by=actor.user, visited_by_label=actor.label, visited_at=now)
        objects = [new_event(incident, "return_visit", actor, note=comment, now=now,
                             data={"outcome": outcome, "visit": visit.pk})]
        if dissatisfied:
            objects.append(apply_transition(incident, "reopen", actor, note=comment, now=now,
                                            data={"visit": visit.pk}))
            objects += _back_to_last(incident, now=now)
        incident.save()
        for obj in objects:
            obj.save()
        notify_changed([incident.pk])
    return incident


def _back_to_last(incident: Incident, *, now: datetime) -> list:
    """Give a reopened incident back to whoever it was last assigned to (a person, else the same unit),
    at its level in the same grid (in memory); return the new assignment and notifications."""
    last = Assignment.objects.filter(incident=incident).order_by("-assigned_at", "-id").first()
    Assignment.objects.filter(incident=incident, active=True).update(active=False, ended_at=now)
    person_id = last.person_id if last is not None else incident.assignee_id
    incident.assignee_id = person_id
    objects: list = [bulk.unsaved(
        Assignment, incident_id=incident.pk, level=incident.level, grid_id=incident.handling_grid_id,
        person_id=person_id, role=last.role if last else "", slot=last.slot if last else "",
        unit=last.unit if last else "", reason=REOPEN_REASON, assigned_at=now)]
    if person_id is not None:
        objects.append(bulk.unsaved(Notification, person_id=person_id, incident_id=incident.pk,
                                    kind=Notification.Kind.REOPENED,
                                    message=f"返工 reopened, the reporter is not satisfied: {incident.title}"[:300],
                                    created_at=now))
    leader = RoutingContext({incident.handling_grid_id} - {None}, set()).leader_of(incident)
    if leader is not None and leader.id != person_id:
        objects.append(bulk.unsaved(Notification, person_id=leader.id, incident_id=incident.pk,
                                    kind=Notification.Kind.INFORMED,
                                    message=f"reopened in your grid: {incident.title}"[:300], created_at=now))
    return objects
