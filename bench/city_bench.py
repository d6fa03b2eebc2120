"""Benchmark: every read the pages and the API make, on the simulated city, over HTTP, cold and warm.

  .venv/bin/python bench/city_bench.py --incidents 1000000 [--reuse-db] [--towns 100] [--seed 12]
        [--until 2026-12-01] [--runs 20] [--cold-runs 3] [--workers 2] [--intake-seconds 30] [--no-readme]

Database: ``gridops_city_<N>`` in the project-local cluster, built as `make run` builds the dev one
(migrations, the Gongdao data set) plus ``manage.py build_city --incidents N``, then VACUUM ANALYZE;
``--reuse-db`` keeps it when it is there (a build at 1M takes about 15 minutes on the 2-core machine).
Server: ``manage.py serve`` (uvicorn, --workers processes, DEBUG off, as `make run`), started here
(bench/intake_bench.py's ``server``), with real knox tokens for the operator, the town leader and a grid
leader of the city's busiest grid.

Every read is one row of READS below (the one table to edit when the pages' requests change: after the
rollups and the new map, add their URLs there). A row is one request, or a page load: ``paged:`` follows
the keyset pages (``before=``) as the command centre's store.js does until the last page.
Warm: each read --warmups times (2) to warm up, then --runs times in turn; p50/p95 of the wall time per read.
Cold: --cold-runs rounds, each after restarting the project's PostgreSQL (scripts/pg.sh stop/start),
dropping the OS page cache when this user may (/proc/sys/vm/drop_caches; the report says whether it
could) and restarting the server; in each round every read once, in a shuffled order, so "cold" is the
first request of that read after the restart (earlier reads of the round may have warmed shared pages).
Intake: single reports at --rate/s for --intake-seconds with the city's rows present (intake_bench's
run_single: latency from the due time); the reports stay in the database (a few thousand rows).
The table goes to the END of bench/README.md, between city-bench markers.
"""
from __future__ import annotations

import argparse
import gc
import gzip
import http.client as http_client
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OPEN = ["reported", "registered", "dispatched", "in_progress", "handled", "verified"]  # rules.OPEN, for the URLs
MARK_START, MARK_END = "<!-- city-bench:start -->", "<!-- city-bench:end -->"
README = ROOT / "bench" / "README.md"
PG_SOCKET = os.environ.get("GRIDOPS_PGHOST", str(ROOT / "var" / "pg" / "run"))


def open_states() -> str:
    return "&".join(f"state={s}" for s in OPEN)


def urgent_page() -> str:
    """The phone's first load (web/static/web/store.js loadUrgent): the 200 most urgent open incidents."""
    return "/api/incidents/?" + "&".join(f"state={s}" for s in OPEN) + "&order=due&page_size=200"


PAGE_HEAT = "layout=cells&hotspots=10"  # the review page's heatmap: every cell as [lon, lat, count], ten as features


