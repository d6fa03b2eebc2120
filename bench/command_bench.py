"""Benchmark: the command centre's first view at N open incidents (default 1,000,000), in a real browser.

  .venv/bin/python bench/command_bench.py [--open 1000000] [--reuse-db] [--code DIR] [--label after]
                                          [--timeout 120] [--runs 3]

It builds a database of its own (gridops_cmdbench in the project-local cluster: migrations and the
Gongdao data set, no demo incidents) and loads N open incidents into it with COPY (into a staging
table, then one INSERT ... SELECT filling the columns every row shares), spread uniformly over the
comprehensive grids (each with its grid, village and town, open states in fixed shares, a tenth
overdue). Then it starts `manage.py serve` (2 processes) from the code in --code (default: this tree;
`git archive main | tar -x -C DIR` gives main's code to compare) on that database, logs in as the
operator in Chromium (Playwright, /usr/bin/chromium) and measures, per run, in a fresh browser context:
the time from the navigation to /command/ until the page says it has loaded (`#map[data-loaded=true]`)
and the bytes transferred until then (Chrome's encodedDataLength of every response, compressed or not).
Figures go at the end of bench/README.md by hand.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import serving  # noqa: E402

BENCH_DB = "gridops_cmdbench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ["GRIDOPS_DB_NAME"] = BENCH_DB
SOCKET_DIR = os.environ.get("GRIDOPS_PGHOST", str(ROOT / "var" / "pg" / "run"))
OPEN_SHARES = {"registered": 0.05, "dispatched": 0.35, "in_progress": 0.4, "handled": 0.15, "verified": 0.05}


def psql(sql: str, db: str = BENCH_DB) -> str:
    return subprocess.run(["psql", "-h", SOCKET_DIR, "-U", "postgres", "-d", db, "-Atqc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def fresh_database() -> None:
    """Drop and rebuild the benchmark's database: migrations and the Gongdao data set."""
    psql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", db="postgres")
    env = dict(os.environ, GRIDOPS_DB_NAME=BENCH_DB)
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True)
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo_data"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True,
                       stdout=subprocess.DEVNULL)


