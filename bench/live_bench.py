"""Benchmark: live push latency to N sockets, and the page's GeoJSON load of all open incidents.

  .venv/bin/python bench/live_bench.py [--sockets 1 50 200] [--posts 40] [--loads 1000 10000]

Starts the real server (`manage.py serve`: HTTP + WebSocket) with the Redis channel layer on the dev database (needs the
demo data: `make run` once, or `manage.py load_demo_data`), connects N operator sockets, posts
incidents through the API with the hotline token at a steady pace, and records when each socket
receives each incident. Then tops the open incidents up to each --loads size through the batch
endpoint and times GET /api/incidents/ of all open incidents as the command centre does.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridops.settings.dev")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

from demo.users import demo_token  # noqa: E402
from incidents import rules  # noqa: E402
from incidents.models import Incident  # noqa: E402
from tests.servers import app_server  # noqa: E402

SEAT = (119.343908, 32.588310)


def session_cookie(username: str) -> str:
    user = User.objects.get(username=username)
    store = SessionStore()
    # the last backend logs users in (the first is axes's lockout check)
    store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"sessionid={store.session_key}"


def post(base: str, path: str, body, token: str) -> tuple[dict, float]:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        data = json.loads(response.read())
    return data, time.perf_counter()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def push_latency(base: str, n_sockets: int, posts: int, token: str, cookie: str, run: str) -> dict:
    ws_url = base.replace("http://", "ws://") + "/ws/incidents/"
    headers = {"Cookie": cookie, "Origin": base}
    sockets = [await websockets.connect(ws_url, additional_headers=headers, max_size=None) for _ in range(n_sockets)]
    for ws in sockets:
        assert json.loads(await ws.recv())["type"] == "hello"
    arrivals: dict[int, list[float]] = {}

    async def listen(ws):
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "incident":
                arrivals.setdefault(msg["feature"]["id"], []).append(time.perf_counter())

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    returned: dict[int, tuple[float, float]] = {}
    for k in range(posts):
        body = {"source": "patrol", "category": "other", "title": f"bench {run} {k}",
                "external_id": f"livebench-{run}-{n_sockets}-{k}", "lon": SEAT[0], "lat": SEAT[1]}
        sent = time.perf_counter()
        data, back = await asyncio.to_thread(post, base, "/api/incidents/", body, token)
        returned[data["id"]] = (sent, back)
        await asyncio.sleep(0.1)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(len(arrivals.get(i, [])) < n_sockets for i in returned):
        await asyncio.sleep(0.05)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    after_return = [(t - back) * 1000 for i, (sent, back) in returned.items() for t in arrivals.get(i, [])]
    after_send = [(t - sent) * 1000 for i, (sent, back) in returned.items() for t in arrivals.get(i, [])]
    return {"sockets": n_sockets, "messages": len(after_return), "expected": n_sockets * posts,
            "p50_after_return_ms": pct(after_return, 0.5), "p95_after_return_ms": pct(after_return, 0.95),
            "p50_after_send_ms": pct(after_send, 0.5), "p95_after_send_ms": pct(after_send, 0.95)}


def open_count() -> int:
    return Incident.objects.filter(state__in=rules.OPEN).count()


def top_up(base: str, target: int, token: str, run: str) -> None:
    missing = target - open_count()
    rows = [{"source": "patrol", "category": "other", "title": f"load {run} {k}", "external_id": f"load-{run}-{k}",
             "lon": SEAT[0] + (k % 100) * 1e-4, "lat": SEAT[1] + (k // 100 % 100) * 1e-4} for k in range(missing)]
    for i in range(0, len(rows), 10_000):
        post(base, "/api/incidents/batch/", rows[i:i + 10_000], token)


def time_load(base: str, cookie: str, repeat: int = 3) -> tuple[float, int, int]:
    states = "&".join(f"state={s}" for s in sorted(rules.OPEN))
    url = f"{base}/api/incidents/?{states}&page_size=10000"
    best, size, count = float("inf"), 0, 0
    for _ in range(repeat):
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            raw = response.read()
        best = min(best, time.perf_counter() - start)
        size, count = len(raw), len(json.loads(raw)["features"])
    return best, size, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--loads", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    token, cookie = demo_token(), session_cookie("operator")
    with app_server(Path("/tmp") / f"live-bench-{run}.log") as base:
        print(f"server at {base}, Redis channel layer {os.environ['REDIS_URL']}, {os.cpu_count()} cores")
        print(f"{'sockets':>8} {'msgs':>9} {'p50 ms':>7} {'p95 ms':>8}  after POST returned;"
              "  p50/p95 after POST sent")
        for n in args.sockets:
            r = asyncio.run(push_latency(base, n, args.posts, token, cookie, run))
            print(f"{r['sockets']:>8} {r['messages']:>4}/{r['expected']:<4} {r['p50_after_return_ms']:>7.1f} "
                  f"{r['p95_after_return_ms']:>8.1f}  {r['p50_after_send_ms']:>24.1f} / {r['p95_after_send_ms']:.1f}")
        print(f"{'open':>8} {'load s':>8} {'MB':>6} features")
        for target in sorted(args.loads):
            top_up(base, target, token, run)
            seconds, size, count = time_load(base, cookie)
            print(f"{open_count():>8} {seconds:>8.2f} {size / 1e6:>6.1f} {count}")


if __name__ == "__main__":
    main()
