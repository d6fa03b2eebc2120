"""Who else has an incident open (incidents/viewers.py): each sees the others, not themselves; a viewer
gone quiet for the TTL, or who closed the panel, is no longer listed; only those who may see it say so."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import viewers
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def test_each_sees_the_others_until_they_leave_or_go_quiet():
    incident = f.located("other")
    wang, li = f.user("operator", username="op-wang"), f.user("operator", username="op-li")
    now = timezone.now()
    assert viewers.seen(incident_id=incident.pk, user=wang, now=now) == []
    assert [o["user"] for o in viewers.seen(incident_id=incident.pk, user=li, now=now)] == ["op-wang"]
    assert [o["user"] for o in viewers.seen(incident_id=incident.pk, user=wang, now=now)] == ["op-li"]
    later = now + timedelta(seconds=viewers.TTL_S + 1)  # li went quiet
    assert viewers.seen(incident_id=incident.pk, user=wang, now=later) == []
    viewers.seen(incident_id=incident.pk, user=li, now=later)
    viewers.left(incident_id=incident.pk, user=li)
    assert viewers.seen(incident_id=incident.pk, user=wang, now=later) == []


def test_through_the_api_and_only_in_scope():
    incident = f.located("other")
    a, b = f.api_client("operator", username="op-a"), f.api_client("operator", username="op-b")
    assert a.post(f"/api/incidents/{incident.pk}/viewing/").json() == {"others": [], "heartbeat_s": viewers.HEARTBEAT_S}
    assert [o["user"] for o in b.post(f"/api/incidents/{incident.pk}/viewing/").json()["others"]] == ["op-a"]
    assert b.delete(f"/api/incidents/{incident.pk}/viewing/").status_code == 204
    assert a.post(f"/api/incidents/{incident.pk}/viewing/").json()["others"] == []
    outsider = f.api_client(person=f.unrelated_leader(incident))
    assert outsider.post(f"/api/incidents/{incident.pk}/viewing/").status_code == 404
