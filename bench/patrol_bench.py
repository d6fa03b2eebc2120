"""Benchmark: patrol track ingest (issue 14) at Gongdao's rate: 45 grid workers, a point every 10 s, an
8-hour day, each phone sending its points once a minute (6 per batch).

  DJANGO_ENV=development .venv/bin/python bench/patrol_bench.py [--workers 45] [--hours 8] [--batch-s 60]

On the dev database (`make run` once, or `manage.py load_demo_data`); the patrols it makes are deleted
at the end. Through the API in process (DRF's test client: routing, authentication, validation, the
view, the service and its flags; no HTTP socket), batch by batch as the phones would send them; the
baseline is the same points written with one bulk insert per batch (no validation, no flags, no
re-send check), measured in the same run. Then each worker's day figures (``patrols.figures``).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
import django  # noqa: E402

django.setup()
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from pyproj import Transformer  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from gis_core.srid import METRIC_SRID  # noqa: E402
from grids.models import Grid, Person  # noqa: E402
from patrols.figures import day_figures  # noqa: E402
from patrols.models import Patrol, TrackPoint  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


def walkers(n: int) -> list[tuple[Person, Point]]:
    """The first ``n`` people on a comprehensive grid's team, each with a start point in their grid (EPSG:4549)."""
    out, seen = [], set()
    for grid in Grid.objects.active().filter(kind="comprehensive").order_by("code"):
        for membership in grid.team.memberships.select_related("person").order_by("pk"):
            if membership.person_id in seen:
                continue
            seen.add(membership.person_id)
            out.append((membership.person, grid.boundary.point_on_surface.transform(METRIC_SRID, clone=True)))
            break
        if len(out) == n:
            break
    return out


TO_WGS84 = Transformer.from_crs(METRIC_SRID, 4326, always_xy=True)  # once: GDAL's per-point transform costs ~25 ms


def points_of(origin: Point, n0: int, count: int, day0: datetime) -> list[dict]:
    """A slow loop around the start point: 1.2 m/s, a point every 10 s."""
    out = []
    for n in range(n0, n0 + count):
        step = n % 240  # back and forth along 120 steps
        east = (step if step < 120 else 240 - step) * 12.0
        lon, lat = TO_WGS84.transform(origin.x + east - 700, origin.y + (n // 240 % 5) * 30)
        out.append({"lon": round(lon, 7), "lat": round(lat, 7), "t": (day0 + timedelta(seconds=10 * n)).isoformat(),
                    "accuracy": 6 + (n % 7)})
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=45)
    parser.add_argument("--hours", type=float, default=8)
    parser.add_argument("--batch-s", type=int, default=60)
    args = parser.parse_args()
    people = walkers(args.workers)
    per_batch = args.batch_s // 10
    batches = int(args.hours * 3600 / args.batch_s)
    day0 = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1) + timedelta(hours=8)
    run = uuid.uuid4().hex[:8]
    Patrol.objects.filter(key__startswith="bench-").delete()  # what an interrupted run left
    clients, patrols = [], []
    for person, _ in people:
        user = person.user or User.objects.create_user(f"bench-patrol-{run}-{person.pk}")
        if person.user_id is None:
            person.user = user
            person.save(update_fields=["user"])
        api = APIClient(HTTP_HOST="127.0.0.1")
        api.force_authenticate(user)
        answer = api.post("/api/patrols/", {"key": f"bench-{run}-{person.pk}"}, format="json")
        assert answer.status_code == 201, answer.content
        Patrol.objects.filter(pk=answer.json()["id"]).update(started_at=day0)
        clients.append(api)
        patrols.append(answer.json()["id"])
    try:
        api_ms, base_ms = [], []
        base_patrols = [Patrol.objects.create(person=p, key=f"bench-base-{run}-{p.pk}", started_at=day0,
                                              ended_at=day0 + timedelta(hours=args.hours)) for p, _ in people]
        t_api = t_base = 0.0
        for b in range(batches):
            for (_person, origin), api, patrol, base in zip(people, clients, patrols, base_patrols, strict=True):
                pts = points_of(origin, b * per_batch, per_batch, day0)
                t = time.perf_counter()
                answer = api.post(f"/api/patrols/{patrol}/points/", {"points": pts}, format="json")
                elapsed = time.perf_counter() - t
                assert answer.status_code == 200 and answer.json()["stored"] == per_batch, answer.content
                api_ms.append(elapsed * 1000)
                t_api += elapsed
                t = time.perf_counter()
                TrackPoint.objects.bulk_create([TrackPoint(
                    patrol=base, recorded_at=datetime.fromisoformat(p["t"]),
                    location=Point(p["lon"], p["lat"], srid=4326), accuracy_m=p["accuracy"]) for p in pts])
                elapsed = time.perf_counter() - t
                base_ms.append(elapsed * 1000)
                t_base += elapsed
        for api, patrol in zip(clients, patrols, strict=True):
            api.post(f"/api/patrols/{patrol}/end/")
        Patrol.objects.filter(pk__in=patrols).update(ended_at=day0 + timedelta(hours=args.hours))
        points = len(api_ms) * per_batch
        Patrol.objects.filter(pk__in=[b.pk for b in base_patrols]).delete()  # the figures read the API's points
        day_ms, presence = [], []
        for person, _ in people:
            t = time.perf_counter()
            figures = day_figures(person.pk, day0.date())
            day_ms.append((time.perf_counter() - t) * 1000)
            presence.append(figures.presence)
        print(f"# patrol ingest, {platform.node()}, {os.cpu_count()} cores, {len(people)} workers, "
              f"{args.hours:g} h, a point every 10 s, a batch every {args.batch_s} s")
        print(f"points: {points:,} in {len(api_ms):,} batches")
        print(f"API batch (in process): p50 {statistics.median(api_ms):.2f} ms, p95 {pct(api_ms, .95):.2f} ms, "
              f"total {t_api:.1f} s, {points / t_api:,.0f} points/s")
        print(f"baseline bulk insert:   p50 {statistics.median(base_ms):.2f} ms, p95 {pct(base_ms, .95):.2f} ms, "
              f"total {t_base:.1f} s, {points / t_base:,.0f} points/s")
        print(f"a day's load at this rate: {t_api / (args.hours * 3600) * 100:.3f}% of one core")
        print(f"day figures per worker ({len(day_ms)}): p50 {statistics.median(day_ms):.1f} ms, "
              f"p95 {pct(day_ms, .95):.1f} ms; presence mean {statistics.mean(presence):.3f}")
    finally:
        Patrol.objects.filter(key__startswith="bench-").filter(key__contains=run).delete()


if __name__ == "__main__":
    main()