def load_open(n: int, seed: int = 7) -> float:
    """COPY n open incidents into the database; return the seconds it took."""
    import django

    django.setup()
    import shapely
    from django.db import connection

    from grids.models import Grid
    from incidents.models import Category

    start = time.monotonic()
    rng = np.random.default_rng(seed)
    grids = list(Grid.objects.active().filter(kind="comprehensive").select_related("generation", "village"))
    categories = list(Category.objects.filter(active=True).values_list("id", flat=True))
    per = np.full(len(grids), n // len(grids))
    per[: n - per.sum()] += 1
    states, shares = list(OPEN_SHARES), np.array(list(OPEN_SHARES.values()))
    now = time.time()
    buf = io.StringIO()
    for grid, k in zip(grids, per, strict=True):
        poly = shapely.from_wkb(bytes(grid.boundary.wkb))
        x0, y0, x1, y1 = poly.bounds
        xs, ys = np.empty(0), np.empty(0)
        while len(xs) < k:
            x, y = rng.uniform(x0, x1, 2 * k + 10), rng.uniform(y0, y1, 2 * k + 10)
            inside = shapely.contains_xy(poly, x, y)
            xs, ys = np.concatenate([xs, x[inside]]), np.concatenate([ys, y[inside]])
        state = rng.choice(len(states), size=k, p=shares)
        created = now - rng.uniform(0, 30 * 86400, k)
        due = created + rng.uniform(1, 15 * 86400, k) * np.where(rng.random(k) < 0.1, 0.01, 1)
        cat = rng.choice(categories, size=k)
        for i in range(k):
            buf.write(f"{xs[i]:.7f}\t{ys[i]:.7f}\t{grid.pk}\t{grid.village_id}\t{grid.village.town_id}\t"
                      f"{grid.generation_id}\t{cat[i]}\t{states[state[i]]}\t{created[i]:.3f}\t{due[i]:.3f}\n")
    buf.seek(0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_stage (lon float8, lat float8, grid_id bigint, "
                       "village_id bigint, town_id bigint, generation_id bigint, category_id bigint, state text, "
                       "created float8, due float8)")
        cursor.execute("TRUNCATE bench_stage")
        cursor.copy_expert("COPY bench_stage FROM STDIN", buf)
        cursor.execute("""
            INSERT INTO incidents_incident (source, external_id, severity, title, description, address,
                reporter_name, reporter_phone, location, original_x, original_y, original_crs, location_source,
                location_note, near_edge, triage, state, level, created_at, registered_at, handle_due_at,
                escalations, reworks, updated_at, category_id, generation_id, grid_id, handling_grid_id, town_id,
                village_id, media_url, reporter_email)
            SELECT 'hotline_12345', '', 2, '压测 benchmark incident', '', '', '', '',
                ST_SetSRID(ST_MakePoint(lon, lat), 4326), lon, lat, 'EPSG:4326', 'coordinates', '', false, '',
                state, 1, to_timestamp(created), to_timestamp(created), to_timestamp(due), 0, 0,
                to_timestamp(created), category_id, generation_id, grid_id, grid_id, town_id, village_id, '', ''
            FROM bench_stage""")
        cursor.execute("DROP TABLE bench_stage")
    psql("VACUUM ANALYZE incidents_incident")
    return time.monotonic() - start


@contextmanager
def server(code: Path, log_path: Path):
    with serving.platform(log_path=log_path, code=code, ready=serving.answers("/healthz"), env={
            "GRIDOPS_DB_NAME": BENCH_DB, "GRIDOPS_PGHOST": SOCKET_DIR}) as (base, _proc):
        yield base


def first_view(base: str, runs: int, timeout_s: float) -> list[dict]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     headless=True, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1600, "height": 900})
            page = context.new_page()
            page.goto(base + "/accounts/login/?next=/map/")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", "gongdao-operator")
            page.click("[type=submit]")
            page.wait_for_url("**/map/")
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit: nothing cached
            sizes: dict[str, float] = {}
            sent: dict[str, tuple[str, float]] = {}
            done: dict[str, float] = {}

            def finished(e, sizes=sizes, done=done) -> None:
                sizes[e["requestId"]] = e["encodedDataLength"]
                done[e["requestId"]] = e["timestamp"]

            cdp.on("Network.requestWillBeSent",
                   lambda e, sent=sent: sent.__setitem__(e["requestId"], (e["request"]["url"], e["timestamp"])))
            cdp.on("Network.loadingFinished", finished)
            start = time.monotonic()
            page.goto(base + "/command/", wait_until="commit")
            try:
                page.wait_for_selector("#map[data-loaded=true]", timeout=timeout_s * 1000, state="attached")
                seconds = time.monotonic() - start
            except Exception:  # the page never said it had loaded
                seconds = None
            view = page.evaluate("document.getElementById('map').dataset.view || ''")
            t0 = min((t for _, t in sent.values()), default=0)
            slowest = sorted(((done[r] - t, done[r] - t0, url.split("/", 3)[-1][:60]) for r, (url, t) in sent.items()
                              if r in done), reverse=True)[:5]
            out.append({"seconds": seconds, "bytes": int(sum(sizes.values())), "requests": len(sizes), "view": view,
                        "slowest (s, finished at s, url)": [(round(a, 2), round(b, 2), u) for a, b, u in slowest]})
            print(out[-1], flush=True)
            if os.environ.get("WATERFALL"):
                for r, (url, t) in sorted(sent.items(), key=lambda kv: kv[1][1]):
                    print(f"  {t - t0:6.2f} {done.get(r, float('nan')) - t0:6.2f} {sizes.get(r, 0):>9.0f} {url[-70:]}")
            context.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1_000_000, help="open incidents to load")
    parser.add_argument("--reuse-db", action="store_true", help="keep the database and its incidents")
    parser.add_argument("--code", type=Path, default=ROOT, help="the code to serve (default: this tree)")
    parser.add_argument("--label", default="")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first view")
    args = parser.parse_args()
    if not args.reuse_db:
        fresh_database()
        print(f"loaded {args.open:,} open incidents in {load_open(args.open):.1f} s", flush=True)
    count = psql("SELECT count(*) FROM incidents_incident WHERE state IN "
                 f"({', '.join(repr(s) for s in OPEN_SHARES)})")
    with server(args.code.resolve(), ROOT / "var" / "command_bench_server.log") as base:
        results = first_view(base, args.runs, args.timeout)
    done = [r["seconds"] for r in results if r["seconds"] is not None]
    print(f"{args.label or args.code}: {count} open; first view "
          + (f"median {np.median(done):.2f} s" if done else f"not loaded within {args.timeout:.0f} s")
          + f"; transfer median {np.median([r['bytes'] for r in results]) / 1e6:.2f} MB"
          + f" ({os.cpu_count()} cores, load {'/'.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
