"""A worker's day on patrol (巡查), from their kept track points (flagged ones left out):

- on_patrol_s: the time their patrols ran, within the local day;
- distance_m: the length of the track, summed over steps between consecutive kept points of a patrol
  no more than ``PATROL_MAX_GAP_S`` apart (a longer gap, the signal lost, is not guessed across);
- in_own_grid_s: the time of the steps with both ends inside the grids whose teams they are on (as
  leader or member, the active boundaries);
- coverage: the share of those grids' area within ``PATROL_COVER_M`` of the steps (a walk covers a
  band along the street, in EPSG:4549 metres);
- presence (在岗率): in_own_grid_s over the day's duty time (``PATROL_DUTY_HOURS``), at most 1: the
  share of the working day the worker was seen in their grid.
One aggregate query per person and day, on the points' (patrol, recorded_at) index."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.gis.db.models import Union
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone

from gis_core.srid import METRIC_SRID
from grids.models import Grid, Person
from patrols.models import PatrolDay


@dataclass(frozen=True)
class DayFigures:
    person_id: int
    day: date
    on_patrol_s: float
    distance_m: float
    in_own_grid_s: float
    coverage: float | None  # None: the person is on no grid's team
    presence: float
    points: int
    flagged: int


def own_grids_q(person_id: int) -> Q:
    """Return the filter of the active grids whose teams the person leads or is a member of."""
    return Q(team__leader_id=person_id) | Q(team__memberships__person_id=person_id)


def _own_area(person_id: int):
    return Grid.objects.active().filter(own_grids_q(person_id)).aggregate(area=Union("boundary"))["area"]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime(day.year, day.month, day.day))
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))


SQL = f"""
WITH kept AS (
  SELECT p.patrol_id, p.recorded_at, p.location,
         lag(p.recorded_at) OVER w AS prev_at, lag(p.location) OVER w AS prev_location
  FROM patrols_trackpoint p JOIN patrols_patrol r ON r.id = p.patrol_id
  WHERE r.person_id = %(person)s AND p.recorded_at >= %(d0)s AND p.recorded_at < %(d1)s AND p.flag = ''
  WINDOW w AS (PARTITION BY p.patrol_id ORDER BY p.recorded_at)
), steps AS (
  SELECT extract(epoch FROM recorded_at - prev_at) AS secs, ST_MakeLine(prev_location, location) AS line
  FROM kept WHERE prev_at IS NOT NULL AND recorded_at - prev_at <= make_interval(secs => %(gap)s)
), own AS (SELECT ST_GeomFromEWKB(%(area)s) AS area)
SELECT coalesce(sum(ST_Length(s.line::geography)), 0),
       coalesce(sum(s.secs) FILTER (WHERE o.area IS NOT NULL AND ST_CoveredBy(s.line, o.area)), 0),
       (SELECT ST_Area(ST_Intersection(ST_Union(ST_Buffer(ST_Transform(s2.line, {METRIC_SRID}), %(band)s)),
                                       ST_Transform(o.area, {METRIC_SRID})))
               / nullif(ST_Area(ST_Transform(o.area, {METRIC_SRID})), 0)
        FROM steps s2),
       (SELECT count(*) FROM patrols_trackpoint p JOIN patrols_patrol r ON r.id = p.patrol_id
        WHERE r.person_id = %(person)s AND p.recorded_at >= %(d0)s AND p.recorded_at < %(d1)s),
       (SELECT count(*) FROM patrols_trackpoint p JOIN patrols_patrol r ON r.id = p.patrol_id
        WHERE r.person_id = %(person)s AND p.recorded_at >= %(d0)s AND p.recorded_at < %(d1)s AND p.flag <> ''),
       (SELECT coalesce(sum(extract(epoch FROM least(coalesce(ended_at, %(now)s), %(d1)s)
                                               - greatest(started_at, %(d0)s))), 0)
        FROM patrols_patrol WHERE person_id = %(person)s AND started_at < %(d1)s
          AND coalesce(ended_at, %(now)s) > %(d0)s)
FROM own o LEFT JOIN steps s ON true
GROUP BY o.area
"""


def day_figures(person_id: int, day: date, *, now: datetime | None = None) -> DayFigures:
    """Return the person's figures for a local day."""
    d0, d1 = day_bounds(day)
    area = _own_area(person_id)
    with connection.cursor() as cursor:
        cursor.execute(SQL, {"person": person_id, "d0": d0, "d1": d1, "now": now or timezone.now(),
                             "gap": settings.PATROL_MAX_GAP_S, "band": settings.PATROL_COVER_M,
                             "area": bytes(area.ewkb) if area is not None else None})
        distance, inside, coverage, points, flagged, on_patrol = cursor.fetchone()
    duty = settings.PATROL_DUTY_HOURS * 3600
    return DayFigures(person_id=person_id, day=day, on_patrol_s=float(on_patrol), distance_m=float(distance),
                      in_own_grid_s=float(inside),
                      coverage=None if area is None else float(coverage or 0.0),
                      presence=min(1.0, float(inside) / duty), points=points, flagged=flagged)


# --- the recorded days and 在岗率 over a period ------------------------------------------------------------

def record_day(person_id: int, day: date, *, now: datetime | None = None) -> PatrolDay:
    """Compute the person's figures of ``day`` and keep them (``PatrolDay``); computing again replaces them."""
    now = now or timezone.now()
    f = day_figures(person_id, day, now=now)
    row, _ = PatrolDay.objects.update_or_create(
        person_id=person_id, day=day,
        defaults={"on_patrol_s": f.on_patrol_s, "distance_m": f.distance_m, "in_own_grid_s": f.in_own_grid_s,
                  "coverage": f.coverage, "presence": f.presence, "points": f.points, "flagged": f.flagged,
                  "computed_at": now})
    return row


def local_days(start: datetime, end: datetime) -> list[date]:
    """The local days that [start, end] touches, in order."""
    first, last = timezone.localdate(start), timezone.localdate(end)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _duty_days(start: datetime, end: datetime) -> list[date]:
    """The duty days (``PATROL_DUTY_WEEKDAYS``) whose local day begins in [start, end)."""
    first = timezone.localdate(start)
    if day_bounds(first)[0] < start:
        first += timedelta(days=1)
    last = timezone.localdate(end - timedelta(microseconds=1))
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [d for d in days if d.weekday() in settings.PATROL_DUTY_WEEKDAYS]


def presence_by_person(persons_q: Q | None, start: datetime, end: datetime) -> dict[int, float]:
    """Return 在岗率 per person over [start, end) from the recorded days: the sum of the daily presence
    on the duty days that begin in the period, over the number of those days (a patrol on a day off
    does not count). Only persons with a recorded duty day are in the answer; ``persons_q`` (over
    Person, ``patrols.selectors``) limits it to those the reader may see, None to no one's limit."""
    days = _duty_days(start, end)
    if not days:
        return {}
    rows = PatrolDay.objects.filter(day__gte=days[0], day__lte=days[-1],
                                    day__iso_week_day__in=[d + 1 for d in settings.PATROL_DUTY_WEEKDAYS])
    if persons_q is not None:
        rows = rows.filter(person__in=Person.objects.filter(persons_q))
    totals = rows.values("person_id").annotate(total=Sum("presence")).values_list("person_id", "total")
    return {person_id: min(1.0, total / len(days)) for person_id, total in totals}
