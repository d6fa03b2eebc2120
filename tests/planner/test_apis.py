"""The planner's drafts: a draft copies the active generation with its teams; a grid is redrawn (any
EPSG CRS); the preview says what would move; publishing refuses an invalid partition and otherwise
makes the draft the active generation. Only planners may do any of it."""
from __future__ import annotations

import json

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from rest_framework.test import APIClient

from gis_core.geometry import from_metric, to_metric
from gis_core.srid import METRIC_SRID
from grids import locator
from grids.models import BoundaryGeneration, Grid, GridTeam, TeamMembership, Town
from incidents.models import Incident
from planner.services import generation_draft
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


_client = f.api_client


def _shape(grid: Grid):
    return shapely.from_wkb(bytes(grid.boundary.wkb))


def _neighbours() -> tuple[Grid, Grid, float]:
    """Two comprehensive grids of one village sharing an edge, and its length in metres."""
    grids = list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    for a in grids:
        for b in grids:
            if a.village_id == b.village_id and a.code < b.code:
                shared = to_metric(_shape(a)).intersection(to_metric(_shape(b)))
                if shared.length > 300:
                    return a, b, shared.length
    raise AssertionError("no neighbouring grids")


def _strip(a: Grid, b: Grid, width_m: float = 40.0):
    """The part of ``b`` within ``width_m`` of its edge with ``a`` (metric, EPSG:4549)."""
    ma, mb = to_metric(_shape(a)), to_metric(_shape(b))
    return mb.intersection(ma.intersection(mb).buffer(width_m))


def _put(client: APIClient, generation: int, code: str, geometry, crs: str | None = None):
    body = {"geometry": json.loads(shapely.to_geojson(geometry))}
    if crs:
        body["crs"] = crs
    return client.put(f"/api/generations/{generation}/grids/{code}/boundary/", body, format="json")


def test_a_draft_copies_every_grid_and_its_team():
    town = Town.objects.get(code="321003100")
    active = BoundaryGeneration.objects.get(town=town, status="active")
    draft = generation_draft(town=town, description="2027 redraw")
    assert (draft.status, draft.description) == ("draft", "2027 redraw")
    old = {g.code: g for g in active.grids.all()}
    new = {g.code: g for g in draft.grids.all()}
    assert set(old) == set(new) and len(new) == 53
    assert all(old[c].boundary.equals_exact(new[c].boundary, 0) and old[c].name == new[c].name for c in old)

    def posts(generation):
        return sorted(TeamMembership.objects.filter(team__grid__generation=generation).values_list(
            "team__grid__code", "role", "slot", "person_id", "on_duty"))

    assert posts(draft) == posts(active) and len(posts(draft)) == 424
    assert sorted(GridTeam.objects.filter(grid__generation=draft).values_list("grid__code", "leader_id")) == sorted(
        GridTeam.objects.filter(grid__generation=active).values_list("grid__code", "leader_id"))


def test_moving_a_shared_edge_previews_and_publishes():
    a, b, _ = _neighbours()
    strip = _strip(a, b)
    inside_strip = from_metric(strip.representative_point())
    moved = f.report("other", at=(inside_strip.x, inside_strip.y))
    assert moved.grid == b

    planner = _client("planner")
    created = planner.post("/api/generations/", {"town": "321003100"}, format="json")
    assert created.status_code == 201, created.content
    draft = created.json()["id"]
    new_a = to_metric(_shape(a)).union(strip)  # sent in EPSG:4549 metres
    new_b = from_metric(to_metric(_shape(b)).difference(strip))  # sent in EPSG:4326
    answer = _put(planner, draft, a.code, new_a, crs="EPSG:4549")
    assert answer.status_code == 200, answer.content
    assert answer.json()["geometry"]["type"] == "MultiPolygon"
    assert _put(planner, draft, b.code, new_b).status_code == 200

    preview = planner.get(f"/api/generations/{draft}/preview/").json()
    assert preview["valid"] is True and preview["problems"] == []
    changed = {c["code"]: c for c in preview["changed_grids"]}
    assert set(changed) == {a.code, b.code} and all(c["change"] == "redrawn" for c in changed.values())
    assert abs(changed[a.code]["area_m2"] - strip.area) < 0.02 * strip.area
    assert {"id": moved.pk, "from_grid": b.code, "to_grid": a.code} in preview["incidents"]
    assert preview["grids_without_team"] == []

    published = planner.post(f"/api/generations/{draft}/publish/")
    assert published.status_code == 200 and published.json()["status"] == "active"
    assert BoundaryGeneration.objects.get(town__code="321003100", status="active").pk == draft
    where = locator.locate(inside_strip.x, inside_strip.y)
    assert where.grid.code == a.code  # new reports there go to the new grid
    assert Incident.objects.get(pk=moved.pk).grid == b  # the open incident keeps the grid it was located in


