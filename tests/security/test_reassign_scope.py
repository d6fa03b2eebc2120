"""A grid leader reassigns only within the incident's handling grid's team (escalation is the way
up); an operator chooses anyone in the town. The side panel offers exactly the allowed people."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from grids.models import Grid, GridTeam, Person
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    home = f.grid()
    team = f.team_of(home)
    insiders = _people(home)
    touching = Grid.objects.active().filter(kind="comprehensive", boundary__touches=home.boundary).exclude(pk=home.pk)
    neighbour = next(g for g in touching.order_by("code") if not insiders & _people(g))
    outsider = f.team_of(neighbour).memberships.select_related("person").first().person
    incident = f.located("other")
    member = team.memberships.exclude(person_id__in=[team.leader_id, incident.assignee_id]).first().person
    leader = APIClient()
    leader.force_authenticate(f.user("grid_leader", person=team.leader))
    operator = APIClient()
    operator.force_authenticate(f.user("operator"))
    return {"incident": incident, "member": member, "outsider": outsider, "leader": leader, "operator": operator,
            "insiders": insiders}


def _people(grid: Grid) -> set[int]:
    team = f.team_of(grid)
    return {team.leader_id, *team.memberships.values_list("person_id", flat=True)}


def _reassign(client: APIClient, incident, person: Person):
    return client.post(f"/api/incidents/{incident.pk}/reassign/", {"person": person.external_id, "reason": "test"},
                       format="json")


def test_grid_leader_reassigns_within_the_handling_team(scene):
    incident = scene["incident"]
    response = _reassign(scene["leader"], incident, scene["member"])
    assert response.status_code == 200, response.content
    assert response.json()["properties"]["assignee"]["person_id"] == scene["member"].external_id


def test_grid_leader_may_not_reassign_to_a_neighbouring_grids_person(scene):
    incident = scene["incident"]
    before = f.reload(incident).assignee_id
    response = _reassign(scene["leader"], incident, scene["outsider"])
    assert response.status_code == 403
    assert "only to the people of its handling grid's team" in response.json()["detail"]
    assert "escalate" in response.json()["detail"]
    assert f.reload(incident).assignee_id == before
    # nor to someone of another village
    far = GridTeam.objects.exclude(grid__village_id=incident.village_id).exclude(
        leader_id__in=scene["insiders"]).order_by("grid__code").first().leader
    assert _reassign(scene["leader"], incident, far).status_code == 403
    assert f.reload(incident).assignee_id == before


def test_operator_keeps_the_town_wide_choice(scene):
    incident = scene["incident"]
    response = _reassign(scene["operator"], incident, scene["outsider"])
    assert response.status_code == 200, response.content
    assert f.reload(incident).assignee_id == scene["outsider"].pk


def test_side_panel_offers_only_the_allowed_people(scene):
    incident = scene["incident"]
    offered = scene["leader"].get(f"/api/incidents/{incident.pk}/context/").json()["reassign_to"]
    ids = {p["person_id"] for p in offered}
    team_ids = set(Person.objects.filter(pk__in=scene["insiders"]).values_list("external_id", flat=True))
    assert ids == team_ids and all(p["team"] for p in offered)
    assert scene["outsider"].external_id not in ids
    offered = scene["operator"].get(f"/api/incidents/{incident.pk}/context/").json()["reassign_to"]
    ids = [p["person_id"] for p in offered]
    assert set(ids) >= team_ids | {scene["outsider"].external_id}
    assert len(ids) == len(set(ids))
    assert {p["person_id"] for p in offered if p["team"]} == team_ids
    assert all(p["team"] for p in offered[:len(team_ids)])  # the handling team first
    # every person offered is accepted: the list and the endpoint decide by the same rule
    assert _reassign(scene["leader"], incident, Person.objects.get(external_id=sorted(team_ids)[-1])).status_code == 200
