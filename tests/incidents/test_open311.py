"""Open311 GeoReport v2 over HTTP on the Gongdao data: services, posting, reading back, scoping, errors."""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from core.actors import Actor
from incidents.grants import EVERY_SOURCE, grant_sources
from incidents.lifecycle import incident_transition
from incidents.models import Incident
from tests.auth import token_for

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"
SEAT = {"long": "119.343908", "lat": "32.588310"}  # the town seat of Gongdao, WGS84
CODES = {"illegal_construction", "straw_burning", "public_security", "rental_housing", "work_safety",
         "environment_sanitation", "roads_facilities", "neighbour_dispute", "other"}


def _user(name: str, group: str | None = None) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}")
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    if group == "integration":  # these tests are about Open311, not grants (tests/security/test_intake.py)
        grant_sources(user, sorted(EVERY_SOURCE))
    return user


def _key(name: str, group: str | None = "integration") -> str:
    return token_for(_user(name, group))


@pytest.fixture
def key() -> str:
    """The api_key of an integration client (a 311 app)."""
    return _key("app311")


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def post(api: APIClient, **fields):
    """POST requests.json form-encoded, as most 311 clients do (a field given as None is left out)."""
    body = {"service_code": "straw_burning", "description": "田间焚烧秸秆，浓烟很大", **fields}
    body = {name: value for name, value in body.items() if value is not None}
    return api.post(f"{BASE}/requests.json", urlencode(body), content_type="application/x-www-form-urlencoded")


def created_id(response) -> int:
    assert response.status_code == 201, response.content
    return int(response.json()[0]["service_request_id"])


def read(api: APIClient, key: str, request_id) -> dict:
    response = api.get(f"{BASE}/requests/{request_id}.json", {"api_key": key})
    assert response.status_code == 200, response.content
    (body,) = response.json()
    return body


def assert_error(response, code: int) -> list[dict]:
    assert response.status_code == code, response.content
    errors = response.json()
    assert isinstance(errors, list) and errors
    assert all(set(e) == {"code", "description"} and e["code"] == code and e["description"] for e in errors)
    return errors


def test_services_are_the_active_categories(api):
    response = api.get(f"{BASE}/services.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    services = {s["service_code"]: s for s in response.json()}
    assert set(services) == CODES
    straw = services["straw_burning"]
    assert straw["service_name"] == "秸秆禁烧 Straw burning"
    assert (straw["metadata"], straw["type"]) == (False, "realtime")
    assert "秸秆禁烧" in straw["keywords"] and straw["group"] == "专职网格员 full-time grid worker"


def test_service_definition_and_unknown_code(api):
    response = api.get(f"{BASE}/services/straw_burning.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": "straw_burning", "attributes": []}
    assert "unicorns" in assert_error(api.get(f"{BASE}/services/unicorns.json"), 404)[0]["description"]


def test_xml_is_refused(api, key):
    assert "json" in assert_error(api.get(f"{BASE}/services.xml"), 400)[0]["description"]
    assert_error(post_to(api, "requests.xml", key), 400)
    assert Incident.objects.filter(submitted_by__username="app311").count() == 0


def post_to(api: APIClient, path: str, key: str):
    body = urlencode({"api_key": key, "service_code": "other", "description": "x", **SEAT})
    return api.post(f"{BASE}/{path}", body, content_type="application/x-www-form-urlencoded")


def test_post_at_the_town_seat_is_located_dispatched_and_reads_back(api, key):
    response = post(api, api_key=key, **SEAT)
    request_id = created_id(response)
    answer = response.json()[0]
    assert answer["account_id"] is None and "派遣 dispatched" in answer["service_notice"]
    incident = Incident.objects.get(pk=request_id)
    assert (incident.source, incident.submitted_by.username, incident.original_crs) == ("citizen", "app311",
                                                                                         "EPSG:4326")
    assert incident.state == Incident.State.DISPATCHED and incident.registered_at is not None
    assert incident.grid.code.startswith("321003100") and incident.handling_grid is not None
    assert incident.title == "田间焚烧秸秆，浓烟很大"

    body = read(api, key, request_id)
    assert body["service_request_id"] == str(request_id)
    assert (body["service_code"], body["status"], body["description"]) == ("straw_burning", "open",
                                                                            "田间焚烧秸秆，浓烟很大")
    assert abs(body["lat"] - 32.588310) < 1e-6 and abs(body["long"] - 119.343908) < 1e-6
    assert body["status_notes"] == "派遣 dispatched" and body["media_url"] is None
    assert body["agency_responsible"] == incident.handling_grid.name
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(body[name]).utcoffset() is not None, name


def test_post_json_with_a_token_header_and_reporter_fields(api, key):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"service_code": "environment_sanitation", "description": "垃圾堆积", "lat": 32.588310,
            "long": 119.343908, "first_name": "小明", "last_name": "王", "phone": "138-0000-0000",
            "email": "wang@example.com", "media_url": "https://example.com/p.jpg", "device_id": "d1"}
    request_id = created_id(api.post(f"{BASE}/requests.json", body, format="json"))
    incident = Incident.objects.get(pk=request_id)
    assert (incident.reporter_name, incident.reporter_phone) == ("王小明", "138-0000-0000")
    assert (incident.reporter_email, incident.media_url) == ("wang@example.com", "https://example.com/p.jpg")
    assert incident.description == "垃圾堆积"


