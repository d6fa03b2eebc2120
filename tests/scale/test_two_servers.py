"""Two server processes on different ports with nothing between them but the Redis channel layer (as
two web nodes behind a load balancer): a change made through either reaches the live sockets held by
the other, and only the sockets entitled to it."""
from __future__ import annotations

import uuid

import pytest
import requests
from django.contrib.gis.geos import Point

from grids.models import Grid, GridTeam, Person
from incidents.grants import grant_sources
from tests.auth import token_for
from tests.servers import GONGDAO_POINT, app_server, live_socket, make_user, pushed, report, session_cookie


@pytest.mark.django_db(transaction=True)
def test_a_change_through_one_server_reaches_sockets_on_the_other(demo_data, tmp_path):
    hotline = make_user("two_hotline", "integration")
    grant_sources(hotline, ["hotline_12345"])
    operator = make_user("two_operator", "operator")
    op_cookie, op_token = session_cookie(operator), token_for(operator)
    with app_server(tmp_path / "a.log") as node_a, app_server(tmp_path / "b.log") as node_b:
        assert node_a != node_b
        with live_socket(node_a, op_cookie) as on_a, live_socket(node_b, op_cookie) as on_b:
            # intake through A: the operator's socket on B hears of it (and the one on A too)
            posted = report(node_a, token_for(hotline), f"two-{uuid.uuid4().hex}", "两台 two nodes")
            assert posted.status_code == 201, posted.text
            incident_id = posted.json()["id"]
            assert pushed(on_b, incident_id) is not None
            assert pushed(on_a, incident_id) is not None
            # a lifecycle change through B reaches the socket on A
            cancelled = requests.post(f"{node_b}/api/incidents/{incident_id}/cancel/", timeout=30,
                                      headers={"Authorization": f"Token {op_token}"}, json={"note": "测试 test"})
            assert cancelled.status_code == 200, cancelled.text
            assert pushed(on_a, incident_id, state="cancelled") is not None


@pytest.mark.django_db(transaction=True)
def test_a_grid_leaders_socket_on_the_other_server_gets_only_its_grids_changes(demo_data, tmp_path):
    hotline = make_user("two_hotline2", "integration")
    grant_sources(hotline, ["hotline_12345"])
    token = token_for(hotline)
    # the new leader of a comprehensive grid away from the reported point (and from any dedicated grid):
    # hears of what is reported inside it, nothing of the rest
    dedicated = Grid.objects.filter(kind="dedicated")
    team, inside = next((t, t.grid.boundary.point_on_surface) for t in GridTeam.objects.select_related("grid").filter(
        grid__kind="comprehensive").exclude(grid__boundary__covers=Point(*GONGDAO_POINT, srid=4326))
        if not dedicated.filter(boundary__covers=t.grid.boundary.point_on_surface).exists())
    outsider = make_user("two_leader", "grid_leader")
    team.leader = Person.objects.create(external_id="two-leader", name="外格长", role=Person.Role.GRID_WORKER,
                                        user=outsider)
    team.save(update_fields=["leader"])
    operator_cookie = session_cookie(make_user("two_operator2", "operator"))
    with app_server(tmp_path / "a.log") as node_a, app_server(tmp_path / "b.log") as node_b, \
            live_socket(node_b, session_cookie(outsider)) as leader_on_b, \
            live_socket(node_b, operator_cookie) as operator_on_b:
        posted = report(node_a, token, f"two-{uuid.uuid4().hex}", "两台 scoped")
        assert posted.status_code == 201, posted.text
        elsewhere = posted.json()["id"]
        assert pushed(operator_on_b, elsewhere) is not None
        own = report(node_a, token, f"two-{uuid.uuid4().hex}", "两台 own grid", lon=inside.x, lat=inside.y)
        assert own.status_code == 201, own.text
        assert own.json()["properties"]["grid_code"] == team.grid.code
        seen: set[int] = set()
        assert pushed(leader_on_b, own.json()["id"], seen=seen) is not None
        # pushed in the order of commit: the other incident would have come first
        assert elsewhere not in seen
