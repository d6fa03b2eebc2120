"""Phone numbers and names are personal information (PIPL): every path that serializes a person's
phone or an incident's reporter shows them at the reader's level (``grids.privacy``): in full to the
operators, town leaders, the grid's own team and the leaders above it; masked to other staff; not at
all to integration clients, who read no team at all."""
from __future__ import annotations

import json
import re

import pytest
from rest_framework.test import APIClient

from core.actors import Actor
from grids import privacy
from grids.models import Grid, GridTeam, Person, VillageLeader
from incidents.selectors import incident_context
from tests.auth import token_for
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

REPORTER = {"reporter_name": "王小明", "reporter_phone": "13812345678"}


@pytest.fixture
def home() -> Grid:
    return f.grid()


@pytest.fixture
def neighbour(home) -> Grid:
    """A comprehensive grid sharing an edge with the home grid, whose leader has no post in the home
    grid's team and is not its village's leader."""
    insiders = {*_people_ids(home), *VillageLeader.objects.filter(village_id=home.village_id)
                .values_list("person_id", flat=True)}
    grids = (Grid.objects.active().filter(kind="comprehensive", boundary__touches=home.boundary)
             .exclude(pk=home.pk).order_by("code"))
    return next(g for g in grids if f.team_of(g).leader_id not in insiders)


def _people_ids(grid: Grid) -> set[int]:
    team = GridTeam.objects.get(grid=grid)
    return {team.leader_id, *team.memberships.values_list("person_id", flat=True)}


def _people_phones(grid: Grid) -> list[str]:
    team = GridTeam.objects.get(grid=grid)
    return [team.leader.phone, *team.memberships.values_list("person__phone", flat=True)]


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def _readers(home: Grid, neighbour: Grid) -> dict[str, tuple[object, str]]:
    """Each kind of reader of the home grid's team, with the level it must get."""
    team = f.team_of(home)
    member = team.memberships.exclude(person=team.leader).select_related("person").first().person
    village_leader = VillageLeader.objects.get(village_id=home.village_id).person
    superuser = f.user()
    superuser.is_superuser = True
    superuser.save()
    return {
        "operator": (f.user("operator"), privacy.FULL),
        "superuser": (superuser, privacy.FULL),
        "town leader": (f.user("town_leader"), privacy.FULL),
        "own leader": (f.user("grid_leader", person=team.leader), privacy.FULL),
        "own member": (f.user("grid_member", person=member), privacy.FULL),
        "village leader": (f.user(person=village_leader), privacy.FULL),
        "planner": (f.user("planner"), privacy.MASKED),
        "neighbouring leader": (f.user("grid_leader", person=f.team_of(neighbour).leader), privacy.MASKED),
    }


def test_mask_phone():
    assert privacy.mask_phone("13812345678") == "138****5678"
    assert privacy.mask_phone("+86 138-1234-5678") == "138****5678"
    assert privacy.mask_phone("0514-8765432") == "051****5432"
    assert privacy.mask_phone("8765432") == "*****32"
    assert privacy.mask_phone("") == ""
    assert privacy.show_phone("13812345678", privacy.NONE) is None
    assert privacy.show_name("王小明", privacy.MASKED) == "王**"


def test_team_endpoint_shows_phones_at_each_readers_level(home, neighbour):
    phones = _people_phones(home)
    assert all(re.fullmatch(r"\d{11}", p) for p in phones)
    for label, (user, level) in _readers(home, neighbour).items():
        response = _client(user).get(f"/api/grids/{home.code}/team/")
        assert response.status_code == 200, label
        body = response.json()
        shown = [body["leader"]["phone"], *(m["phone"] for m in body["members"])]
        assert shown == [privacy.show_phone(p, level) for p in phones], label
        text = json.dumps(body)
        if level == privacy.MASKED:
            assert not any(p in text for p in phones), label
            assert all(re.fullmatch(r"\d{3}\*{4}\d{4}", s) for s in shown), label
        assert body["leader"]["name"] == f.team_of(home).leader.name


