"""Benchmark: `manage.py import_history` of a generated 12345 export (CSV), rows per second.

  .venv/bin/python bench/history_bench.py [--rows 1000000] [--db gridops_history_bench] [--keep] [--stores 1,2]

Builds its own database (migrations, the Gongdao data set, `build_city --towns 10 --incidents 0`), writes
a CSV of --rows records at random points of the active towns (a tenth in GCJ-02, a tenth in EPSG:4549,
received over the last three years, 90 % closed, 5 % dispatched, 5 % received, 1 in 1,000 with a bad
date so the errors file is exercised), then times the import, and a second run of the same file (all
skipped: idempotency), once per --stores value on a fresh copy of the database. Prints the figures for
bench/README.md.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
PG_SOCKET = os.environ.get("GRIDOPS_PGHOST", str(ROOT / "var" / "pg" / "run"))
HEADER = ["工单编号", "类别", "标题", "地址", "经度", "纬度", "坐标系", "受理时间", "派遣时间", "结案时间", "状态"]
CATEGORIES = ["illegal_construction", "environment_sanitation", "public_security", "roads_facilities",
              "neighbour_dispute", "rental_housing", "work_safety", "other"]


def manage(db: str, *command: str) -> float:
    env = dict(os.environ, GRIDOPS_DB_NAME=db, DJANGO_SETTINGS_MODULE="gridops.settings.dev")
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=False)
    return time.monotonic() - started


def write_export(db: str, path: Path, n: int) -> None:
    os.environ.update(GRIDOPS_DB_NAME=db, DJANGO_SETTINGS_MODULE="gridops.settings.dev")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from gis_core.coords import from_wgs84_array, wgs84_to_gcj02_array
    from grids.models import Town

    towns = shapely.union_all([shapely.from_wkb(bytes(t.boundary.wkb)) for t in Town.objects.all()])
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = towns.bounds
    lon, lat = rng.uniform(x0, x1, 3 * n), rng.uniform(y0, y1, 3 * n)
    keep = shapely.contains_xy(towns, lon, lat)
    lon, lat = lon[keep][:n], lat[keep][:n]
    if len(lon) < n:
        raise SystemExit("not enough points inside the towns")
    glon, glat = wgs84_to_gcj02_array(lon, lat)
    mx, my = from_wgs84_array(lon, lat, "EPSG:4549")
    now = time.time()
    received = now - rng.uniform(3600, 3 * 365 * 86400, n)
    kind, fate = rng.random(n), rng.random(n)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for i in range(n):
            x, y, crs = (glon[i], glat[i], "GCJ02") if kind[i] < 0.1 else (
                (mx[i], my[i], "EPSG:4549") if kind[i] < 0.2 else (lon[i], lat[i], "EPSG:4326"))
            t = received[i]
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
            dispatched = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t + 600))
            closed = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(min(t + 86400, now - 60)))
            state = "closed" if fate[i] < 0.9 else ("dispatched" if fate[i] < 0.95 else "received")
            if i % 1000 == 999:
                stamp = "not a date"
            out.writerow([f"12345-{i:08d}", CATEGORIES[i % len(CATEGORIES)], "市民来电反映问题", "某路某号",
                          *((f"{x:.2f}", f"{y:.2f}") if crs == "EPSG:4549" else (f"{x:.7f}", f"{y:.7f}")),
                          crs, stamp, dispatched if state != "received" else "", closed if state == "closed" else "",
                          state])


def psql(db: str, sql: str) -> None:
    subprocess.run(["psql", "-h", PG_SOCKET, "-U", "postgres", "-d", db, "-qc", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default="gridops_history_bench")
    parser.add_argument("--keep", action="store_true", help="reuse the database and the CSV when they are there")
    parser.add_argument("--stores", default="2", help="import_history --stores values to compare, each on a fresh "
                                                      "copy of the same database (e.g. 1,2: the baseline beside)")
    args = parser.parse_args()
    path = ROOT / "var" / f"history-{args.rows}.csv"
    base = f"{args.db}_base"  # the empty city, copied for each run (CREATE DATABASE ... TEMPLATE)
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=dict(os.environ, GRIDOPS_DB_NAME=base), check=True)
    if not args.keep:
        psql("postgres", f"DROP DATABASE IF EXISTS {base} WITH (FORCE)")
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=dict(os.environ, GRIDOPS_DB_NAME=base),
                       check=True)
        for command in (["migrate", "--noinput", "-v", "0"], ["load_demo_data"],
                        ["build_city", "--towns", "10", "--incidents", "0"]):
            manage(base, *command)
    if not (args.keep and path.exists()):
        write_export(base, path, args.rows)
        from django.db import connections

        connections.close_all()  # a template must have no session
    for stores in [int(v) for v in args.stores.split(",")]:
        psql("postgres", f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {args.db} TEMPLATE {base}")
        first = manage(args.db, "import_history", str(path), "--stores", str(stores))
        again = manage(args.db, "import_history", str(path), "--stores", str(stores))
        print(f"import of {args.rows:,} rows, --stores {stores}: {first:,.0f} s ({args.rows / first:,.0f} rows/s); "
              f"the same file again (nothing new): {again:,.0f} s; load averages {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
