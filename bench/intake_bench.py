"""Benchmark: incident intake over HTTP - single reports at a steady rate, a 100,000-row batch - and
the naive one-query-per-step loop, in one run on one machine; figures go into bench/README.md.

  .venv/bin/python bench/intake_bench.py [--url URL] [--workers 2] [--rate 100] [--seconds 30]
                                         [--batch 100000] [--chunk 100000] [--parallel 1] [--naive 2000]
                                         [--reuse-db] [--no-readme]

Without --url it starts `manage.py serve` (uvicorn, --workers processes; settings gridops.settings.dev,
DEBUG off, the Redis channel layer when a Redis answers, as `make run`) on a free port. It uses an
integration client "bench-integration" with a fresh knox token; external ids carry a run id. When an aim
is missed it profiles that path in process and prints what dominates. Unless --reuse-db, it first
rebuilds its own database (gridops_bench in the project-local cluster) the way `make run` builds
the dev one, so that a run does not measure what earlier runs left behind.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("DJANGO_DEBUG", "0")  # as the server below: no SQL log, production-like timings

import django  # noqa: E402

django.setup()

import shapely  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

import incidents.intake as intake_module  # noqa: E402
from bench import serving  # noqa: E402
from core.actors import Actor  # noqa: E402
from core.authentication import ActorTokenAuthentication, issue_token  # noqa: E402
from core.serving import warm_up  # noqa: E402
from demo.incidents import LOST_ADDRESSES  # noqa: E402
from dispatch.live import publish_incidents  # noqa: E402
from dispatch.routing import GridDispatcher  # noqa: E402
from gis_core.coords import wgs84_to_gcj02_array  # noqa: E402
from grids.models import Town, Village  # noqa: E402
from incidents import apis, serializers  # noqa: E402
from incidents.gazetteer import resolve_address  # noqa: E402
from incidents.grants import grant_sources  # noqa: E402
from incidents.intake import IntakeItem  # noqa: E402
from incidents.lifecycle import apply_transition, new_event  # noqa: E402
from incidents.models import Category, Incident  # noqa: E402
from tests.grids.postgis_locator import locate  # noqa: E402  (the naive baseline locates on PostGIS)

AIM_P95_MS, AIM_BATCH_S = 25.0, 60.0
README = ROOT / "bench" / "README.md"
MARK_START, MARK_END = "<!-- intake-bench:start -->", "<!-- intake-bench:end -->"


def integration_token() -> str:
    """Issue a fresh API token (knox: keys cannot be read back) for the benchmark's integration client,
    revoking its earlier ones."""
    user, _ = User.objects.get_or_create(username="bench-integration")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    grant_sources(user, ["hotline_12345"])  # an integration client posts only for its granted sources
    user.auth_token_set.all().delete()
    return issue_token(user)[1]


def rows(n: int, prefix: str, seed: int) -> list[dict]:
    """Return n intake rows at uniform random points of the first town (a tenth in GCJ-02), one in 20
    by an address only (village names, and a few that the gazetteer cannot find)."""
    rng = np.random.default_rng(seed)
    town = Town.objects.filter(generations__status="active").order_by("code").first()
    poly = shapely.from_wkb(bytes(town.boundary.wkb))
    x, y = rng.uniform(poly.bounds[0], poly.bounds[2], 3 * n), rng.uniform(poly.bounds[1], poly.bounds[3], 3 * n)
    inside = shapely.contains_xy(poly, x, y)
    lons, lats = x[inside][:n], y[inside][:n]
    glons, glats = wgs84_to_gcj02_array(lons, lats)
    codes = list(Category.objects.filter(active=True).values_list("code", flat=True))
    places = [v.name for v in Village.objects.all()] + LOST_ADDRESSES
    out = []
    for i in range(n):
        row = {"source": "hotline_12345", "external_id": f"{prefix}{i}", "category": codes[i % len(codes)],
               "title": "压测 benchmark report"}
        kind = rng.random()
        if kind < 0.05:
            row["address"] = places[int(rng.integers(len(places)))] + "附近"
        elif kind < 0.15:
            row.update(lon=float(glons[i]), lat=float(glats[i]), crs="GCJ02")
        else:
            row.update(lon=float(lons[i]), lat=float(lats[i]))
        out.append(row)
    return out


class Http:
    """Keep-alive HTTP/1.1 connections, one per thread, with the token header."""

    def __init__(self, base: str, token: str):
        url = urllib.parse.urlsplit(base)
        self.base, self.host, self.port = base, url.hostname, url.port or 80
        self.headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
        self.local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None, retry: bool = True) -> tuple[int, bytes]:
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=900)
        try:
            self.local.conn.request(method, path, body=body, headers=self.headers)
            response = self.local.conn.getresponse()
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException):
            self.local.conn.close()
            self.local.conn = None
            if not retry:
                raise
            return self.request(method, path, body, retry=False)


@contextmanager
def server(url: str | None, log_path: Path, token: str, workers: int):
    """Yield (base URL, description): the given server, or `manage.py serve` (as `make run`) started here."""
    if url:
        yield url.rstrip("/"), f"given server {url}"
        return
    with serving.platform(log_path=log_path, workers=workers) as (base, proc):
        wait_ready(base, proc, token)  # answering /healthz; now warmed up and locating
        yield base, serving.described(serving.platform_env(), workers)


def wait_ready(base: str, proc: subprocess.Popen, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with suppress(OSError):
            status, answer = Http(base, token).request("GET", "/api/locate?lon=119.35&lat=32.6")
            if status == 200:
                return
            if status != 503:
                raise RuntimeError(f"the server answered {status}: {answer[:200]!r}")
        time.sleep(0.2)
    raise TimeoutError("the server did not answer")


def run_single(http: Http, bodies: list[bytes], rate: float, threads: int = 64) -> dict:
    """Send one report per POST on an open-loop schedule (i / rate); latency counts from the due time."""
    n, results = len(bodies), [None] * len(bodies)

    def send(i: int, due: float) -> None:
        sent = time.perf_counter()
        status, _ = http.request("POST", "/api/incidents/", bodies[i])
        results[i] = (due, sent, time.perf_counter(), status)

    start = time.perf_counter() + 0.1
    with ThreadPoolExecutor(threads) as pool:
        for i in range(n):
            due = start + i / rate
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            pool.submit(send, i, due)
    due, sent, done, status = (np.array(col) for col in zip(*results, strict=True))
    latency = (done - due) * 1000
    return {"requests": n, "ok": int((status == 201).sum()), "seconds": float(done.max() - start),
            "achieved": n / float(done.max() - start), "p50": float(np.percentile(latency, 50)),
            "p95": float(np.percentile(latency, 95)), "p99": float(np.percentile(latency, 99)),
            "service_p95": float(np.percentile((done - sent) * 1000, 95)), "max": float(latency.max())}


def run_batch(http: Http, items: list[dict], chunk: int, parallel: int = 1) -> dict:
    """POST the items to /api/incidents/batch/ in chunks, ``parallel`` requests at a time; time the whole."""
    bodies = [json.dumps(items[i:i + chunk]).encode() for i in range(0, len(items), chunk)]

    def send(body: bytes) -> tuple[int, float]:
        t = time.perf_counter()
        status, answer = http.request("POST", "/api/incidents/batch/", body)
        if status != 200:
            raise RuntimeError(f"batch answered {status}: {answer[:300]!r}")
        return json.loads(answer)["counts"]["created"], time.perf_counter() - t

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(send, bodies))
    seconds = time.perf_counter() - start
    return {"incidents": len(items), "created": sum(a[0] for a in answers), "chunks": len(bodies),
            "parallel": parallel, "seconds": seconds, "rate": len(items) / seconds,
            "chunk_max_s": max(a[1] for a in answers), "body_mb": sum(map(len, bodies)) / 1e6}


def naive_one(row: dict, actor: Actor, dispatcher: GridDispatcher) -> None:
    """Store one incident the naive way: a query per step (category, PostGIS locate, insert, every
    event, every dispatch row), in its own transaction."""
    with transaction.atomic():
        now, category = timezone.now(), Category.objects.get(code=row["category"])
        where = locate(row["lon"], row["lat"], row.get("crs", "EPSG:4326")) if "lon" in row else None
        if "lon" not in row and (match := resolve_address(row["address"])) is not None:
            where = locate(match.lon, match.lat)
        inside = where is not None and not where.outside
        incident = Incident.objects.create(
            source=row["source"], external_id=row["external_id"], category=category, title=row["title"],
            severity=category.default_severity, created_at=now, submitted_by=actor.user,
            location=Point(where.lon, where.lat, srid=4326) if where else None,
            triage="" if inside else "outside_town" if where else "unresolved_address",
            grid=where.grid if inside else None, village=where.village if inside else None,
            generation_id=where.generation_id if inside else None, near_edge=inside and where.near_edge,
            town_id=where.village.town_id if inside else None)
        new_event(incident, "report", actor, from_state="", now=now).save()
        if inside:
            incident.located_dedicated = where.dedicated
            events = [apply_transition(incident, "register", Actor.system(), checked=True, now=now)]
            objects = dispatcher.dispatch_new([incident], now=now, events=events)
            incident.save()
            for obj in events + objects:
                obj.save()


def naive_rate(items: list[dict], user: User) -> dict:
    actor, dispatcher = Actor.of(user), GridDispatcher()
    with override_settings(CHANNEL_LAYERS={}, LIVE_PUSH_IN_BACKGROUND=False):
        start = time.perf_counter()
        for row in items:
            naive_one(row, actor, dispatcher)
        seconds = time.perf_counter() - start
    return {"incidents": len(items), "seconds": seconds, "rate": len(items) / seconds}


@contextmanager
def timing(targets: dict[str, tuple[object, str]]):
    """Yield {label: seconds spent in that function (a module or class attribute), "statements": SQL count}."""
    seconds, saved = {**dict.fromkeys(targets, 0.0), "statements": 0}, []

    def wrap(label: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - start
        return timed

    def count(execute, sql, params, many, context):
        seconds["statements"] += 1
        return execute(sql, params, many, context)

    for label, (owner, name) in targets.items():
        if not hasattr(owner, name):  # renamed since: report it as missing rather than fail
            seconds[f"{label} (not found: {name})"] = seconds.pop(label)
            continue
        saved.append((owner, name, vars(owner).get(name)))
        setattr(owner, name, wrap(label, getattr(owner, name)))
    try:
        with connection.execute_wrapper(count):
            yield seconds
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original) if original is not None else delattr(owner, name)


INTAKE_PARTS = {
    "intake(): idempotency lookup": (intake_module, "_existing"),
    "intake(): locate (in-process index, gazetteer)": (intake_module, "_locate"),
    "intake(): dispatch (routing context, assignment)": (GridDispatcher, "dispatch_new"),
    "intake(): bulk inserts": (intake_module, "_insert"),
    "intake(): possible-duplicate search": (intake_module, "find_possible_duplicates"),
}


def parts(seconds: dict, total: float, n: int) -> list[str]:
    return [f"- {label}: {1000 * s / n:.2f} ms per incident ({100 * s / total:.0f} %)"
            for label, s in seconds.items() if label != "statements"]


def profile_single(items: list[dict], token: str) -> list[str]:
    """Time the parts of POST /api/incidents/ in process (no HTTP server, warmed up as a server
    process is), then the live push of one incident."""
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    targets = {"token authentication (token, user, groups, person)": (ActorTokenAuthentication, "authenticate"),
               "validation (validate_intake)": (apis.s, "validate_intake"),
               "intake() in all": (apis, "intake"), **INTAKE_PARTS,
               "response body (geojson.feature_of)": (apis.geojson, "feature_of")}
    warm_up()
    with override_settings(CHANNEL_LAYERS={}, LIVE_PUSH_IN_BACKGROUND=False):
        for row in items[:20]:
            client.post("/api/incidents/", row, format="json")
        with timing(targets) as timers:
            start = time.perf_counter()
            ids = [client.post("/api/incidents/", row, format="json").json()["id"] for row in items[20:]]
            total = time.perf_counter() - start
    start = time.perf_counter()
    for pk in ids[:50]:
        publish_incidents([pk])
    push = (time.perf_counter() - start) / min(50, len(ids))
    n = len(ids)
    return [f"- whole request: {1000 * total / n:.2f} ms, {timers['statements'] / n:.0f} SQL statements",
            *parts(timers, total, n),
            f"- live push of one incident (dispatch.live.publish_incidents, on the push thread of the same "
            f"process, not in the request; runs gather the commits of {settings.LIVE_COALESCE_MS} ms): "
            f"{1000 * push:.1f} ms"]


def profile_batch(items: list[dict], user: User) -> list[str]:
    """Time the parts of one batch request in process: JSON, validation, intake()."""
    actor, body = Actor.of(user), json.dumps(items).encode()
    warm_up()
    with override_settings(CHANNEL_LAYERS={}, LIVE_PUSH_IN_BACKGROUND=False), timing(INTAKE_PARTS) as timers:
        t0 = time.perf_counter()
        data = json.loads(body)
        t1 = time.perf_counter()
        valid = [item for item in serializers.validate_intake(data) if isinstance(item, IntakeItem)]
        t2, validation_statements = time.perf_counter(), timers["statements"]
        intake_module.intake(valid, actor=actor)
        t3 = time.perf_counter()
    n, total = len(items), t3 - t0
    return [f"- JSON parse: {1000 * (t1 - t0) / n:.3f} ms per incident ({100 * (t1 - t0) / total:.0f} %)",
            f"- validation (validate_intake): {1000 * (t2 - t1) / n:.3f} ms per incident "
            f"({100 * (t2 - t1) / total:.0f} %), {validation_statements} SQL statements for the {n:,} rows",
            f"- intake() in all: {1000 * (t3 - t2) / n:.2f} ms per incident ({100 * (t3 - t2) / total:.0f} %), "
            f"{timers['statements'] - validation_statements} SQL statements for the {n:,} rows (COPY not counted)",
            *parts(timers, total, n)]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return (f"{cpu}, {os.cpu_count()} cores, PostgreSQL {pg}, Python {platform.python_version()}; load average "
            f"{os.getloadavg()[0]:.1f} at the start; database {connection.settings_dict['NAME']} with "
            f"{Incident.objects.count():,} incidents")


def batch_seconds_100k(batch: dict) -> float:
    return batch["seconds"] * 100_000 / batch["incidents"]


def report(single: dict | None, batch: dict | None, naive: dict | None, rate: float) -> list[str]:
    """Return the table of figures (Markdown) with the aims."""
    lines = ["| what | figure | aim |", "|---|---|---|"]
    if single:
        late = single["p95"] - AIM_P95_MS
        lines += [f"| single POST /api/incidents/ at {rate:.0f}/s, {single['requests']:,} requests | "
                  f"{single['achieved']:.1f} req/s achieved, {single['ok']:,} answered 201 | {rate:.0f} req/s |",
                  f"| latency p50 / p95 / p99 from the scheduled send (max) | {single['p50']:,.1f} / "
                  f"{single['p95']:,.1f} / {single['p99']:,.1f} ms ({single['max']:,.0f}) | p95 < {AIM_P95_MS:.0f} "
                  f"ms: {'met' if late <= 0 else f'missed by {late:,.0f} ms'} |",
                  f"| service time p95 (from the actual send) | {single['service_p95']:,.1f} ms | |"]
    if batch:
        whole = batch_seconds_100k(batch)
        verdict = "met" if whole <= AIM_BATCH_S else f"missed by {whole - AIM_BATCH_S:,.0f} s"
        scaled = "" if batch["incidents"] == 100_000 else f"; 100,000 in {whole:,.0f} s (extrapolated)"
        at_once = f", {batch['parallel']} at a time" if batch["parallel"] > 1 else ", one after the other"
        requests = "one request" if batch["chunks"] == 1 else f"{batch['chunks']} requests{at_once}"
        lines.append(f"| batch POST /api/incidents/batch/, {batch['incidents']:,} in {requests} "
                     f"({batch['body_mb']:.0f} MB JSON) | {batch['seconds']:,.1f} s, {batch['rate']:,.0f} "
                     f"incidents/s (slowest request {batch['chunk_max_s']:.1f} s){scaled} | 100,000 < "
                     f"{AIM_BATCH_S:.0f} s: {verdict} |")
    if naive:
        whole = 100_000 / naive["rate"]
        vs = f", {whole / batch_seconds_100k(batch):.1f}x the batch path" if batch else ""
        lines.append(f"| naive loop in process, {naive['incidents']:,} incidents | {naive['rate']:,.0f} "
                     f"incidents/s -> 100,000 in {whole:,.0f} s (extrapolated){vs} | |")
    return lines


def write_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    block = f"{MARK_START}\n{section.strip()}\n{MARK_END}"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Intake\n\n" + block + "\n"
    README.write_text(text, encoding="utf-8")


def measure(args, run: str, token: str) -> tuple[dict | None, dict | None, str]:
    """Start (or use) the server; run the single-report and the batch tests against it."""
    n_single = int(args.rate * args.seconds)
    single_rows = [json.dumps(r).encode() for r in rows(n_single + 50, f"{run}s", seed=1)]
    batch_rows = rows(args.batch, f"{run}b", seed=2) if args.batch else []
    single = batch = None
    with server(args.url, ROOT / "var" / "bench-intake-server.log", token, args.workers) as (base, served_by):
        http = Http(base, token)
        for body in single_rows[:50]:  # warm-up: locator index, gazetteer, connections
            http.request("POST", "/api/incidents/", body)
        if n_single:
            single = run_single(http, single_rows[50:], args.rate)
            print(f"single: {single}")
        if batch_rows:
            batch = run_batch(http, batch_rows, args.chunk, args.parallel)
            print(f"batch: {batch}")
    return single, batch, served_by


BENCH_DB = "gridops_bench"


def fresh_database() -> None:
    """Drop and rebuild the benchmark's own database in the project-local cluster, as `make run`
    builds the dev one (migrations, the Gongdao data set, the seeded demo incidents), so that a run
    does not measure what earlier runs left behind."""
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("a fresh benchmark database needs the project-local cluster: unset DATABASE_URL or pass "
                         "--reuse-db")
    env = dict(os.environ, GRIDOPS_DB_NAME=BENCH_DB, DJANGO_SETTINGS_MODULE="gridops.settings.dev")
    socket_dir = os.environ.get("GRIDOPS_PGHOST", str(ROOT / "var" / "pg" / "run"))
    subprocess.run(["psql", "-h", socket_dir, "-U", "postgres", "-d", "postgres", "-qc",
                    f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"], check=True)
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], env=env, check=True)
    for command in (["migrate", "--noinput", "-v", "0"], ["load_demo_data"], ["seed_demo_incidents"]):
        subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    # as autovacuum would leave it, so that its first pass does not fall into the measurements
    subprocess.run(["psql", "-h", socket_dir, "-U", "postgres", "-d", BENCH_DB, "-qc", "VACUUM ANALYZE"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this running server instead of starting one")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes to start")
    parser.add_argument("--rate", type=float, default=100.0, help="single reports per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send single reports")
    parser.add_argument("--batch", type=int, default=100_000, help="incidents in the batch test (0: skip)")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per batch request (default: all in one)")
    parser.add_argument("--parallel", type=int, default=1, help="batch requests sent at a time")
    parser.add_argument("--naive", type=int, default=2_000, help="incidents in the naive loop (0: skip)")
    parser.add_argument("--reuse-db", action="store_true",
                        help=f"run on the current database instead of a fresh {BENCH_DB} built like the dev one")
    parser.add_argument("--no-readme", action="store_true", help="do not write bench/README.md")
    args = parser.parse_args()
    if not args.reuse_db:
        fresh_database()
        os.execve(sys.executable, [sys.executable, *sys.argv, "--reuse-db"],
                  dict(os.environ, GRIDOPS_DB_NAME=BENCH_DB, GRIDOPS_BENCH_FRESH="1"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the server started here
    run = f"bench-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:4]}-"
    token, where, user = integration_token(), machine(), User.objects.get(username="bench-integration")
    print(f"run {run}  {where}")
    single, batch, served_by = measure(args, run, token)
    loads = "/".join(f"{x:.1f}" for x in os.getloadavg())  # how busy the machine was during the HTTP tests
    naive = naive_rate(rows(args.naive, f"{run}n", seed=3), user) if args.naive else None
    print(f"naive: {naive}")
    lines = report(single, batch, naive, args.rate)
    if single:
        verdict = "met" if single["p95"] <= AIM_P95_MS else "missed"
        lines += ["", f"Single intake ({verdict}): where a request's time goes, in process (no HTTP server):", "",
                  *profile_single(rows(170, f"{run}ps", seed=4), token)]
    if batch:
        verdict = "met" if batch_seconds_100k(batch) <= AIM_BATCH_S else "missed"
        lines += ["", f"Batch ({verdict}): where one chunk of {args.chunk:,} rows goes, in process:", "",
                  *profile_batch(rows(args.chunk, f"{run}pb", seed=5), user)]
    given = sys.argv[1:-1] if os.environ.get("GRIDOPS_BENCH_FRESH") else sys.argv[1:]  # without our --reuse-db
    command = " ".join(["bench/intake_bench.py", *given])
    section = "\n".join([f"Run {timezone.localtime():%Y-%m-%d %H:%M %Z} on {where}; load averages (1/5/15 min) after "
                         f"the HTTP tests {loads}; server: {served_by}.",
                         f"Command: `.venv/bin/python {command}` (or `make bench-intake`).", "", *lines])
    print("\n" + section)
    if not args.no_readme:
        write_readme(section)
        print(f"\nwritten to {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