def test_post_with_an_address_string_uses_the_gazetteer(api, key):
    request_id = created_id(post(api, api_key=key, address_string="花园社区"))
    incident = Incident.objects.get(pk=request_id)
    assert incident.location_source == "address" and incident.village.name == "花园社区"
    assert incident.address == "花园社区" and incident.state == Incident.State.DISPATCHED
    body = read(api, key, request_id)
    assert body["address"] == "花园社区" and body["lat"] is not None and body["long"] is not None


def test_a_point_outside_the_town_is_kept_for_triage(api, key):
    response = post(api, api_key=key, lat="31.0", long="120.5")
    incident = Incident.objects.get(pk=created_id(response))
    assert incident.triage == Incident.Triage.OUTSIDE and incident.grid is None
    assert "command centre" in response.json()[0]["service_notice"]
    assert read(api, key, incident.pk)["status"] == "open"


def test_re_sending_the_same_external_id_is_idempotent(api, key):
    first = created_id(post(api, api_key=key, external_id="app-0001", **SEAT))
    again = post(api, api_key=key, external_id="app-0001", description="changed", **SEAT)
    assert again.status_code == 200
    assert again.json()[0]["service_request_id"] == str(first)
    assert Incident.objects.filter(external_id="app-0001").count() == 1


def test_an_external_id_of_another_client_is_another_request(api, key):
    first = created_id(post(api, api_key=key, external_id="shared-1", **SEAT))
    other = created_id(post(api, api_key=_key("other311"), external_id="shared-1", **SEAT))
    assert other != first
    assert Incident.objects.filter(external_id="shared-1").count() == 2


@pytest.mark.parametrize("api_key", ["not-a-key", "", None])
def test_a_bad_or_missing_api_key_is_refused(api, api_key):
    before = Incident.objects.count()
    fields = {**SEAT} if api_key is None else {"api_key": api_key, **SEAT}
    assert_error(post(api, **fields), 403)
    assert Incident.objects.count() == before


def test_a_bad_token_header_or_a_client_outside_the_groups_is_refused(api):
    before = Incident.objects.count()
    api.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert_error(post(api, **SEAT), 403)
    assert_error(post(APIClient(), api_key=_key("reader", group="town_leader"), **SEAT), 403)
    assert Incident.objects.count() == before


@pytest.mark.parametrize("change,field", [
    ({"lat": "95"}, "lat"),
    ({"long": "east"}, "long"),
    ({"long": "NaN"}, "long"),
    ({"lat": ""}, "long"),
    ({"service_code": "unicorns"}, "service_code"),
    ({"service_code": ""}, "service_code"),
    ({"description": ""}, "description"),
    ({"description": None}, "description"),
    ({"lat": None, "long": None}, "location"),
    ({"lat": None, "long": None, "address_id": "A1"}, "address_id"),
    ({"external_id": "has space"}, "external_id"),
    ({"source": "camera"}, "source"),
    ({"media_url": "not a url"}, "media_url"),
])
def test_bad_input_is_400_in_the_open311_format_and_saves_nothing(api, key, change, field):
    fields = {"api_key": key, **SEAT, **change}
    before = Incident.objects.count()
    errors = assert_error(post(api, **fields), 400)
    assert any(field in e["description"] for e in errors), errors
    assert Incident.objects.count() == before


