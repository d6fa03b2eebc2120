"""The command centre's map view API (GET /api/incidents/view/), the per-area counts it falls back to
(incidents.selectors.open_aggregates) and keyset paging of the incident list: what is in the box and
only that, the cap, scoping (a grid leader's view never holds another grid's incident), bad input 400."""
from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point
from rest_framework.test import APIClient

from core.actors import Actor
from grids.models import Grid
from incidents.models import Incident
from incidents.selectors import incidents_visible_to, open_aggregates, open_aggregates_direct
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

TOWN_BBOX = "119.2,32.5,119.6,32.75"  # around all of Gongdao
FIRST_PAGE = 2**63 - 1


def other_grid() -> Grid:
    """A comprehensive grid of another village than the home grid's."""
    home = f.grid()
    return (Grid.objects.active().filter(kind="comprehensive").exclude(village=home.village)
            .order_by("code").first())


def view(client: APIClient, bbox: str = TOWN_BBOX, zoom: float = 13, **params):
    response = client.get("/api/incidents/view/", {"bbox": bbox, "zoom": zoom, **params})
    return response


def ids_of(body: dict) -> set[int]:
    return {feature["id"] for feature in body["features"]}


def around(lon: float, lat: float, d: float = 0.001) -> str:
    return f"{lon - d!r},{lat - d!r},{lon + d!r},{lat + d!r}"


def test_view_holds_the_open_incidents_in_the_box_and_only_those():
    client = f.api_client("operator")
    home, other = f.located(), f.located(in_grid=other_grid().code)
    closed = f.located()
    f.set_state(closed, "closed")
    lon, lat = home.location.x, home.location.y

    body = view(client, around(lon, lat), zoom=17).json()
    assert body["kind"] == "incidents" and body["capped"] is False and body["by"] is None
    assert ids_of(body) == {home.pk}
    assert body["features"][0]["properties"]["reference"] == f"INC-{home.pk:07d}"  # the list's features
    # a point on the box's west edge, and on its south-west corner, is in the view
    assert ids_of(view(client, f"{lon!r},{lat!r},{lon + 0.01!r},{lat + 0.01!r}", zoom=17).json()) == {home.pk}
    assert ids_of(view(client, f"{lon!r},{lat - 0.01!r},{lon + 0.01!r},{lat + 0.01!r}", zoom=17).json()) == {home.pk}
    # just past it, not
    assert ids_of(view(client, f"{lon + 1e-7!r},{lat!r},{lon + 0.01!r},{lat + 0.01!r}", zoom=17).json()) == set()
    # the whole town: both open ones, never the closed one; far away: nothing
    assert ids_of(view(client).json()) == {home.pk, other.pk}
    assert view(client, "100,10,100.1,10.1").json()["features"] == []
    response = view(client)
    assert response.status_code == 200 and response["X-Changes-Cursor"]


def test_view_filters_as_the_list_does():
    client = f.api_client("operator")
    burning, other = f.located("straw_burning"), f.located("other")
    assert ids_of(view(client, category="straw_burning").json()) == {burning.pk}
    assert ids_of(view(client, state="dispatched").json()) == {burning.pk, other.pk}
    assert ids_of(view(client, state="in_progress").json()) == set()
    assert view(client, state="closed").status_code == 400  # the view shows open incidents only


def test_a_view_with_more_than_the_limit_holds_counts_per_area():
    client = f.api_client("operator")
    home_grid, second = f.grid(), other_grid()
    home = [f.located() for _ in range(3)]
    far = f.located(in_grid=second.code)

    body = view(client, limit=2, zoom=14.5).json()
    assert body["kind"] == "aggregates" and body["by"] == "grid" and body["capped"] is True and body["limit"] == 2
    counts = {p["code"]: p["open"] for p in (x["properties"] for x in body["features"])}
    assert counts == {home_grid.code: 3, second.code: 1}
    first = body["features"][0]
    assert first["properties"]["area"] == "grid" and first["geometry"]["type"] == "Point"
    assert Grid.objects.get(pk=home_grid.pk).boundary.covers(Point(*first["geometry"]["coordinates"], srid=4326))

    by_village = view(client, limit=2, zoom=12).json()
    assert by_village["by"] == "village"
    assert {p["properties"]["code"]: p["properties"]["open"] for p in by_village["features"]} == {
        home_grid.village.code: 3, second.village.code: 1}
    by_town = view(client, limit=2, zoom=8).json()
    assert by_town["by"] == "town" and [p["properties"]["open"] for p in by_town["features"]] == [4]
    # only the areas whose point is in the box
    lon, lat = home[0].location.x, home[0].location.y
    codes = {x["properties"]["code"] for x in view(client, around(lon, lat, 0.05), limit=2, zoom=14).json()["features"]}
    assert second.code not in codes
    # from the detail zoom a full view gives `limit` incidents, and says it is capped
    detail = view(client, limit=2, zoom=17).json()
    assert detail["kind"] == "incidents" and detail["capped"] is True and len(detail["features"]) == 2
    assert ids_of(detail) <= {i.pk for i in home} | {far.pk}
    # within the limit: the incidents themselves, not capped
    assert view(client, limit=4).json()["kind"] == "incidents"


