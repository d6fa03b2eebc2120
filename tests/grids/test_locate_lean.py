"""GET /api/locate's lean path (core.lean) answers exactly as the ordinary path (Django's handler, every
middleware, DRF): the same status, body bytes and headers, on many points (inside, on a shared edge,
on a vertex, in a dedicated grid, outside), in every accepted CRS, for bad input, without or with bad
credentials, with a session, and when throttled (one count for both paths)."""
from __future__ import annotations

import asyncio
import json
import re
import urllib.parse

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.test import Client, override_settings

from core.lean import LEAN_SKIPPED_MIDDLEWARE, LeanDispatch, LeanRoutes, lean_middleware
from gis_core.coords import (
    BD09,
    EPSG_3857,
    EPSG_4326,
    EPSG_4490,
    EPSG_4549,
    GCJ02,
    get_transformer,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from grids.models import Grid
from tests.auth import token_for
from tests.conftest import A1, A2, B1, D1

pytestmark = pytest.mark.django_db


def _integration(name: str = "lean_client") -> User:
    user = User.objects.create_user(name, password="pw-lean-1")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    return user


def _scope(query: dict | str, headers: dict[str, str], path: str = "/api/locate", method: str = "GET") -> dict:
    """An ASGI scope as uvicorn gives it for the request the Django test client sends."""
    qs = query if isinstance(query, str) else urllib.parse.urlencode(query)
    raw = [(b"host", b"testserver")] + [(k.lower().encode(), v.encode("latin1")) for k, v in headers.items()]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": qs.encode(), "root_path": "",
            "headers": raw, "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


@pytest.fixture
def both():
    """Return ask(query, headers) -> (ordinary, lean), each (status, headers, body)."""
    built = []

    def ask(query, headers=None):
        if not built:  # built at the first request, as a server builds it at start-up: after the settings
            built.append(LeanRoutes(["locate"]))
        routes = built[0]
        headers = headers or {}
        qs = query if isinstance(query, str) else urllib.parse.urlencode(query)
        response = Client().get(f"/api/locate?{qs}", **_meta(headers))
        cookies = sorted(c.output(header="").strip() for c in response.cookies.values())
        ordinary = (response.status_code, {**dict(response.items()), "Set-Cookie": cookies}, response.content)
        # as Django's test client does: the test's connection (inside its transaction) is not closed
        # by the request signals
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            status, raw, body = routes.handle(_scope(query, headers))
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        lean_headers = {k.decode("latin1"): v.decode("latin1") for k, v in raw if k != b"Set-Cookie"}
        cookies = sorted(v.decode("latin1") for k, v in raw if k == b"Set-Cookie")
        lean = (status, {**lean_headers, "Set-Cookie": cookies}, body)
        return ordinary, lean

    return ask


@pytest.fixture
def token():
    return token_for(_integration())


def _headers(headers: dict[str, str]) -> dict:
    """The headers, with the CSP's directives as a set: django-csp writes them in the order of a set."""
    policy = headers.get("Content-Security-Policy")
    return {**headers, "Content-Security-Policy": policy and frozenset(policy.split("; "))}


def _same(both, query, headers) -> tuple:
    ordinary, lean = both(query, headers)
    assert lean[0] == ordinary[0], (query, lean, ordinary)
    assert lean[2] == ordinary[2], query
    assert _headers(lean[1]) == _headers(ordinary[1]), query
    return ordinary


def test_the_lean_path_runs_the_security_middleware_and_skips_only_named_ones():
    kept = lean_middleware()
    assert "django.middleware.security.SecurityMiddleware" in kept
    assert "csp.middleware.CSPMiddleware" in kept and "core.middleware.BodyLimitMiddleware" in kept
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in kept
    assert "django.contrib.auth.middleware.LoginRequiredMiddleware" in kept
    assert set(settings.MIDDLEWARE) - set(kept) <= set(LEAN_SKIPPED_MIDDLEWARE)


def test_points_of_the_square_town_in_every_crs(both, token, square_town):
    auth = {"Authorization": f"Token {token}"}
    points = [
        (120.005, 31.005),   # inside A1
        (120.01, 31.005),    # on the edge shared by A1 and A2 (the smaller code wins)
        (120.01, 31.01),     # a vertex shared by A1, A2 and the town outline
        (120.00, 31.00),     # the town's corner
        (120.02, 31.004),    # on the A2/B1 edge, the two villages' boundary
        (120.01, 31.003),    # inside the dedicated market grid D1, on the A1/A2 edge
        (120.012, 31.003),   # inside D1 and A2
        (120.0301, 31.005),  # just outside (near B1)
        (120.06, 31.005),    # outside, the nearest grid at about 2.8 km
        (100.0, 10.0),       # far away
    ]
    to_metric = get_transformer(4326, 4549)
    to_mercator = get_transformer(4326, 3857)
    answers = set()
    for lon, lat in points:
        queries = [{"lon": lon, "lat": lat}, {"lon": lon, "lat": lat, "crs": EPSG_4326},
                   {"lon": lon, "lat": lat, "crs": EPSG_4490}, {"lon": lon, "lat": lat, "crs": "epsg:4326 "},
                   {"lon": lon, "lat": lat, "generation": square_town.pk}]
        gx, gy = wgs84_to_gcj02(lon, lat)
        bx, by = wgs84_to_bd09(lon, lat)
        queries += [{"lon": gx, "lat": gy, "crs": GCJ02}, {"lon": bx, "lat": by, "crs": BD09}]
        mx, my = to_mercator.transform(lon, lat)
        queries.append({"lon": mx, "lat": my, "crs": EPSG_3857})
        if lon > 110:  # EPSG:4549's area of use
            x, y = to_metric.transform(lon, lat)
            queries.append({"lon": x, "lat": y, "crs": EPSG_4549})
        for query in queries:
            status, _, body = _same(both, query, auth)
            assert status == 200
            answers.add(body)
    codes = {code for code in (A1, A2, B1, D1) if any(code.encode() in body for body in answers)}
    assert codes == {A1, A2, B1, D1}  # the points reached every grid, so the answers were not all alike


def test_points_of_the_gongdao_grids(both, token):
    auth = {"Authorization": f"Token {token}"}
    grids = Grid.objects.filter(generation__status="active", generation__town__code="321003100").order_by("code")
    assert grids.count() == 53
    for grid in grids:
        inside = grid.boundary.point_on_surface
        vertex = grid.boundary[0].exterior_ring[0]
        for lon, lat in (inside.coords, vertex):
            status, _, body = _same(both, {"lon": lon, "lat": lat}, auth)
            assert status == 200 and b'"grid":{' in body or b'"outside":true' in body


@pytest.mark.parametrize("query", [
    {"lat": 31.0},
    {"lon": "abc", "lat": 31.0},
    {"lon": "nan", "lat": 31.0},
    {"lon": "inf", "lat": 31.0},
    {"lon": "", "lat": 31.0},
    {"lon": 120.0, "lat": 95},
    {"lon": 200.0, "lat": 31.0},
    {"lon": 120.0, "lat": 31.0, "crs": "EPSG:32650"},
    {"lon": 120.0, "lat": 31.0, "crs": ""},
    {"lon": 1e9, "lat": 1e9, "crs": EPSG_4549},
    {"lon": 120.0, "lat": 31.0, "generation": 0},
    {"lon": 120.0, "lat": 31.0, "generation": "x"},
    {"lon": 120.0, "lat": 31.0, "generation": 999999},
    "lon=%ff&lat=31",
    "lon=120&lat=31&lon=121x",
])
def test_bad_input_gets_the_same_error(both, token, query):
    status, headers, body = _same(both, query, {"Authorization": f"Token {token}"})
    assert status in (400, 404) and headers["Content-Type"] == "application/json"


def test_a_repeated_parameter_is_read_alike(both, token):
    status, _, body = _same(both, "lon=1&lat=31&lon=119.35&lat=32.58", {"Authorization": f"Token {token}"})
    assert status == 200 and b'"lon":119.35' in body


def test_no_or_bad_credentials_get_the_same_401(both):
    for headers in ({}, {"Authorization": "Token nope"}, {"Authorization": "Token " + "a" * 64},
                    {"Authorization": "Token"}, {"Authorization": "Bearer x"}):
        status, answer_headers, _ = _same(both, {"lon": 120.0, "lat": 31.0}, headers)
        assert status == 401 and answer_headers["WWW-Authenticate"] == "Token"


def test_a_session_login_is_answered_alike(both):
    client = Client()
    client.force_login(User.objects.create_user("lean_operator"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    status, headers, _ = _same(both, {"lon": 119.35, "lat": 32.58}, {"Cookie": cookie})
    assert status == 200 and "Cookie" in headers["Vary"]


def test_other_accept_headers(both, token):
    for accept in ("application/json", "*/*", "application/json; indent=2", "application/xml", "text/csv"):
        _same(both, {"lon": 119.35, "lat": 32.58}, {"Authorization": f"Token {token}", "Accept": accept})
    # the browsable API: the same page, but for its CSRF token (new on every page)
    ordinary, lean = both({"lon": 119.35, "lat": 32.58}, {"Authorization": f"Token {token}", "Accept": "text/html"})
    assert ordinary[0] == lean[0] == 200
    assert ordinary[1]["Content-Type"] == lean[1]["Content-Type"] == "text/html; charset=utf-8"


def test_throttling_counts_both_paths_together(both):
    user = _integration("lean_throttled")
    auth = {"Authorization": f"Token {token_for(user)}"}
    rates = {"anon": "2/min", "user": "4/min", "intake": "5/min"}
    key = f"throttle_user_{user.pk}"  # DRF's key for the client (never cache.clear(): a shared Redis)
    cache.delete(key)
    try:
        with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
            ordinary, lean = both({"lon": 119.35, "lat": 32.58}, auth)
            assert ordinary[0] == lean[0] == 200  # two of four
            ordinary, lean = both({"lon": 119.35, "lat": 32.58}, auth)
            assert ordinary[0] == lean[0] == 200  # four of four
            ordinary, lean = both({"lon": 119.35, "lat": 32.58}, auth)
            assert ordinary[0] == lean[0] == 429
            waits = int(ordinary[1]["Retry-After"]), int(lean[1]["Retry-After"])
            assert min(waits) > 0 and abs(waits[0] - waits[1]) <= 1  # asked a moment apart: a second may tick
            # the same refusal, its seconds aside (they count down between the two requests)
            assert re.sub(rb"\d+", b"N", ordinary[2]) == re.sub(rb"\d+", b"N", lean[2])
            assert set(json.loads(lean[2])) == {"detail"}
    finally:
        cache.delete(key)


@override_settings(SECURE_SSL_REDIRECT=True)
def test_the_https_redirect_applies_to_both(both, token):
    status, headers, _ = _same(both, {"lon": 119.35, "lat": 32.58}, {"Authorization": f"Token {token}"})
    assert status == 301 and headers["Location"].startswith("https://")


def test_only_bodyless_gets_of_the_route_take_the_lean_path():
    routes = LeanRoutes(["locate"])
    assert routes.wants(_scope("lon=1&lat=2", {}))
    assert not routes.wants(_scope("lon=1&lat=2", {}, method="HEAD"))
    assert not routes.wants(_scope("lon=1&lat=2", {}, method="POST"))
    assert not routes.wants(_scope("lon=1&lat=2", {}, path="/api/locate/"))
    assert not routes.wants(_scope("lon=1&lat=2", {"Content-Length": "5"}))
    assert routes.wants(_scope("lon=1&lat=2", {"Content-Length": "0"}))
    assert not routes.wants(_scope("lon=1&lat=2", {"Transfer-Encoding": "chunked"}))
    assert not routes.wants({**_scope("lon=1&lat=2", {}), "query_string": "lon=é".encode()})
    assert not routes.wants({**_scope("lon=1&lat=2", {}), "root_path": "/gridops"})


def test_the_dispatch_answers_its_route_and_passes_the_rest():
    """Through the ASGI dispatch (the executor hop included): an anonymous request needs no database."""
    passed = []

    async def ordinary(scope, receive, send):
        passed.append(scope["path"])

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as executor:
        dispatch = LeanDispatch(ordinary, executor, ["locate"])
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            raise AssertionError("the lean path reads no body")

        asyncio.run(dispatch(_scope("lon=1&lat=2", {}), receive, send))
        asyncio.run(dispatch(_scope("", {}, path="/api/categories/"), receive, send))
    assert passed == ["/api/categories/"] and dispatch.routes.served == 1
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", b"Token") in [(k.lower(), v) for k, v in sent[0]["headers"]]
    assert set(json.loads(sent[1]["body"])) == {"detail"}


def test_the_served_application_takes_the_lean_path_for_locate():
    from gridops import asgi

    assert asgi.lean.url_names == tuple(settings.LEAN_API_URLS) == ("locate", "incident-list")
    assert asgi.application.app.application_mapping["http"] is asgi.lean
    assert asgi.lean.executor is asgi.http.executor  # the a2wsgi threads: their connections, no others
    assert asgi.lean.routes.wants(_scope("lon=1&lat=2", {}))