def reads(p: dict) -> list[tuple[str, str, list[str]]]:
    """The reads: (name, who, [request, ...]); ``p`` holds the period, an incident id, a grid code."""
    year, month, quarter = p["year"], p["month"], p["quarter"]
    return [
        ("heatmap 250 m, a year", "leader", [f"/api/review/heatmap/?cell=250&{year}"]),
        ("heatmap 500 m, a year", "leader", [f"/api/review/heatmap/?cell=500&{year}"]),
        ("heatmap 1 km, a year", "leader", [f"/api/review/heatmap/?cell=1000&{year}"]),
        ("heatmap 5 km, a year", "leader", [f"/api/review/heatmap/?cell=5000&{year}"]),
        ("hotspots (250 m, >= 3), a year", "leader", [f"/api/review/heatmap/?cell=250&min_count=3&{year}"]),
        # the review page's default period (30 days) with the map showing the whole city
        ("heatmap 250 m, 30 days", "leader", [f"/api/review/heatmap/?cell=250&{p['days30']}"]),
        # as the review page asks (web/static/web/review.js): the cells of its view (a town's, or the whole
        # city's with the page's margin) in the cells layout with its ten hotspots
        ("heatmap 250 m, a year, a town's view", "leader",
         [f"/api/review/heatmap/?cell=250&bbox={p['bbox']}&{year}&{PAGE_HEAT}"]),
        ("heatmap 1 km, a year, a town's view", "leader",
         [f"/api/review/heatmap/?cell=1000&bbox={p['bbox']}&{year}&{PAGE_HEAT}"]),
        ("heatmap 250 m, a year, the city's view", "leader",
         [f"/api/review/heatmap/?cell=250&bbox={p['city_view']}&{year}&{PAGE_HEAT}"]),
        ("heatmap 250 m, 30 days, the city's view", "leader",
         [f"/api/review/heatmap/?cell=250&bbox={p['city_view']}&{p['days30']}&{PAGE_HEAT}"]),
        ("trend by day, 92 days", "leader", [f"/api/review/trend/?bucket=day&{quarter}"]),
        ("trend by week, a year", "leader", [f"/api/review/trend/?bucket=week&{year}"]),
        ("stats (command centre)", "operator", ["/api/incidents/stats/"]),
        ("assessment per grid, a month", "leader", [f"/api/assessment/?group=grid&{month}"]),
        ("assessment per person, a month", "leader", [f"/api/assessment/?group=person&{month}"]),
        ("assessment per village, a month", "leader", [f"/api/assessment/?group=village&{month}"]),
        # the monthly assessment (考核) of the last whole month: every day of it full of the city's incidents
        ("assessment per grid, last month", "leader", [f"/api/assessment/?group=grid&{p['last_month']}"]),
        ("assessment per person, last month", "leader", [f"/api/assessment/?group=person&{p['last_month']}"]),
        ("incident list, first page", "operator", ["/api/incidents/"]),
        ("incident list, overdue", "operator", ["/api/incidents/?overdue=true"]),
        ("incident detail (+ events, context)", "operator", [f"/api/incidents/{p['incident']}/",
                                                              f"/api/incidents/{p['incident']}/events/",
                                                              f"/api/incidents/{p['incident']}/context/"]),
        # the command centre's first view as web/static/web/command.js, feed.js and layers.js ask for it:
        # who, the categories, the counts, the towns, the incidents of the view (counts per town or
        # village when zoomed out, capped features when zoomed in) and the list's first page
        ("command centre first view, city zoom", "operator", [
            "/api/me/", "/api/categories/", "/api/incidents/stats/", "/api/towns/",
            f"/api/incidents/view/?bbox={p['city_bbox']}&zoom=9&limit=500&{open_states()}",
            f"/api/incidents/?page_size=50&{open_states()}&triage=false&before=9007199254740991"]),
        ("command centre first view, town zoom", "operator", [
            "/api/me/", "/api/categories/", "/api/incidents/stats/", "/api/towns/",
            f"/api/villages/?page_size=500&in_bbox={p['bbox']}",
            f"/api/grids/?kind=comprehensive&page_size=500&in_bbox={p['bbox']}",
            f"/api/incidents/view/?bbox={p['bbox']}&zoom=12&limit=500&{open_states()}",
            f"/api/incidents/?page_size=50&{open_states()}&triage=false&before=9007199254740991"]),
        # the phone (web/static/web/my.js, store.js loadUrgent): who, the own grid, the most urgent open incidents
        ("grid leader inbox", "gridleader", ["/api/me/", f"/api/grids/{p['grid']}/", urgent_page()]),
        ("grid leader heatmap 250 m, a year", "gridleader", [f"/api/review/heatmap/?cell=250&{year}"]),
        ("grid leader assessment per person, a month", "gridleader", [f"/api/assessment/?group=person&{month}"]),
    ]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--towns", type=int, default=100)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--until", default="2026-12-01", help="the end of the city's three years (fixed: the "
                                                               "same database for every rerun)")
    parser.add_argument("--reuse-db", action="store_true", help="keep gridops_city_<N> when it exists")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--resume", action="store_true", help="reuse the cold rounds saved by an earlier run")
    parser.add_argument("--warmups", type=int, default=2, help="runs of every read before the warm ones")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--intake-seconds", type=float, default=30.0)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--bulk", action="store_true", help="build with `build_city --bulk` (the triggers off, "
                        "the rollups computed once at the end)")
    parser.add_argument("--ahead-only", action="store_true",
                        help="sum the heatmaps kept ahead, read the whole city's in process from them and "
                             "without, stop")
    parser.add_argument("--build-only", action="store_true", help="build gridops_city_<N>, print the time, stop "
                        "(a 10M build runs apart from the reads, which a later --reuse-db run measures)")
    return parser.parse_args()


