"""常用语 (reply templates): loaded once without overwriting edits, offered per category, state and action
in the incident's /context/."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from incidents.models import Category, ReplyTemplate
from incidents.services import replies_load
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def test_the_defaults_load_once_and_edits_are_kept():
    ReplyTemplate.objects.all().delete()
    added = replies_load()
    assert added == ReplyTemplate.objects.count() > 10
    edited = ReplyTemplate.objects.get(text="已现场处置完毕，恢复正常。")
    edited.active = False
    edited.position = 99
    edited.save()
    assert replies_load() == 0
    edited.refresh_from_db()
    assert (edited.active, edited.position) == (False, 99)


def test_only_actions_people_take():
    with pytest.raises(ValidationError, match="not an action people take"):
        ReplyTemplate(text="x", action="sweep").full_clean()
    ReplyTemplate(text="x", action="status_note").full_clean()


def test_offered_for_the_category_state_and_allowed_actions():
    ReplyTemplate.objects.all().delete()
    roads, other = Category.objects.get(code="roads_facilities"), Category.objects.get(code="other")
    common = ReplyTemplate.objects.create(text="通用进度", action="status_note")
    own = ReplyTemplate.objects.create(text="路面进度", action="status_note", category=roads, position=5)
    ReplyTemplate.objects.create(text="别的类别", action="status_note", category=other)
    ReplyTemplate.objects.create(text="停用", action="status_note", active=False)
    ReplyTemplate.objects.create(text="结案用语", action="close")  # close is not allowed while dispatched
    ReplyTemplate.objects.create(text="只在处置中", state="in_progress")
    any_action = ReplyTemplate.objects.create(text="派遣后任何备注", state="dispatched")
    incident = f.located("roads_facilities")
    assert incident.state == "dispatched"
    client = f.api_client("operator")
    context = client.get(f"/api/incidents/{incident.pk}/context/").json()
    assert [r["id"] for r in context["replies"]] == [own.pk, common.pk, any_action.pk]
    assert context["replies"][0] == {"id": own.pk, "action": "status_note", "text": "路面进度"}
    # who may take no action is offered no words
    leader = f.api_client("town_leader").get(f"/api/incidents/{incident.pk}/context/")
    assert leader.status_code == 200 and leader.json()["allowed_actions"] == [] and leader.json()["replies"] == []
