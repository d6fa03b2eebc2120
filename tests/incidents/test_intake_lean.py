"""POST /api/incidents/ on the lean path (core.lean) answers as the ordinary path (a2wsgi, Django's
handler, every middleware, DRF): a new report (the same incident but for its id and times), a re-sent
one byte for byte, bad input, missing or bad credentials, a source the client is not granted, a session
without its CSRF token; and only JSON bodies of a declared length within the limit take it."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Group, User
from django.core import signals
from django.db import close_old_connections, transaction
from django.test import Client

from core.lean import LeanDispatch, LeanRoutes
from core.middleware import body_limit
from incidents.grants import grant_sources
from incidents.models import Incident
from tests.auth import token_for
from tests.grids.test_locate_lean import _headers, _meta, _scope
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

PATH = "/api/incidents/"


def _client(name: str = "lean_intake") -> User:
    user = User.objects.create_user(name, password="pw-lean-1")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    grant_sources(user, ["hotline_12345"])
    return user


def _post_scope(body: bytes, headers: dict[str, str], content_type: str = "application/json") -> dict:
    return _scope("", {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}, path=PATH,
                  method="POST")


def _ordinary(body: bytes, headers: dict[str, str], client: Client | None = None) -> tuple:
    response = (client or Client()).post(PATH, data=body, content_type="application/json", **_meta(headers))
    cookies = sorted(c.output(header="").strip() for c in response.cookies.values())
    return response.status_code, {**dict(response.items()), "Set-Cookie": cookies}, response.content


def _lean(routes: LeanRoutes, body: bytes, headers: dict[str, str]) -> tuple:
    # as Django's test client does: the test's connection (inside its transaction) is not closed by the
    # request signals
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        status, raw, answer = routes.handle(_post_scope(body, headers), body)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    lean_headers = {k.decode("latin1"): v.decode("latin1") for k, v in raw if k != b"Set-Cookie"}
    cookies = sorted(v.decode("latin1") for k, v in raw if k == b"Set-Cookie")
    return status, {**lean_headers, "Set-Cookie": cookies}, answer


@pytest.fixture
def routes():
    return LeanRoutes(["incident-list"])  # built after the test's settings, as a server builds it at start-up


@pytest.fixture
def token():
    return token_for(_client())


def _report(external_id: str, **fields) -> bytes:
    lon, lat = f.interior_point(f.grid())
    return json.dumps({"source": "hotline_12345", "external_id": external_id, "category": "other",
                       "title": "井盖缺失 missing manhole cover", "lon": lon, "lat": lat, **fields}).encode()


def _same(routes, body: bytes, headers: dict[str, str]) -> tuple:
    ordinary, lean = _ordinary(body, headers), _lean(routes, body, headers)
    assert lean[0] == ordinary[0], (lean, ordinary)
    assert lean[2] == ordinary[2]
    assert _headers(lean[1]) == _headers(ordinary[1])
    return ordinary


def _without_id_and_times(answer: bytes) -> dict:
    feature = json.loads(answer)
    feature.pop("id")
    props = feature["properties"]
    for name in [n for n in props if n.endswith("_at")] + ["reference", "external_id"]:
        props.pop(name)
    return feature


def test_a_new_report_is_the_same_incident_on_both_paths(routes, token):
    """The same report, once each way (the first undone, so that the second is no duplicate of it): the
    same status, headers and incident but for its id, reference, external id and times."""
    headers = {"Authorization": f"Token {token}"}
    with transaction.atomic():
        ordinary = _ordinary(_report("lean-new-1"), headers)
        transaction.set_rollback(True)
    before = routes.served
    lean = _lean(routes, _report("lean-new-2"), headers)
    assert routes.served == before + 1
    assert ordinary[0] == lean[0] == 201
    assert {k: v for k, v in _headers(lean[1]).items() if k != "Content-Length"} == {
        k: v for k, v in _headers(ordinary[1]).items() if k != "Content-Length"}
    assert _without_id_and_times(lean[2]) == _without_id_and_times(ordinary[2])
    stored = Incident.objects.get(external_id="lean-new-2")
    assert json.loads(lean[2])["id"] == stored.pk and stored.state == "dispatched" and stored.grid_id is not None
    assert not Incident.objects.filter(external_id="lean-new-1").exists()


def test_a_resent_report_is_answered_alike(routes, token):
    headers = {"Authorization": f"Token {token}"}
    body = _report("lean-again")
    assert _ordinary(body, headers)[0] == 201
    status, answer_headers, _ = _same(routes, body, headers)
    assert status == 200 and answer_headers["Idempotent-Replay"] == "true"
    assert Incident.objects.filter(external_id="lean-again").count() == 1


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b"null", b"{}",
    json.dumps({"source": "hotline_12345", "category": "other", "title": "t", "lon": 200, "lat": 32.6}).encode(),
    json.dumps({"source": "hotline_12345", "category": "nope", "title": "t", "lon": 119.35, "lat": 32.6}).encode(),
    json.dumps({"source": "hotline_12345", "category": "other", "title": "", "lon": "x", "lat": 32.6}).encode(),
    json.dumps({"source": "hotline_12345", "category": "other", "title": "t", "crs": "EPSG:9999", "lon": 1,
                "lat": 2}).encode(),
    json.dumps({"source": "patrol", "category": "other", "title": "not granted"}).encode(),
    ("[" * 5000 + "]" * 5000).encode(),
], ids=["broken", "list", "null", "empty", "lon-200", "unknown-category", "text-lon", "unknown-crs",
        "source-not-granted", "deep"])
def test_bad_input_gets_the_same_answer(routes, token, body):
    status, _, _ = _same(routes, body, {"Authorization": f"Token {token}"})
    assert 400 <= status < 500
    assert not Incident.objects.filter(title__in=["t", "not granted"]).exists()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Token nope"}, {"Authorization": "Basic eDp5"}])
def test_no_or_bad_credentials_get_the_same_401(routes, headers):
    status, _, _ = _same(routes, _report("lean-anon"), headers)
    assert status == 401
    assert not Incident.objects.filter(external_id="lean-anon").exists()


def test_a_session_without_its_csrf_token_is_refused_alike(routes):
    """A logged-in page's POST needs its CSRF token on both paths (DRF's session authentication)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(f.user("operator"))
    headers = {"Cookie": "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())}
    ordinary = _ordinary(_report("lean-session"), {}, client=client)
    lean = _lean(routes, _report("lean-session"), headers)
    assert ordinary[0] == lean[0] == 403 and lean[2] == ordinary[2]
    assert not Incident.objects.filter(external_id="lean-session").exists()


def test_only_json_posts_of_a_declared_length_within_the_limit_take_the_lean_path(settings):
    routes = LeanRoutes(["incident-list"])
    body = b'{"a": 1}'
    limit = body_limit(PATH, "application/json")
    assert routes.wants(_post_scope(body, {}))
    assert routes.wants(_post_scope(body, {}, content_type="application/json; charset=utf-8"))
    assert routes.wants(_scope("", {}, path=PATH))  # the list's GET, body-less
    assert not routes.wants(_post_scope(body, {}, content_type="multipart/form-data; boundary=x"))  # photos
    assert not routes.wants(_post_scope(body, {}, content_type="text/plain"))
    assert not routes.wants(_scope("", {"Content-Type": "application/json"}, path=PATH, method="POST"))  # no length
    assert not routes.wants(_scope("", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                                    path=PATH, method="POST"))
    assert not routes.wants(_scope("", {"Content-Type": "application/json", "Content-Length": "x"}, path=PATH,
                                    method="POST"))
    over = _scope("", {"Content-Type": "application/json", "Content-Length": str(limit + 1)}, path=PATH,
                  method="POST")
    assert not routes.wants(over)  # the ordinary path's 413, before the body is read
    at_limit = _scope("", {"Content-Type": "application/json", "Content-Length": str(limit)}, path=PATH,
                      method="POST")
    assert routes.wants(at_limit)
    twice = _post_scope(body, {})
    twice["headers"] = twice["headers"] + [(b"content-length", b"8")]
    assert not routes.wants(twice)
    for method in ("PUT", "PATCH", "DELETE", "HEAD"):
        assert not routes.wants({**_post_scope(body, {}), "method": method})
    assert not routes.wants({**_post_scope(body, {}), "path": "/api/incidents/batch/"})


def test_the_dispatch_reads_the_body_in_parts_and_answers_nothing_to_a_client_gone():
    """Through the ASGI dispatch (an anonymous POST is refused before the database): the body arrives in
    two messages; a client that leaves before its body is complete gets nothing, and nothing is run."""
    body = b'{"source": "hotline_12345", "title": "t"}'

    def messages(parts):
        queue = list(parts)

        async def receive():
            return queue.pop(0)
        return receive

    with ThreadPoolExecutor(1) as executor:
        dispatch = LeanDispatch(None, executor, ["incident-list"])
        sent = []

        async def send(message):
            sent.append(message)

        scope = _post_scope(body, {})
        asyncio.run(dispatch(scope, messages([{"type": "http.request", "body": body[:10], "more_body": True},
                                              {"type": "http.request", "body": body[10:]}]), send))
        assert sent[0]["status"] == 401 and dispatch.routes.served == 1
        sent.clear()
        asyncio.run(dispatch(scope, messages([{"type": "http.request", "body": body[:10], "more_body": True},
                                              {"type": "http.disconnect"}]), send))
        assert sent == [] and dispatch.routes.served == 1


@pytest.mark.parametrize("query", ["", "page_size=2", "state=dispatched", "bbox=119.2,32.5,119.5,32.7", "page=x"])
def test_the_list_is_answered_alike(routes, query):
    """The list's GET (the same route) takes the lean path too: the same answer."""
    for _n in range(3):
        f.located("other")
    headers = {"Authorization": f"Token {token_for(f.user('operator'))}"}
    response = Client().get(f"{PATH}?{query}", **_meta(headers))
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        status, raw, answer = routes.handle(_scope(query, headers, path=PATH))
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert status == response.status_code and answer == response.content
    assert _headers({k.decode(): v.decode() for k, v in raw}) == _headers(dict(response.items()))