def psql(db: str, sql: str) -> str:
    return subprocess.run(["psql", "-h", PG_SOCKET, "-U", "postgres", "-d", db, "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def ensure_database(args, db: str) -> float | None:
    """Build the bench database unless it is there and --reuse-db; return the build time (None: reused)."""
    env = dict(os.environ, GRIDOPS_DB_NAME=db, DJANGO_SETTINGS_MODULE="gridops.settings.dev")
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    built = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1" and psql(
        db, "SELECT count(*) > 0 FROM pg_tables WHERE tablename = 'incidents_incident'") == "t"
    if args.reuse_db and built:
        return None
    psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo_data"],
                    ["build_city", "--towns", str(args.towns), "--incidents", str(args.incidents),
                     "--seed", str(args.seed), "--until", args.until, *(["--bulk"] if args.bulk else [])]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True)
    psql(db, "VACUUM ANALYZE")
    return time.monotonic() - started


def restart_postgres(db: str) -> bool:
    """Restart the project's cluster; drop the OS page cache if allowed. Return whether it was dropped."""
    env = dict(os.environ, GRIDOPS_DB_NAME=db)
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "stop"], env=env, check=True, stdout=subprocess.DEVNULL)
    dropped = False
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        dropped = True
    except OSError:
        pass
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    return dropped


def period(start, end) -> str:
    return urlencode({"start": start.isoformat(), "end": end.isoformat()})


def setup_django(db: str):
    os.environ["GRIDOPS_DB_NAME"] = db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django

    django.setup()


def actors_and_params() -> tuple[dict[str, str], dict]:
    """Tokens for the readers (and the hotline client), and the parameters of the URLs."""
    from django.contrib.auth.models import Group, User
    from django.contrib.gis.db.models import Extent
    from django.db import connection
    from django.utils import timezone

    from core.authentication import issue_token
    from grids.models import Grid, Town

    with connection.cursor() as cursor:  # the busiest comprehensive grid of the simulated city
        cursor.execute("SELECT grid_id FROM incidents_incident WHERE external_id LIKE 'city-%%' "
                       "GROUP BY grid_id ORDER BY count(*) DESC LIMIT 1")
        busiest = Grid.objects.select_related("team__leader", "generation__town").get(pk=cursor.fetchone()[0])
        cursor.execute("SELECT max(id) FROM incidents_incident WHERE external_id LIKE 'city-%%'")
        incident = cursor.fetchone()[0]
    leader, _ = User.objects.get_or_create(username="bench-city-gridleader")
    leader.groups.add(Group.objects.get(name="grid_leader"))
    person = busiest.team.leader
    if person.user_id != leader.pk:
        type(person).objects.filter(user=leader).update(user=None)
        person.user = leader
        person.save(update_fields=["user"])
    tokens = {"gridleader": issue_token(leader)[1]}
    for name in ("operator", "leader", "hotline"):
        tokens[name] = issue_token(User.objects.get(username=name))[1]
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    town: Town = busiest.generation.town
    x0, y0, x1, y1 = town.boundary.extent
    city = Town.objects.aggregate(e=Extent("boundary"))["e"]
    params = {"year": period(today - timedelta(days=365), today), "quarter": period(today - timedelta(days=92), today),
              "month": period(today.replace(day=1), today), "incident": incident,
              "days30": period(now - timedelta(days=30), now),
              "last_month": period((today.replace(day=1) - timedelta(days=1)).replace(day=1), today.replace(day=1)),
              "bbox": f"{x0:.5f},{y0:.5f},{x1:.5f},{y1:.5f}", "grid": busiest.code,
              "city_bbox": "{:.5f},{:.5f},{:.5f},{:.5f}".format(*city)}
    w, s, e, n = city  # the review page's view of the whole city: its margin is half the view each side
    params["city_view"] = f"{w - (e - w) / 2:.5f},{s - (n - s) / 2:.5f},{e + (e - w) / 2:.5f},{n + (n - s) / 2:.5f}"
    return tokens, params


