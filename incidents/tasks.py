"""Background work of the incidents floor: evidence thumbnails (safe to run twice; the row decides)."""
from __future__ import annotations

from celery import shared_task

from incidents.evidence import thumbnail_of
from incidents.models import Photo

MISSING_BATCH = 200


@shared_task(name="incidents.make_thumbnail", acks_late=True, reject_on_worker_lost=True)
def make_thumbnail(photo_id: int) -> bool:
    """Make one photo's thumbnail; return whether this run made it (False: it existed, or the photo is gone)."""
    photo = Photo.objects.filter(pk=photo_id).first()
    return thumbnail_of(photo) if photo is not None else False


@shared_task(name="incidents.make_missing_thumbnails", acks_late=True)
def make_missing_thumbnails(limit: int = MISSING_BATCH) -> int:
    """Make the thumbnails a lost message left missing (a broker down at upload); return how many."""
    return sum(thumbnail_of(p) for p in Photo.objects.filter(thumbnail="").order_by("id")[:limit])


@shared_task(name="incidents.refresh_heat_ahead", acks_late=True)
def refresh_heat_ahead() -> int:
    """Sum the heatmaps kept ahead that are missing or stale (``hotspots.refresh_heat_ahead``), then the live
    ones (``hotspots.refresh_heat_live``); return how many."""
    from incidents import hotspots  # pandas and the rest, only in the worker

    return len(hotspots.refresh_heat_ahead()) + len(hotspots.refresh_heat_live())
