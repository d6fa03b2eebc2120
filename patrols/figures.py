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
from django.db.models import Q
from django.utils import timezone

from gis_core.srid import METRIC_SRID
from grids.models import Grid


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
