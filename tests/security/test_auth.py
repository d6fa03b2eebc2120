"""Issue 11, authentication: every URL of the project needs a login or a token, except the public few
named in gridops.urls.PUBLIC_URL_NAMES; tokens are knox's (hashed, expiring, revocable, shown once,
accepted in the Authorization header only)."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from core.api import Public
from core.authentication import ActorTokenAuthentication
from gridops.urls import PUBLIC_URL_NAMES
from tests.auth import token_for

pytestmark = pytest.mark.django_db

SAMPLES = {"code": "321003100001001", "format": "json", "fmt": "json", "url": "nothing-here",
           "service_code": "other"}
_GROUP = re.compile(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)")
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _converted(match: re.Match) -> str:
    return ".json" if match.group(1) == "drf_format_suffix" else _sample(match.group(2))


def _sample(name: str, body: str = "") -> str:
    if name in SAMPLES:
        return SAMPLES[name]
    words = body.split("|")
    if len(words) > 1 and all(re.fullmatch(r"\w+", w) for w in words):
        return words[0]  # admin's app_label alternation
    return "1"


def _concrete(pattern) -> str:
    """Return a concrete path matching one URL pattern (route or regex)."""
    text = str(pattern)
    if not hasattr(pattern, "regex") or "(?P<" not in text and "^" not in text and "$" not in text:
        return _CONVERTER.sub(_converted, text)
    if not text.startswith("^") and "<" in text and "(?P<" not in text:
        return _CONVERTER.sub(_converted, text)
    text = _GROUP.sub(lambda m: _sample(m.group(1), m.group(2)), text)
    text = text.replace("\\Z", "").lstrip("^").rstrip("$").replace("/?", "/").replace("\\.", ".").replace("\\", "")
    return text


def _walk(patterns, prefix: str = "", namespace: str = ""):
    """Yield (full name, concrete path, callback) for every URL pattern of the project."""
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + _concrete(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield (f"{namespace}{p.name}" if p.name else None), "/" + prefix + _concrete(p.pattern), p.callback


def _routes():
    routes = {}
    for name, path, callback in _walk(get_resolver().url_patterns):
        routes.setdefault(path, (name, callback))
    return sorted((path, name, callback) for path, (name, callback) in routes.items())


def _view_class(callback):
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None)


def test_the_walk_finds_every_kind_of_route_and_each_path_resolves_to_its_own_view():
    routes = _routes()
    paths = [p for p, _, _ in routes]
    for expected in ("/api/cameras/", "/api/cameras/coverage/", "/api/grids/", "/api/towns/", "/api/villages/",
                     "/api/locate", "/api/incidents/batch/", "/api/generations/1/publish/", "/map/", "/command/",
                     "/admin/", "/open311/v2/requests.json", "/healthz", "/accounts/login/"):
        assert expected in paths
    assert len(routes) > 100  # the router's routes with their format suffixes, the admin's models
    for path, _, callback in routes:
        assert resolve(path).func is callback, path


def test_anonymous_callers_get_401_or_the_login_everywhere_but_the_public_endpoints():
    client = APIClient()
    public_seen, problems = set(), []
    for path, name, _ in _routes():
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            status = response.status_code
            if name in PUBLIC_URL_NAMES:
                public_seen.add(name)
                if status in (401, 403) or (status == 302 and "login" in response.get("Location", "")):
                    problems.append(f"{method} {path}: public but {status}")
            elif path.startswith("/api/"):
                if status != 401 or response.get("WWW-Authenticate") != "Token":
                    problems.append(f"{method} {path}: {status}, not 401 with a Token challenge")
            elif path.startswith("/open311/"):
                if status != 403:  # GeoReport v2: a missing api_key is a 403, in its error shape
                    problems.append(f"{method} {path}: {status}, not 403")
            else:
                location = response.get("Location", "")
                if status != 302 or not location.startswith(("/accounts/login/", "/admin/login/")):
                    problems.append(f"{method} {path}: {status} {location}, not a redirect to the login")
    assert problems == []
    assert public_seen == PUBLIC_URL_NAMES


def test_the_public_list_matches_the_views_that_allow_anyone():
    """Public is used by exactly the public API views, and no view allows anyone otherwise."""
    for path, name, callback in _routes():
        cls = _view_class(callback)
        permissions = getattr(cls, "permission_classes", None) or []
        open_drf = any(issubclass(p, AllowAny) for p in permissions)
        if open_drf:
            assert name in PUBLIC_URL_NAMES and all(issubclass(p, Public) for p in permissions), path
        drf = hasattr(callback, "cls")
        if not drf and not getattr(callback, "login_required", True):
            assert name in PUBLIC_URL_NAMES, f"{path} opts out of the login but is not listed as public"


def test_healthz_says_ok_and_nothing_else():
    response = APIClient().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


def test_the_default_permission_is_authenticated_not_allow_any():
    from rest_framework.settings import api_settings

    assert [p.__name__ for p in api_settings.DEFAULT_PERMISSION_CLASSES] == ["IsAuthenticated"]
    assert api_settings.DEFAULT_AUTHENTICATION_CLASSES[0] is ActorTokenAuthentication


def _integration(name: str = "client311") -> User:
    user = User.objects.create_user(name)
    user.groups.add(Group.objects.get_or_create(name="integration")[0])
    return user


def test_a_token_works_in_the_header_only():
    key = token_for(_integration())
    api = APIClient()
    assert api.get("/api/categories/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    for param in ("token", "auth_token", "api_key"):
        response = api.get("/api/categories/", {param: key})
        assert response.status_code == 401, param
    assert api.post(f"/api/incidents/?token={key}", {}, format="json").status_code == 401
    assert api.post("/api/incidents/", {"token": key, "auth_token": key}, format="json").status_code == 401


def test_tokens_are_stored_as_digests_and_expire():
    user = _integration()
    key = token_for(user)
    stored = AuthToken.objects.get(user=user)
    assert key not in (stored.digest, stored.token_key) and key.startswith(stored.token_key)
    assert not AuthToken.objects.filter(digest__contains=key).exists()
    assert timedelta(days=89) < stored.expiry - timezone.now() <= timedelta(days=90)
    api = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/categories/").status_code == 200
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    expired = api.get("/api/categories/")
    assert expired.status_code == 401 and expired["WWW-Authenticate"] == "Token"
    assert not AuthToken.objects.filter(user=user).exists()  # an expired token is deleted when seen


def test_a_wrong_key_with_a_known_prefix_is_refused():
    user = _integration()
    key = token_for(user)
    forged = key[:15] + ("0" if key[15] != "0" else "1") + key[16:]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {forged}").get("/api/categories/").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION="Token").get("/api/categories/").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION="Token a b").get("/api/categories/").status_code == 401
    assert AuthToken.objects.filter(user=user).count() == 1


def test_a_key_with_a_nul_or_control_character_is_refused_not_a_500():
    """Found by the contract test: Open311's api_key (a query parameter) reached the token query with a
    NUL in it, which PostgreSQL cannot take."""
    key = token_for(_integration())
    api = APIClient()
    for bad in (key[:10] + "\x00" + key[11:], "\x00", key[:-1] + "\x16", "密钥" + key):
        response = api.get("/open311/v2/requests.json", {"api_key": bad})
        assert response.status_code == 403, repr(bad)  # GeoReport v2's answer to a key it refuses
        assert response.json()[0]["code"] == 403
    assert api.get("/open311/v2/requests.json", {"api_key": key}).status_code == 200


def test_wrong_role_is_403_not_401():
    key = token_for(User.objects.create_user("nobody_in_particular"))
    response = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/generations/")
    assert response.status_code == 403


def test_the_management_command_issues_once_lists_without_keys_and_revokes():
    user = _integration("hotline_cmd")
    out, err = io.StringIO(), io.StringIO()
    call_command("api_tokens", "issue", "hotline_cmd", "--days", "30", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key) and "shown once" in err.getvalue()
    token = AuthToken.objects.get(user=user)
    assert timedelta(days=29) < token.expiry - timezone.now() <= timedelta(days=30)
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/categories/").status_code == 200
    listing = io.StringIO()
    call_command("api_tokens", "list", stdout=listing)
    assert "hotline_cmd" in listing.getvalue() and token.token_key in listing.getvalue()
    assert key not in listing.getvalue() and token.digest not in listing.getvalue()
    call_command("api_tokens", "revoke", "--id", token.token_key, stdout=io.StringIO())
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/categories/").status_code == 401
    call_command("api_tokens", "issue", "hotline_cmd", "--no-expiry", stdout=io.StringIO(), stderr=io.StringIO())
    assert AuthToken.objects.get(user=user).expiry is None
    call_command("api_tokens", "revoke", "--user", "hotline_cmd", stdout=io.StringIO())
    assert not AuthToken.objects.filter(user=user).exists()


def test_prune_deletes_only_expired_tokens():
    user = _integration()
    token_for(user)
    token_for(user)
    AuthToken.objects.filter(pk=AuthToken.objects.filter(user=user).first().pk).update(
        expiry=timezone.now() - timedelta(days=1))
    call_command("api_tokens", "prune", stdout=io.StringIO())
    assert AuthToken.objects.filter(user=user).count() == 1


def test_the_old_drf_token_table_is_gone():
    from django.db import connection

    assert "authtoken_token" not in connection.introspection.table_names()
    from django.conf import settings

    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS


def test_demo_logins_issue_a_fresh_token_each_time():
    from demo.users import demo_token, ensure_demo_users

    ensure_demo_users()
    first, second = demo_token(), demo_token()
    assert first != second
    for key in (first, second):
        assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/categories/").status_code == 200
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    shown = re.search(r"Authorization: Token ([0-9a-f]{64})", out.getvalue()).group(1)
    assert APIClient(HTTP_AUTHORIZATION=f"Token {shown}").get("/api/categories/").status_code == 200


def test_a_request_without_credentials_is_refused_before_its_body_is_parsed():
    """Broken or deeply nested JSON from an anonymous caller is a 401, not a 400: the body is never parsed."""
    api = APIClient()
    for body in ("{{{ not json", "[" * 100_000):
        for path in ("/api/incidents/", "/api/incidents/batch/", "/api/generations/"):
            response = api.post(path, body, content_type="application/json")
            assert response.status_code == 401, (path, response.status_code)
