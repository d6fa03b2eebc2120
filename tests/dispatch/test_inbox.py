"""The inbox (dispatch.inbox): each user reads their own person's notifications only, paged, marks them
read, and their sockets are told when a change brings them one."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import live
from dispatch.inbox import inbox_group
from dispatch.models import Notification, SmsMessage
from dispatch.sms import SMS_KINDS
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


def test_changed_users_are_the_fresh_unread_notifications_of_people_with_a_login():
    """changed_users (a prepared statement) answers as the ORM's query: the users of the people with an
    unread notification about these incidents written in the last FRESH, each once, in order."""
    from dispatch.inbox import FRESH, changed_users

    first, second, elsewhere = f.located("other"), f.located("other"), f.located("other")
    now = timezone.now()
    users = [f.user("grid_member", person=f.new_person(name=f"测试{n}")) for n in range(4)]
    unlinked = f.new_person(name="无账号")
    Notification.objects.update(read_at=now)  # what intake wrote: read
    Notification.objects.bulk_create([
        Notification(person=users[0].person, incident=first, kind="informed", message="fresh", created_at=now),
        Notification(person=users[0].person, incident=second, kind="informed", message="twice", created_at=now),
        Notification(person=users[1].person, incident=second, kind="informed", message="read", created_at=now,
                     read_at=now),
        Notification(person=users[2].person, incident=first, kind="informed", message="old",
                     created_at=now - FRESH - timedelta(seconds=5)),
        Notification(person=users[3].person, incident=elsewhere, kind="informed", message="other", created_at=now),
        Notification(person=unlinked, incident=first, kind="informed", message="no login", created_at=now),
    ])
    ids = [first.pk, second.pk]
    orm = sorted(set(Notification.objects.filter(
        incident_id__in=ids, created_at__gte=timezone.now() - FRESH, read_at__isnull=True,
        person__user__isnull=False).values_list("person__user_id", flat=True)))
    assert changed_users(ids) == orm == [users[0].pk]
    assert changed_users([elsewhere.pk]) == [users[3].pk]
    assert changed_users([]) == [] and changed_users([-1]) == []


# --- 延期 extensions: a request to its deciders, a decision to its asker -------------------------------

def extension_notices(incident, kind: str) -> list[tuple[int, str]]:
    return list(Notification.objects.filter(incident=incident, kind=kind).values_list("person_id", "message"))


def ask(client, incident, days: int = 2):
    due = (incident.handle_due_at + timedelta(days=days)).isoformat()
    return client.post(f"/api/incidents/{incident.pk}/request_extension/", {"reason": "等材料 waiting for parts",
                                                                            "requested_due": due}, format="json")


def decide(client, incident, approve: bool):
    return client.post(f"/api/incidents/{incident.pk}/decide_extension/", {"approve": approve}, format="json")


@pytest.mark.parametrize("approve", [True, False])
def test_an_extension_request_tells_its_deciders_and_the_decision_its_asker(approve):
    incident = f.located("other")
    assignee = holder_client(incident)
    assert assignee.post(f"/api/incidents/{incident.pk}/accept/", {}, format="json").status_code == 200
    incident = f.reload(incident)
    leader = f.village_leader(incident)
    stranger = f.unrelated_leader(incident)  # a leader of a grid of another village
    before = set(Notification.objects.values_list("id", flat=True))
    assert ask(assignee, incident).status_code == 200
    asked = extension_notices(incident, "ext_asked")
    assert [person for person, _ in asked] == [leader.pk]  # the village's leader, nobody else
    assert "延期申请" in asked[0][1] and incident.title in asked[0][1]
    assert set(Notification.objects.exclude(id__in=before).values_list("kind", flat=True)) == {"ext_asked"}
    # the deciders' inboxes: the village leader has it; a person of another village, an operator have not
    village = f.api_client("town_leader", person=leader)
    assert village.get("/api/inbox/").json()["results"][0]["kind"] == "ext_asked"
    outsider = f.api_client("grid_leader", person=stranger)
    assert not [r for r in outsider.get("/api/inbox/").json()["results"] if r["incident"] == incident.pk]
    assert outsider.get(f"/api/incidents/{incident.pk}/").status_code == 404
    assert f.api_client("operator").get("/api/inbox/").json()["results"] == []
    # a retry is refused (one pending request) and tells nobody again
    assert ask(assignee, incident).status_code == 409
    assert len(extension_notices(incident, "ext_asked")) == 1

    assert decide(f.api_client("operator"), incident, approve).status_code == 200
    decided = extension_notices(incident, "ext_decided")
    assert [person for person, _ in decided] == [incident.assignee_id]
    stored = f.reload(incident)
    words = "批准" if approve else "未批准"
    assert words in decided[0][1] and f"{timezone.localtime(stored.handle_due_at):%m-%d %H:%M}" in decided[0][1]
    mine = assignee.get("/api/inbox/").json()["results"][0]
    assert (mine["kind"], mine["incident"]) == ("ext_decided", incident.pk)
    assert decide(f.api_client("operator"), incident, approve).status_code == 409  # decided once, told once
    assert len(extension_notices(incident, "ext_decided")) == 1
    # inbox only: no SMS for either
    assert {"ext_asked", "ext_decided"}.isdisjoint(SMS_KINDS)
    assert not SmsMessage.objects.filter(incident=incident, kind__in=["ext_asked", "ext_decided"]).exists()


def test_the_village_leaders_own_request_goes_to_the_command_centre_only():
    incident = f.located("other")
    leader = f.village_leader(incident)
    client = f.api_client("town_leader", person=leader)
    assert ask(client, incident).status_code == 200
    assert extension_notices(incident, "ext_asked") == []  # the operators decide it, on the incident
    context = f.api_client("operator").get(f"/api/incidents/{incident.pk}/context/").json()
    assert context["pending_extension"] is not None and "decide_extension" in context["allowed_actions"]