def test_another_client_cannot_read_the_request(api, key):
    request_id = created_id(post(api, api_key=key, **SEAT))
    other = _key("other311")
    assert_error(api.get(f"{BASE}/requests/{request_id}.json", {"api_key": other}), 404)
    listed = api.get(f"{BASE}/requests.json", {"api_key": other, "service_request_id": str(request_id)})
    assert listed.status_code == 200 and listed.json() == []
    assert_error(api.get(f"{BASE}/requests/{request_id}.json"), 403)
    assert_error(api.get(f"{BASE}/requests/abc.json", {"api_key": key}), 404)
    operator = APIClient()
    operator.force_login(_user("op311", "operator"))
    assert operator.get(f"{BASE}/requests/{request_id}.json").status_code == 200


def test_list_filters(api, key):
    straw = created_id(post(api, api_key=key, **SEAT))
    other = created_id(post(api, api_key=key, service_code="other", **SEAT))

    def ids(**params) -> list[int]:
        response = api.get(f"{BASE}/requests.json", {"api_key": key, **params})
        assert response.status_code == 200, response.content
        return [int(r["service_request_id"]) for r in response.json()]

    assert ids() == [other, straw]
    assert ids(service_code="straw_burning") == [straw]
    assert ids(service_request_id=f"{straw},{other}", service_code="nothing") == [other, straw]
    assert ids(status="open") == [other, straw] and ids(status="closed") == []
    assert ids(start_date="2001-01-01T00:00:00+08:00", end_date="2001-02-01T00:00:00+08:00") == []
    today = Incident.objects.get(pk=straw).created_at.date().isoformat()
    assert ids(start_date=today) == [other, straw]
    unencoded = api.get(f"{BASE}/requests.json?api_key={key}&start_date={today}T00:00:00+08:00")  # "+" -> " "
    assert [int(r["service_request_id"]) for r in unencoded.json()] == [other, straw]
    for bad in ({"status": "pending"}, {"start_date": "yesterday"}, {"service_request_id": "1,x"},
                {"start_date": "2024-01-01", "end_date": "2024-06-01"}, {"status": ""}, {"start_date": ""}):
        assert_error(api.get(f"{BASE}/requests.json", {"api_key": key, **bad}), 400)
    # valid ISO 8601 that PostgreSQL would not take as is (offsets beyond 15:59) or that leaves the
    # years 1-9999 in UTC: an answer or a 400, never a 500
    assert ids(end_date="0308-09-30T00:11:10.772-16:32") == []
    assert ids(start_date="2001-01-01T00:00:00+23:59", end_date="2001-01-02T00:00:00-23:59") == []
    for bad in ({"start_date": "0001-01-01T00:00:00+14:00"}, {"end_date": "9999-12-31T23:59:59-12:00"}):
        assert_error(api.get(f"{BASE}/requests.json", {"api_key": key, **bad}), 400)


