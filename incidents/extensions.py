"""延期 extensions: the handler of an assigned incident asks for a later handling deadline, with a
reason; the level above (``rules.EXTENSION_DECIDERS``) approves or refuses it. Each step locks the
incident row, is checked by ``rules.check``, stores the request and an event, and touches the
incident (its version and ``updated_at`` change, so open pages fetch its allowed actions again).
"""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from incidents import rules
from incidents.lifecycle import check_allowed, escalation_time, locked, new_event, notify_changed
from incidents.models import ExtensionRequest, Incident
from incidents.signals import extension_changed


def _time(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def pending_extension(incident: Incident) -> ExtensionRequest | None:
    """Return the incident's request waiting for a decision (None: there is none)."""
    return incident.extension_requests.filter(state=ExtensionRequest.State.PENDING).first()


def incident_request_extension(*, incident_id: int, actor: Actor, reason: str, requested_due: datetime,
                               now: datetime | None = None) -> Incident:
    """Ask for the handling deadline to move to ``requested_due`` (later than the current one, by at
    most ``rules.EXTENSION_MAX``: a ValidationError on ``requested_due`` otherwise)."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "request_extension", actor)
        refusal = rules.extension_refusal(incident.handle_due_at, requested_due, now)
        if refusal:
            raise ValidationError({"requested_due": [refusal]})
        request = ExtensionRequest.objects.create(
            incident=incident, requested_by=actor.user, requested_by_label=actor.label, requested_at=now,
            reason=reason, previous_due=incident.handle_due_at, requested_due=requested_due)
        incident.save(update_fields=["updated_at"])
        new_event(incident, "request_extension", actor, note=reason, now=now,
                  data={"from_due": _time(incident.handle_due_at), "requested_due": _time(requested_due)}).save()
        extension_changed.send(sender=ExtensionRequest, request=request, now=now)
        notify_changed([incident.pk])
    return incident


def incident_decide_extension(*, incident_id: int, actor: Actor, approve: bool, note: str = "",
                              now: datetime | None = None) -> Incident:
    """Approve (the handling deadline moves to the requested time, and the current level's too unless
    it is later already; the sweep's next escalation is computed again) or refuse (the deadlines
    stay) the pending request. Nobody decides their own request."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        check_allowed(incident, "decide_extension", actor)
        request = incident.extension_requests.select_for_update().get(state=ExtensionRequest.State.PENDING)
        refusal = rules.own_extension_refusal(request.requested_by_id, actor.user and actor.user.pk, actor.label)
        if refusal:
            raise rules.TransitionRefused(refusal, reason="role")
        request.state = ExtensionRequest.State.APPROVED if approve else ExtensionRequest.State.REFUSED
        request.decided_by, request.decided_by_label = actor.user, actor.label
        request.decided_at, request.decision_note = now, note
        request.save()
        data = {"request": request.pk, "from_due": _time(incident.handle_due_at),
                "requested_due": _time(request.requested_due)}
        if approve:
            incident.handle_due_at = request.requested_due
            incident.extensions += 1
            # the current level's period moves too, never earlier (an escalation may have restarted it later)
            incident.level_due_at = max(incident.level_due_at or request.requested_due, request.requested_due)
            incident.escalate_at = escalation_time(incident)
        incident.save()
        new_event(incident, "approve_extension" if approve else "refuse_extension", actor, note=note, now=now,
                  data=data).save()
        extension_changed.send(sender=ExtensionRequest, request=request, now=now)
        notify_changed([incident.pk])
    return incident