def test_an_overlap_is_previewed_as_a_problem_and_never_published():
    a, b, _ = _neighbours()
    planner = _client("planner")
    draft = planner.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    assert _put(planner, draft, a.code, from_metric(to_metric(_shape(a)).union(_strip(a, b)))).status_code == 200
    preview = planner.get(f"/api/generations/{draft}/preview/").json()
    assert preview["valid"] is False
    assert any(a.code in p and b.code in p and "overlap" in p for p in preview["problems"])
    refused = planner.post(f"/api/generations/{draft}/publish/")
    assert refused.status_code == 409 and refused.json()["problems"] == preview["problems"]
    assert BoundaryGeneration.objects.get(pk=draft).status == "draft"
    assert Grid.objects.active().get(code=a.code).generation_id != draft


def test_a_grid_without_a_team_is_listed():
    planner = _client("planner")
    draft = planner.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    grid = Grid.objects.filter(generation_id=draft, kind="comprehensive").order_by("code").first()
    GridTeam.objects.filter(grid=grid).delete()
    assert planner.get(f"/api/generations/{draft}/preview/").json()["grids_without_team"] == [grid.code]


BOW_TIE = {"type": "Polygon", "coordinates": [[[119.30, 32.60], [119.31, 32.61], [119.31, 32.60],
                                                [119.30, 32.61], [119.30, 32.60]]]}


@pytest.mark.parametrize(("body", "field"), [
    ({"geometry": BOW_TIE}, "geometry"),
    ({"geometry": {"type": "Point", "coordinates": [119.3, 32.6]}}, "geometry"),
    ({"geometry": {"type": "Polygon", "coordinates": "nonsense"}}, "geometry"),
    ({"geometry": {"type": "Polygon", "coordinates": [[[119.3, 32.6], [119.31, 32.6], [119.3, 32.61],
                                                       [119.3, 32.6]]]}, "crs": "EPSG:99999"}, "crs"),
    ({"geometry": {"type": "Polygon", "coordinates": [[[119.3, 32.6], [119.31, 32.6], [119.3, 32.61],
                                                       [119.3, 32.6]]]}, "crs": "WGS84"}, "crs"),
    ({}, "geometry"),
])
def test_a_bad_boundary_is_a_400_and_changes_nothing(body, field):
    planner = _client("planner")
    draft = planner.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    grid = Grid.objects.filter(generation_id=draft).order_by("code").first()
    before = grid.boundary.wkb
    answer = planner.put(f"/api/generations/{draft}/grids/{grid.code}/boundary/", body, format="json")
    assert answer.status_code == 400 and field in answer.json(), answer.content
    grid.refresh_from_db()
    assert grid.boundary.wkb == before


def test_only_a_draft_can_be_redrawn_and_unknown_ones_are_404():
    planner = _client("planner")
    active = Grid.objects.active().order_by("code").first()
    geometry = _shape(active)
    assert _put(planner, active.generation_id, active.code, geometry).status_code == 409
    assert _put(planner, active.generation_id, "321003100999999", geometry).status_code == 404
    assert planner.get("/api/generations/999999/preview/").status_code == 404
    assert planner.post("/api/generations/", {"town": "123456789"}, format="json").status_code == 400


@pytest.mark.parametrize("groups", [("operator",), ("grid_leader",), ("town_leader",), ("integration",), ()])
def test_only_planners_may_plan(groups):
    client = _client(*groups)
    draft = generation_draft(town=Town.objects.get(code="321003100"))
    grid = draft.grids.order_by("code").first()
    assert client.get("/api/generations/").status_code == 403
    assert client.post("/api/generations/", {"town": "321003100"}, format="json").status_code == 403
    assert _put(client, draft.pk, grid.code, _shape(grid)).status_code == 403
    assert client.get(f"/api/generations/{draft.pk}/preview/").status_code == 403
    assert client.post(f"/api/generations/{draft.pk}/publish/").status_code == 403
    assert APIClient().get("/api/generations/").status_code in (401, 403)
    assert BoundaryGeneration.objects.get(pk=draft.pk).status == "draft"


