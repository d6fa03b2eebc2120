"""The inbox (dispatch.inbox): each user reads their own person's notifications only, paged, marks them
read, and their sockets are told when a change brings them one."""
from __future__ import annotations

import pytest
from django.utils import timezone

from dispatch import live
from dispatch.inbox import inbox_group
from dispatch.models import Notification
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def holder_client(incident):
    """The API client of the person the incident was dispatched to (a login made for them)."""
    return f.api_client("grid_member", person=incident.assignee)


def test_own_notifications_only_with_the_unread_count():
    incident = f.located("other")
    client = holder_client(incident)
    body = client.get("/api/inbox/").json()
    mine = Notification.objects.filter(person=incident.assignee)
    assert body["unread"] == mine.filter(read_at__isnull=True).count() >= 1
    assert body["results"][0]["incident"] == incident.pk and body["results"][0]["kind"] == "assigned"
    assert body["results"][0]["reference"] == incident.reference
    assert {r["id"] for r in body["results"]} <= set(mine.values_list("id", flat=True))
    # a user with no person has an empty inbox; nobody reads another's
    assert f.api_client("operator").get("/api/inbox/").json() == {"unread": 0, "results": [], "next": None}
    other = Notification.objects.exclude(person=incident.assignee).first()
    assert client.post("/api/inbox/read/", {"ids": [other.pk]}, format="json").status_code == 200
    other.refresh_from_db()
    assert other.read_at is None


def test_paged_and_marked_read():
    incident = f.located("other")
    person = incident.assignee
    now = timezone.now()
    Notification.objects.bulk_create([Notification(person=person, incident=incident, kind="informed",
                                                   message=f"n{i}", created_at=now) for i in range(40)])
    client = holder_client(incident)
    first = client.get("/api/inbox/").json()
    assert len(first["results"]) == 30 and first["next"] == first["results"][-1]["id"]
    second = client.get("/api/inbox/", {"before": first["next"]}).json()
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    total = Notification.objects.filter(person=person).count()
    assert len(first["results"]) + len(second["results"]) == min(total, 60)
    picked = [r["id"] for r in first["results"][:3]]
    assert client.post("/api/inbox/read/", {"ids": picked}, format="json").json()["unread"] == total - 3
    assert client.get("/api/inbox/", {"unread": "true"}).json()["unread"] == total - 3
    assert client.post("/api/inbox/read/", {"all": True}, format="json").json() == {"unread": 0}
    for bad in ({}, {"ids": []}, {"ids": ["x"]}, {"ids": list(range(1, 502))}):
        assert client.post("/api/inbox/read/", bad, format="json").status_code == 400
    assert client.get("/api/inbox/", {"before": "-1"}).status_code == 400


def test_a_change_tells_the_sockets_of_the_users_it_notified(settings):
    incident = f.located("other")
    holder = f.user("grid_member", person=incident.assignee)
    sends = []
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    live.publish_incidents([incident.pk], run=lambda layer, s: sends.extend(s))
    assert ([inbox_group(holder.pk)], {"type": "inbox.changed"}) in sends
    Notification.objects.filter(incident=incident).update(read_at=timezone.now())
    sends.clear()
    live.publish_incidents([incident.pk], run=lambda layer, s: sends.extend(s))
    assert not [s for s in sends if s[1]["type"] == "inbox.changed"]