def test_a_grid_leader_never_sees_another_grids_incident_in_a_view_or_its_counts():
    home_grid, second = f.grid(), other_grid()
    mine = [f.located() for _ in range(2)]
    theirs = [f.located(in_grid=second.code) for _ in range(3)]
    leader = f.api_client("grid_leader", person=f.team_of(home_grid).leader)

    body = view(leader).json()
    assert body["kind"] == "incidents" and ids_of(body) == {i.pk for i in mine}
    lon, lat = theirs[0].location.x, theirs[0].location.y
    assert view(leader, around(lon, lat, 0.01), zoom=17).json()["features"] == []
    counts = view(leader, limit=1, zoom=14).json()
    assert counts["kind"] == "aggregates"
    assert {x["properties"]["code"]: x["properties"]["open"] for x in counts["features"]} == {home_grid.code: 2}
    assert [x["properties"]["open"] for x in view(leader, limit=1, zoom=5).json()["features"]] == [2]
    # and the operator sees all of them
    everyone = view(f.api_client("operator"), limit=1, zoom=14).json()
    assert {x["properties"]["code"]: x["properties"]["open"] for x in everyone["features"]} == {
        home_grid.code: 2, second.code: 3}


def test_view_needs_a_login():
    response = view(APIClient())
    assert response.status_code == 401


@pytest.mark.parametrize(("params", "field"), [
    ({"bbox": ""}, "bbox"), ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "nan,0,1,1"}, "bbox"), ({"bbox": "0,0,inf,1"}, "bbox"), ({"bbox": "2,0,1,1"}, "bbox"),
    ({"bbox": "0,2,1,1"}, "bbox"), ({"bbox": "200,0,210,1"}, "bbox"), ({"bbox": "0,-95,1,-91"}, "bbox"),
    ({"bbox": "1,2,3,4,5"}, "bbox"), ({"bbox": "1e400,0,1,1"}, "bbox"),
    ({"zoom": "-1"}, "zoom"), ({"zoom": "25"}, "zoom"), ({"zoom": "nan"}, "zoom"), ({"zoom": "x"}, "zoom"),
    ({"zoom": ""}, "zoom"), ({"limit": "0"}, "limit"), ({"limit": "2001"}, "limit"), ({"limit": "x"}, "limit"),
    ({"state": "closed"}, "state"), ({"village": "x"}, "village"),
])
def test_bad_view_parameters_are_a_400_naming_the_field(params, field):
    query = {"bbox": TOWN_BBOX, "zoom": 13, **params}
    response = f.api_client("operator").get("/api/incidents/view/", query)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_view_a_little_past_the_globe_is_clipped_to_it():
    f.located()
    body = view(f.api_client("operator"), "-200,-100,200,100", zoom=1).json()
    assert len(body["features"]) == 1


def test_open_aggregates_count_the_visible_open_incidents_per_area():
    home_grid, second = f.grid(), other_grid()
    for code in (home_grid.code, home_grid.code, second.code):
        f.located(in_grid=code)
    f.set_state(f.located(), "cancelled")
    outside = f.report(at=(119.0, 32.0))  # out of the town: no grid, no village
    assert outside.grid_id is None
    operator = f.operator()
    for by, code in (("grid", "grid__code"), ("village", "village__code"), ("town", "village__town__code")):
        expected: dict = {}
        for value in incidents_visible_to(operator).filter(state__in=["reported", "registered", "dispatched",
                                                                      "in_progress", "handled", "verified"]) \
                .values_list(code, flat=True):
            expected[value] = expected.get(value, 0) + 1
        assert {a["code"]: a["open"] for a in open_aggregates(operator, by)} == expected
    assert open_aggregates(operator, "grid")[-1]["code"] is None  # the area-less last
    assert open_aggregates(operator, "village")[-1] == {"code": None, "name": None, "open": 1}
    assert open_aggregates(operator, "grid", categories=["straw_burning"]) == []
    nobody = Actor.of(f.user())
    assert open_aggregates(nobody, "grid") == []


