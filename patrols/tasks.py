"""Background work of the patrols: the day figures of ended patrols are recorded (the assessment's 在岗率
reads them); tracks are personal data, deleted after the retention period."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from patrols.figures import local_days, record_day
from patrols.models import Patrol, PatrolDay

RECORD_LOOKBACK_DAYS = 7  # ended patrols this recent are checked for a missing or stale day row


def purge(now=None) -> int:
    """Delete the patrols (and their points) that ended more than PATROL_RETENTION_DAYS ago; return how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PATROL_RETENTION_DAYS)
    deleted, _ = Patrol.objects.filter(ended_at__lt=cutoff).delete()
    return deleted


@shared_task(name="patrols.purge_tracks", acks_late=True)
def purge_tracks() -> int:
    return purge()


def record_days(now=None) -> int:
    """Record the day figures of every person and local day touched by a patrol that ended in the last
    RECORD_LOOKBACK_DAYS and has no row computed since that end (missing or stale); return how many rows
    were written. Driven by the database alone: running it twice, or after a missed run, is safe."""
    now = now or timezone.now()
    ended = (Patrol.objects.filter(ended_at__isnull=False, ended_at__gte=now - timedelta(days=RECORD_LOOKBACK_DAYS))
             .values_list("person_id", "started_at", "ended_at"))
    last_end: dict[tuple[int, date], datetime] = {}
    for person_id, started_at, ended_at in ended:
        for day in local_days(started_at, ended_at):
            last_end[person_id, day] = max(last_end.get((person_id, day), ended_at), ended_at)
    if not last_end:
        return 0
    computed = dict(((p, d), at) for p, d, at in PatrolDay.objects.filter(
        person_id__in={p for p, _ in last_end}, day__gte=min(d for _, d in last_end))
        .values_list("person_id", "day", "computed_at"))
    stale = sorted(key for key, end in last_end.items() if key not in computed or computed[key] < end)
    for person_id, day in stale:
        record_day(person_id, day, now=now)
    return len(stale)


@shared_task(name="patrols.record_patrol_days", acks_late=True)
def record_patrol_days() -> int:
    return record_days()
