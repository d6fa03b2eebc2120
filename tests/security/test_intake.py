"""The intake contract (issue 11): idempotency per client, source grants, who may send batches, the
batch Idempotency-Key, Open311's personal data and its key checked before the body, the CSV export."""
from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.test import APIClient

from core.actors import Actor
from incidents.grants import EVERY_SOURCE, grant_sources, sources_allowed
from incidents.models import Incident, IntakeKey
from tests.auth import token_for
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

SEAT = {"lon": 119.343908, "lat": 32.588310}


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def _integration(*sources: str) -> tuple[User, APIClient]:
    user = f.user("integration")
    grant_sources(user, list(sources))
    return user, _token_client(user)


def _row(**extra) -> dict:
    return {"source": "hotline_12345", "category": "other", "title": "路灯不亮", **SEAT, **extra}


# --- idempotency per client ------------------------------------------------------------------------

def test_two_clients_with_the_same_external_id_each_get_their_own_incident():
    _, first = _integration("hotline_12345")
    _, second = _integration("hotline_12345")
    a = first.post("/api/incidents/", _row(external_id="ext-1"), format="json")
    b = second.post("/api/incidents/", _row(external_id="ext-1"), format="json")
    assert (a.status_code, b.status_code) == (201, 201)  # before: the second got a 409 "already used"
    assert a.json()["id"] != b.json()["id"]
    again = second.post("/api/incidents/", _row(external_id="ext-1", title="changed"), format="json")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true" and again.json()["id"] == b.json()["id"]
    batch = second.post("/api/incidents/batch/", [_row(external_id="ext-1"), _row(external_id="ext-2")],
                        format="json").json()
    assert [r["status"] for r in batch["results"]] == ["existing", "created"]
    assert batch["results"][0]["id"] == b.json()["id"]
    assert a.json()["id"] not in [r.get("id") for r in batch["results"]]
    assert Incident.objects.filter(external_id="ext-1").count() == 2


def test_a_client_cannot_probe_which_ids_another_client_used():
    _, owner = _integration("hotline_12345")
    _, prober = _integration("hotline_12345")
    owner.post("/api/incidents/", _row(external_id="secret-7"), format="json")
    rows = [_row(external_id=f"secret-{n}") for n in range(5, 10)]
    results = prober.post("/api/incidents/batch/", rows, format="json").json()["results"]
    assert {r["status"] for r in results} == {"created"}  # the used id answers exactly as the unused ones


def test_the_platform_own_keys_stay_unique():
    first = f.report("other", source="patrol", external_id="sys-1")
    again = f.report_many([f.item("other", source="patrol", external_id="sys-1")])[0]
    assert not again.created and again.incident.pk == first.pk


# --- source grants ---------------------------------------------------------------------------------

def test_grants_decide_the_sources_in_one_place():
    hotline, _ = _integration("hotline_12345")
    assert sources_allowed(Actor.of(hotline)) == {"hotline_12345"}
    assert sources_allowed(f.operator()) == EVERY_SOURCE
    assert sources_allowed(f.actor("grid_member")) == {"patrol"}
    assert sources_allowed(f.actor("grid_leader")) == {"patrol"}
    assert sources_allowed(f.actor("town_leader")) == set()
    assert sources_allowed(Actor.of(User.objects.get(username="hotline"))) == {"hotline_12345"}  # the demo account


def test_a_source_not_granted_is_refused_and_nothing_is_stored():
    _, client = _integration("hotline_12345")
    before = Incident.objects.count()
    response = client.post("/api/incidents/", _row(source="mayor_mailbox"), format="json")
    assert response.status_code == 403 and "mayor_mailbox" in response.json()["source"][0]
    batch = client.post("/api/incidents/batch/", [_row(source="mayor_mailbox"), _row(), _row(source="camera",
                                                                                             camera="x")],
                        format="json").json()
    assert [r["status"] for r in batch["results"]] == ["invalid", "created", "invalid"]
    assert "source" in batch["results"][0]["errors"]
    assert Incident.objects.count() == before + 1


