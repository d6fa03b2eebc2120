"""Dispatch actions on one incident (reassign, escalate, hand back) and the SLA sweep.

Each action locks the incident row, checks who may act, records an event and notifies; the
escalation sweep is driven by database state (``escalate_at``), so running it twice, or again
after a worker died mid-sweep, never escalates an incident twice for one overdue period.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from dispatch.models import Assignment, Notification
from dispatch.routing import COMMAND_CENTRE, RoutingContext, Target, assign
from dispatch.selectors import PersonRef
from grids.models import Person
from incidents import rules
from incidents.lifecycle import check_allowed, locked, new_event, notify_changed
from incidents.models import Incident, Level
from incidents.selectors import handling_grid_for, reassign_refusal, roles_on


def _retarget(incident: Incident, target: Target, ctx: RoutingContext, *, action: str, actor: Actor,
              reason: str, now: datetime, data: dict | None = None) -> None:
    """End the active assignment, assign the target, save, record the event (with ``data`` too), notify."""
    Assignment.objects.filter(incident=incident, active=True).update(active=False, ended_at=now)
    from_level = incident.level
    objects = assign(incident, target, ctx, now=now, why=action)
    incident.save()
    for obj in objects:
        obj.save()
    event = new_event(incident, action, actor, note=reason, now=now,
                      data={"from_level": from_level, "to_level": target.level,
                            "person": target.person.external_id if target.person else None, "unit": target.unit,
                            **(data or {})})
    event.save()
    notify_changed([incident.pk])


def _context(incident: Incident) -> RoutingContext:
    return RoutingContext({incident.handling_grid_id} - {None}, {incident.village_id} - {None})


def incident_escalate(*, incident_id: int, actor: Actor, reason: str, now: datetime | None = None) -> Incident:
    """Move the incident one level up (grid -> village -> town -> bureau) and restart its clock."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "escalate", actor)
        _escalate_locked(incident, actor=actor, reason=reason, now=now)
    return incident


def _escalate_locked(incident: Incident, *, actor: Actor, reason: str, now: datetime) -> None:
    """Escalate a locked incident that ``rules.check`` allowed to escalate."""
    ctx = _context(incident)
    target = ctx.target(incident, incident.level + 1)
    incident.escalations += 1
    # A fresh handling period at the new level; handle_due_at keeps the original SLA for the figures.
    incident.level_due_at = now + timedelta(minutes=incident.category.sla_handle_min)
    # the acceptance clock is spent once escalated: only the new level's handling period counts
    incident.escalate_at = rules.escalation_time(state=incident.state, level=target.level,
                                                 level_due_at=incident.level_due_at,
                                                 handle_due_at=incident.handle_due_at, accept_due_at=None)
    _retarget(incident, target, ctx, action="escalate", actor=actor, reason=reason, now=now)
    if target.person is not None:
        Notification.objects.create(person_id=target.person.id, incident=incident, kind=Notification.Kind.ESCALATED,
                                    message=f"escalated to you: {incident.title}"[:300], created_at=now)


def incident_hand_back(*, incident_id: int, actor: Actor, reason: str) -> Incident:
    """Send the incident one level down (e.g. village -> grid) to be handled there."""
    now = timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "hand_back", actor)
        ctx = _context(incident)
        _retarget(incident, ctx.target(incident, incident.level - 1), ctx, action="hand_back", actor=actor,
                  reason=reason, now=now)
    return incident


def incident_return_to_centre(*, incident_id: int, actor: Actor, reason: str, now: datetime | None = None) -> Incident:
    """退单: the person a dispatched incident was sent to (or the leader of that grid) returns it to the
    command centre, it was sent to the wrong grid; the operator then reassigns it (``incident_reassign``).

    Distinct from ``incident_hand_back`` (one level down) and from escalation (one level up, the SLA
    running out): the active assignment ends, the incident goes to level town with no person (unit
    "command centre"), recorded as its own action ``return_to_centre`` (it counts against 准确派遣率).

    The state stays dispatched, not back to registered: an incident at town level with no person is
    what routing makes of one dispatched to the command centre, and from there the operator's
    reassign (which takes dispatched and in-progress incidents) gives it to the right person, as
    with any other; registered would leave it where no endpoint dispatches it again. Its registration
    and handling deadline stand (the wrong dispatch costs handling time); the acceptance clock starts
    again for the command centre's own dispatch.
    """
    now = now or timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "return_to_centre", actor)
        incident.returns += 1
        incident.accept_due_at = now + timedelta(minutes=incident.category.sla_accept_min)
        incident.escalate_at = rules.escalation_time(state=incident.state, level=Level.TOWN,
                                                     level_due_at=incident.level_due_at,
                                                     handle_due_at=incident.handle_due_at,
                                                     accept_due_at=incident.accept_due_at)
        target = Target(Level.TOWN, None, unit=COMMAND_CENTRE, reason=f"returned by {actor.label}: wrong grid")
        _retarget(incident, target, _context(incident), action="return_to_centre", actor=actor, reason=reason,
                  now=now)
    return incident