# ---- keyset paging of the list (core.pagination) ----

def test_the_list_is_read_in_keyset_pages_without_a_count_and_none_is_skipped():
    client = f.api_client("operator")
    made = [f.located().pk for _ in range(7)]
    url, pages, seen = f"/api/incidents/?page_size=3&before={FIRST_PAGE}", 0, []
    while url:
        body = client.get(url).json()
        assert "count" not in body and body["type"] == "FeatureCollection"
        seen += [x["id"] for x in body["features"]]
        pages += 1
        if pages == 1:  # an incident of the first page closes meanwhile: the next page does not shift
            f.set_state(Incident.objects.get(pk=seen[0]), "cancelled")
        url = body["next"]
    assert seen == sorted(made, reverse=True) and pages == 3
    # numbered pages keep their count
    assert client.get("/api/incidents/?page_size=3").json()["count"] == 7


def test_keyset_pages_are_scoped_and_filtered():
    home, other = f.located("straw_burning"), f.located(in_grid=other_grid().code)
    leader = f.api_client("grid_leader", person=f.team_of(f.grid()).leader)
    body = leader.get(f"/api/incidents/?before={FIRST_PAGE}").json()
    assert [x["id"] for x in body["features"]] == [home.pk] and body["next"] is None
    operator = f.api_client("operator")
    assert [x["id"] for x in operator.get(f"/api/incidents/?before={FIRST_PAGE}&category=straw_burning")
            .json()["features"]] == [home.pk]
    assert [x["id"] for x in operator.get(f"/api/incidents/?before={other.pk}").json()["features"]] == [home.pk]


