"""The GeoJSON API: shapes, filters, the locate endpoint and its 400s."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.conftest import A1, A2, D1

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    """A logged-in caller: the map API needs a login (issue 11; tests/security/test_auth.py has the
    anonymous side)."""
    client = APIClient()
    client.force_authenticate(User.objects.create_user("map_reader"))
    return client


def _codes(fc) -> set[str]:
    return {f["properties"]["code"] for f in fc["features"]}


def test_villages_are_a_feature_collection(api):
    fc = api.get("/api/villages/", {"town": "321003100"}).json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 14
    feature = fc["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert set(feature["properties"]) >= {"code", "name", "kind", "town_code"}


def test_grids_filter_by_kind_village_and_generation(api, square_town):
    assert len(api.get("/api/grids/", {"kind": "comprehensive", "village": "321003100001"}).json()["features"]) >= 2
    all_active = api.get("/api/grids/").json()
    assert {A1, A2, D1} <= _codes(all_active)
    dedicated = api.get("/api/grids/", {"kind": "dedicated"}).json()
    assert {f["properties"]["kind"] for f in dedicated["features"]} == {"dedicated"}
    assert len([c for c in _codes(dedicated) if c.startswith("321003100")]) == 8
    only_square = api.get("/api/grids/", {"generation": square_town.pk}).json()
    assert _codes(only_square) == {A1, A2, D1, "999999100002001"}


def test_grids_bbox_filter(api, square_town):
    fc = api.get("/api/grids/", {"in_bbox": "120.001,31.001,120.004,31.009"}).json()
    assert _codes(fc) == {A1}


@pytest.mark.parametrize("query", [{"kind": "round"}, {"village": "12"}, {"generation": "x"},
                                   {"in_bbox": "1,2,3"}])
def test_grid_filters_refuse_bad_values(api, query):
    response = api.get("/api/grids/", query)
    assert response.status_code == 400


def test_grid_detail_and_team_needs_login(api):
    code = api.get("/api/grids/", {"kind": "comprehensive"}).json()["features"][0]["properties"]["code"]
    assert api.get(f"/api/grids/{code}/").json()["properties"]["code"] == code
    anonymous = APIClient().get(f"/api/grids/{code}/team/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    team = api.get(f"/api/grids/{code}/team/").json()
    assert team["grid_code"] == code and team["leader"]["name"]
    roles = {(m["role"], m["slot"]) for m in team["members"]}
    assert {("grid_worker", "A"), ("grid_worker", "B")} <= roles


def test_cameras_with_sectors(api):
    fc = api.get("/api/cameras/").json()
    assert len(fc["features"]) == 21
    props = fc["features"][0]["properties"]
    assert props["sector"]["type"] == "Polygon" and fc["features"][0]["geometry"]["type"] == "Point"
    assert api.get("/api/cameras/", {"status": "broken"}).status_code == 400


def test_locate_endpoint(api, square_town):
    body = api.get("/api/locate", {"lon": 120.01, "lat": 31.005}).json()
    assert body["grid"]["code"] == A1 and body["near_edge"] and not body["outside"]
    body = api.get("/api/locate", {"lon": 120.06, "lat": 31.005, "generation": square_town.pk}).json()
    assert body["outside"] and body["nearest_grid"]["code"] == "999999100002001" and body["distance_m"] > 2800


@pytest.mark.parametrize("query,field", [
    ({"lat": 31.0}, "lon"),
    ({"lon": "abc", "lat": 31.0}, "lon"),
    ({"lon": "nan", "lat": 31.0}, "lon"),
    ({"lon": 120.0, "lat": 95}, "lat"),
    ({"lon": 120.0, "lat": 31.0, "crs": "EPSG:32650"}, "crs"),
    ({"lon": 120.0, "lat": 31.0, "generation": 0}, "generation"),
])
def test_locate_refuses_bad_parameters(api, query, field):
    response = api.get("/api/locate", query)
    assert response.status_code == 400
    assert field in response.json()


def test_openapi_schema_lists_endpoints(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/locate", "/api/grids/", "/api/villages/", "/api/cameras/", "/api/grids/{code}/team/"} <= set(paths)


def test_map_page_uses_only_local_assets(client):
    client.force_login(User.objects.create_user("map_viewer"))
    html = client.get("/map/").content.decode()
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html
