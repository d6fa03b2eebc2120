"""Background work of the patrols: tracks are personal data, deleted after the retention period."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from patrols.models import Patrol


def purge(now=None) -> int:
    """Delete the patrols (and their points) that ended more than PATROL_RETENTION_DAYS ago; return how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PATROL_RETENTION_DAYS)
    deleted, _ = Patrol.objects.filter(ended_at__lt=cutoff).delete()
    return deleted


@shared_task(name="patrols.purge_tracks", acks_late=True)
def purge_tracks() -> int:
    return purge()