@pytest.mark.parametrize(("group", "source", "status"), [
    ("grid_member", "patrol", 201), ("grid_member", "hotline_12345", 403), ("grid_leader", "citizen", 403),
    ("operator", "mayor_mailbox", 201), ("operator", "higher_level", 201)])
def test_roles_post_for_their_sources(group, source, status):
    response = _token_client(f.user(group)).post("/api/incidents/", _row(source=source), format="json")
    assert response.status_code == status, response.content
    if status == 403:
        assert "source" in response.json()


def test_open311_refuses_a_source_not_granted():
    user, _ = _integration("hotline_12345")
    body = {"service_code": "other", "description": "路灯不亮", "lat": SEAT["lat"], "long": SEAT["lon"]}
    response = APIClient().post(f"/open311/v2/requests.json?api_key={token_for(user)}", body, format="json")
    assert response.status_code == 403 and response.json()[0]["description"].startswith("source:")
    grant_sources(user, ["hotline_12345", "citizen"])
    assert APIClient().post(f"/open311/v2/requests.json?api_key={token_for(user)}", body,
                            format="json").status_code == 201


# --- who may send batches --------------------------------------------------------------------------

@pytest.mark.parametrize(("group", "status"), [("integration", 200), ("operator", 200), ("grid_member", 403),
                                               ("grid_leader", 403), ("planner", 403), ("town_leader", 403)])
def test_batches_are_for_integration_clients_and_operators(group, status):
    user = f.user(group)
    grant_sources(user, ["hotline_12345"]) if group == "integration" else None
    before = Incident.objects.count()
    response = _token_client(user).post("/api/incidents/batch/", [_row(source="patrol"), _row()], format="json")
    assert response.status_code == status, response.content
    assert Incident.objects.count() == before + (0 if status == 403 else 1 if group == "integration" else 2)


# --- the batch's Idempotency-Key -------------------------------------------------------------------

