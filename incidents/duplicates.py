"""Possible duplicates: a new incident of the same category within 50 m and 72 h of an earlier open one.

Set-based for a whole intake batch, before it is stored, so the flag goes in with the row (no
UPDATE of rows just written): one query fetches the stored candidates (open, same categories, the
time window, the batch's bounding box grown by the radius), the batch's own earlier incidents are
candidates too, and a shapely STRtree in EPSG:4549 pairs points within 50 m. A spatial join per
row in SQL was tried first: the planner combined the location index with the category or time
index and spent milliseconds a row.

Only points where metric work is meaningful (``gis_core.coords.in_metric_domain``: China) are
compared: a report from the other side of the earth is triage ("outside_town") anyway, and the
Gauss-Kruger projection is undefined for some of them (lon 30 at the equator), which must never fail
an intake. The projection itself never raises (``to_metric``: NaN for a point it cannot take).
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import shapely
from django.db import connection

from gis_core.coords import in_metric_domain, to_metric
from incidents import rules
from incidents.models import Incident

RADIUS_M = 50.0
WINDOW = timedelta(hours=72)
METRES_PER_DEGREE = 111_000.0  # of latitude, a little less than the least there is (110,574 m at the equator)


def _pads(lats: np.ndarray) -> tuple[float, float]:
    """Return (longitude, latitude) degrees that span at least RADIUS_M (plus 10 %) around every one
    of these latitudes: the box the stored candidates are fetched from is no wider than it must be
    (its area is what the query's cost grows with, on a town dense with open incidents)."""
    reach = 1.1 * RADIUS_M / METRES_PER_DEGREE
    widest = float(np.max(np.abs(lats))) + reach
    return reach / max(np.cos(np.radians(min(widest, 89.0))), 1e-6), reach


def _metric(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Return EPSG:4549 shapely points; None where the projection cannot take a point (the tree and
    its queries skip None)."""
    x, y = to_metric(lons, lats)
    points = shapely.points(x, y)
    points[~(np.isfinite(x) & np.isfinite(y))] = None
    return points


def _stored_candidates(new: list[Incident], lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Return rows (id, category id, created epoch seconds, lon, lat) of the stored open incidents
    that could be duplicated by ``new``: inside the time window and the grown box.

    Raw SQL returning plain numbers: a batch compares with every open incident of the last 72 hours,
    and building a GEOS point per candidate row through the ORM costs more than the whole comparison.
    """
    pad_x, pad_y = _pads(lats)
    box = [float(v) for v in (lons.min() - pad_x, lats.min() - pad_y, lons.max() + pad_x, lats.max() + pad_y)]
    # The location index must do the work alone. A prepared (generic) plan cannot know how small
    # the box is and ANDs in the created_at index (every incident of the last 72 hours), and even a
    # fresh plan ANDs in the category index (a ninth of all incidents), each far slower than the
    # location index alone. So the query is planned each time and has no category condition;
    # categories (and the exact time window) are compared in memory.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, category_id, extract(epoch FROM created_at)::float8, ST_X(location), ST_Y(location) "
            "FROM incidents_incident WHERE state = ANY(%(states)s) "
            "AND location && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326) "
            "AND created_at BETWEEN %(start)s AND %(end)s",
            {"states": sorted(rules.OPEN), **dict(zip(("x0", "y0", "x1", "y1"), box, strict=True)),
             "start": min(i.created_at for i in new) - WINDOW, "end": max(i.created_at for i in new)})
        return np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 5)


def find_possible_duplicates(new: list[Incident], lons: np.ndarray, lats: np.ndarray) -> dict[int, int]:
    """Return {id: id of the nearest earlier open incident of the same category within 50 m and
    72 h} for the new, not yet stored incidents at these WGS84 points that have one (ids from the
    sequence, so a lower id is an earlier report; the batch's own earlier incidents count)."""
    inside = in_metric_domain(lons, lats)
    if not inside.all():
        new, lons, lats = [i for i, keep in zip(new, inside.tolist(), strict=True) if keep], lons[inside], lats[inside]
    if not new:
        return {}
    own = np.column_stack([[i.pk for i in new], [i.category_id for i in new],
                           [i.created_at.timestamp() for i in new], lons, lats]).astype(np.float64)
    stored = _stored_candidates(new, lons, lats)
    # only a candidate of one of the new incidents' categories can pair: the others go before the
    # projection, and a lone report with none left (the common case) is answered without projecting
    stored = stored[np.isin(stored[:, 1], own[:, 1])]
    if len(stored) == 0 and len(new) == 1:
        return {}
    candidates = np.vstack([stored, own])  # the new incidents last, as they are
    ids, cats, created = candidates[:, 0].astype(np.int64), candidates[:, 1].astype(np.int64), candidates[:, 2]
    metric = _metric(candidates[:, 3], candidates[:, 4])  # one projection for both sides
    tree, points = shapely.STRtree(metric), metric[-len(new):]
    n_idx, c_idx = tree.query(points, predicate="dwithin", distance=RADIUS_M)
    new_ids, new_cats, new_created = ids[-len(new):], cats[-len(new):], created[-len(new):]
    keep = ((cats[c_idx] == new_cats[n_idx]) & (ids[c_idx] < new_ids[n_idx])
            & (created[c_idx] >= new_created[n_idx] - WINDOW.total_seconds()) & (created[c_idx] <= new_created[n_idx]))
    n_idx, c_idx = n_idx[keep], c_idx[keep]
    distance = shapely.distance(points[n_idx], tree.geometries[c_idx])
    order = np.lexsort((ids[c_idx], distance, n_idx))  # per new incident: nearest, then lowest id
    n_sorted = n_idx[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = n_sorted[1:] != n_sorted[:-1]
    return {int(new_ids[n]): int(ids[c]) for n, c in zip(n_sorted[first], c_idx[order][first], strict=True)}
