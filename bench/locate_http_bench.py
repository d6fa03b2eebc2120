"""Benchmark: GET /api/locate over HTTP: the lean path, the ordinary DRF path and MapIt, in one run.

  .venv/bin/python bench/locate_http_bench.py [--seconds 10] [--rounds 2] [--points 400] [--no-mapit]

Each target is a real server with 2 processes: ``manage.py serve --workers 2`` (uvicorn) with the lean
path (API_LEAN=1, core.lean) and without it (API_LEAN=0: today's path, the baseline), and mySociety's
MapIt (django-mapit 3.0, ``scripts/bench-mapit.sh`` installs it) under gunicorn with 2 workers. The
targets take turns (``--rounds``) on the same points: inside grids, grid vertices, random points around
the town (about half outside), and the same points in the other accepted CRSs for gridops. Per target:

- p50 / p99 of a sequential client (``wrk -t1 -c1 --latency``) and requests/s with 8 connections
  (``wrk -t2 -c8``): best round of each (the machine is shared; the best round is the least disturbed);
- CPU per request: the server processes' user+system time over the 8-connection run / requests
  (what a request costs whatever else runs on the machine);
- answers: the lean and ordinary paths must answer byte for byte alike on every point; MapIt's areas
  (codes) are compared with gridops' grid + dedicated grids.

Needs the dev database with the demo data (``make demo-data``), Redis (``scripts/redis.sh``), ``wrk``
(``make bench-locate-http`` installs both). The server uses the dev settings with DEBUG off and a
client rate of 1,000,000/s (the limit is counted as usual, but never reached).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")  # the throttle counts in Redis, as served
os.environ.setdefault("API_RATE_USER", "1000000/s")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402

from bench import serving  # noqa: E402
from core.authentication import issue_token  # noqa: E402
from gis_core.coords import get_transformer, wgs84_to_bd09, wgs84_to_gcj02  # noqa: E402
from grids.models import Grid  # noqa: E402

MAPIT_VENV = ROOT / "var" / "mapit" / "venv"
BENCH_USER = "bench_locate_client"


def bench_token() -> str:
    """Return a fresh token of the benchmark's integration client (created once, kept)."""
    user, _ = User.objects.get_or_create(username=BENCH_USER)
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    return issue_token(user)[1]


def bench_points(n: int, town: str, seed: int = 7) -> list[tuple[float, float]]:
    """Return WGS84 points: one inside and one vertex per grid, then random ones around the town."""
    grids = list(Grid.objects.filter(generation__status="active", generation__town__code=town).order_by("code"))
    points = []
    for g in grids:
        points.append(tuple(g.boundary.point_on_surface.coords))
        points.append(tuple(g.boundary[0].exterior_ring[0]))
    x0, y0, x1, y1 = shapely.total_bounds([shapely.from_wkb(bytes(g.boundary.wkb)) for g in grids])
    rng = np.random.default_rng(seed)
    for _ in range(max(0, n - len(points))):
        points.append((float(rng.uniform(x0 - 0.01, x1 + 0.01)), float(rng.uniform(y0 - 0.01, y1 + 0.01))))
    return points