def test_the_same_key_and_body_returns_the_first_answer_and_stores_nothing_new():
    user, client = _integration("hotline_12345")
    rows = [_row(title=f"无编号 {n}") for n in range(3)]  # no external_id: each send would be new incidents
    first = client.post("/api/incidents/batch/", rows, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    count = Incident.objects.count()
    again = client.post("/api/incidents/batch/", rows, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    assert first.status_code == again.status_code == 200
    assert (first["Idempotent-Replay"], again["Idempotent-Replay"]) == ("false", "true")
    assert again.json() == first.json() and Incident.objects.count() == count
    assert IntakeKey.objects.filter(client=user, key="batch-0001").exists()  # in PostgreSQL, not only Redis
    reordered = [{k: row[k] for k in reversed(list(row))} for row in rows]  # the same JSON, keys in another order
    assert client.post("/api/incidents/batch/", reordered, format="json",
                       HTTP_IDEMPOTENCY_KEY="batch-0001").json() == first.json()
    without = client.post("/api/incidents/batch/", rows, format="json")
    assert without.json()["counts"]["created"] == 3 and Incident.objects.count() == count + 3  # documented


def test_the_same_key_with_another_body_is_refused():
    _, client = _integration("hotline_12345")
    client.post("/api/incidents/batch/", [_row()], format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    count = Incident.objects.count()
    response = client.post("/api/incidents/batch/", [_row(title="another")], format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422 and "Idempotency-Key" in response.json()
    assert Incident.objects.count() == count


def test_keys_are_per_client_and_expire():
    user, client = _integration("hotline_12345")
    _, other = _integration("hotline_12345")
    client.post("/api/incidents/batch/", [_row()], format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
    response = other.post("/api/incidents/batch/", [_row(title="other's")], format="json",
                          HTTP_IDEMPOTENCY_KEY="shared-key")
    assert response.status_code == 200 and response["Idempotent-Replay"] == "false"
    IntakeKey.objects.filter(client=user).update(expires_at=IntakeKey.objects.get(client=user).created_at)
    count = Incident.objects.count()
    later = client.post("/api/incidents/batch/", [_row(title="a day later")], format="json",
                        HTTP_IDEMPOTENCY_KEY="shared-key")
    assert later.status_code == 200 and later["Idempotent-Replay"] == "false" and Incident.objects.count() == count + 1
    expires = IntakeKey.objects.get(client=user).expires_at - IntakeKey.objects.get(client=user).created_at
    assert expires == timedelta(hours=24)


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "ключ"])
def test_a_bad_key_is_a_400_and_stores_nothing(key):
    _, client = _integration("hotline_12345")
    count = Incident.objects.count()
    response = client.post("/api/incidents/batch/", [_row()], format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert Incident.objects.count() == count and not IntakeKey.objects.exists()


def test_a_refused_batch_does_not_keep_its_key():
    _, client = _integration("hotline_12345")
    response = client.post("/api/incidents/batch/", {"not": "a list"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 400 and not IntakeKey.objects.exists()


# --- Open311: personal data in its own fields ------------------------------------------------------

def test_open311_email_and_media_url_have_their_own_fields():
    user, client = _integration("citizen")
    body = {"service_code": "other", "description": "井盖缺失", "lat": SEAT["lat"], "long": SEAT["lon"],
            "email": "citizen@example.com", "media_url": "https://photos.example.com/a.jpg", "phone": "13800000000"}
    response = APIClient().post(f"/open311/v2/requests.json?api_key={token_for(user)}", urlencode(body),
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201, response.content
    incident = Incident.objects.get(pk=response.json()[0]["service_request_id"])
    assert (incident.reporter_email, incident.media_url) == ("citizen@example.com", "https://photos.example.com/a.jpg")
    assert incident.description == "井盖缺失"  # before: "井盖缺失\n\nmedia_url: ...\nemail: ..."
    read = APIClient().get(f"/open311/v2/requests/{incident.pk}.json", {"api_key": token_for(user)}).json()[0]
    assert read["media_url"] == "https://photos.example.com/a.jpg"
    operator = _token_client(f.user("operator"))
    for page in (str(read), operator.get(f"/api/incidents/{incident.pk}/").content.decode(),
                 b"".join(operator.get("/api/incidents/export.csv/").streaming_content).decode()):
        assert "citizen@example.com" not in page and "13800000000" not in page  # where the phone is not, neither


# --- Open311: the key before the body --------------------------------------------------------------

@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """Record every body parse (JSON, form, multipart)."""
    calls: list[str] = []
    for parser in (JSONParser, FormParser, MultiPartParser):
        real = parser.parse

        def spy(self, stream, media_type=None, parser_context=None, _real=real, _name=parser.__name__):
            calls.append(_name)
            return _real(self, stream, media_type, parser_context)

        monkeypatch.setattr(parser, "parse", spy)
    return calls


# Under the body limit for Open311 (core.middleware answers 413 above it, before any of this): the view
# itself must refuse without parsing.
BIG = 900 * 1024


@pytest.mark.parametrize(("query", "content_type", "body"), [
    ("", "application/x-www-form-urlencoded", "description=" + "x" * BIG),
    ("?api_key=not-a-key", "application/x-www-form-urlencoded", "description=" + "x" * BIG),
    ("", "application/json", '{"api_key": "%s", "description": "' + "x" * BIG + '"}'),
    ("", "application/x-www-form-urlencoded", "api_key=%s&description=" + "x" * BIG),
])
def test_open311_without_a_valid_key_is_refused_before_the_body_is_parsed(parsed, query, content_type, body):
    user, _ = _integration("citizen")
    body = body.replace("%s", token_for(user)) if "%s" in body else body  # a valid key, but inside a big body
    before = Incident.objects.count()
    started = time.monotonic()
    response = APIClient().post(f"/open311/v2/requests.json{query}", body, content_type=content_type)
    assert response.status_code in (401, 403), response.content[:200]
    assert time.monotonic() - started < 5.0  # mostly the test client building the body; parsing is what is not done
    assert parsed == [] and Incident.objects.count() == before


def test_open311_small_form_key_and_query_key_still_work(parsed):
    user, _ = _integration("citizen")
    fields = {"service_code": "other", "description": "小表单", "lat": SEAT["lat"], "long": SEAT["lon"]}
    small = APIClient().post("/open311/v2/requests.json", urlencode({"api_key": token_for(user), **fields}),
                             content_type="application/x-www-form-urlencoded")
    assert small.status_code == 201, small.content
    query = APIClient().post(f"/open311/v2/requests.json?api_key={token_for(user)}", fields, format="json")
    assert query.status_code == 201 and parsed == ["FormParser", "JSONParser"]


# --- CSV export ------------------------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _export(client: APIClient, **query) -> list[list[str]]:
    response = client.get("/api/incidents/export.csv/", query)
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_cells_that_look_like_formulas_are_neutralised_and_numbers_stay_numbers():
    user, client = _integration("hotline_12345")
    rows = [_row(title=text, external_id=f"ext{n}") for n, text in enumerate(FORMULAS)]
    rows += [_row(title="负经度 far west", external_id="-5", lon=-60.5, lat=-10.25)]
    results = client.post("/api/incidents/batch/", rows, format="json").json()["results"]
    assert {r["status"] for r in results} == {"created"}
    for result, text in zip(results, FORMULAS, strict=False):  # the API trims a leading tab or CR; older rows may not
        Incident.objects.filter(pk=result["id"]).update(title=text)
    header, *lines = _export(client)
    by_title = {line[header.index("title")]: line for line in lines}
    for text in FORMULAS:
        assert "'" + text in by_title, by_title.keys()
    west = by_title["负经度 far west"]
    assert west[header.index("external_id")] == "'-5"  # text that starts with "-": neutralised
    assert (west[header.index("lon")], west[header.index("lat")]) == ("-60.5", "-10.25")  # numbers: as they are


def test_csv_export_is_bounded_before_anything_is_sent(settings):
    _, client = _integration("hotline_12345")
    client.post("/api/incidents/batch/", [_row(title=f"t{n}") for n in range(3)], format="json")
    settings.CSV_EXPORT_MAX_ROWS = 3
    assert len(_export(client)) == 1 + 3
    settings.CSV_EXPORT_MAX_ROWS = 2
    response = client.get("/api/incidents/export.csv/")
    assert response.status_code == 400 and not response.streaming
    assert "narrow" in response.json()["non_field_errors"][0]


def test_concurrent_sends_of_one_key_store_one_batch(demo_data, settings):
    """N requests with the same key at once: one stores its rows, the others wait on the key's unique index
    and replay its answer (none stores anything)."""
    import threading

    from django.db import connection

    from incidents import intake_keys

    settings.LIVE_PUSH_IN_BACKGROUND = False
    user = f.user("integration")
    actor, n = Actor.of(user), 4
    gate = threading.Barrier(n, timeout=30)
    at = f.interior_point(f.grid())
    body = [{"title": "同一批"}]
    results: list = [None] * n

    def run() -> tuple[int, dict]:
        time.sleep(0.3)  # the others reach the key's INSERT meanwhile
        outcome = f.report_many([f.item("other", at=at)], actor=actor)[0]
        return 200, {"id": outcome.incident.pk}

    def send(k: int) -> None:
        try:
            gate.wait()
            answer = intake_keys.run_once(client=user, key="same", data=body, run=run)
            results[k] = (answer.body["id"], answer.replayed)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[k] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({pk for pk, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * (n - 1)
    assert Incident.objects.filter(submitted_by=user).count() == 1
