"""Incidents about a city component (部件): named by its code at intake (an unknown code is a 400 naming the
field), shown in the incident and its side panel, and counted per component for the recurring problems,
scoped as every read."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import Grid, GridTeam
from incidents.models import Incident
from tests.auth import token_for
from tests.components.factories import component
from tests.incidents import factories as f
from tests.incidents.test_api import _report, _user

pytestmark = pytest.mark.django_db


def lamp(code: str = "3210030101000001", in_grid: Grid | None = None):
    lon, lat = f.interior_point(in_grid or f.grid())
    return component(code, lon, lat, name="谷营路口", owner_dept="公道镇城管", state="damaged")


@pytest.fixture
def hotline():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(_user('hotline_parts', 'integration'))}")
    return client


def test_intake_names_the_component_by_its_code(hotline):
    cover = lamp()
    response = hotline.post("/api/incidents/", _report(component=cover.code), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["properties"]["component_code"] == cover.code
    incident = Incident.objects.get(pk=body["id"])
    assert incident.component_id == cover.pk

    operator = f.api_client("operator")
    assert operator.get(f"/api/incidents/{incident.pk}/").json()["properties"]["component_code"] == cover.code
    panel = operator.get(f"/api/incidents/{incident.pk}/context/").json()["component"]
    assert panel == {"code": cover.code, "type_code": "0101", "type_name": "上水井盖", "name": "谷营路口",
                     "owner_dept": "公道镇城管", "state": "damaged", "state_label": "破损 damaged"}
    with pytest.raises(ProtectedError):
        cover.delete()


def test_an_unknown_component_code_is_a_400_naming_the_field(hotline):
    before = Incident.objects.count()
    response = hotline.post("/api/incidents/", _report(component="3210030101999999"), format="json")
    assert response.status_code == 400
    assert "3210030101999999" in response.json()["component"][0]
    assert Incident.objects.count() == before
    batch = hotline.post("/api/incidents/batch/", [_report(external_id="b-1"),
                                                    _report(external_id="b-2", component="nope")], format="json")
    assert batch.status_code in (200, 207), batch.content
    rows = batch.json()["results"]
    assert [r["status"] for r in rows] == ["created", "invalid"] and "component" in rows[1]["errors"]


def test_without_a_component_nothing_changes(hotline):
    body = hotline.post("/api/incidents/", _report(), format="json").json()
    assert body["properties"]["component_code"] is None
    assert f.api_client("operator").get(f"/api/incidents/{body['id']}/context/").json()["component"] is None


def test_recurring_problems_per_component_in_a_period():
    home, other = f.grid(), Grid.objects.active().filter(kind="comprehensive").exclude(code=f.HOME_GRID).first()
    often, once, elsewhere = lamp("3210030101000001"), lamp("3210030101000002"), lamp("3210030101000003", other)
    for _ in range(3):
        f.report("other", at=f.interior_point(home), component=often)
    f.report("straw_burning", at=f.interior_point(home), component=often)
    f.report("other", at=f.interior_point(home), component=once)
    cancelled = f.report("other", at=f.interior_point(home), component=once)
    f.set_state(cancelled, Incident.State.CANCELLED)  # does not count
    f.set_state(f.report("other", at=f.interior_point(home), component=often), Incident.State.CLOSED)
    f.report("other", at=f.interior_point(home), component=once, now=timezone.now() - timedelta(days=400))
    f.report("other", at=f.interior_point(other), component=elsewhere)
    f.report("other", at=f.interior_point(home))  # no component

    start, end = (timezone.now() - timedelta(days=1)).isoformat(), (timezone.now() + timedelta(days=1)).isoformat()
    response = f.api_client("operator").get("/api/components/hotspots/", {"start": start, "end": end})
    assert response.status_code == 200, response.content
    rows = {r["code"]: r for r in response.json()["components"]}
    assert list(rows) == [often.code, once.code, elsewhere.code]  # most first, then by code
    assert rows[often.code]["incidents"] == 5 and rows[often.code]["open"] == 4
    assert rows[often.code]["categories"] == {"other": 4, "straw_burning": 1}
    assert rows[often.code]["type_name"] == "上水井盖" and rows[often.code]["state"] == "damaged"
    assert rows[once.code]["incidents"] == 1 and rows[elsewhere.code]["incidents"] == 1

    leader = f.api_client(person=GridTeam.objects.get(grid=other).leader)
    mine = leader.get("/api/components/hotspots/", {"start": start, "end": end}).json()["components"]
    assert [r["code"] for r in mine] == [elsewhere.code]
    only = f.api_client("operator").get("/api/components/hotspots/", {"start": start, "end": end, "limit": 1,
                                                                      "category": "straw_burning"}).json()
    assert [(r["code"], r["incidents"]) for r in only["components"]] == [(often.code, 1)]
    assert APIClient().get("/api/components/hotspots/").status_code == 401
    bad = f.api_client("operator").get("/api/components/hotspots/", {"start": end, "end": start})
    assert bad.status_code == 400 and "end" in bad.json()


def test_a_batch_looks_its_components_up_at_once(hotline, django_assert_max_num_queries):
    from incidents.serializers import validate_intake

    covers = [lamp(f"32100301010000{n:02d}") for n in range(1, 6)]
    rows = [_report(external_id=f"c-{c.code}", component=c.code) for c in covers] + [_report(component="x")]
    with django_assert_max_num_queries(4):  # categories, cameras (none named: no query), components
        out = validate_intake(rows)
    assert [o.component.code for o in out[:5]] == [c.code for c in covers]
    assert "component" in out[5]
