"""No lost edits in the admin (core.versions.VersionedAdmin): two people open the same category (or team);
the second save, made on what they opened, is refused naming the first, and changes nothing."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client

from grids.models import GridTeam
from incidents.models import Category

pytestmark = pytest.mark.django_db


class FormFields(HTMLParser):
    """The values a browser would post from the page's change form (inputs, checked boxes, selected
    options, textareas)."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            box = a.get("type") in ("checkbox", "radio")
            self.data.setdefault(name, []).append(a.get("value", "on" if box else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data


def opened(client: Client, url: str) -> dict:
    page = client.get(url)
    assert page.status_code == 200
    parser = FormFields()
    parser.feed(page.content.decode())
    return {k: v if len(v) != 1 else v[0] for k, v in parser.data.items()}


def admin_client(name: str) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(name, password="x"))
    return client


def test_a_stale_category_edit_is_refused_with_who_changed_it():
    category = Category.objects.get(code="other")
    url = f"/admin/incidents/category/{category.pk}/change/"
    wang, li = admin_client("admin-wang"), admin_client("admin-li")
    form_wang, form_li = opened(wang, url), opened(li, url)
    assert form_wang["_loaded_version"] and form_wang["_loaded_version"] == form_li["_loaded_version"]
    first = wang.post(url, {**form_wang, "sla_handle_min": "600"})
    assert first.status_code == 302, (first.context["adminform"].form.errors, first.context.get("errors"))
    second = li.post(url, {**form_li, "sla_handle_min": "900", "name_en": "li's name"})
    assert second.status_code == 200  # the form again, with the reason
    assert "changed by admin-wang" in second.content.decode()
    category.refresh_from_db()
    assert (category.sla_handle_min, category.name_en) == (600, Category.objects.get(code="other").name_en)
    assert category.name_en != "li's name"
    # opened again, the change goes through
    third = li.post(url, {**opened(li, url), "sla_handle_min": "900"})
    assert third.status_code == 302 and Category.objects.get(pk=category.pk).sla_handle_min == 900


def test_a_stale_team_edit_is_refused_even_when_only_a_post_changed():
    team = GridTeam.objects.order_by("pk").first()
    url = f"/admin/grids/gridteam/{team.pk}/change/"
    wang, li = admin_client("admin-wang"), admin_client("admin-li")
    form_wang, form_li = opened(wang, url), opened(li, url)
    changed = {k: v for k, v in form_wang.items() if k != "memberships-0-on_duty"}  # a post goes off duty
    assert form_wang.get("memberships-0-on_duty") == "on"
    answer = wang.post(url, changed)
    assert answer.status_code == 302, answer.context["errors"]
    assert not GridTeam.objects.get(pk=team.pk).memberships.order_by("role", "slot").first().on_duty
    second = li.post(url, form_li)
    assert second.status_code == 200 and "changed by admin-wang" in second.content.decode()
    json.dumps(form_li)  # the scraped form is plain data
