"""A category's extra questions at intake (incidents.attributes): defined and checked in the admin, asked
through Open311's service definition, answered through the API (one and batch) and Open311, checked,
stored with the incident and shown in its /context/."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from incidents.grants import EVERY_SOURCE, grant_sources
from incidents.models import Category, Incident
from tests.auth import token_for
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
QUESTIONS = [
    {"code": "fire", "datatype": "singlevaluelist", "required": True, "description": "是否有明火 open flames?",
     "values": [{"key": "yes", "name": "有 yes"}, {"key": "no", "name": "无 no"}]},
    {"code": "area_m2", "datatype": "number", "required": False, "description": "过火面积 area burnt (m²)"},
    {"code": "crops", "datatype": "multivaluelist", "required": False, "description": "作物 crops",
     "values": [{"key": "wheat", "name": "小麦"}, {"key": "rice", "name": "水稻"}]},
]


@pytest.fixture
def asking():
    category = Category.objects.get(code="straw_burning")
    category.attributes = QUESTIONS
    category.full_clean()
    category.save()
    return category


@pytest.fixture
def client_key():
    user = f.user("integration")
    grant_sources(user, sorted(EVERY_SOURCE))
    api = APIClient()
    api.force_authenticate(user)
    return api, token_for(user)


def body(**extra) -> dict:
    lon, lat = f.interior_point(f.grid())
    return {"source": "hotline_12345", "category": "straw_burning", "title": "焚烧秸秆", "lon": lon, "lat": lat,
            **extra}


def test_the_questions_are_checked_in_the_admin():
    category = Category.objects.get(code="other")
    for bad, words in [([{"code": "a b", "datatype": "string", "description": "q"}], "a code"),
                       ([{"code": "a", "datatype": "photo", "description": "q"}], "datatype"),
                       ([{"code": "a", "datatype": "string", "description": ""}], "a description"),
                       ([{"code": "a", "datatype": "singlevaluelist", "description": "q", "values": []}], "values"),
                       ([{"code": "a", "datatype": "string", "description": "q"}] * 2, "twice"),
                       ({"code": "a"}, "a list")]:
        category.attributes = bad
        with pytest.raises(ValidationError, match=words):
            category.full_clean()


def test_answered_through_the_api_checked_and_stored(asking, client_key):
    api, _ = client_key
    before = Incident.objects.count()
    for answers, field in [({}, "fire"), ({"fire": "maybe"}, "fire"), ({"fire": "yes", "area_m2": "big"}, "area_m2"),
                           ({"fire": "yes", "wind": "strong"}, "wind"), ({"fire": ["yes", "no"]}, "fire"),
                           ({"fire": "no", "crops": ["wheat", "corn"]}, "crops")]:
        response = api.post("/api/incidents/", body(attributes=answers), format="json")
        assert response.status_code == 400, response.content
        assert any(m.startswith(f"{field}: ") for m in response.json()["attributes"]), (answers, response.json())
    assert Incident.objects.count() == before  # nothing half-saved
    ok = api.post("/api/incidents/", body(attributes={"fire": "yes", "area_m2": "12.5", "crops": ["wheat", "rice"]}),
                  format="json")
    assert ok.status_code == 201, ok.content
    stored = Incident.objects.get(pk=ok.json()["id"])
    assert stored.attributes == {"fire": "yes", "area_m2": 12.5, "crops": ["wheat", "rice"]}
    context = f.api_client("operator").get(f"/api/incidents/{stored.pk}/context/").json()
    assert context["answers"][0] == {"code": "fire", "question": "是否有明火 open flames?", "value": "yes"}
    # a category without questions takes no answers, and reports without them as before
    assert api.post("/api/incidents/", body(category="other", attributes={"fire": "yes"}),
                    format="json").status_code == 400
    for not_an_object in (["yes"], "yes", None):
        refused = api.post("/api/incidents/", body(attributes=not_an_object), format="json")
        assert refused.status_code == 400 and all(isinstance(m, str) for m in refused.json()["attributes"])
    plain = api.post("/api/incidents/", body(category="other"), format="json")
    assert plain.status_code == 201 and Incident.objects.get(pk=plain.json()["id"]).attributes is None


def test_a_batch_checks_each_row(asking, client_key):
    api, _ = client_key
    rows = [body(external_id="q-1", attributes={"fire": "no"}), body(external_id="q-2"),
            body(external_id="q-3", category="other")]
    response = api.post("/api/incidents/batch/", rows, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["status"] == "created" and results[2]["status"] == "created"
    assert results[1]["status"] == "invalid" and results[1]["errors"]["attributes"][0].startswith("fire: required")
    assert Incident.objects.get(external_id="q-1").attributes == {"fire": "no"}


def test_open311_asks_and_takes_the_answers(asking, client_key):
    _, key = client_key
    api = APIClient()
    services = {s["service_code"]: s for s in api.get("/open311/v2/services.json").json()}
    assert services["straw_burning"]["metadata"] is True and services["other"]["metadata"] is False
    definition = api.get("/open311/v2/services/straw_burning.json").json()
    assert [(a["code"], a["datatype"], a["required"], a["order"]) for a in definition["attributes"]] == [
        ("fire", "singlevaluelist", True, 1), ("area_m2", "number", False, 2), ("crops", "multivaluelist", False, 3)]
    assert definition["attributes"][0]["values"] == [{"key": "yes", "name": "有 yes"}, {"key": "no", "name": "无 no"}]
    lon, lat = f.interior_point(f.grid())

    def post(pairs):
        return api.post("/open311/v2/requests.json", urlencode(
            [("api_key", key), ("service_code", "straw_burning"), ("description", "浓烟"), ("lat", lat),
             ("long", lon), *pairs]), content_type="application/x-www-form-urlencoded")

    refused = post([("attribute[fire]", "maybe")])
    assert refused.status_code == 400
    assert any("attribute[fire]" in e["description"] for e in refused.json())
    created = post([("attribute[fire]", "yes"), ("attribute[crops]", "wheat"), ("attribute[crops]", "rice")])
    assert created.status_code == 201, created.content
    stored = Incident.objects.get(pk=int(created.json()[0]["service_request_id"]))
    assert stored.attributes == {"fire": "yes", "crops": ["wheat", "rice"]}
