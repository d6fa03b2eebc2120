"""Heatmap cells, hotspots of recurring issues and trends, for the town leaders' review (研判).

Scoped like every read (``incidents.selectors.incidents_visible_to``): a grid leader's heatmap holds
their own grid's incidents only. Counted: the incidents reported in the period [start, end) that
have a location, except the cancelled, duplicate and out-of-jurisdiction ones (as the assessment
figures, ``incidents.rules.NOT_COUNTED``), optionally of some categories and sources.

- cells: square bins ``cell_m`` metres wide in EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E,
  the design's metric CRS; never degrees). A point belongs to the bin whose centre is nearest
  (``ST_SnapToGrid``: centres at whole multiples of ``cell_m``). Aggregated in PostGIS, one query;
  each cell comes back with its centre in WGS84, its count, its count per category and the grid
  most of its incidents were located in. Sorted by count, so the first are the hotspots.
- trend: incidents reported and closed per local day or week (Asia/Shanghai; a week starts on
  Monday), every bucket of the period present, with the reports per category.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.contrib.gis.db.models.functions import SnapToGrid, Transform
from django.contrib.gis.geos import Polygon
from django.db.models import Count
from django.db.models.functions import TruncDay, TruncWeek
from django.utils import timezone

from core.actors import Actor
from gis_core.coords import from_metric, metric_domain
from gis_core.srid import METRIC_SRID
from incidents import rules
from incidents.models import Incident
from incidents.selectors import incidents_visible_to

BUCKETS = {"day": TruncDay, "week": TruncWeek}


@dataclass
class Cell:
    x: float  # the centre in EPSG:4549 (metres)
    y: float
    lon: float  # the centre in WGS84
    lat: float
    count: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    grid_code: str | None = None
    grid_name: str | None = None

    @property
    def top_category(self) -> str | None:
        return max(self.categories, key=lambda code: (self.categories[code], code)) if self.categories else None


def counted(actor: Actor, *, categories: list[str] | None = None, sources: list[str] | None = None):
    """Return the visible incidents the heatmap and the trend count, of these categories and sources
    (the caller adds the period: reported in it, or closed in it)."""
    qs = incidents_visible_to(actor).filter(rules.counted_q())
    if categories:
        qs = qs.filter(category__code__in=categories)
    if sources:
        qs = qs.filter(source__in=sources)
    return qs


def heat_cells(actor: Actor, *, start: datetime, end: datetime, cell_m: float,
               categories: list[str] | None = None, sources: list[str] | None = None) -> list[Cell]:
    """Return the non-empty cells of the period, the fullest first (then west to east, south to north)."""
    # only points where EPSG:4549 means something (a report from the other side of the earth, kept in
    # triage, would make ST_Transform fail: "Point outside of projection domain")
    qs = counted(actor, categories=categories, sources=sources).filter(
        created_at__gte=start, created_at__lt=end, location__isnull=False,
        location__coveredby=Polygon.from_bbox(metric_domain()))
    rows = (qs.annotate(cell=SnapToGrid(Transform("location", METRIC_SRID), cell_m))
            .values("cell", "category__code", "grid__code", "grid__name").annotate(n=Count("id")).order_by())
    per_cell: dict[tuple[float, float], dict] = defaultdict(lambda: {"categories": Counter(), "grids": Counter()})
    for row in rows:
        key = (round(row["cell"].x, 3), round(row["cell"].y, 3))
        per_cell[key]["categories"][row["category__code"]] += row["n"]
        if row["grid__code"]:
            per_cell[key]["grids"][(row["grid__code"], row["grid__name"])] += row["n"]
    if not per_cell:
        return []
    keys = list(per_cell)
    lons, lats = from_metric(np.array([k[0] for k in keys]), np.array([k[1] for k in keys]))
    cells = []
    for (x, y), lon, lat in zip(keys, lons.tolist(), lats.tolist(), strict=True):
        found = per_cell[(x, y)]
        grid = max(found["grids"], key=lambda g: (found["grids"][g], g[0])) if found["grids"] else (None, None)
        cells.append(Cell(x, y, lon, lat, sum(found["categories"].values()), dict(found["categories"]), *grid))
    cells.sort(key=lambda c: (-c.count, c.x, c.y))
    return cells


def _bucket_starts(start: datetime, end: datetime, bucket: str) -> list[datetime]:
    """Return the local starts of every bucket that overlaps [start, end)."""
    tz = timezone.get_current_timezone()
    first = timezone.localtime(start, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    step = timedelta(days=7 if bucket == "week" else 1)
    out, day = [], first.replace(tzinfo=None)
    while True:
        moment = timezone.make_aware(day, tz)
        if moment >= end:
            return out
        out.append(moment)
        day += step


def trend(actor: Actor, *, start: datetime, end: datetime, bucket: str,
          categories: list[str] | None = None, sources: list[str] | None = None) -> list[dict]:
    """Return per bucket: its local start, incidents reported, closed, and reported per category."""
    trunc = BUCKETS[bucket]
    tz = timezone.get_current_timezone()
    qs = counted(actor, categories=categories, sources=sources)
    reported = (qs.filter(created_at__gte=start, created_at__lt=end).annotate(b=trunc("created_at", tzinfo=tz))
                .values("b", "category__code").annotate(n=Count("id")).order_by())
    closing = qs.filter(state=Incident.State.CLOSED, closed_at__gte=start, closed_at__lt=end)
    closed = closing.annotate(b=trunc("closed_at", tzinfo=tz)).values("b").annotate(n=Count("id")).order_by()
    series = {b: {"start": b, "reported": 0, "closed": 0, "categories": {}} for b in _bucket_starts(start, end, bucket)}
    for row in reported:
        entry = series.get(row["b"])
        if entry is not None:
            entry["reported"] += row["n"]
            entry["categories"][row["category__code"]] = row["n"]
    for row in closed:
        entry = series.get(row["b"])
        if entry is not None:
            entry["closed"] += row["n"]
    return list(series.values())
