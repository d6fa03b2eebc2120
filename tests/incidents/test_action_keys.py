"""Idempotency-Key on the actions of one incident: a phone's queue re-sends a change after the network
returned (or its answer was lost), and nothing is done twice."""
from __future__ import annotations

import pytest

from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched():
    incident = f.located("other")
    leader = f.api_client("grid_leader", person=f.team_of(incident.handling_grid).leader)
    return incident, leader


def test_a_re_sent_action_is_done_once_and_answered_again(dispatched):
    incident, leader = dispatched
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-1-accept"}
    first = leader.post(f"/api/incidents/{incident.pk}/accept/", {"note": "马上去"}, format="json", **key)
    assert first.status_code == 200 and first["Idempotent-Replay"] == "false"
    again = leader.post(f"/api/incidents/{incident.pk}/accept/", {"note": "马上去"}, format="json", **key)
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json()["properties"]["state"] == first.json()["properties"]["state"] == "in_progress"
    assert f.actions_of(incident).count("accept") == 1
    # without the key the same change is refused by the state, as before
    assert leader.post(f"/api/incidents/{incident.pk}/accept/", {}, format="json").status_code == 409


def test_a_key_is_one_change(dispatched):
    incident, leader = dispatched
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-1-x"}
    assert leader.post(f"/api/incidents/{incident.pk}/accept/", {}, format="json", **key).status_code == 200
    other = leader.post(f"/api/incidents/{incident.pk}/status_note/", {"note": "在处理"}, format="json", **key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()
    assert leader.post(f"/api/incidents/{incident.pk}/accept/", {}, format="json",
                       HTTP_IDEMPOTENCY_KEY="has space").status_code == 400


@pytest.mark.django_db(transaction=True)  # a version is the writing transaction's id: each change its own
def test_a_stale_change_stays_refused_when_re_sent(demo_data):
    incident = f.located("other")
    leader = f.api_client("grid_leader", person=f.team_of(incident.handling_grid).leader)
    version = leader.get(f"/api/incidents/{incident.pk}/")["ETag"]
    f.drive(incident, ["accept"], f.operator())  # someone else acted meanwhile
    key = {"HTTP_IDEMPOTENCY_KEY": "phone-2-report", "HTTP_IF_MATCH": version}
    stale = leader.post(f"/api/incidents/{incident.pk}/report_handled/", {"note": "修好了"}, format="json", **key)
    assert stale.status_code == 412 and stale.json()["changed_action"] == "accept"
    again = leader.post(f"/api/incidents/{incident.pk}/report_handled/", {"note": "修好了"}, format="json", **key)
    assert again.status_code == 412 and again["Idempotent-Replay"] == "true"
    assert "report_handled" not in f.actions_of(incident)