def heat_ahead_figures(runs: int = 3) -> list[str]:
    """Sum the heatmaps kept ahead as the beat job does (timed), then read the whole city's heatmaps in
    process from them and, the same-run baseline, from the rollups alone (``ahead=False``): report lines."""
    from django.utils import timezone

    from core.actors import Actor
    from incidents.hotspots import heat_map, refresh_heat_ahead, refresh_heat_live

    gc.freeze()  # as a server process does after start-up (gridops/asgi.py): its heap out of every collection
    started = time.monotonic()
    made = refresh_heat_ahead(force=True)
    summed = time.monotonic() - started
    started = time.monotonic()
    live = refresh_heat_live()  # as the beat job does every 5 minutes (the reads below are minutes later)
    live_summed = time.monotonic() - started
    everyone = Actor.system("bench")
    now = timezone.now()
    lines = [f"Heatmaps kept ahead (`manage.py refresh_heatmaps --force`, as the beat job): {len(made)} daily runs, "
             f"{sum(r.cells for r in made):,} cells, summed in {summed:,.1f} s; then {len(live)} live runs (the N "
             f"days ending now and the N days to tonight), {sum(r.cells for r in live):,} cells, summed in "
             f"{live_summed:,.1f} s. "
             f"The whole city's heatmap in process, best / worst of {runs} runs, from the runs beside the rollups "
             "alone (same run):", "",
             "| read | from the runs ms | rollups alone ms | cells |", "|---|---:|---:|---:|"]
    whole = ((365, 250), (365, 1000), (365, 5000), (90, 250), (30, 250))

    def heat(ahead):
        return lambda days, cell_m: heat_map(everyone, start=now - timedelta(days=days), end=now, cell_m=cell_m,
                                             limit=20_000, ahead=ahead)
    lines += _side_by_side(runs, whole, {"runs": heat(True), "rollups": heat(False)}, lambda a: f"{a.shown:,}")
    lines += ["", f"The heatmap API's JSON in process, best / worst of {runs} runs (from the runs, capped at 20,000 "
              "cells): the features written by the database (`heat_features`) beside the Python path it replaced "
              "(`heat_map`, a dict a cell, DRF's JSON renderer), same run:", "",
              "| read | written by the database ms | Python objects ms | bytes |", "|---|---:|---:|---:|"]

    def body(how):
        return lambda days, cell_m: _api_answer(everyone, now - timedelta(days=days), now, cell_m, how)
    lines += _side_by_side(runs, whole, {"sql": body("sql"), "python": body("python")}, lambda b: f"{len(b):,}")
    # the fullest of a run read by its index by total and the touched cells (the whole city's read), beside
    # every cell of the run joined to the parts (the path of a view; here a view holding the whole city)
    from django.db import transaction

    from incidents.heat_ahead import HeatRun
    from incidents.hotspots import CellRange, heat_features
    everywhere = CellRange(-2 ** 31, 2 ** 31 - 1, -2 ** 31, 2 ** 31 - 1)
    lines += ["", f"The run's fullest 20,000 cells as JSON (`heat_features`), best / worst of {runs} runs: read by "
              "the run's index by total and the touched cells, beside all the run's cells joined to the parts "
              "(the same statement with a view holding the whole city), same run:", "",
              "| read | the fullest by the index ms | every cell joined ms | cells |", "|---|---:|---:|---:|"]

    def features(within):
        return lambda days, cell_m: heat_features(everyone, start=now - timedelta(days=days), end=now,
                                                  cell_m=cell_m, limit=20_000, within=within)
    lines += _side_by_side(runs, ((365, 250), (365, 500), (365, 1000), (90, 250), (30, 250)),
                           {"index": features(None), "joined": features(everywhere)}, lambda w: f"{w.shown:,}")
    lines += ["", f"The N days ending now as JSON (`heat_features`, capped at 20,000), best / worst of {runs} runs, "
              f"at {timezone.localtime(now):%H:%M} local time: from the live runs beside the daily runs alone (the "
              "live runs hidden in a transaction rolled back), same run:", "",
              "| read | live runs ms | daily runs ms | cells |", "|---|---:|---:|---:|"]

    def daily_only(days, cell_m):
        with transaction.atomic():
            HeatRun.objects.filter(part_start__isnull=False).delete()
            answer = features(None)(days, cell_m)
            transaction.set_rollback(True)
        return answer
    lines += _side_by_side(runs, ((30, 250), (30, 500), (90, 250), (365, 250), (365, 500)),
                           {"live": features(None), "daily": daily_only}, lambda w: f"{w.shown:,}")
    return lines


def _side_by_side(runs: int, reads, ways: dict, last) -> list[str]:
    """Time each of ``ways`` (name -> f(days, cell_m)) on each read (days, cell_m), in turns, ``runs``
    times: a table row a read with each way's best-worst ms and ``last`` of the last answer."""
    rows = []
    for days, cell_m in reads:
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(runs):
            for name, way in ways.items():
                t = time.monotonic()
                answer = way(days, cell_m)
                times[name].append((time.monotonic() - t) * 1000)
        spans = " | ".join(f"{min(v):,.0f}-{max(v):,.0f}" for v in times.values())
        rows.append(f"| {cell_m} m, {days} days | {spans} | {last(answer)} |")
    return rows


