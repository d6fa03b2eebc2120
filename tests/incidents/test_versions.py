"""No lost edits (issue 14): every answer about one incident carries its version (ETag); an action sent
with If-Match is taken only on that version, else 412 with the incident as it is now and who changed it."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from grids.models import Grid
from incidents.models import Incident
from tests.auth import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def _reported(api) -> int:
    grid = Grid.objects.filter(generation__status="active", kind="comprehensive").order_by("code").first()
    lon, lat = grid.boundary.point_on_surface.coords
    body = {"source": "citizen", "category": "other", "title": "版本 version", "lon": lon, "lat": lat}
    answer = api.post("/api/incidents/", body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


@pytest.fixture
def operators(demo_data):
    first = APIClient()
    first.force_authenticate(User.objects.get(username="operator"))
    second = APIClient(HTTP_AUTHORIZATION=f"Token {token_for(User.objects.get(username='operator'))}")
    return first, second


def test_a_change_on_an_old_version_is_refused_with_the_current_state(operators):
    first, second = operators
    incident_id = _reported(first)
    detail = first.get(f"/api/incidents/{incident_id}/")
    seen = detail["ETag"]
    assert seen.startswith('"') and seen == first.get(f"/api/incidents/{incident_id}/context/")["ETag"]
    assert first.get(f"/api/incidents/{incident_id}/context/").json()["version"] == seen.strip('"')
    state = detail.json()["properties"]["state"]
    assert state == "dispatched"

    # the second operator acts on the same version: allowed, and the answer carries the new version
    done = second.post(f"/api/incidents/{incident_id}/accept/", {"note": "我来 mine"}, format="json",
                       HTTP_IF_MATCH=seen)
    assert done.status_code == 200, done.content
    assert done["ETag"] != seen

    # the first, still on the old version, tries to cancel: 412, nothing changed, told who did what
    stale = first.post(f"/api/incidents/{incident_id}/cancel/", {"note": "取消 cancel"}, format="json",
                       HTTP_IF_MATCH=seen)
    assert stale.status_code == 412
    body = stale.json()
    assert body["changed_action"] == "accept" and body["changed_by"] == "operator"
    assert body["current"]["properties"]["state"] == "in_progress"
    assert stale["ETag"] == done["ETag"]
    assert Incident.objects.get(pk=incident_id).state == "in_progress"

    # with the current version (or a weak tag, or any of a list) it goes through
    again = first.post(f"/api/incidents/{incident_id}/cancel/", {"note": "取消 cancel"}, format="json",
                       HTTP_IF_MATCH=f'"0", W/{stale["ETag"]}')
    assert again.status_code == 200, again.content
    assert again.json()["properties"]["state"] == "cancelled"


def test_dispatch_actions_check_the_version_too_and_if_match_star_or_none_takes_any(operators):
    first, _ = operators
    incident_id = _reported(first)
    old = first.get(f"/api/incidents/{incident_id}/")["ETag"]
    assert first.post(f"/api/incidents/{incident_id}/accept/", {"note": ""}, format="json").status_code == 200
    refused = first.post(f"/api/incidents/{incident_id}/escalate/", {"reason": "太大 too big"}, format="json",
                         HTTP_IF_MATCH=old)
    assert refused.status_code == 412
    assert Incident.objects.get(pk=incident_id).escalations == 0
    assert first.post(f"/api/incidents/{incident_id}/escalate/", {"reason": "太大 too big"}, format="json",
                      HTTP_IF_MATCH="*").status_code == 200
    assert Incident.objects.get(pk=incident_id).escalations == 1


def test_an_unparseable_if_match_is_a_412_not_a_500(operators):
    first, _ = operators
    incident_id = _reported(first)
    for header in ('""', ",", "garbage", "W/"):
        answer = first.post(f"/api/incidents/{incident_id}/accept/", {"note": ""}, format="json",
                            HTTP_IF_MATCH=header)
        assert answer.status_code == 412, header
    assert Incident.objects.get(pk=incident_id).state == "dispatched"


def test_a_stale_answer_never_shows_an_incident_the_user_may_not_see(operators):
    """The 412 comes after the scoping: an incident out of scope is a 404 whatever the If-Match."""
    first, _ = operators
    incident_id = _reported(first)
    outsider = APIClient()
    outsider.force_authenticate(User.objects.create_user("nobody_versions"))
    answer = outsider.post(f"/api/incidents/{incident_id}/accept/", {"note": ""}, format="json",
                           HTTP_IF_MATCH='"0"')
    assert answer.status_code in (403, 404)
    assert "current" not in answer.json()
