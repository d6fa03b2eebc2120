"""Who else has an incident open (the command centre's panel): each open panel says so every
``HEARTBEAT_S`` seconds; a viewer not heard from for ``TTL_S`` has gone. A row per incident and user,
written with one upsert; the answer lists the others, so two operators about to act on one incident
know of each other before one's change meets the other's 412."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

HEARTBEAT_S = 15
TTL_S = 3 * HEARTBEAT_S


class IncidentViewer(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=150)
    seen_at = models.DateTimeField()

    class Meta:
        app_label = "incidents"
        constraints = [models.UniqueConstraint(fields=["incident", "user"], name="one_viewer_row")]
        indexes = [models.Index(fields=["incident", "seen_at"], name="incident_viewer_seen_idx")]

    def __str__(self) -> str:
        return f"{self.label} on {self.incident_id}"


def seen(*, incident_id: int, user, now: datetime | None = None) -> list[dict]:
    """Record that ``user`` has the incident open now; return the others who have it open."""
    now = now or timezone.now()
    IncidentViewer.objects.update_or_create(incident_id=incident_id, user=user,
                                            defaults={"seen_at": now, "label": user.get_username()})
    IncidentViewer.objects.filter(incident_id=incident_id, seen_at__lt=now - timedelta(hours=1)).delete()
    others = (IncidentViewer.objects.filter(incident_id=incident_id, seen_at__gte=now - timedelta(seconds=TTL_S))
              .exclude(user=user).order_by("label"))
    return [{"user": v.label, "since": timezone.localtime(v.seen_at).isoformat()} for v in others]


def left(*, incident_id: int, user) -> None:
    IncidentViewer.objects.filter(incident_id=incident_id, user=user).delete()
