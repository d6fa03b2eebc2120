"""What every operation of the API shares: its error answers in the schema, empty and bad paging
parameters refused, a lost database connection answered 503."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from django.db import OperationalError
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> APIClient:
    user = User.objects.create_user("contract_operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def _schema(client) -> dict:
    return json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)


def test_every_operation_describes_its_error_answers(operator):
    schema = _schema(operator)
    create = schema["paths"]["/api/incidents/"]["post"]["responses"]
    for code in ("400", "401", "403", "405", "409", "413", "415", "429", "503"):
        assert create[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, code
    assert "404" not in create  # no object named in its path
    detail = schema["paths"]["/api/incidents/{id}/"]["get"]["responses"]
    assert {"401", "403", "404", "429", "503"} <= detail.keys()
    assert "413" not in detail and "409" not in detail  # nothing to send, nothing to change
    services = schema["paths"]["/open311/v2/services.{fmt}"]["get"]["responses"]
    assert services["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Open311Error"}


def test_paged_geojson_is_described_as_sent(operator):
    schema = _schema(operator)
    page = schema["components"]["schemas"]["PaginatedIncidentList"]
    collection, extra = page["allOf"]
    assert collection == {"$ref": "#/components/schemas/IncidentList"}
    # a page by key (``before``, core.pagination) carries no count: only numbered pages have it
    assert set(extra["required"]) == {"type", "features"} and "count" in extra["properties"]
    assert "results" not in json.dumps(page)
    incident = schema["components"]["schemas"]["Incident"]["properties"]
    assert incident["geometry"]["nullable"] is True  # an incident in the triage queue has no location
    assert schema["components"]["schemas"]["Grid"]["properties"]["geometry"].get("nullable") is not True
    assert incident["properties"]["properties"]["grid_code"]["nullable"] is True


def test_a_parameter_sent_empty_is_refused(operator):
    assert operator.get("/api/cameras/", {"status": "online"}).status_code == 200
    answer = operator.get("/api/cameras/?status=")
    assert answer.status_code == 400 and list(answer.json()) == ["status"]
    answer = operator.get("/api/grids/?village=&kind=")
    assert answer.status_code == 400 and set(answer.json()) == {"village", "kind"}


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1.5", "10001"])
def test_a_bad_page_size_is_refused(operator, size):
    answer = operator.get("/api/incidents/", {"page_size": size})
    assert answer.status_code == 400 and list(answer.json()) == ["page_size"]


def test_page_sizes_and_pages_that_are_fine(operator):
    assert operator.get("/api/incidents/", {"page_size": "10000"}).status_code == 200
    assert operator.get("/api/incidents/", {"page_size": "1", "page": "1"}).status_code == 200
    assert operator.get("/api/incidents/", {"page": "0"}).status_code == 404  # documented: no such page


def test_a_lost_database_connection_is_503_with_retry_after():
    class Lost(APIView):
        permission_classes = []
        authentication_classes = []

        def get(self, request):
            raise OperationalError("server closed the connection unexpectedly")

    answer = Lost.as_view()(APIRequestFactory().get("/"))
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert "send it again" in answer.data["detail"]


def test_unknown_urls_answer_json_in_each_apis_own_shape(operator):
    api = operator.get("/api/no-such-thing/")
    assert api.status_code == 404 and api["Content-Type"] == "application/json" and "detail" in api.json()
    open311 = operator.get("/open311/v2/no-such-thing.json")
    assert open311.status_code == 404 and open311.json() == [{"code": 404, "description": "Not found."}]


def test_open311_formats_and_the_changes_cursor_are_described(operator):
    schema = _schema(operator)
    fmt = [p for p in schema["paths"]["/open311/v2/services.{fmt}"]["get"]["parameters"] if p["name"] == "fmt"]
    assert fmt[0]["schema"] == {"type": "string", "enum": ["json"]}
    cursor = [p for p in schema["paths"]["/api/incidents/"]["get"]["parameters"] if p["name"] == "changed_after"]
    assert cursor[0]["schema"]["pattern"].startswith("^[0-9]")
    answer = operator.get("/api/incidents/", {"changed_after": "abc"})
    assert answer.status_code == 400 and "not a changes cursor" in answer.json()["changed_after"][0]
