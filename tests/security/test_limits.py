"""Issue 11, limits: rate limits (429 with Retry-After), login lockout (django-axes), request body size
(413 before the body is read) and JSON nesting depth (400, never a 500)."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from rest_framework.test import APIClient

from core.middleware import BodyLimitMiddleware
from core.parsers import depth_exceeds
from tests.auth import token_for

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _integration(name: str = "limits_client") -> User:
    user = User.objects.create_user(name, password="pw-right-1")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    return user


@pytest.fixture
def low_rates():
    rates = {"anon": "2/min", "user": "3/min", "intake": "5/min"}
    cache.clear()
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        yield
    cache.clear()


def test_a_client_over_its_rate_gets_429_with_retry_after(low_rates):
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration())}")
    assert [api.get("/api/categories/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.get("/api/categories/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert set(throttled.json()) == {"detail"}
    # another client has its own count
    other = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration('other_client'))}")
    assert other.get("/api/categories/").status_code == 200


def test_intake_has_its_own_higher_rate(low_rates):
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration())}")
    for _ in range(3):
        assert api.get("/api/categories/").status_code == 200
    assert api.get("/api/categories/").status_code == 429
    # the intake POSTs count at the "intake" rate (5/min), apart from the client's other calls
    statuses = [api.post("/api/incidents/", {}, format="json").status_code for _ in range(6)]
    assert statuses[:5] == [400] * 5 and statuses[5] == 429


def test_anonymous_callers_are_throttled_per_address_on_public_endpoints(low_rates):
    first = APIClient(REMOTE_ADDR="10.9.9.1")
    assert [first.get("/open311/v2/services.json").status_code for _ in range(2)] == [200, 200]
    throttled = first.get("/open311/v2/services.json")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    # a made-up X-Forwarded-For does not make a new address (no trusted proxy by default)
    assert first.get("/open311/v2/services.json", HTTP_X_FORWARDED_FOR="10.7.7.7").status_code == 429
    assert APIClient(REMOTE_ADDR="10.9.9.2").get("/open311/v2/services.json").status_code == 200
    assert first.get("/healthz").status_code == 200  # probes are never throttled


def test_the_cache_is_redis_when_redis_url_is_set():
    import subprocess
    import sys

    code = ("import django; django.setup(); from django.core.cache import cache; from django.conf import settings; "
            "print(settings.CACHES['default']['BACKEND']); cache.set('issue11-probe', 7, 5); "
            "print(cache.get('issue11-probe'))")
    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "gridops.settings.test",
           "REDIS_URL": "redis://127.0.0.1:6379/0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                         cwd=settings.BASE_DIR, check=True).stdout.split()
    assert out == ["core.cache.RedisCache", "7"]  # Django's Redis backend, one client per pool (core/cache.py)


def test_the_limits_let_requests_through_when_the_cache_is_down(low_rates, caplog):
    """A stopped Redis must not turn every request into a 500 (tests/security/test_fault_drills.py)."""
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration())}")
    down = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0", "OPTIONS": {"socket_connect_timeout": 0.2}}}
    from core import throttling

    with override_settings(CACHES=down):
        assert [api.get("/api/categories/").status_code for _ in range(5)] == [200] * 5
    assert "rate limits not applied" in caplog.text
    # for a few seconds the cache is not even tried; then the limits apply again
    assert throttling._cache_down_until > 0
    throttling._cache_down_until = 0.0
    assert [api.get("/api/categories/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_limits_count_fixed_windows_in_redis(low_rates, monkeypatch):
    """On Redis (as deployed): 3 a minute, the fourth refused until the next minute's window, and the
    Retry-After is the time to that window."""
    from core import throttling
    from tests.servers import TEST_REDIS_URL

    redis_cache = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": TEST_REDIS_URL,
                               "KEY_PREFIX": "limits-test-" + str(__import__("uuid").uuid4())}}
    clock = [1_800_000_010.0]  # 10 s into a minute
    monkeypatch.setattr(throttling._SettingsRates, "timer", lambda self: clock[0], raising=False)
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration())}")
    with override_settings(CACHES=redis_cache):
        assert [api.get("/api/categories/").status_code for _ in range(3)] == [200] * 3
        refused = api.get("/api/categories/")
        assert refused.status_code == 429 and int(refused["Retry-After"]) == 50
        clock[0] += 49.0  # still the same minute
        assert api.get("/api/categories/").status_code == 429
        clock[0] += 1.0  # the next minute
        assert [api.get("/api/categories/").status_code for _ in range(4)] == [200, 200, 200, 429]
        from django.core.cache import cache as live

        keys = live._cache.get_client().keys(redis_cache["default"]["KEY_PREFIX"] + "*")
        assert len(keys) == 2  # one counter per window, in Redis
        live._cache.get_client().delete(*keys)


@pytest.fixture
def lockout():
    """The login lockout, on (settings.test turns it off: Client.login() has no request to give axes)."""
    with override_settings(AXES_ENABLED=True):
        yield


def _login(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def test_repeated_failed_logins_lock_out_that_username_from_that_address(lockout):
    User.objects.create_user("lockme", password="pw-right-1", is_staff=True)
    here = Client(REMOTE_ADDR="10.1.1.1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(here, "lockme", "wrong").status_code == 200  # the form again, with its error
    assert _login(here, "lockme", "wrong").status_code == 429  # the limit reached: locked out
    # even the right password is refused now, on the login page and on the admin's
    assert _login(here, "lockme", "pw-right-1").status_code == 429
    assert _login(here, "lockme", "pw-right-1", "/admin/login/").status_code == 429
    # the same user from another address, and another user from this one, may still log in
    assert _login(Client(REMOTE_ADDR="10.1.1.2"), "lockme", "pw-right-1").status_code == 302
    User.objects.create_user("bystander", password="pw-right-2")
    assert _login(Client(REMOTE_ADDR="10.1.1.1"), "bystander", "pw-right-2").status_code == 302


def test_a_lockout_ends_after_the_cool_off(lockout):
    from axes.models import AccessAttempt
    from django.utils import timezone

    User.objects.create_user("coolme", password="pw-right-1")
    here = Client(REMOTE_ADDR="10.1.1.3")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(here, "coolme", "wrong", "/admin/login/")
    assert _login(here, "coolme", "pw-right-1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert _login(here, "coolme", "pw-right-1").status_code == 302


@pytest.fixture
def hotline():
    return APIClient(HTTP_AUTHORIZATION=f"Token {token_for(_integration())}")


def test_a_body_over_the_limit_gets_413_before_anything_else(hotline):
    big = json.dumps({"source": "x", "title": "y" * (MB + 10)})
    for client in (hotline, APIClient()):  # checked before authentication too
        response = client.post("/api/incidents/", big, content_type="application/json")
        assert response.status_code == 413
        assert response.json() == {"detail": f"Request body too large: at most {MB} bytes here."}
    # a page's form too, and Open311
    assert Client().post("/accounts/login/", {"username": "x" * (MB + 10)}).status_code == 413
    assert hotline.post("/open311/v2/requests.json", big, content_type="application/json").status_code == 413


def test_the_batch_endpoint_takes_up_to_64_mb(hotline):
    rows = [{"source": "hotline_12345", "external_id": f"big-{i}", "category": "other", "title": "x" * 500,
             "lon": 119.35, "lat": 32.6} for i in range(2500)]
    body = json.dumps(rows)
    assert len(body) > MB
    response = hotline.post("/api/incidents/batch/", body, content_type="application/json")
    assert response.status_code not in (400, 413)
    # a declared length above 64 MB is refused before a byte is read
    declared = hotline.post("/api/incidents/batch/", "[]", content_type="application/json",
                            CONTENT_LENGTH=str(64 * MB + 1))
    assert declared.status_code == 413 and "67108864" in declared.json()["detail"]


def test_a_body_without_content_length_is_counted_as_it_is_read():
    def view(request):
        return HttpResponse(str(len(request.body)))

    middleware = BodyLimitMiddleware(view)
    small = RequestFactory().post("/accounts/login/", b"", content_type="application/json")
    small.META.pop("CONTENT_LENGTH", None)
    small._stream = io.BytesIO(b"x" * 1000)
    assert middleware(small).content == b"1000"
    chunked = RequestFactory().post("/accounts/login/", b"", content_type="application/json")
    chunked.META.pop("CONTENT_LENGTH", None)
    chunked._stream = io.BytesIO(b"x" * (MB + 1))
    response = middleware(chunked)
    assert response.status_code == 413 and json.loads(response.content)["detail"].startswith("Request body too large")


def test_a_declared_length_over_the_limit_never_reaches_the_view():
    def view(request):
        raise AssertionError("the view ran")

    request = RequestFactory().post("/api/locate", b"{}", content_type="application/json", CONTENT_LENGTH=str(MB + 1))
    assert BodyLimitMiddleware(view)(request).status_code == 413


def test_depth_check():
    nested = current = []
    for _ in range(31):
        current.append([])
        current = current[0]
    assert not depth_exceeds(nested, 32)
    current.append({"a": [1]})
    assert depth_exceeds(nested, 32)
    assert not depth_exceeds([{"a": 1}] * 10000, 2)


@pytest.mark.parametrize("body", ["[" * 100_000, "[" * 100_000 + "]" * 100_000,
                                  json.dumps({"title": json.loads("[" * 40 + "]" * 40)})])
def test_deep_json_is_a_400_on_every_endpoint(hotline, body):
    planner_user = User.objects.create_user("deep_planner")
    planner_user.groups.add(Group.objects.get_or_create(name="planner")[0])
    planner = APIClient()
    planner.force_authenticate(planner_user)
    for client, path in ((hotline, "/api/incidents/"), (hotline, "/api/incidents/batch/"),
                         (planner, "/api/generations/"), (hotline, "/api/incidents/1/relocate/")):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code in (400, 404), (path, response.status_code)
        if response.status_code == 400:
            assert "nested deeper than 32" in json.dumps(response.json()), path
    open311 = hotline.post("/open311/v2/requests.json", body, content_type="application/json")
    assert open311.status_code == 400 and "nested deeper than 32" in open311.content.decode()


def test_a_body_without_credentials_is_refused_before_it_is_read():
    def view(request):
        raise AssertionError("the view ran")

    middleware = BodyLimitMiddleware(view)
    anonymous = middleware(RequestFactory().post("/api/incidents/", b"{{{", content_type="application/json"))
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    assert set(json.loads(anonymous.content)) == {"detail"}
    # the same list can name a path whose clients send a key in the query string (as Open311's may)
    with override_settings(REQUEST_CREDENTIALS_REQUIRED=[(r"^/open311/v2/requests", ("api_key",))]):
        assert middleware(RequestFactory().post("/open311/v2/requests.json", b"x=1",
                                                content_type="application/x-www-form-urlencoded")).status_code == 401

        def reached(request):
            return HttpResponse("reached")

        passing = BodyLimitMiddleware(reached)
        for request in (RequestFactory().post("/open311/v2/requests.json?api_key=k", b"x=1",
                                              content_type="application/x-www-form-urlencoded"),
                        RequestFactory().post("/api/incidents/", b"{}", content_type="application/json",
                                              HTTP_AUTHORIZATION="Token k")):
            assert passing(request).content == b"reached"
    # reading methods are left to the views (a GET has no body to protect)
    assert BodyLimitMiddleware(lambda r: HttpResponse("ok"))(RequestFactory().get("/api/towns/")).content == b"ok"
