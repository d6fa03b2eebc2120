"""Issue 11, errors: one body shape for every error status of the API, JSON (never Django's HTML) for
Django's own 404 and 500 under /api/."""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from core import api as core_api
from incidents.grants import grant_sources
from tests.auth import token_for

pytestmark = pytest.mark.django_db


def _shape_ok(body) -> bool:
    """{"detail": message(s)} or a dict of field -> messages; never a bare list or HTML."""
    return isinstance(body, dict) and body and all(isinstance(k, str) for k in body)


def _client(*groups: str) -> APIClient:
    user = User.objects.create_user(f"err_{User.objects.count()}_{'_'.join(groups)}")
    for g in groups:
        user.groups.add(Group.objects.get_or_create(name=g)[0])
    if "integration" in groups:
        grant_sources(user, ["hotline_12345"])  # a client posts only for its granted sources
    return APIClient(HTTP_AUTHORIZATION=f"Token {token_for(user)}")


def test_every_error_status_has_the_same_shape():
    operator, hotline, plain = _client("operator"), _client("integration"), _client()
    answers = {
        400: operator.get("/api/locate", {"lon": "x"}),
        401: APIClient().get("/api/towns/"),
        403: plain.get("/api/generations/"),
        404: operator.get("/api/incidents/999999999/"),
        405: operator.delete("/api/categories/"),
        413: hotline.post("/api/incidents/", "x" * (2 * 1024 * 1024), content_type="application/json"),
        415: hotline.post("/api/incidents/", "<xml/>", content_type="application/xml"),
    }
    row = {"source": "hotline_12345", "external_id": "shape-1", "category": "other", "title": "t",
           "lon": 119.35, "lat": 32.6}
    created = hotline.post("/api/incidents/", row, format="json")
    assert created.status_code == 201
    # a state that does not allow the action: a dispatched incident cannot be verified yet
    answers[409] = operator.post(f"/api/incidents/{created.json()['id']}/verify/", {"note": ""}, format="json")
    cache.clear()
    rates = {"anon": "1/min", "user": "1/min", "intake": "1/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        plain.get("/api/categories/")
        answers[429] = plain.get("/api/categories/")
    cache.clear()
    for status, response in answers.items():
        assert response.status_code == status, (status, response.status_code, response.content[:200])
        assert response["Content-Type"].startswith("application/json"), status
        assert _shape_ok(response.json()), (status, response.json())
        if status != 400:
            assert set(response.json()) == {"detail"}, (status, response.json())
    assert "lon" in answers[400].json()  # field messages for bad input, as before
    assert answers[401]["WWW-Authenticate"] == "Token"


def test_a_bare_list_of_messages_is_wrapped_in_detail():
    from rest_framework import exceptions

    response = core_api.exception_handler(exceptions.ValidationError(["one", "two"]), {})
    assert response.status_code == 400 and response.data == {"detail": ["one", "two"]}


def test_django_404_under_api_is_json_and_pages_keep_html():
    client = APIClient()
    api = client.get("/api/no-such-thing/")
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}
    assert api["Content-Type"].startswith("application/json")
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and "text/html" in page["Content-Type"]


def test_django_500_under_api_is_json():
    from gridops import urls

    assert urls.handler500 == "core.api.server_error" and urls.handler404 == "core.api.page_not_found"
    response = core_api.server_error(RequestFactory().get("/api/incidents/"))
    assert response.status_code == 500 and json.loads(response.content) == {"detail": "Server error."}
    assert core_api.server_error(RequestFactory().get("/map/"))["Content-Type"].startswith("text/html")
    bad = core_api.bad_request(RequestFactory().get("/api/incidents/"))
    assert bad.status_code == 400 and json.loads(bad.content) == {"detail": "Bad request."}
