"""Benchmark: locate random points in the Gongdao grids, three ways, in one run.

  .venv/bin/python bench/locate_bench.py [--points 1000000] [--db-chunk 100000]

1. the locator (gis_core.locator.PolygonIndex through grids.locator.locate_many): as intake calls it
   (nearest grid and near-edge flag), with the nearest grid only, and the covering grid only;
2. geopandas ``sjoin(predicate="covered_by")`` plus the smallest-code rule (the same answers);
3. PostGIS: the set-based reference query of the tests (tests/grids/postgis_locator.py: ST_Covers per
   point, GiST index), chunked.
The three compared answer the same question (the covering grid); prints points/second for each and
checks that they agree. Needs the demo data loaded
(``make run`` once, or ``.venv/bin/python manage.py load_demo_data``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")

import django  # noqa: E402

django.setup()

import geopandas as gpd  # noqa: E402
import shapely  # noqa: E402

from gis_core.locator import PolygonIndex  # noqa: E402
from grids import locator  # noqa: E402
from grids.models import BoundaryGeneration, Grid  # noqa: E402
from tests.grids.postgis_locator import locate_many_in_db  # noqa: E402


def random_points(grids, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return n uniform random points over the grids' bounding box padded by about 1 km."""
    x0, y0, x1, y1 = shapely.total_bounds([shapely.from_wkb(bytes(g.boundary.wkb)) for g in grids])
    rng = np.random.default_rng(seed)
    return rng.uniform(x0 - 0.01, x1 + 0.01, n), rng.uniform(y0 - 0.01, y1 + 0.01, n)


def timed(label: str, n: int, fn):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<38} {seconds:8.2f} s   {n / seconds:>12,.0f} points/s")
    return result, n / seconds


def geopandas_locate(grids, lons, lats) -> np.ndarray:
    """Return the comprehensive grid id per point with sjoin + the smallest-code rule (-1 outside)."""
    comp = [g for g in grids if g.kind == "comprehensive"]
    polys = gpd.GeoDataFrame({"grid_id": [g.pk for g in comp], "code": [g.code for g in comp]},
                             geometry=[shapely.from_wkb(bytes(g.boundary.wkb)) for g in comp], crs=4326)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs=4326)
    joined = gpd.sjoin(pts, polys, predicate="covered_by", how="inner")
    first = joined.sort_values("code").groupby(level=0)["grid_id"].first()
    out = np.full(len(lons), -1, dtype=np.int64)
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--db-chunk", type=int, default=100_000)
    args = parser.parse_args()

    generation = BoundaryGeneration.objects.get(town__code="321003100", status="active")
    grids = list(Grid.objects.filter(generation=generation))
    lons, lats = random_points(grids, args.points)
    print(f"{args.points:,} random points, {len(grids)} grids, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")

    start = time.perf_counter()
    PolygonIndex(locator.features_of(grids))
    print(f"{'in-process index build':<38} {time.perf_counter() - start:8.2f} s")
    locator.locate_many(lons[:1], lats[:1], generation=generation)  # builds the cached index

    def located(**options):
        return locator.locate_many(lons, lats, generation=generation, **options).found

    timed("in-process, nearest grid + near edge", args.points, located)
    timed("in-process, with nearest grid outside", args.points, lambda: located(near_edge=False))
    fast, fast_rate = timed("in-process, covering grid only", args.points,
                            lambda: located(nearest=False, near_edge=False))

    def postgis():
        parts = [locate_many_in_db(lons[i:i + args.db_chunk], lats[i:i + args.db_chunk], [generation.pk],
                                   nearest=False).grid_id
                 for i in range(0, args.points, args.db_chunk)]
        return np.concatenate(parts)

    gp, gp_rate = timed("geopandas sjoin(covered_by) + rule", args.points, lambda: geopandas_locate(grids, lons, lats))
    db, db_rate = timed("PostGIS join (ST_Covers, GiST)", args.points, postgis)

    agree_db = int((db == fast.grid_id).sum())
    agree_gp = int((gp == fast.grid_id).sum())
    print(f"agreement with in-process: PostGIS {agree_db:,}/{args.points:,}, geopandas {agree_gp:,}/{args.points:,}")
    print(f"in-process vs geopandas: {fast_rate / gp_rate:.1f}x;  vs PostGIS: {fast_rate / db_rate:.1f}x")
    if agree_db != args.points or agree_gp != args.points:
        sys.exit("the locators disagree")


if __name__ == "__main__":
    main()
