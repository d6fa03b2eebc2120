"""自行处置: a grid worker reports a problem found on patrol and says they fixed it on the spot, with an
after photo. In the intake's transaction (``POST /api/incidents/`` with ``self_handled``): the report
is stored and registered but not dispatched, the finder becomes its assignee in the grid it lies in,
the after photos are stored, and it is closed by the rules' ``self_handle`` (registered -> closed). The
assessment counts it as fixed on the spot (``found_and_fixed``), never as a dispatched case."""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from incidents import evidence, rules
from incidents.lifecycle import apply_transition, check_allowed, locked, notify_changed
from incidents.models import Incident, Level, Photo

FIELD = "self_handled"
PHOTOS_FIELD = "after_photos"


def incident_self_handle(*, incident_id: int, actor: Actor, photos: list[evidence.CheckedPhoto], note: str = "",
                         now: datetime | None = None) -> Incident:
    """Close a just-reported, registered incident as fixed on the spot by ``actor`` (a person: their
    grid team's worker or leader), storing ``photos`` as its after photos (at least one)."""
    if not photos:
        raise ValidationError({PHOTOS_FIELD: ["an incident fixed on the spot needs an after photo"]})
    if actor.person_id is None:
        raise rules.TransitionRefused(f"{actor.label} is no grid worker: only the finder fixes on the spot",
                                      reason="role")
    now = now or timezone.now()
    with transaction.atomic():
        incident = locked(incident_id)
        if incident.state != rules.State.REGISTERED:
            raise rules.TransitionRefused(f"cannot close an incident that is {incident.state} as fixed on the spot "
                                          "(it was not located in a grid)", reason="state")
        incident.assignee_id = actor.person_id
        incident.handling_grid_id = incident.grid_id
        incident.level = Level.GRID
        check_allowed(incident, "self_handle", actor)
        incident.save(update_fields=["assignee", "handling_grid", "level", "updated_at"])
        evidence.attach_photos(incident_id=incident.pk, actor=actor, photos=photos, stage=Photo.Stage.AFTER,
                               note=note, allowed_by="self_handle")
        incident = locked(incident_id)
        event = apply_transition(incident, "self_handle", actor, note=note, now=now)
        incident.save()
        event.save()
        notify_changed([incident.pk])
    return incident
