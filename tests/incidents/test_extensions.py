"""延期 extensions (incidents.extensions) through the API: the handler asks, the level above decides;
allowed and refused (400, 403, 409), one pending request per incident (also in the database), and
the deadlines and the sweep's clock an approval moves."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import Actor
from incidents import rules
from incidents.extensions import incident_request_extension
from incidents.models import ExtensionRequest, Incident, IncidentEvent
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
S = Incident.State


def client_of(who: Actor) -> APIClient:
    client = APIClient()
    client.force_authenticate(who.user)
    return client


def post(who: Actor, incident: Incident, action: str, body: dict):
    return client_of(who).post(f"/api/incidents/{incident.pk}/{action}/", body, format="json")


def later(incident: Incident, **delta) -> str:
    return (incident.handle_due_at + timedelta(**delta)).isoformat()


@pytest.fixture
def accepted() -> tuple[Incident, Actor]:
    """An incident in progress, and its assignee."""
    incident = f.located("other")
    assignee = f.actor(person=incident.assignee)
    return f.drive(incident, ["accept"], assignee), assignee


def test_the_handler_asks_and_the_village_leader_approves(accepted):
    incident, assignee = accepted
    due = incident.handle_due_at
    answer = post(assignee, incident, "request_extension", {"reason": "等材料 waiting for parts",
                                                            "requested_due": later(incident, days=3)})
    assert answer.status_code == 200, answer.content
    request = ExtensionRequest.objects.get(incident=incident)
    assert (request.state, request.requested_by, request.previous_due, request.requested_due) == (
        "pending", assignee.user, due, due + timedelta(days=3))
    assert f.reload(incident).handle_due_at == due  # nothing moves before the decision
    event = IncidentEvent.objects.filter(incident=incident).latest("id")
    assert (event.action, event.note, event.from_state, event.to_state) == (
        "request_extension", "等材料 waiting for parts", S.IN_PROGRESS, S.IN_PROGRESS)
    # the detail the pages read shows the pending request, and whom it is for
    village = f.actor(person=f.village_leader(incident))
    context = client_of(village).get(f"/api/incidents/{incident.pk}/context/").json()
    assert context["pending_extension"]["id"] == request.pk
    assert context["pending_extension"]["reason"] == "等材料 waiting for parts"
    assert "decide_extension" in context["allowed_actions"]
    mine = client_of(assignee).get(f"/api/incidents/{incident.pk}/context/").json()
    assert "decide_extension" not in mine["allowed_actions"] and "request_extension" not in mine["allowed_actions"]

    answer = post(village, incident, "decide_extension", {"approve": True, "note": "同意 agreed"})
    assert answer.status_code == 200, answer.content
    stored = f.reload(incident)
    assert stored.handle_due_at == stored.level_due_at == stored.escalate_at == due + timedelta(days=3)
    request.refresh_from_db()
    assert (request.state, request.decided_by, request.decision_note) == ("approved", village.user, "同意 agreed")
    assert request.decided_at is not None
    event = IncidentEvent.objects.filter(incident=incident).latest("id")
    assert (event.action, event.note, event.data["request"]) == ("approve_extension", "同意 agreed", request.pk)
    assert client_of(village).get(f"/api/incidents/{incident.pk}/context/").json()["pending_extension"] is None


def test_a_refusal_leaves_the_deadlines_and_another_request_may_follow(accepted):
    incident, assignee = accepted
    before = (incident.handle_due_at, incident.level_due_at, incident.escalate_at)
    body = {"reason": "忙 busy", "requested_due": later(incident, hours=5)}
    assert post(assignee, incident, "request_extension", body).status_code == 200
    answer = post(f.operator(), incident, "decide_extension", {"approve": False, "note": "按期办 on time please"})
    assert answer.status_code == 200
    stored = f.reload(incident)
    assert (stored.handle_due_at, stored.level_due_at, stored.escalate_at) == before
    assert ExtensionRequest.objects.get(incident=incident).state == "refused"
    assert IncidentEvent.objects.filter(incident=incident).latest("id").action == "refuse_extension"
    assert post(assignee, incident, "request_extension", body).status_code == 200
    assert ExtensionRequest.objects.filter(incident=incident).count() == 2


def test_approving_a_dispatched_incident_keeps_its_acceptance_clock():
    incident = f.located("other")
    member = f.actor(person=f.team_of(incident.handling_grid).leader)
    assert post(member, incident, "request_extension",
                {"reason": "r", "requested_due": later(incident, days=1)}).status_code == 200
    assert post(f.operator(), incident, "decide_extension", {"approve": True}).status_code == 200
    stored = f.reload(incident)
    assert stored.handle_due_at == incident.handle_due_at + timedelta(days=1)
    assert stored.escalate_at == stored.accept_due_at == incident.accept_due_at


def test_approval_never_shortens_a_level_period_an_escalation_restarted_later(accepted):
    incident, assignee = accepted
    level_due = incident.handle_due_at + timedelta(days=5)
    Incident.objects.filter(pk=incident.pk).update(level_due_at=level_due, escalate_at=level_due)
    incident = f.reload(incident)
    assert post(assignee, incident, "request_extension",
                {"reason": "r", "requested_due": later(incident, days=1)}).status_code == 200
    assert post(f.operator(), incident, "decide_extension", {"approve": True}).status_code == 200
    stored = f.reload(incident)
    assert stored.handle_due_at == incident.handle_due_at + timedelta(days=1)
    assert stored.level_due_at == stored.escalate_at == level_due


def test_one_pending_request_per_incident_in_the_api_and_in_the_database(accepted):
    incident, assignee = accepted
    body = {"reason": "r", "requested_due": later(incident, days=1)}
    assert post(assignee, incident, "request_extension", body).status_code == 200
    again = post(assignee, incident, "request_extension", body)
    assert again.status_code == 409 and "already" in again.json()["detail"]
    with pytest.raises(IntegrityError), transaction.atomic():
        ExtensionRequest.objects.create(incident=incident, requested_by_label="x", requested_at=timezone.now(),
                                        reason="r", previous_due=incident.handle_due_at,
                                        requested_due=incident.handle_due_at + timedelta(hours=1))
    assert ExtensionRequest.objects.filter(incident=incident).count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"reason": "r", "requested_due": "earlier"}, "requested_due"),
    ({"reason": "r"}, "requested_due"),
    ({"requested_due": "+1d"}, "reason"),
    ({"reason": "r", "requested_due": "-1h"}, "requested_due"),
    ({"reason": "r", "requested_due": "+0h"}, "requested_due"),
    ({"reason": "r", "requested_due": "+31d"}, "requested_due"),
])
def test_a_bad_request_is_a_400_with_field_messages(accepted, body, field):
    incident, assignee = accepted
    shifts = {"+1d": {"days": 1}, "-1h": {"hours": -1}, "+0h": {}, "+31d": {"days": 31}}
    if body.get("requested_due") in shifts:
        body = {**body, "requested_due": later(incident, **shifts[body["requested_due"]])}
    answer = post(assignee, incident, "request_extension", body)
    assert answer.status_code == 400 and field in answer.json(), answer.content
    assert not ExtensionRequest.objects.filter(incident=incident).exists()
    assert not IncidentEvent.objects.filter(incident=incident, action="request_extension").exists()


def test_a_deadline_already_passed_moves_only_into_the_future(accepted):
    incident, assignee = accepted
    past = timezone.now() - timedelta(hours=2)
    Incident.objects.filter(pk=incident.pk).update(handle_due_at=past, level_due_at=past)
    body = {"reason": "r", "requested_due": (past + timedelta(hours=1)).isoformat()}
    assert post(assignee, incident, "request_extension", body).status_code == 400
    body["requested_due"] = (timezone.now() + timedelta(hours=1)).isoformat()
    assert post(assignee, incident, "request_extension", body).status_code == 200


def test_who_may_ask_and_who_may_decide(accepted):
    incident, assignee = accepted
    body = {"reason": "r", "requested_due": later(incident, days=1)}
    assert post(f.operator(), incident, "request_extension", body).status_code == 403  # not the handler
    assert post(f.actor("town_leader"), incident, "request_extension", body).status_code == 403
    village = f.actor(person=f.village_leader(incident))
    assert post(village, incident, "request_extension", body).status_code == 200
    decision = {"approve": True}
    leader = f.actor(person=f.team_of(incident.handling_grid).leader)
    assert post(assignee, incident, "decide_extension", decision).status_code == 403
    assert post(leader, incident, "decide_extension", decision).status_code == 403
    own = post(village, incident, "decide_extension", decision)
    assert own.status_code == 403 and "own" in own.json()["detail"]
    assert "decide_extension" not in client_of(village).get(
        f"/api/incidents/{incident.pk}/context/").json()["allowed_actions"]
    assert post(f.operator(), incident, "decide_extension", {"note": "no answer"}).status_code == 400
    assert ExtensionRequest.objects.get(incident=incident).state == "pending"
    assert post(f.operator(), incident, "decide_extension", decision).status_code == 200


def test_wrong_states_are_a_409(accepted):
    incident, assignee = accepted
    assert post(f.operator(), incident, "decide_extension", {"approve": True}).status_code == 409  # none pending
    body = {"reason": "r", "requested_due": later(incident, days=1)}
    handled = f.drive(incident, ["report_handled"], assignee)
    assert post(assignee, handled, "request_extension", body).status_code == 409
    f.set_state(handled, S.CLOSED)
    assert post(assignee, handled, "request_extension", body).status_code == 409
    assert not ExtensionRequest.objects.filter(incident=incident).exists()


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_one_wins(demo_data, monkeypatch, settings):
    """The incident's row lock serialises them: the second sees the first's pending request (409)."""
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    incident = f.located("other")
    people = [f.actor(person=incident.assignee), f.actor(person=f.team_of(incident.handling_grid).leader)]
    real = rules.extension_refusal

    def slow(*args, **kwargs):
        time.sleep(0.3)  # both inside the service at once
        return real(*args, **kwargs)

    monkeypatch.setattr(rules, "extension_refusal", slow)
    start, results = threading.Barrier(2, timeout=30), [None, None]

    def run(n: int) -> None:
        try:
            start.wait()
            results[n] = incident_request_extension(incident_id=incident.pk, actor=people[n], reason=f"r{n}",
                                                    requested_due=incident.handle_due_at + timedelta(hours=1))
        except Exception as exc:  # noqa: BLE001 - the result under test
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    lost = [r for r in results if isinstance(r, rules.TransitionRefused)]
    assert len(lost) == 1 and lost[0].reason == "state", results
    assert ExtensionRequest.objects.filter(incident=incident).count() == 1
    assert IncidentEvent.objects.filter(incident=incident, action="request_extension").count() == 1
