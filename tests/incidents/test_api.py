"""The incidents API over HTTP: intake (token), 400s that save nothing, batches, actions, scoping."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient
from rest_framework.utils.encoders import JSONEncoder

from cameras.models import Camera
from grids.models import GridTeam
from incidents.geojson import IncidentSerializer
from incidents.grants import EVERY_SOURCE, grant_sources
from incidents.models import Incident, IncidentEvent
from incidents.serializers import IntakeSerializer
from tests.auth import token_for

pytestmark = pytest.mark.django_db

SEAT = {"lon": 119.343908, "lat": 32.588310}


def _user(name: str, group: str | None = None) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}")
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    if group == "integration":  # these tests are about intake, not grants (tests/security/test_intake.py)
        grant_sources(user, sorted(EVERY_SOURCE))
    return user


@pytest.fixture
def hotline():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(_user('hotline_test', 'integration'))}")
    return client


@pytest.fixture
def operator():
    client = APIClient()
    client.force_authenticate(_user("op1", "operator"))
    return client


def _report(**extra) -> dict:
    return {"source": "hotline_12345", "category": "straw_burning", "title": "田间焚烧秸秆", **SEAT, **extra}


def test_token_client_reports_an_incident_that_is_located_and_dispatched(hotline):
    response = hotline.post("/api/incidents/", _report(external_id="12345-0001"), format="json")
    assert response.status_code == 201 and response["Idempotent-Replay"] == "false"
    body = response.json()
    assert body["properties"]["state"] == "dispatched"
    assert body["properties"]["grid_code"].startswith("321003100")
    assert body["properties"]["assignee"]["role"] == "grid_worker"
    assert body["geometry"]["type"] == "Point"


def test_re_sending_returns_the_stored_incident(hotline):
    first = hotline.post("/api/incidents/", _report(external_id="12345-0002"), format="json").json()
    again = hotline.post("/api/incidents/", _report(external_id="12345-0002", title="changed"), format="json")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json()["id"] == first["id"]
    assert Incident.objects.filter(external_id="12345-0002").count() == 1


def test_unauthenticated_and_read_only_users_cannot_report(hotline):
    assert APIClient().post("/api/incidents/", _report(), format="json").status_code in (401, 403)
    leader = APIClient()
    leader.force_authenticate(_user("boss", "town_leader"))
    assert leader.post("/api/incidents/", _report(), format="json").status_code == 403
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("change,field", [
    ({"lon": "NaN"}, "lon"),
    ({"lon": 181}, "lon"),
    ({"lat": -91}, "lat"),
    ({"lat": None}, "lat"),
    ({"crs": "EPSG:32650"}, "crs"),
    ({"category": "unicorns"}, "category"),
    ({"source": "telepathy"}, "source"),
    ({"title": "x" * 201}, "title"),
    ({"description": "x" * 5001}, "description"),
    ({"severity": 9}, "severity"),
    ({"external_id": "has spaces and 中文"}, "external_id"),
    ({"source": "camera"}, "camera"),
    ({"camera": "NOPE01", "source": "camera"}, "camera"),
])
def test_bad_input_is_400_with_field_messages_and_saves_nothing(hotline, change, field):
    payload = {k: v for k, v in _report(**change).items() if v is not None}
    response = hotline.post("/api/incidents/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Incident.objects.count() == 0 and IncidentEvent.objects.count() == 0


def test_malformed_json_is_400(hotline):
    response = hotline.post("/api/incidents/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert Incident.objects.count() == 0


def test_unlocatable_incidents_are_kept_in_triage(hotline):
    unknown = hotline.post("/api/incidents/", {**_report(), "lon": None, "lat": None,
                                               "address": "火星基地一号"}, format="json")
    assert unknown.status_code == 400  # null lon/lat are bad input
    unknown = hotline.post("/api/incidents/", {"source": "mayor_mailbox", "category": "other", "title": "t",
                                               "address": "火星基地一号"}, format="json")
    outside = hotline.post("/api/incidents/", _report(lon=118.5, lat=32.0), format="json")
    assert unknown.status_code == 201 and outside.status_code == 201
    assert unknown.json()["properties"]["triage"] == "unresolved_address"
    assert outside.json()["properties"]["triage"] == "outside_town"
    assert outside.json()["properties"]["distance_m"] > 10_000
    assert {unknown.json()["properties"]["state"], outside.json()["properties"]["state"]} == {"reported"}


def test_batch_stores_valid_rows_and_reports_invalid_ones(hotline):
    rows = [_report(external_id="b-1"), _report(external_id="b-2", lat=99), _report(external_id="b-1"),
            {"source": "patrol", "category": "other", "title": "by address", "address": "太平村"}]
    body = hotline.post("/api/incidents/batch/", rows, format="json").json()
    assert body["counts"] == {"created": 2, "existing": 1, "invalid": 1}
    assert [r["status"] for r in body["results"]] == ["created", "invalid", "existing", "created"]
    assert "lat" in body["results"][1]["errors"]
    assert body["results"][0]["id"] == body["results"][2]["id"]
    assert Incident.objects.count() == 2


def test_batch_must_be_a_list(hotline):
    assert hotline.post("/api/incidents/batch/", _report(), format="json").status_code == 400


def test_actions_follow_the_state_machine(hotline, operator):
    incident_id = hotline.post("/api/incidents/", _report(), format="json").json()["id"]
    assert operator.post(f"/api/incidents/{incident_id}/close/", {}, format="json").status_code == 409
    for action in ("accept", "report_handled", "verify", "close"):
        response = operator.post(f"/api/incidents/{incident_id}/{action}/", {"note": action}, format="json")
        assert response.status_code == 200, response.json()
    assert operator.get(f"/api/incidents/{incident_id}/").json()["properties"]["state"] == "closed"
    timeline = operator.get(f"/api/incidents/{incident_id}/events/").json()
    assert [e["action"] for e in timeline] == ["report", "register", "dispatch", "accept", "report_handled",
                                               "verify", "close"]
    assert timeline[-1]["actor_label"] == "op1" and timeline[-1]["note"] == "close"


def test_grid_leader_sees_own_grid_only_and_gets_404_elsewhere(hotline, operator):
    mine = hotline.post("/api/incidents/", _report(), format="json").json()
    other_point = {"lon": 119.30, "lat": 32.62}
    other = hotline.post("/api/incidents/", _report(**other_point), format="json").json()
    assert mine["properties"]["grid_code"] != other["properties"]["grid_code"]
    team = GridTeam.objects.get(grid__code=mine["properties"]["handling_grid_code"], grid__generation__status="active")
    leader_user = _user("leader1", "grid_leader")
    team.leader.user = leader_user
    team.leader.save()
    client = APIClient()
    client.force_authenticate(leader_user)
    ids = [f["id"] for f in client.get("/api/incidents/").json()["features"]]
    assert mine["id"] in ids and other["id"] not in ids
    assert client.get(f"/api/incidents/{other['id']}/").status_code == 404
    assert client.get(f"/api/incidents/{other['id']}/events/").status_code == 404
    assert client.post(f"/api/incidents/{other['id']}/accept/", {}, format="json").status_code == 404
    assert client.post(f"/api/incidents/{mine['id']}/accept/", {}, format="json").status_code == 200


def test_list_filters(hotline, operator):
    hotline.post("/api/incidents/", _report(), format="json")
    hotline.post("/api/incidents/", {"source": "patrol", "category": "other", "title": "t", "address": "火星"},
                 format="json")
    assert len(operator.get("/api/incidents/", {"triage": "true"}).json()["features"]) == 1
    assert len(operator.get("/api/incidents/", {"state": ["dispatched", "reported"]}).json()["features"]) == 2
    assert len(operator.get("/api/incidents/", {"category": "straw_burning"}).json()["features"]) == 1
    assert len(operator.get("/api/incidents/", {"source": "patrol"}).json()["features"]) == 1
    assert len(operator.get("/api/incidents/", {"overdue": "true"}).json()["features"]) == 0
    assert operator.get("/api/incidents/", {"state": "nonsense"}).status_code == 400
    assert operator.get("/api/incidents/", {"created_after": "yesterday"}).status_code == 400


def test_schema_documents_the_incident_api(operator):
    paths = json.loads(operator.get("/api/schema/", HTTP_ACCEPT="application/json").content)["paths"]
    assert {"/api/incidents/", "/api/incidents/batch/", "/api/incidents/{id}/events/",
            "/api/incidents/{id}/escalate/"} <= set(paths)


def test_another_sender_reusing_a_key_gets_its_own_incident_and_learns_nothing(hotline):
    first = hotline.post("/api/incidents/", _report(external_id="k-1"), format="json").json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token_for(_user('mailbox_test', 'integration'))}")
    response = other.post("/api/incidents/", _report(external_id="k-1"), format="json")
    assert response.status_code == 201 and response.json()["id"] != first["id"]
    batch = other.post("/api/incidents/batch/", [_report(external_id="k-1")], format="json").json()
    assert batch["counts"] == {"created": 0, "existing": 1, "invalid": 0}
    assert batch["results"][0]["id"] == response.json()["id"]
    assert Incident.objects.filter(external_id="k-1").count() == 2


def _stored(incident_id: int) -> dict:
    """The incident as IncidentSerializer renders it, straight from the database."""
    incident = Incident.objects.select_related("category", "grid", "village", "assignee", "handling_grid").get(
        pk=incident_id)
    return json.loads(json.dumps(IncidentSerializer(incident).data, cls=JSONEncoder))


def test_single_post_body_is_the_incident_serializer_output_on_create_and_replay(hotline):
    created = hotline.post("/api/incidents/", _report(external_id="body-1", reporter_name="张三"), format="json")
    assert created.status_code == 201 and created["Idempotent-Replay"] == "false"
    assert created.json() == _stored(created.json()["id"])
    replay = hotline.post("/api/incidents/", _report(external_id="body-1"), format="json")
    assert replay.status_code == 200 and replay["Idempotent-Replay"] == "true"
    assert replay.json() == _stored(created.json()["id"])
    triage = hotline.post("/api/incidents/", {"source": "patrol", "category": "other", "title": "t",
                                              "address": "火星基地一号"}, format="json")
    assert triage.status_code == 201 and triage.json() == _stored(triage.json()["id"])
    assert triage.json()["geometry"] is None


@pytest.mark.parametrize("case", ["outside the town", "possible duplicate", "village level", "town level",
                                  "dedicated grid", "GCJ-02 input"])
def test_created_body_is_what_was_stored(hotline, case):
    """The 201 body is built from the incident as intake holds it: it must be what a read gives."""
    from tests.incidents import factories as f

    extra: dict = {"external_id": "stored-" + case.replace(" ", "-")}
    if case == "outside the town":
        extra.update(lon=119.0, lat=32.0)
    elif case == "possible duplicate":
        hotline.post("/api/incidents/", _report(external_id="dup-first"), format="json")
        extra.update(lon=SEAT["lon"] + 0.0001)
    elif case == "village level":
        extra.update(severity=3)
    elif case == "town level":
        extra.update(severity=4)
    elif case == "dedicated grid":
        lon, lat = f.surface_point(f.dedicated_grid("industrial_park"))
        extra.update(category="work_safety", lon=lon, lat=lat)
    else:
        extra.update(lon=SEAT["lon"] + 0.005, lat=SEAT["lat"] - 0.002, crs="GCJ02")
    created = hotline.post("/api/incidents/", _report(**extra), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body == _stored(body["id"])
    props = body["properties"]
    if case == "outside the town":
        assert props["triage"] == "outside_town" and props["distance_m"] > 0 and props["assignee"] is None
    elif case == "possible duplicate":
        assert props["possible_duplicate_of"] is not None
    elif case == "village level":
        assert props["level"] == 2 and props["assignee"]["role"] == "town_leader"
    elif case == "town level":
        assert props["level"] == 3 and props["assignee"] is None
    elif case == "dedicated grid":
        assert props["handling_grid_code"] != props["grid_code"]


def test_single_post_errors_are_the_serializer_errors(hotline):
    for payload in [_report(lon=181), _report(category="unicorns", title=""), {"title": 5}, [], "text",
                    _report(crs="EPSG:32650", lat="north"), _report(source="camera", camera="NOPE01")]:
        response = hotline.post("/api/incidents/", payload, format="json")
        expected = IntakeSerializer(data=payload)
        assert not expected.is_valid()
        assert response.status_code == 400 and response.json() == json.loads(json.dumps(expected.errors)), payload
    assert Incident.objects.count() == 0


def test_form_encoded_single_post(hotline):
    response = hotline.post("/api/incidents/", {"source": "patrol", "category": "other", "title": "表单",
                                                "lon": str(SEAT["lon"]), "lat": str(SEAT["lat"])})
    assert response.status_code == 201 and response.json()["properties"]["title"] == "表单"


def test_batch_results_in_row_order_with_the_serializer_errors(hotline):
    camera = Camera.objects.order_by("code").first()
    rows = [_report(external_id="o-1"), None, _report(external_id="o-2", lon=200), "not an object",
            {**_report(external_id="o-3", crs="GCJ02")}, _report(external_id="o-1"),
            {"source": "camera", "category": "straw_burning", "title": "探头", "camera": camera.code},
            {"source": "camera", "category": "straw_burning", "title": "探头"}, [1, 2],
            _report(external_id="o-4", crs="EPSG:4549", lon=1e30, lat=1e30)]
    body = hotline.post("/api/incidents/batch/", rows, format="json").json()
    assert [r["index"] for r in body["results"]] == list(range(len(rows)))
    assert [r["status"] for r in body["results"]] == ["created", "invalid", "invalid", "invalid", "created",
                                                      "existing", "created", "invalid", "invalid", "invalid"]
    assert body["counts"] == {"created": 3, "existing": 1, "invalid": 6}
    for n, result in enumerate(body["results"]):
        if result["status"] == "invalid":
            expected = IntakeSerializer(data=rows[n])
            assert not expected.is_valid()
            assert result["errors"] == json.loads(json.dumps(expected.errors)), n
        else:
            stored = Incident.objects.get(pk=result["id"])
            assert (result["state"], result["triage"]) == (stored.state, stored.triage or None)
    assert body["results"][6]["id"] == Incident.objects.get(camera=camera).pk
    assert Incident.objects.count() == 3


def test_empty_batch(hotline):
    body = hotline.post("/api/incidents/batch/", [], format="json").json()
    assert body == {"counts": {"created": 0, "existing": 0, "invalid": 0}, "results": []}


def test_schema_keeps_the_intake_request_and_incident_response(operator):
    schema = json.loads(operator.get("/api/schema/", HTTP_ACCEPT="application/json").content)
    create = schema["paths"]["/api/incidents/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IntakeRequest"}
    for code in ("201", "200"):
        assert create["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Incident"}
    batch = schema["paths"]["/api/incidents/batch/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch == {"type": "array", "items": {"$ref": "#/components/schemas/IntakeRequest"}}
    intake = schema["components"]["schemas"]["IntakeRequest"]
    assert intake["properties"]["category"]["type"] == intake["properties"]["camera"]["type"] == "string"
    assert set(intake["required"]) == {"source", "category", "title"}


def test_token_authentication_answers_as_drf_and_reads_the_actor():
    """One statement reads token, user, groups and person; the answers are DRF's own."""
    from core.actors import Actor, Role
    from tests.incidents import factories as f

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    bad = client.post("/api/incidents/", _report(), format="json")
    from django.utils.translation import gettext

    # DRF's own (translated) messages; 401 with the challenge: the token class is listed first
    assert bad.status_code == 401 and bad.json() == {"detail": gettext("Invalid token.")}
    assert bad["WWW-Authenticate"] == "Token"
    asleep = _user("asleep", "integration")
    asleep.is_active = False
    asleep.save()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(asleep)}")
    inactive = client.post("/api/incidents/", _report(), format="json")
    assert inactive.status_code == 401 and inactive.json() == {"detail": gettext("User inactive or deleted.")}

    from core.authentication import ActorTokenAuthentication

    worker = f.holder(f.grid(), "grid_worker", "A")
    worker.user = _user("worker_token", "grid_member")
    worker.user.groups.add(Group.objects.get_or_create(name="integration")[0])
    worker.save()
    user, _ = ActorTokenAuthentication().authenticate_credentials(token_for(worker.user))
    assert user.pk == worker.user.pk and user.username == "worker_token" and user.is_active
    actor = Actor.of(user)
    assert actor.groups == {"grid_member", "integration"} and actor.person_id == worker.pk
    assert actor.global_roles() == {Role.GRID_MEMBER, Role.INTEGRATION}
