"""The incident state machine: every state change goes through here, under a row lock, with an event.

上报 reported -> 立案 registered -> 派遣 dispatched -> 处置 in progress -> 反馈 handled -> 核查 verified
-> 结案 closed; 返工 rework sends a handled incident back to in progress; cancelled, duplicate and out of
jurisdiction end it early.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from incidents import bulk
from incidents.models import Incident, IncidentEvent, Level
from incidents.permissions import Actor, Role, roles_on
from incidents.signals import incident_changed

S = Incident.State


class TransitionRefused(Exception):
    """The action is not allowed now (wrong state) or not to this actor (wrong role)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason  # "state" | "role"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[Role]


def _t(action: str, sources: set[str], target: str, roles: set[Role]) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles))


R = Role
TEAM = {R.ASSIGNEE, R.GRID_LEADER, R.GRID_MEMBER, R.VILLAGE_LEADER}
TRANSITIONS: dict[str, Transition] = {t.action: t for t in [
    _t("register", {S.REPORTED}, S.REGISTERED, {R.SYSTEM, R.OPERATOR}),
    _t("dispatch", {S.REGISTERED}, S.DISPATCHED, {R.SYSTEM, R.OPERATOR}),
    _t("accept", {S.DISPATCHED}, S.IN_PROGRESS, TEAM | {R.OPERATOR}),
    _t("report_handled", {S.IN_PROGRESS}, S.HANDLED, TEAM | {R.OPERATOR}),
    _t("verify", {S.HANDLED}, S.VERIFIED, {R.OPERATOR, R.GRID_LEADER, R.VILLAGE_LEADER}),
    _t("rework", {S.HANDLED}, S.IN_PROGRESS, {R.OPERATOR, R.GRID_LEADER, R.VILLAGE_LEADER}),
    _t("close", {S.VERIFIED}, S.CLOSED, {R.OPERATOR}),
    _t("cancel", {S.REPORTED, S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS}, S.CANCELLED, {R.OPERATOR}),
    _t("mark_duplicate", {S.REPORTED, S.REGISTERED, S.DISPATCHED}, S.DUPLICATE, {R.OPERATOR}),
    _t("out_of_jurisdiction", {S.REPORTED, S.REGISTERED}, S.OUT_OF_JURISDICTION, {R.OPERATOR}),
]}
OPEN_FOR_CLOCKS = {S.REGISTERED, S.DISPATCHED, S.IN_PROGRESS}
# The transitions people take through POST /api/incidents/{id}/{action}/ (the others are the
# system's at intake, and mark_duplicate is taken through merge).
LIFECYCLE_ACTIONS = ["accept", "report_handled", "verify", "rework", "close", "cancel", "out_of_jurisdiction"]


def _escalation_time(incident: Incident) -> datetime | None:
    """Return when the sweep should next escalate the incident (None: no clock runs)."""
    if incident.state not in OPEN_FOR_CLOCKS or incident.level >= Level.BUREAU:
        return None
    times = [incident.level_due_at or incident.handle_due_at]
    if incident.state == S.DISPATCHED:
        times.append(incident.accept_due_at)
    times = [t for t in times if t is not None]
    return min(times) if times else None


def _on_register(incident: Incident, now: datetime) -> None:
    incident.registered_at = now
    incident.handle_due_at = now + timedelta(minutes=incident.category.sla_handle_min)
    incident.level_due_at = incident.handle_due_at


def _on_dispatch(incident: Incident, now: datetime) -> None:
    incident.dispatched_at = now
    incident.accept_due_at = now + timedelta(minutes=incident.category.sla_accept_min)


def _on_rework(incident: Incident, now: datetime) -> None:
    incident.reworks += 1


CLOCK_EFFECTS: dict[str, Callable[[Incident, datetime], None]] = {
    "register": _on_register,
    "dispatch": _on_dispatch,
    "accept": lambda i, now: setattr(i, "accepted_at", now),
    "report_handled": lambda i, now: setattr(i, "handled_at", now),
    "verify": lambda i, now: setattr(i, "verified_at", now),
    "rework": _on_rework,
    "close": lambda i, now: setattr(i, "closed_at", now),
}


def check_allowed(incident: Incident, action: str, actor: Actor, *, roles: set[Role] | None = None) -> Transition:
    """Return the transition for ``action`` or raise TransitionRefused (state first, then role).
    ``roles``: the actor's ``roles_on`` the incident, when the caller has them already."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionRefused(f"unknown action {action!r}", reason="state")
    if incident.state not in transition.sources:
        raise TransitionRefused(f"cannot {action} an incident that is {incident.state}", reason="state")
    if not ((roles_on(actor, incident) if roles is None else roles) & transition.roles):
        raise TransitionRefused(f"{actor.label} may not {action} this incident", reason="role")
    return transition


def apply_transition(incident: Incident, action: str, actor: Actor, *, note: str = "",
                     data: dict | None = None, now: datetime | None = None, checked: bool = False) -> IncidentEvent:
    """Change the state of an incident the caller holds (locked, or not yet saved); return the event.

    In memory only: the caller saves the incident and the event (so a batch can insert them in bulk).
    """
    transition = TRANSITIONS[action] if checked else check_allowed(incident, action, actor)
    now = now or timezone.now()
    from_state = incident.state
    incident.state = transition.target
    effect = CLOCK_EFFECTS.get(action)
    if effect:
        effect(incident, now)
    incident.escalate_at = _escalation_time(incident)
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
                        data: dict | None = None) -> Incident:
    """Perform one lifecycle action atomically (row lock, checks, save, event, live notice)."""
    with transaction.atomic():
        incident = locked(incident_id)
        event = apply_transition(incident, action, actor, note=note, data=data)
        incident.save()
        event.save()
        notify_changed([incident.pk])
    return incident


def notify_changed(incident_ids: list[int]) -> None:
    """Announce, after the transaction commits, that these incidents changed."""
    transaction.on_commit(lambda: incident_changed.send(sender=Incident, incident_ids=list(incident_ids)))
