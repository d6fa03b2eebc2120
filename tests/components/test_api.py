"""The components layer: GeoJSON points in the view, login required, at most a page (``capped``: zoom
in); the code's rule held by the database as well as the validator."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from components.codes import validate_component_code
from components.models import Component
from grids.models import BoundaryGeneration, Grid
from grids.services import generation_activate
from planner.services import generation_draft, grid_redraw
from tests.components.factories import component
from tests.conftest import A1, A2, box
from tests.incidents.factories import api_client

pytestmark = pytest.mark.django_db
VIEW = "120.0,31.0,120.03,31.01"


@pytest.fixture
def placed(square_town):
    return [component(f"99999901010000{n:02d}", 120.001 + n * 0.001, 31.005, owner_dept="水务局")
            for n in range(1, 8)]


def test_the_layer_needs_a_login(placed):
    response = APIClient().get("/api/components/", {"bbox": VIEW})
    assert response.status_code == 401


def test_the_layer_holds_the_components_in_the_view(placed):
    client = api_client("operator")
    fc = client.get("/api/components/", {"bbox": "120.0,31.0,120.0035,31.01"}).json()
    assert fc["type"] == "FeatureCollection" and fc["capped"] is False
    assert [f["properties"]["code"] for f in fc["features"]] == ["9999990101000001", "9999990101000002"]
    props = fc["features"][0]["properties"]
    assert props["type_code"] == "0101" and props["type_name"] == "上水井盖" and props["grid_code"] == A1
    assert props["state"] == "intact" and props["owner_dept"] == "水务局"
    assert fc["features"][0]["geometry"]["coordinates"] == [120.002, 31.005]
    assert client.get("/api/components/", {"in_bbox": "120.0,31.0,120.0035,31.01"}).json()["count"] == 2


def test_a_view_holding_more_than_a_page_is_capped(placed):
    fc = api_client("operator").get("/api/components/", {"bbox": VIEW, "page_size": 5}).json()
    assert fc["capped"] is True and fc["next"] and len(fc["features"]) == 5 and fc["count"] == 7


def test_filters_and_bad_boxes(placed):
    client = api_client("grid_leader")
    Component.objects.filter(code="9999990101000003").update(state="damaged")
    fc = client.get("/api/components/", {"bbox": VIEW, "type": "01", "state": "damaged"}).json()
    assert [f["properties"]["code"] for f in fc["features"]] == ["9999990101000003"]
    assert client.get("/api/components/", {"bbox": VIEW, "type": "0102"}).json()["count"] == 0
    bad = client.get("/api/components/", {"bbox": "120,31,119,32"})
    assert bad.status_code == 400 and "bbox" in bad.json()
    assert client.get("/api/components/", {"type": "1"}).status_code == 400
    one = client.get("/api/components/9999990101000001/").json()
    assert one["properties"]["code"] == "9999990101000001"


def test_the_code_must_be_16_digits_naming_its_type(square_town):
    with pytest.raises(ValidationError, match="16 digits"):
        validate_component_code("321003010100001")
    component("9999990101000001", 120.005, 31.005)
    with transaction.atomic(), pytest.raises(IntegrityError, match="component_code_names_its_type"):
        Component.objects.filter(code="9999990101000001").update(code="9999990102000001")
    with transaction.atomic(), pytest.raises(IntegrityError, match="component_code_16_digits"):
        Component.objects.filter(code="9999990101000001").update(code="99999901010000x1")


def test_components_follow_the_published_generation(square_town):
    moving = component("9999990101000001", 120.011, 31.005)  # A2 now
    assert moving.grid.code == A2
    draft = generation_draft(town=square_town.town)
    grid_redraw(grid=Grid.objects.get(generation=draft, code=A1), boundary=box(120.00, 31.00, 120.012, 31.01))
    grid_redraw(grid=Grid.objects.get(generation=draft, code=A2), boundary=box(120.012, 31.00, 120.02, 31.01))
    generation_activate(generation=draft)
    moving = Component.objects.select_related("grid").get(pk=moving.pk)
    assert moving.grid.code == A1 and moving.grid.generation_id == draft.pk
    assert BoundaryGeneration.objects.get(pk=square_town.pk).status == "retired"
