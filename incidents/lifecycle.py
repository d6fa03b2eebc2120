"""The incident state machine: every state change goes through here, under a row lock, with an event.

Which actions exist, from which states and for whom is ``incidents.rules``; this module applies them:
the clocks each transition sets, the event it records, the notice after commit.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core import bulk
from core.actors import Actor, Role
from incidents import rules
from incidents.models import Incident, IncidentEvent
from incidents.selectors import roles_on
from incidents.signals import incident_changed


def escalation_time(incident: Incident) -> datetime | None:
    """Return when the sweep should next escalate the incident (None: no clock runs)."""
    return rules.escalation_time(state=incident.state, level=incident.level, level_due_at=incident.level_due_at,
                                 handle_due_at=incident.handle_due_at, accept_due_at=incident.accept_due_at)


def _on_register(incident: Incident, now: datetime) -> None:
    incident.registered_at = now
    incident.handle_due_at = now + timedelta(minutes=incident.category.sla_handle_min)
    incident.level_due_at = incident.handle_due_at


def _on_dispatch(incident: Incident, now: datetime) -> None:
    incident.dispatched_at = now
    incident.accept_due_at = now + timedelta(minutes=incident.category.sla_accept_min)


def _on_rework(incident: Incident, now: datetime) -> None:
    incident.reworks += 1


def _on_reopen(incident: Incident, now: datetime) -> None:
    """回访不满意: rework again, with a fresh handling period from now (the category's SLA) at its level."""
    incident.reworks += 1
    incident.closed_at = None
    incident.handle_due_at = now + timedelta(minutes=incident.category.sla_handle_min)
    incident.level_due_at = incident.handle_due_at


def _on_self_handle(incident: Incident, now: datetime) -> None:
    """自行处置: found, taken, fixed and closed by one person at once."""
    incident.accepted_at = incident.handled_at = incident.closed_at = now
    incident.self_handled = True


CLOCK_EFFECTS: dict[str, Callable[[Incident, datetime], None]] = {
    "register": _on_register,
    "dispatch": _on_dispatch,
    "accept": lambda i, now: setattr(i, "accepted_at", now),
    "report_handled": lambda i, now: setattr(i, "handled_at", now),
    "verify": lambda i, now: setattr(i, "verified_at", now),
    "rework": _on_rework,
    "close": lambda i, now: setattr(i, "closed_at", now),
    "reopen": _on_reopen,
    "self_handle": _on_self_handle,
}


def check_allowed(incident: Incident, action: str, actor: Actor, *, roles: set[Role] | None = None) -> rules.Action:
    """Return the action (``rules.ACTIONS``) if the actor may take it on the incident now; raise
    TransitionRefused otherwise. ``roles``: the actor's ``roles_on`` the incident, when the caller has
    them already."""
    return rules.check(incident, action, roles=roles_on(actor, incident) if roles is None else roles,
                       label=actor.label)


def apply_transition(incident: Incident, action: str, actor: Actor, *, note: str = "",
                     data: dict | None = None, now: datetime | None = None, checked: bool = False) -> IncidentEvent:
    """Change the state of an incident the caller holds (locked, or not yet saved); return the event.

    In memory only: the caller saves the incident and the event (so a batch can insert them in bulk).
    """
    transition = rules.TRANSITIONS[action] if checked else check_allowed(incident, action, actor)
    now = now or timezone.now()
    from_state = incident.state
    incident.state = transition.target
    effect = CLOCK_EFFECTS.get(action)
    if effect:
        effect(incident, now)
    incident.escalate_at = escalation_time(incident)
    return new_event(incident, action, actor, from_state=from_state, note=note, data=data, now=now)


def new_event(incident: Incident, action: str, actor: Actor, *, from_state: str | None = None,
              note: str = "", data: dict | None = None, now: datetime | None = None) -> IncidentEvent:
    """Return an unsaved event describing an action on the incident (state unchanged unless given)."""
    event = bulk.unsaved(
        IncidentEvent,
        incident_id=incident.pk, action=action,
        from_state=incident.state if from_state is None else from_state, to_state=incident.state,
        level=incident.level, actor_id=actor.user.pk if actor.user is not None else None, actor_label=actor.label,
        note=note, data=data or {}, created_at=now or timezone.now(),
    )
    if incident.pk is None:  # not stored yet: keep the object, its id is read when the event is saved
        event.incident = incident
    return event


def locked(incident_id: int) -> Incident:
    """Return the incident with its row locked for the rest of the transaction.

    ``of=("self",)``: lock the incident row only, not the joined category row that every incident
    of the category shares (that would serialise, and can deadlock, actions on unrelated incidents).
    """
    return Incident.objects.select_for_update(of=("self",)).select_related("category").get(pk=incident_id)


def incident_transition(*, incident_id: int, action: str, actor: Actor, note: str = "",
                        data: dict | None = None, now: datetime | None = None) -> Incident:
    """Perform one lifecycle action atomically (row lock, checks, save, event, live notice), at ``now``
    (default: the current time)."""
    with transaction.atomic():
        incident = locked(incident_id)
        event = apply_transition(incident, action, actor, note=note, data=data, now=now)
        incident.save()
        event.save()
        notify_changed([incident.pk])
    return incident


def notify_changed(incident_ids: list[int]) -> None:
    """Announce, after the transaction commits, that these incidents changed."""
    transaction.on_commit(lambda: incident_changed.send(sender=Incident, incident_ids=list(incident_ids)))
