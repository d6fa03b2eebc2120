"""A generation's grids by id follow its status (issue 11): drafts to planners and operators (and
superusers), the active one to every logged-in user, retired ones to planners, operators and leaders.
A generation one may not read gives no grids, as one that does not exist."""
from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import BoundaryGeneration, Grid
from tests.conftest import A1, box
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db

READERS = {  # who reads the grids of a generation of this status
    "draft": {"planner", "operator", "superuser"},
    "active": {"planner", "operator", "superuser", "town_leader", "grid_leader", "grid_member", "integration",
               "anonymous"},  # the grids anyone who may list grids sees without ?generation= (if let in at all)
    "retired": {"planner", "operator", "superuser", "town_leader", "grid_leader"},
}
WHO = ["anonymous", "planner", "operator", "superuser", "town_leader", "grid_leader", "grid_member", "integration"]


@pytest.fixture
def generations(square_town) -> dict[str, BoundaryGeneration]:
    """The square town's active generation, a draft and a retired one, each with one grid of code A1."""
    village = square_town.grids.first().village
    draft = BoundaryGeneration.objects.create(town=square_town.town, status="draft")
    retired = BoundaryGeneration.objects.create(town=square_town.town, status="retired",
                                                activated_at=timezone.now(), retired_at=timezone.now())
    for gen, name in ((draft, "草稿"), (retired, "旧")):
        Grid.objects.create(generation=gen, village=village, code=A1, name=name, kind="comprehensive",
                            boundary=box(120.00, 31.00, 120.01, 31.01))
    return {"draft": draft, "active": square_town, "retired": retired}


def _client(who: str) -> APIClient:
    client = APIClient()
    if who == "superuser":
        user = f.user()
        user.is_superuser = user.is_staff = True
        user.save()
        client.force_authenticate(user)
    elif who != "anonymous":
        client.force_authenticate(f.user(who))
    return client


@pytest.mark.parametrize("status", ["draft", "active", "retired"])
@pytest.mark.parametrize("who", WHO)
def test_grids_of_a_generation_by_id(generations, status, who):
    generation = generations[status]
    response = _client(who).get("/api/grids/", {"generation": generation.pk})
    if who == "anonymous" and response.status_code in (401, 403):
        return  # the API may ask for a login first (IsAuthenticated by default): refused either way
    assert response.status_code == 200, response.content
    codes = {feature["properties"]["code"] for feature in response.json()["features"]}
    if who in READERS[status]:
        assert codes == set(generation.grids.values_list("code", flat=True)) and A1 in codes
    else:
        assert codes == set()


@pytest.mark.parametrize("who", ["grid_member", "integration", "town_leader"])
def test_a_draft_is_not_read_through_the_detail_route_or_the_coverage(generations, who):
    client = _client(who)
    draft = generations["draft"]
    assert client.get(f"/api/grids/{A1}/", {"generation": draft.pk}).status_code == 404
    coverage = client.get("/api/cameras/coverage/", {"generation": draft.pk})
    if coverage.status_code == 200:
        assert coverage.json()["features"] == []
    else:
        assert coverage.status_code in (401, 403)


def test_a_planner_reads_the_draft_through_the_detail_route_and_the_coverage(generations):
    client = _client("planner")
    draft = generations["draft"]
    detail = client.get(f"/api/grids/{A1}/", {"generation": draft.pk})
    assert detail.status_code == 200 and detail.json()["properties"]["name"] == "草稿"
    coverage = client.get("/api/cameras/coverage/", {"generation": draft.pk})
    assert coverage.status_code == 200 and len(coverage.json()["features"]) == 1


def test_without_a_generation_everyone_reads_the_active_grids(generations):
    response = _client("grid_member").get("/api/grids/")
    names = {feature["properties"]["code"]: feature["properties"]["name"] for feature in response.json()["features"]}
    assert names[A1] == A1[-3:]  # the active generation's grid, not the draft's or the retired one's


@pytest.mark.parametrize("status", ["draft", "active", "retired"])
@pytest.mark.parametrize("who", [w for w in WHO if w != "anonymous"])
def test_locate_into_a_generation_by_id_follows_the_same_rule(generations, status, who):
    """Found while building the lean locate path: ?generation= located into any generation, a draft's
    grid codes and names included, for any logged-in user or token."""
    generation = generations[status]
    response = _client(who).get("/api/locate", {"lon": 120.005, "lat": 31.005, "generation": generation.pk})
    if who in READERS[status]:
        assert response.status_code == 200, response.content
        assert A1 in str(response.json())
    else:
        assert response.status_code == 404, response.content