def test_numbered_pages_count_the_rows_they_page_scoped_and_filtered_without_the_features_joins():
    """The count of a numbered page is of the same rows as its features (core.pagination.CountedPaginator
    counts them before the values() of related fields): scoped, filtered, and a COUNT with no JOIN."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    home, other = f.located("straw_burning"), f.located(in_grid=other_grid().code)
    f.located()
    operator, leader = f.api_client("operator"), f.api_client("grid_leader", person=f.team_of(f.grid()).leader)
    with CaptureQueriesContext(connection) as queries:
        body = operator.get("/api/incidents/?page_size=2").json()
    assert body["count"] == 3 and len(body["features"]) == 2 and body["next"]
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "incidents_incident" in q["sql"]]
    assert counts and all(" JOIN " not in sql for sql in counts)
    body = operator.get("/api/incidents/?category=straw_burning").json()
    assert body["count"] == 1 and [x["id"] for x in body["features"]] == [home.pk]
    body = leader.get("/api/incidents/").json()
    assert body["count"] == 2 and other.pk not in ids_of(body)
    assert operator.get("/api/incidents/?page_size=2&page=2").json()["count"] == 3


def test_numbered_pages_count_up_to_the_cap_and_say_so(monkeypatch):
    """A numbered list counts at most COUNT_CAP rows (a city's 10M would take seconds): below it the count
    is exact; past it the count is the cap, ``count_exact`` is false, the pages stop at the cap with a 404
    naming ``before``, and the keyset pages still reach every row."""
    from core import pagination

    made = [f.located() for _ in range(5)]
    operator = f.api_client("operator")
    body = operator.get("/api/incidents/?page_size=2").json()
    assert (body["count"], body["count_exact"]) == (5, True)
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    body = operator.get("/api/incidents/?page_size=2").json()
    assert (body["count"], body["count_exact"], len(body["features"])) == (3, False, 2) and body["next"]
    last = operator.get("/api/incidents/?page_size=2&page=2").json()
    assert (last["count"], last["count_exact"], len(last["features"]), last["next"]) == (3, False, 1, None)
    beyond = operator.get("/api/incidents/?page_size=2&page=3")
    assert beyond.status_code == 404 and "before" in beyond.json()["detail"]
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    assert operator.get("/api/incidents/?page_size=2").json()["count_exact"] is True
    walked, url = [], f"/api/incidents/?page_size=2&before={FIRST_PAGE}"
    while url:
        page = operator.get(url).json()
        walked += [x["id"] for x in page["features"]]
        url = page["next"]
    assert sorted(walked) == sorted(x.pk for x in made)


@pytest.mark.parametrize("before", ["0", "-1", "x", "", "1.5", str(2**63)])
def test_a_bad_keyset_is_a_400(before):
    response = f.api_client("operator").get(f"/api/incidents/?before={before}")
    assert response.status_code == 400 and "before" in response.json()


def test_open_aggregates_by_grid_id_answer_as_the_direct_join():
    """The fast path (counts per grid id, summed through the areas) and the reference join agree, for
    every area, scope and category filter, grid-less incidents included."""
    home_grid, second = f.grid(), other_grid()
    for n in range(9):
        f.located("straw_burning" if n % 3 else "other", in_grid=(home_grid, second)[n % 2].code)
    f.report(at=(119.0, 32.0))  # no grid, no village
    no_grid = f.located()
    Incident.objects.filter(pk=no_grid.pk).update(grid=None)  # a village but no grid (an address, say)
    leader = Actor.of(f.user("grid_leader", person=f.team_of(home_grid).leader))
    for actor in (f.operator(), leader, Actor.of(f.user())):
        for by in ("grid", "village", "town"):
            for categories in (None, ["straw_burning"], ["other", "straw_burning"]):
                assert open_aggregates(actor, by, categories=categories) == open_aggregates_direct(
                    actor, by, categories=categories), (actor, by, categories)


def test_the_view_is_described_in_the_schema(tmp_path):
    import yaml
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    operation = schema["paths"]["/api/incidents/view/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"bbox", "zoom", "limit", "state", "category"} <= set(params)
    assert params["bbox"]["required"] and params["zoom"]["required"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    ref = schema["paths"]["/api/incidents/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    assert "count" not in page["allOf"][1]["required"]  # a keyset page has none


def test_order_due_puts_the_overdue_first_then_the_soonest_deadline_as_the_overdue_rule_says():
    """``order=due`` (the team's inbox): the overdue first, longest overdue first, then the deadlines to
    come, soonest first, then the incidents no clock runs for (reported, handled), newest first; and an
    incident sorts before ``now`` exactly when ``rules.is_overdue`` says it is overdue (one rule)."""
    from datetime import timedelta

    from django.utils import timezone

    from incidents import rules

    now = timezone.now()
    hour = timedelta(hours=1)
    made = {}
    for name, state, accept, handle in [
        ("handled", "handled", None, now - 9 * hour),          # no clock runs once handled
        ("soon", "in_progress", None, now + hour),
        ("accept_late", "dispatched", now - 5 * hour, now + 9 * hour),  # the accept clock ran out
        ("later", "registered", None, now + 3 * hour),
        ("handle_late", "in_progress", now - 9 * hour, now - 2 * hour),  # accept no longer runs
        ("reported", "reported", None, None),
    ]:
        made[name] = f.located()
        f.set_state(made[name], state, accept_due_at=accept, handle_due_at=handle)
    expected = ["accept_late", "handle_late", "soon", "later", "reported", "handled"]
    body = f.api_client("operator").get("/api/incidents/?order=due&page_size=100").json()
    names = {v.pk: k for k, v in made.items()}
    assert [names[x["id"]] for x in body["features"]] == expected
    flagged = [names[x["id"]] for x in body["features"] if x["properties"]["overdue"]]
    assert flagged == ["accept_late", "handle_late"]
    due = {names[row["pk"]]: row["due"] for row in
           Incident.objects.filter(pk__in=names).annotate(due=rules.next_due()).values("pk", "due")}
    for name, incident in made.items():
        assert (due[name] is not None and due[name] < now) == rules.is_overdue(f.reload(incident), now), name


@pytest.mark.parametrize("query", ["order=due&before=99", "order=oldest"])
def test_a_bad_order_is_a_400(query):
    response = f.api_client("operator").get(f"/api/incidents/?{query}")
    assert response.status_code == 400 and "order" in response.json()