def _api_answer(actor, start, end, cell_m: int, how: str) -> bytes:
    """The heatmap API's body as it is written now (``sql``) or was before the twelfth session (``python``)."""
    from rest_framework.renderers import JSONRenderer

    from incidents.analytics_apis import MAX_HEAT_CELLS, heatmap_body
    from incidents.hotspots import METRIC_SRID, heat_geojson, heat_map

    if how == "sql":
        return heatmap_body(actor, start=start, end=end, cell_m=cell_m)
    answer = heat_map(actor, start=start, end=end, cell_m=cell_m, limit=MAX_HEAT_CELLS)
    return JSONRenderer().render({"type": "FeatureCollection", "cell_m": cell_m, "srid_cells": METRIC_SRID,
                                  "start": start, "end": end, "total": answer.total,
                                  "capped": answer.shown > MAX_HEAT_CELLS, "features": heat_geojson(answer.cells)})


def fetch(http, path: str) -> tuple[int, int]:
    """Do one request, or every page of a ``paged:`` one; return (worst status, bytes)."""
    if not path.startswith("paged:"):
        status, body = http.request("GET", path)
        return status, len(body)
    base, before, worst, size = path[len("paged:"):], 2 ** 53 - 1, 200, 0
    while True:
        status, body = http.request("GET", f"{base}&before={before}")
        worst, size = max(worst, status), size + len(body)
        if status != 200:
            return worst, size
        features = json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)["features"]
        if len(features) < 10000:
            return worst, size
        before = features[-1]["id"]


def timed(http, requests: list[str]) -> tuple[float, int, int]:
    started, worst, size = time.perf_counter(), 200, 0
    for path in requests:
        try:
            status, n = fetch(http, path)
        except (ConnectionError, http_client.HTTPException):  # a worker restarted under it: say so, go on
            status, n = 599, 0
        worst, size = max(worst, status), size + n
    return (time.perf_counter() - started) * 1000, worst, size


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def measure(args, db: str, tokens: dict, params: dict) -> tuple[dict, dict, bool, str]:
    """Return (results by read, intake figures, whether the OS cache could be dropped, server words)."""
    from django.db import connections

    import bench.intake_bench as intake_bench
    from bench.intake_bench import Http, rows, run_single, server

    ready = intake_bench.wait_ready  # a server builds the city's locator index before answering: give it time
    intake_bench.wait_ready = lambda base, proc, token: ready(base, proc, token, timeout=600)

    table = reads(params)
    results = {name: {"warm": [], "cold": [], "status": 200, "bytes": 0, "gzipped": 0} for name, _, _ in table}
    log, dropped = ROOT / "var" / "bench-city-server.log", False
    order = random.Random(7)
    saved = ROOT / "var" / "bench" / f"city-{args.incidents}-cold.json"
    if args.resume and saved.exists():  # the cold rounds of an earlier run that stopped later
        for name, cold in json.loads(saved.read_text()).items():
            if name in results:
                results[name]["cold"] = cold
        args.cold_runs = 0
    for _ in range(args.cold_runs):
        dropped = restart_postgres(db)
        with server(None, log, tokens["operator"], args.workers) as (base, served_by):
            https = {who: Http(base, token) for who, token in tokens.items()}
            for name, who, requests in order.sample(table, len(table)):
                ms, status, size = timed(https[who], requests)
                results[name]["cold"].append(ms)
                print(f"cold {name}: {ms:.0f} ms ({status}, {size:,} bytes)", flush=True)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({name: r["cold"] for name, r in results.items()}))
    connections.close_all()  # this process's own connection did not survive the restarts
    with server(None, log, tokens["operator"], args.workers) as (base, served_by):
        https = {who: Http(base, token) for who, token in tokens.items()}
        for _name, who, requests in table:
            for _ in range(args.warmups):
                timed(https[who], requests)
        for run in range(args.runs):
            for name, who, requests in table:
                ms, status, size = timed(https[who], requests)
                r = results[name]
                r["warm"].append(ms)
                r["status"], r["bytes"] = max(r["status"], status), size
                print(f"warm {name}: {ms:.0f} ms ({status}, {size:,} bytes)", flush=True)
            print(f"warm run {run + 1}/{args.runs}", flush=True)
        for name, who, requests in table:  # what goes over the wire to a browser (it accepts gzip)
            packed = Http(https[who].base, tokens[who])
            packed.headers = {**packed.headers, "Accept-Encoding": "gzip"}
            results[name]["gzipped"] = timed(packed, requests)[2]
        intake = None
        if args.intake_seconds:
            n = int(args.rate * args.intake_seconds)
            run = f"citybench-{time.strftime('%Y%m%d%H%M%S')}-"
            bodies = [json.dumps(r).encode() for r in rows(n + 50, run, seed=11)]
            hotline = https["hotline"]
            for body in bodies[:50]:
                hotline.request("POST", "/api/incidents/", body)
            lsn = psql(db, "SELECT pg_current_wal_lsn()")
            intake = run_single(hotline, bodies[50:], args.rate)
            # the WAL the reports wrote (what replicas and backups carry), the reads beside them being reads
            wal = int(psql(db, f"SELECT pg_current_wal_lsn() - '{lsn}'::pg_lsn"))
            intake["wal_per_incident"] = wal / max(1, intake["ok"])
            print(f"intake: {intake}", flush=True)
    return results, intake, dropped, served_by