def gridops_paths(points) -> list[str]:
    """The locate queries: every point in WGS84, and every fourth one in another accepted CRS."""
    metric, mercator = get_transformer(4326, 4549), get_transformer(4326, 3857)
    paths = []
    for i, (lon, lat) in enumerate(points):
        paths.append("/api/locate?" + urllib.parse.urlencode({"lon": lon, "lat": lat}))
        if i % 4 == 0:
            other = [("EPSG:4490", (lon, lat)), ("EPSG:4549", metric.transform(lon, lat)),
                     ("GCJ02", wgs84_to_gcj02(lon, lat)), ("BD09", wgs84_to_bd09(lon, lat)),
                     ("EPSG:3857", mercator.transform(lon, lat))][(i // 4) % 5]
            paths.append("/api/locate?" + urllib.parse.urlencode({"lon": other[1][0], "lat": other[1][1],
                                                                    "crs": other[0]}))
    return paths


def mapit_paths(points) -> list[str]:
    return [f"/point/4326/{lon!r},{lat!r}" for lon, lat in points]


@contextmanager
def gridops_server(lean: bool, log: Path):
    with serving.platform(log_path=log, env={"API_LEAN": "1" if lean else "0", "API_RATE_USER": "1000000/s"}) as served:
        yield served


@contextmanager
def mapit_server(log: Path):
    port = serving.free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bench" / "mapit"), DJANGO_SETTINGS_MODULE="gridops_mapit.settings")
    cmd = [str(MAPIT_VENV / "bin" / "gunicorn"), "gridops_mapit.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"]
    with serving.process(cmd, port=port, cwd=ROOT, env=env, log_path=log, ready=serving.answers("/generations"),
                         timeout=60) as served:
        yield served


def fetch_all(base: str, paths: list[str], headers: dict[str, str]) -> list[tuple[int, bytes]]:
    port = urllib.parse.urlsplit(base).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    for path in paths:
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
        except (http.client.HTTPException, OSError):  # a server that closes each connection (gunicorn sync)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
        answers.append((response.status, response.read()))
        if response.getheader("Connection", "").lower() == "close":
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return answers


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of the server process and its children (the workers), from /proc."""
    pids = [proc.pid]
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == proc.pid:  # the parent pid
            pids.append(int(path.parent.name))
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * UNITS[unit]


def wrk(base: str, paths: list[str], headers: dict[str, str], connections: int, seconds: int) -> dict:
    """Run wrk cycling through ``paths``; return requests/s, p50/p99 (ms) and non-2xx answers."""
    lua = "paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n" + "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()) + (
        "i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        threads = 1 if connections == 1 else 2
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name,
                              base], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    pct = dict(re.findall(r"^\s+(50|99)\.000%\s+(\S+)$", out, re.M) or re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": _ms(pct["50"]),
            "p99": _ms(pct["99"]), "requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0}


def measure(base: str, proc, paths, headers, seconds: int) -> dict:
    sequential = wrk(base, paths, headers, 1, seconds)
    cpu0 = cpu_seconds(proc)
    parallel = wrk(base, paths, headers, 8, seconds)
    cpu_ms = (cpu_seconds(proc) - cpu0) * 1e3 / max(1, parallel["requests"])
    return {"p50": sequential["p50"], "p99": sequential["p99"], "seq_rps": sequential["rps"],
            "rps": parallel["rps"], "p50_8": parallel["p50"], "cpu_ms": cpu_ms,
            "non2xx": sequential["non2xx"] + parallel["non2xx"]}


def in_process(paths: list[str], token: str, n: int) -> dict[str, float]:
    """Return the CPU time of this thread per request (ms, best of 3 passes over ``paths``), with no
    HTTP server: Django's WSGI handler (every middleware, the URL resolver, DRF) and the lean handler
    (core.lean, after its executor hop), on the same requests. Thread CPU time does not count the time
    spent waiting for PostgreSQL, Redis or a core, so it holds on a busy machine."""
    import io

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from core.lean import LeanRoutes
    from core.serving import warm_thread

    warm_thread()
    wsgi, lean = WSGIHandler(), LeanRoutes(["locate"])
    todo = (paths * (n // len(paths) + 1))[:n]

    def by_wsgi(path: str) -> None:
        url = urllib.parse.urlsplit(path)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": url.path, "QUERY_STRING": url.query,
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "HTTP_HOST": "127.0.0.1",
                   "HTTP_AUTHORIZATION": f"Token {token}", "REMOTE_ADDR": "127.0.0.1"}
        b"".join(wsgi(environ, lambda *a: None))

    def by_lean(path: str) -> None:
        url = urllib.parse.urlsplit(path)
        lean.handle({"type": "http", "method": "GET", "scheme": "http", "path": url.path, "root_path": "",
                     "query_string": url.query.encode(), "client": ("127.0.0.1", 50000),
                     "server": ("127.0.0.1", 8000),
                     "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode())]})

    best = {"drf": float("inf"), "lean": float("inf")}
    for _ in range(3):
        for name, fn in (("drf", by_wsgi), ("lean", by_lean)):
            start = time.thread_time()
            for path in todo:
                fn(path)
            best[name] = min(best[name], (time.thread_time() - start) * 1e3 / n)
    connection.close()
    return best


def compare_mapit(points, ours: list[tuple[int, bytes]], theirs: list[tuple[int, bytes]]) -> dict:
    """Compare gridops' grid + dedicated grids with MapIt's areas on the WGS84 points."""
    same = differ_edge = differ = 0
    examples = []
    for (lon, lat), (_, a), (_, b) in zip(points, ours, theirs, strict=True):
        answer = json.loads(a)
        codes = set() if answer["outside"] else {answer["grid"]["code"]}
        codes |= {d["code"] for d in answer["dedicated"]}
        mapit = {area["codes"].get("grid") for area in json.loads(b).values()}
        if codes == mapit:
            same += 1
        elif answer["near_edge"] or mapit < codes:
            differ_edge += 1  # MapIt 3.0 tests ST_Contains: a point on an outline is in no area there
        else:
            differ += 1
            examples.append(((lon, lat), sorted(codes), sorted(mapit)))
    return {"same": same, "edge": differ_edge, "differ": differ, "examples": examples[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--town", default="321003100")
    parser.add_argument("--no-mapit", action="store_true")
    parser.add_argument("--in-process", type=int, default=2000, help="requests per pass of the in-process part")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench-locate-http` installs it (Debian package wrk)")
    mapit = not args.no_mapit
    if mapit and not (MAPIT_VENV / "bin" / "gunicorn").exists():
        sys.exit("MapIt is not installed: run scripts/bench-mapit.sh, or pass --no-mapit")

    token = bench_token()
    points = bench_points(args.points, args.town)
    paths = gridops_paths(points)
    wgs84 = [p for p in paths if "crs=" not in p]
    auth = {"Authorization": f"Token {token}"}
    log = ROOT / "var" / "bench-locate-http.log"
    log.parent.mkdir(exist_ok=True)
    results: dict[str, list[dict]] = {"lean": [], "drf": [], "mapit": []}
    answers: dict[str, list] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for _ in range(args.rounds):
        for name in ("drf", "lean"):
            with gridops_server(lean=name == "lean", log=log) as (base, proc):
                answers.setdefault(name, fetch_all(base, paths, auth))
                results[name].append(measure(base, proc, paths, auth, args.seconds))
                print(name, results[name][-1], flush=True)
        if mapit:
            with mapit_server(log) as (base, proc):
                answers.setdefault("mapit", fetch_all(base, mapit_paths(points), {}))
                results["mapit"].append(measure(base, proc, mapit_paths(points), {}, args.seconds))
                print("mapit", results["mapit"][-1], flush=True)

    equal = sum(a == b for a, b in zip(answers["lean"], answers["drf"], strict=True))
    print(f"\n`bench/locate_http_bench.py --seconds {args.seconds} --rounds {args.rounds} --points {args.points}`, "
          f"{started}, {os.cpu_count()} cores ({platform.processor() or platform.machine()}), load before: "
          f"{os.getloadavg()[0]:.1f}; {len(paths)} gridops queries ({len(wgs84)} WGS84 points, the rest in other "
          f"CRSs), {len(points)} MapIt queries; best of {args.rounds} rounds\n")
    print("| target | p50 sequential | p99 sequential | requests/s, 8 connections | CPU per request |")
    print("|---|---|---|---|---|")
    labels = {"lean": "gridops, lean path (core.lean)", "drf": "gridops, ordinary path (DRF, baseline)",
              "mapit": "MapIt 3.0, gunicorn 2 workers"}
    for name in ("lean", "drf", "mapit"):
        if not results[name]:
            continue
        rows = results[name]
        p50 = min(r["p50"] for r in rows)
        p99 = min(r["p99"] for r in rows)
        rps = max(r["rps"] for r in rows)
        cpu = min(r["cpu_ms"] for r in rows)
        bad = sum(r["non2xx"] for r in rows)
        note = f" ({bad} non-2xx)" if bad else ""
        print(f"| {labels[name]} | {p50:.2f} ms | {p99:.2f} ms | {rps:,.0f}{note} | {cpu:.2f} ms |")
    print(f"\nall rounds: { {k: [(round(r['p50'], 2), round(r['rps'])) for r in v] for k, v in results.items()} }")
    print(f"answers: lean = ordinary on {equal} of {len(paths)} queries (status and body bytes)")
    if mapit:
        wgs84_answers = [a for a, p in zip(answers["lean"], paths, strict=True) if "crs=" not in p]
        found = compare_mapit(points, wgs84_answers, answers["mapit"])
        print(f"answers vs MapIt on {len(points)} points: {found['same']} the same grids, {found['edge']} on an "
              f"outline (MapIt 3.0 uses ST_Contains: no area), {found['differ']} otherwise different "
              f"{found['examples']}")
    p50s = statistics.median(r["p50"] for r in results["lean"])
    print(f"median lean p50 over rounds: {p50s:.2f} ms")
    if args.in_process:
        cpu = in_process(paths, token, args.in_process)
        print(f"in process (no HTTP server), thread CPU per request, best of 3 x {args.in_process}: "
              f"Django's handler + DRF {cpu['drf']:.3f} ms, lean handler {cpu['lean']:.3f} ms")


if __name__ == "__main__":
    main()
