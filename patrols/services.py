"""Patrols: start, end, and the track points the phone sends in batches (kept while offline, sent
again when the network returns: a point is stored once per patrol and time). A point whose accuracy
is worse than ``PATROL_MAX_ACCURACY_M``, or that is further from the previous kept point than
``PATROL_MAX_SPEED_MPS`` allows, is stored with a flag, never dropped: the figures leave it out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from gis_core.geometry import geodesic_m
from patrols.models import Patrol, TrackPoint

CLOCK_SLACK = timedelta(minutes=5)  # a phone's clock ahead of the server's by this much is still believed


class PatrolRefused(Exception):
    """Not this actor's patrol, or not now: ``status`` is the HTTP answer (403, 404 or 409)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SentPoint:
    lon: float
    lat: float
    recorded_at: datetime
    accuracy_m: float


def _person(actor: Actor) -> int:
    if actor.person_id is None:
        raise PatrolRefused(f"{actor.label} is no grid worker: only people patrol", status=403)
    return actor.person_id


def _own(actor: Actor, patrol_id: int, *, lock: bool = False) -> Patrol:
    rows = Patrol.objects.select_for_update() if lock else Patrol.objects
    patrol = rows.filter(pk=patrol_id, person_id=_person(actor)).first()
    if patrol is None:
        raise PatrolRefused("no such patrol of yours", status=404)
    return patrol


def start_patrol(*, actor: Actor, key: str, now: datetime | None = None) -> tuple[Patrol, bool]:
    """Start a patrol (or return the one this ``key`` started: a re-sent start); a patrol still running
    under another key is refused (409): end it first."""
    person, now = _person(actor), now or timezone.now()
    existing = Patrol.objects.filter(person_id=person, key=key).first()
    if existing is not None:
        return existing, False
    running = Patrol.objects.filter(person_id=person, ended_at__isnull=True).first()
    if running is not None:
        raise PatrolRefused(f"patrol {running.pk} is still running: end it first", status=409)
    try:
        with transaction.atomic():
            return Patrol.objects.create(person_id=person, key=key, started_at=now), True
    except IntegrityError:  # the same start, sent twice at once
        existing = Patrol.objects.filter(person_id=person, key=key).first()
        if existing is None:
            raise PatrolRefused("another patrol started at the same moment: end it first", status=409) from None
        return existing, False


def end_patrol(*, actor: Actor, patrol_id: int, now: datetime | None = None) -> Patrol:
    """End a running patrol at ``now`` (or at its last point, if later); ending it again changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        patrol = _own(actor, patrol_id, lock=True)
        if patrol.ended_at is None:
            last = patrol.points.order_by("-recorded_at").values_list("recorded_at", flat=True).first()
            patrol.ended_at = max(now, last or now, patrol.started_at)
            patrol.save(update_fields=["ended_at"])
    return patrol


def add_points(*, actor: Actor, patrol_id: int, points: list[SentPoint],
               now: datetime | None = None) -> dict[str, int]:
    """Store a batch of the patrol's points (in any order, re-sent ones ignored) and flag the doubtful
    ones; return the counts: stored, already stored, flagged, outside the patrol's time (not stored)."""
    now = now or timezone.now()
    max_accuracy, max_speed = settings.PATROL_MAX_ACCURACY_M, settings.PATROL_MAX_SPEED_MPS
    with transaction.atomic():
        patrol = _own(actor, patrol_id, lock=True)  # one batch of a patrol at a time: the flags see each other
        latest = (patrol.ended_at or now) + CLOCK_SLACK
        inside = sorted((p for p in points if patrol.started_at - CLOCK_SLACK <= p.recorded_at <= latest),
                        key=lambda p: p.recorded_at)
        known = set(patrol.points.filter(recorded_at__in=[p.recorded_at for p in inside])
                    .values_list("recorded_at", flat=True))
        fresh = [p for p in inside if p.recorded_at not in known]
        rows, previous = [], None
        if fresh:
            kept = patrol.points.filter(flag="", recorded_at__lt=fresh[0].recorded_at).order_by("-recorded_at").first()
            previous = (kept.location.x, kept.location.y, kept.recorded_at) if kept is not None else None
        seen = set()
        for p in fresh:
            if p.recorded_at in seen:
                continue
            seen.add(p.recorded_at)
            flag = TrackPoint.Flag.GOOD
            if p.accuracy_m > max_accuracy:
                flag = TrackPoint.Flag.INACCURATE
            elif previous is not None:
                seconds = (p.recorded_at - previous[2]).total_seconds()
                metres = geodesic_m(previous[:2], (p.lon, p.lat))
                if metres > max_speed * max(seconds, 1.0):
                    flag = TrackPoint.Flag.TOO_FAST
            if flag == TrackPoint.Flag.GOOD:
                previous = (p.lon, p.lat, p.recorded_at)
            rows.append(TrackPoint(patrol=patrol, recorded_at=p.recorded_at, location=Point(p.lon, p.lat, srid=4326),
                                   accuracy_m=p.accuracy_m, flag=flag))
        TrackPoint.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return {"stored": len(rows), "duplicates": len(inside) - len(rows), "flagged": sum(1 for r in rows if r.flag),
            "outside": len(points) - len(inside)}