def report(args, results: dict, intake: dict | None, dropped: bool, served_by: str, built: float | None,
           counts: str, ahead: list[str]) -> str:
    cold = ("after restarting PostgreSQL and the server, OS page cache dropped" if dropped else
            "after restarting PostgreSQL and the server; the OS page cache could NOT be dropped (no permission), "
            "so cold means PostgreSQL's and the server's caches empty, the file cache warm")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"### Simulated city at {args.incidents:,} incidents ({when})",
             "",
             f"Database: {counts}. Built by `manage.py build_city` "
             + (f"in {built:,.0f} s (with migrations and the Gongdao data)." if built else "(reused)."),
             f"Server: {served_by}. Load averages at the end: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}.",
             f"Warm: {args.runs} runs after {args.warmups} warm-up run(s). Cold ({args.cold_runs} rounds): {cold}.",
             f"Command: `.venv/bin/python bench/city_bench.py --incidents {args.incidents} --reuse-db`.", "",
             "| read | warm p50 ms | warm p95 ms | cold p50 ms | cold p95 ms | bytes | gzipped | status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {percentile(r['warm'], 50):,.0f} | {percentile(r['warm'], 95):,.0f} | "
                     f"{percentile(r['cold'], 50):,.0f} | {percentile(r['cold'], 95):,.0f} | {r['bytes']:,} | "
                     f"{r['gzipped']:,} | {r['status']} |")
    if intake:
        lines += ["", f"Intake, single reports at {args.rate:.0f}/s for {args.intake_seconds:.0f} s with the city "
                      f"present: p50 {intake['p50']:.1f} ms, p95 {intake['p95']:.1f} ms, p99 {intake['p99']:.1f} ms "
                      f"({intake['ok']:,} of {intake['requests']:,} answered 201); WAL written "
                      f"{intake['wal_per_incident'] / 1024:,.1f} kB per report."]
    return "\n".join([*lines, "", *ahead])


def write_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8")
    block = f"{MARK_START}\n{section.strip()}\n{MARK_END}\n"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n## The simulated city (bench/city_bench.py)\n\n" + block
    README.write_text(text, encoding="utf-8")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the server started here
    args = parse()
    db = f"gridops_city_{args.incidents}"
    built = ensure_database(args, db)
    if args.build_only:
        print(f"{db}: " + (f"built in {built:.0f} s" if built is not None else "already there (--reuse-db)"))
        return
    setup_django(db)
    tokens, params = actors_and_params()
    ahead = heat_ahead_figures()
    print("\n".join(ahead))
    if args.ahead_only:
        return
    counts = psql(db, "SELECT format('%s towns, %s grids, %s incidents (%s open), %s events', "
                      "(SELECT count(*) FROM grids_town), (SELECT count(*) FROM grids_grid g JOIN "
                      "grids_boundarygeneration b ON b.id = g.generation_id WHERE b.status = 'active'), "
                      "(SELECT count(*) FROM incidents_incident), (SELECT count(*) FROM incidents_incident WHERE "
                      "state IN ('reported','registered','dispatched','in_progress','handled','verified')), "
                      "(SELECT count(*) FROM incidents_incidentevent))")
    results, intake, dropped, served_by = measure(args, db, tokens, params)
    section = report(args, results, intake, dropped, served_by, built, counts, ahead)
    print("\n" + section)
    if not args.no_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