def incident_reassign(*, incident_id: int, actor: Actor, person_external_id: str, reason: str) -> Incident:
    """Give the incident to another person, at the same level: an operator to anyone, a grid leader
    only to the people of the handling grid's team (``incidents.selectors.reassign_refusal``).

    Given to a person of another grid's team (the operator's reassign after a 退单, the incident was
    sent to the wrong grid), the incident's handling grid becomes that grid
    (``incidents.selectors.handling_grid_for``), as routing sets it at dispatch: its leader is informed
    and its team sees and acts on it, the wrong grid's no longer (the grid it lies in stays: the
    located grid is never rewritten)."""
    now = timezone.now()
    person = Person.objects.filter(external_id=person_external_id).first()
    if person is None:
        raise ValueError(f"no person {person_external_id}")
    with transaction.atomic():
        incident = locked(incident_id)
        roles = roles_on(actor, incident)
        check_allowed(incident, "reassign", actor, roles=roles)
        refusal = reassign_refusal(incident, actor, person.pk, roles=roles)
        if refusal:
            raise rules.TransitionRefused(refusal, reason="role")
        ref = PersonRef(person.pk, person.external_id, person.name, person.role)
        target = Target(incident.level, ref, person.role, "", reason=f"reassigned by {actor.label}")
        grid_id, moved = handling_grid_for(incident, person.pk), {}
        if grid_id is not None and grid_id != incident.handling_grid_id:
            moved = {"from_grid": incident.handling_grid.code if incident.handling_grid_id else None}
            incident.handling_grid_id = grid_id
            moved["to_grid"] = incident.handling_grid.code
        _retarget(incident, target, _context(incident), action="reassign", actor=actor, reason=reason, now=now,
                  data=moved)
    return incident


def overdue_ids(now: datetime, limit: int = 500) -> list[int]:
    """Return ids of incidents whose escalation time has passed, oldest first (``rules.escalation_due_q``)."""
    return list(
        Incident.objects.filter(rules.escalation_due_q(now))
        .order_by("escalate_at", "id").values_list("id", flat=True)[:limit]
    )


def sweep_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """Escalate every overdue incident one level, each in its own transaction; return how many.

    The condition is checked again under the row lock (skip rows another sweep holds), and the
    escalation moves ``escalate_at`` forward, so a second run finds nothing to do.
    """
    now = now or timezone.now()
    system = Actor.system("sla-sweep")
    done = 0
    for incident_id in overdue_ids(now, limit):
        with transaction.atomic():
            # of=("self",): lock (and skip) the incident row only, never the shared category row
            incident = (Incident.objects.select_for_update(skip_locked=True, of=("self",)).select_related("category")
                        .filter(rules.escalation_due_q(now), pk=incident_id).first())
            if incident is None:
                continue
            overdue_by = int((now - incident.escalate_at).total_seconds() // 60)
            check_allowed(incident, "escalate", system)  # the rule of every escalation (the query meets it)
            late = incident.assignee_id  # who held it when its time ran out is told, as well as who gets it
            _escalate_locked(incident, actor=system, reason=f"overdue by {overdue_by} min", now=now)
            if late is not None and late != incident.assignee_id:
                Notification.objects.create(person_id=late, incident=incident, kind=Notification.Kind.OVERDUE,
                                            message=f"overdue by {overdue_by} min, escalated: {incident.title}"[:300],
                                            created_at=now)
            done += 1
    return done
