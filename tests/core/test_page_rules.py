"""The rules the pages' modules read come from the server's modules, never from a copy of their own."""
import json
import re

import pytest
from django.contrib.auth.models import Group, User

from core.actors import Role
from core.schema import GeoJsonPagination
from incidents import rules
from incidents.apis import IncidentPagination


@pytest.mark.django_db
def test_every_page_hands_the_incident_rules_and_the_largest_page_to_its_modules(client):
    user = User.objects.create_user("rules-operator", password="pw-rules-operator")
    user.groups.add(Group.objects.get_or_create(name=Role.OPERATOR)[0])
    client.force_login(user)
    for path in ("/command/", "/my/"):
        html = client.get(path).content.decode()
        block = re.search(r'<script id="incident-rules" type="application/json">(.*?)</script>', html, re.S)
        assert block, path
        handed = json.loads(block.group(1))
        assert handed == {**rules.for_the_browser(), "max_page_size": GeoJsonPagination.max_page_size}
    # the phone's "more" stops at the incident list's own largest page (web/static/web/store.js)
    assert IncidentPagination.max_page_size == handed["max_page_size"] == 10000