def test_status_is_closed_once_the_incident_is_closed(api, key):
    request_id = created_id(post(api, api_key=key, **SEAT))
    operator = Actor.of(_user("op-close", "operator"))
    for action in ("accept", "report_handled", "verify", "close"):
        incident_transition(incident_id=request_id, action=action, actor=operator)
    body = read(api, key, request_id)
    assert (body["status"], body["status_notes"]) == ("closed", "结案 closed")
    closed = api.get(f"{BASE}/requests.json", {"api_key": key, "status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [str(request_id)]


def test_the_schema_lists_the_open311_endpoints(api):
    api.force_authenticate(_user("schema_reader"))  # the schema is for logged-in callers (issue 11)
    paths = json.loads(api.get("/api/schema/", HTTP_ACCEPT="application/json").content)["paths"]
    assert any(p.startswith("/open311/v2/requests") for p in paths)


def test_status_notes_are_the_latest_public_note(api, key):
    from incidents.actions import incident_status_note

    request_id = created_id(post(api, api_key=key, **SEAT))
    assert read(api, key, request_id)["status_notes"] == "派遣 dispatched"
    operator = Actor.of(_user("op-notes", "operator"))
    incident_status_note(incident_id=request_id, actor=operator, note="已派网格员现场查看 a grid worker is on the way")
    incident_transition(incident_id=request_id, action="accept", actor=operator, note="")
    body = read(api, key, request_id)
    assert (body["status"], body["status_notes"]) == ("open", "已派网格员现场查看 a grid worker is on the way")
    incident_transition(incident_id=request_id, action="report_handled", actor=operator, note="火已扑灭 put out")
    incident_transition(incident_id=request_id, action="verify", actor=operator, note="internal: checked on CCTV")
    assert read(api, key, request_id)["status_notes"] == "火已扑灭 put out"  # verify's note is not public
    listed = api.get(f"{BASE}/requests.json", {"api_key": key}).json()
    assert listed[0]["status_notes"] == "火已扑灭 put out"


def test_media_url_is_the_senders_link_or_the_reports_own_photo(api, key):
    from django.core.files.base import ContentFile

    from incidents.models import Photo

    linked = created_id(post(api, api_key=key, media_url="https://12345.example.cn/p/1.jpg", **SEAT))
    assert read(api, key, linked)["media_url"] == "https://12345.example.cn/p/1.jpg"
    plain = created_id(post(api, api_key=key, **SEAT))
    assert read(api, key, plain)["media_url"] is None
    from django.utils import timezone

    photo = Photo(incident_id=plain, stage="intake", content_type="image/jpeg", size_bytes=3, width=1, height=1,
                  sha256="0" * 64, uploaded_by_label="app311", created_at=timezone.now())
    photo.file.save("p.jpg", ContentFile(b"abc"), save=False)
    photo.save()
    assert read(api, key, plain)["media_url"] == f"http://testserver/api/photos/{photo.pk}/file/"


def test_service_request_updates_as_fixmystreet_reads_them(api, key):
    from incidents.actions import incident_status_note

    request_id = created_id(post(api, api_key=key, **SEAT))
    operator = Actor.of(_user("op-updates", "operator"))
    incident_status_note(incident_id=request_id, actor=operator, note="处理中 in hand")
    for action in ("accept", "report_handled", "verify", "close"):
        incident_transition(incident_id=request_id, action=action, actor=operator, note=f"{action} note")
    response = api.get(f"{BASE}/servicerequestupdates.json", {"api_key": key})
    assert response.status_code == 200, response.content
    updates = response.json()
    assert [(u["external_status_code"], u["status"]) for u in updates] == [
        ("register", "investigating"), ("dispatch", "action_scheduled"), ("status_note", "action_scheduled"),
        ("accept", "in_progress"), ("report_handled", "in_progress"), ("close", "fixed")]  # not verify
    assert {u["service_request_id"] for u in updates} == {str(request_id)}
    assert updates[2]["description"] == "处理中 in hand" and updates[0]["description"] == "立案 registered"
    assert set(updates[0]) == {"update_id", "service_request_id", "status", "updated_datetime", "description",
                               "media_url", "external_status_code"}
    # the period, one request, and nobody else's
    assert api.get(f"{BASE}/servicerequestupdates.json", {"api_key": key, "start_date": "2001-01-01",
                                                          "end_date": "2001-01-02"}).json() == []
    other_id = created_id(post(api, api_key=key, **SEAT))
    only = api.get(f"{BASE}/servicerequestupdates.json", {"api_key": key, "service_request_id": str(other_id)})
    assert [u["service_request_id"] for u in only.json()] == [str(other_id)] * 2
    assert api.get(f"{BASE}/servicerequestupdates.json", {"api_key": _key("other-app")}).json() == []
    assert_error(api.get(f"{BASE}/servicerequestupdates.json"), 403)
    for bad in ({"start_date": "yesterday"}, {"start_date": "2024-01-01", "end_date": "2024-06-01"}):
        assert_error(api.get(f"{BASE}/servicerequestupdates.json", {"api_key": key, **bad}), 400)
