"""The fast list representation is the serializer's, field for field."""
from __future__ import annotations

import json

import pytest
from rest_framework.utils.encoders import JSONEncoder

from incidents import geojson
from incidents.geojson import IncidentSerializer
from incidents.models import Incident
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def _plain(data) -> object:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def test_fast_features_equal_the_serializer():
    located = f.located("straw_burning")
    f.drive(located, ["accept", "report_handled", "verify", "close"], f.operator())
    f.report("other", address="火星基地")  # triage: no location, no grid
    f.report("public_security", at=(119.0, 32.0))  # outside the town
    f.located("work_safety", reporter_name="张三")
    qs = Incident.objects.order_by("id")
    fast = geojson.features(geojson.rows(qs))
    slow = IncidentSerializer(qs, many=True).data["features"]
    assert len(fast) == 4
    assert _plain(fast) == _plain(slow)