def test_what_the_editor_is_served_goes_back_unchanged():
    """The editor's layer is served at full precision: sending a grid back as it came changes no
    coordinate, so the neighbours' shared edges still match exactly."""
    planner = _client("planner")
    draft = planner.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    served = planner.get(f"/api/generations/{draft}/grids/").json()
    assert len(served["features"]) == 53
    before = {g.code: bytes(g.boundary.wkb) for g in Grid.objects.filter(generation_id=draft)}
    for feature in served["features"][:10]:
        answer = planner.put(f"/api/generations/{draft}/grids/{feature['id']}/boundary/",
                             {"geometry": feature["geometry"]}, format="json")
        assert answer.status_code == 200
    after = {g.code: bytes(g.boundary.wkb) for g in Grid.objects.filter(generation_id=draft)}
    assert after == before
    assert planner.get(f"/api/generations/{draft}/preview/").json()["changed_grids"] == []
    assert _client("operator").get(f"/api/generations/{draft}/grids/").status_code == 403


@pytest.mark.parametrize(("groups", "status"), [(("planner",), 200), (("operator",), 403), (("town_leader",), 403),
                                                ((), 403)])
def test_the_planner_page_is_for_planners(client, groups, status):
    client.force_login(f.user(*groups))
    assert client.get("/planner/", HTTP_HOST="127.0.0.1").status_code == status


def test_the_preview_lists_only_incidents_the_actor_may_see():
    from core.actors import Actor
    from planner.preview import generation_preview

    a, b, _ = _neighbours()
    strip = _strip(a, b)
    inside = from_metric(strip.representative_point())
    moved = f.report("other", at=(inside.x, inside.y))
    draft = generation_draft(town=Town.objects.get(code="321003100"))
    grid_a, grid_b = draft.grids.get(code=a.code), draft.grids.get(code=b.code)
    from planner.services import grid_redraw

    grid_redraw(grid=grid_a, boundary=GEOSGeometry(to_metric(_shape(a)).union(strip).wkt, srid=METRIC_SRID))
    grid_redraw(grid=grid_b, boundary=GEOSGeometry(to_metric(_shape(b)).difference(strip).wkt, srid=METRIC_SRID))
    assert [i["id"] for i in generation_preview(draft, f.actor("planner"))["incidents"]] == [moved.pk]
    outsider = GridTeam.objects.exclude(grid__village_id=b.village_id).filter(grid__generation__status="active").first()
    assert generation_preview(draft, f.actor(person=outsider.leader))["incidents"] == []
    assert generation_preview(draft, Actor(user=None, label="anonymous"))["incidents_moved"] == 0


@pytest.mark.django_db(transaction=True)  # a version is the writing transaction's id: each edit its own
def test_a_stale_redraw_is_refused_with_who_changed_it(demo_data):
    """Two planners load the same draft; the first saves a grid, the second's save of that grid, made
    on what they loaded, is a 412 naming the first, and changes nothing; loaded again, it goes through."""
    grid = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    first, second = (f.api_client("planner", username=name) for name in ("planner-wang", "planner-li"))
    draft = first.post("/api/generations/", {"town": "321003100"}, format="json").json()["id"]
    loaded = {f["id"]: f for f in second.get(f"/api/generations/{draft}/grids/").json()["features"]}
    version = loaded[grid.code]["properties"]["version"]
    assert version and loaded[grid.code]["properties"]["edited_by"] == ""
    smaller = from_metric(to_metric(_shape(grid)).buffer(-5))
    saved = first.put(f"/api/generations/{draft}/grids/{grid.code}/boundary/",
                      {"geometry": json.loads(shapely.to_geojson(smaller))}, format="json",
                      HTTP_IF_MATCH=f'"{version}"')
    assert saved.status_code == 200 and saved.json()["properties"]["edited_by"] == "planner-wang"
    assert saved["ETag"] == f'"{saved.json()["properties"]["version"]}"' != f'"{version}"'
    bigger = from_metric(to_metric(_shape(grid)).buffer(5))
    stale = second.put(f"/api/generations/{draft}/grids/{grid.code}/boundary/",
                       {"geometry": json.loads(shapely.to_geojson(bigger))}, format="json",
                       HTTP_IF_MATCH=f'"{version}"')
    assert stale.status_code == 412
    body = stale.json()
    assert body["changed_by"] == "planner-wang" and "planner-wang" in body["detail"]
    assert body["current"]["properties"]["version"] == saved.json()["properties"]["version"]
    stored = Grid.objects.get(generation_id=draft, code=grid.code)
    assert stored.edited_by == "planner-wang"
    assert to_metric(_shape(stored)).area == pytest.approx(to_metric(smaller).area, rel=1e-6)
    again = second.put(f"/api/generations/{draft}/grids/{grid.code}/boundary/",
                       {"geometry": json.loads(shapely.to_geojson(bigger))}, format="json",
                       HTTP_IF_MATCH=body["current"]["properties"]["version"])
    assert again.status_code == 200 and again.json()["properties"]["edited_by"] == "planner-li"