def test_integration_token_reads_no_team_of_any_grid(home):
    client_user = f.user("integration")
    client = _token_client(client_user)
    grids = list(Grid.objects.active().filter(team__isnull=False).order_by("code")[:10])
    assert len(grids) == 10
    numbers = 0
    for grid in grids:
        response = client.get(f"/api/grids/{grid.code}/team/")
        assert response.status_code == 403
        assert "integration" in response.json()["detail"]
        text = response.content.decode()
        numbers += sum(p in text for p in _people_phones(grid))
        assert f.team_of(grid).leader.name not in text
    assert numbers == 0
    # the grid layer names no leader to an integration client; to staff it does
    listed = client.get("/api/grids/", {"village": home.village.code}).json()["features"]
    assert listed and all(g["properties"]["leader"] is None for g in listed)
    staff = _client(f.user("planner")).get("/api/grids/", {"village": home.village.code}).json()["features"]
    assert any(g["properties"]["leader"] for g in staff)


def test_anonymous_reads_no_team(home):
    assert APIClient().get(f"/api/grids/{home.code}/team/").status_code in (401, 403)


def test_side_panel_shows_team_and_reporter_at_each_readers_level(home, neighbour):
    incident = f.located("other", **REPORTER)
    phones = _people_phones(home)
    readers = _readers(home, neighbour)
    readers.pop("neighbouring leader")  # sees no incident of the home grid: 404 below
    readers["assignee"] = (f.user("grid_member", person=incident.assignee), privacy.FULL)
    for label, (user, level) in readers.items():
        response = _client(user).get(f"/api/incidents/{incident.pk}/context/")
        assert response.status_code == 200, label
        body = response.json()
        team = body["team"]
        assert [team["leader"]["phone"], *(m["phone"] for m in team["members"])] == [
            privacy.show_phone(p, level) for p in phones], label
        assert body["reporter"] == {"name": privacy.show_name(REPORTER["reporter_name"], level),
                                    "phone": privacy.show_phone(REPORTER["reporter_phone"], level)}, label
        if level == privacy.MASKED:
            assert body["reporter"] == {"name": "王**", "phone": "138****5678"}
            assert "13812345678" not in response.content.decode()
    neighbour_leader = readers_user = _readers(home, neighbour)["neighbouring leader"][0]
    assert _client(readers_user).get(f"/api/incidents/{incident.pk}/context/").status_code == 404
    assert neighbour_leader


def test_integration_client_reads_no_team_nor_reporter_of_its_own_incident(home):
    hotline = f.user("integration")
    incident = f.report("other", at=f.interior_point(home), actor=Actor.of(hotline), source="hotline_12345",
                        external_id="H-1", **REPORTER)
    response = _token_client(hotline).get(f"/api/incidents/{incident.pk}/context/")
    assert response.status_code == 200
    body = response.json()
    assert body["team"] is None and body["reporter"] is None and body["reassign_to"] == []
    text = response.content.decode()
    assert "13812345678" not in text and not any(p in text for p in _people_phones(home))


def test_reporter_is_none_when_nobody_was_named(home):
    incident = f.located("other")
    assert incident_context(incident, f.operator())["reporter"] is None


def test_no_other_api_serializes_a_phone(home):
    """The incident list, detail, CSV export and /api/me carry no phone of a team nor of a reporter."""
    incident = f.located("other", **REPORTER)
    op = _client(f.user("operator", person=Person.objects.filter(led_teams__grid=home).first()))
    phones = [*_people_phones(home), REPORTER["reporter_phone"]]
    for url in ("/api/incidents/", f"/api/incidents/{incident.pk}/", "/api/incidents/export.csv/", "/api/me/"):
        response = op.get(url)
        assert response.status_code == 200, url
        text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        assert not any(p in text for p in phones), url
