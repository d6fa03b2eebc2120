"""A live socket keeps its user's rights only while they last: logout, deactivation, a password
change or a change of groups / person link closes the user's sockets (dispatch.rights), and a
socket checks its session again before forwarding a push (LIVE_RIGHTS_RECHECK_S), so a change no
signal announced stops the pushes too. Real ASGI stack, session cookies, the Redis channel layer."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client

from core.actors import Actor
from dispatch import live
from gridops.asgi import application
from grids.models import Grid, GridTeam
from incidents.intake import IntakeItem, intake
from incidents.models import Category, Incident

pytestmark = pytest.mark.django_db(transaction=True)


def _user(name: str, *groups: str) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def _two_grids() -> tuple[Grid, Grid]:
    grids = list(Grid.objects.active().filter(kind="comprehensive").order_by("code")[:12])
    return grids[0], grids[-1]


def _report_in(grid: Grid, title: str) -> Incident:
    import shapely

    point = shapely.point_on_surface(shapely.from_wkb(bytes(grid.boundary.wkb)))
    item = IntakeItem(source="patrol", category=Category.objects.get(code="other"), title=title, x=point.x, y=point.y)
    incident = intake([item], actor=Actor.system())[0].incident
    assert live.wait_idle(10)
    return incident


async def _open(user: User) -> tuple[WebsocketCommunicator, Client]:
    """Log in (a session cookie) and open a socket through the real ASGI stack; return both."""
    client = Client()
    await sync_to_async(client.login)(username=user.username, password="pw-" + user.username)
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    socket = WebsocketCommunicator(application, "/ws/incidents/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    return socket, client


async def _closed_with(socket: WebsocketCommunicator) -> int:
    message = await socket.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def _gets_incident(socket: WebsocketCommunicator, incident: Incident) -> None:
    got = await socket.receive_json_from(timeout=5)
    assert got["type"] == "incident" and got["feature"]["id"] == incident.pk


def _scenario(fn):
    async_to_sync(fn)()


def test_logout_closes_that_sessions_socket_only(demo_data, redis_layer):
    grid, _ = _two_grids()
    op = _user("op", "operator")

    async def scenario():
        (first, client), (second, _) = await _open(op), await _open(op)
        await sync_to_async(client.post)("/accounts/logout/")
        assert await _closed_with(first) == 4401
        incident = await sync_to_async(_report_in)(grid, "after logout")
        await _gets_incident(second, incident)  # the user's other session still listens
        await second.disconnect()

    _scenario(scenario)


def test_deactivation_closes_the_socket_and_nothing_follows(demo_data, redis_layer):
    grid, _ = _two_grids()
    op = _user("op", "operator")

    async def scenario():
        socket, _ = await _open(op)
        op.is_active = False
        await sync_to_async(op.save)()
        assert await _closed_with(socket) == 4401
        await sync_to_async(_report_in)(grid, "after deactivation")
        assert await socket.receive_nothing(timeout=1)

    _scenario(scenario)


def test_password_change_closes_the_other_sessions_sockets(demo_data, redis_layer):
    op = _user("op", "operator")

    async def scenario():
        socket, _ = await _open(op)

        def change():
            op.set_password("new-secret-pw")
            op.save()

        await sync_to_async(change)()
        assert await _closed_with(socket) == 4401

    _scenario(scenario)


def test_removal_from_the_group_closes_the_socket(demo_data, redis_layer):
    grid, _ = _two_grids()
    op = _user("op", "operator")
    other = _user("op2", "operator")
    operators = Group.objects.get(name="operator")

    async def scenario():
        socket, _ = await _open(op)
        witness, _ = await _open(other)
        await sync_to_async(op.groups.remove)(operators)
        assert await _closed_with(socket) == 4403
        incident = await sync_to_async(_report_in)(grid, "after removal")
        await _gets_incident(witness, incident)
        assert await socket.receive_nothing(timeout=1)
        await witness.disconnect()

    _scenario(scenario)


def test_a_narrowed_scope_applies_on_reconnect(demo_data, redis_layer):
    """An operator who is also grid A's leader loses the operator group: the socket closes (4403);
    reconnected, it gets grid A's incidents and no longer grid B's."""
    grid_a, grid_b = _two_grids()
    user = _user("lead", "operator", "grid_leader")
    team = GridTeam.objects.get(grid=grid_a)
    team.leader.user = user
    team.leader.save()
    operators = Group.objects.get(name="operator")

    async def scenario():
        socket, _ = await _open(user)
        await sync_to_async(user.groups.remove)(operators)
        assert await _closed_with(socket) == 4403
        socket, _ = await _open(user)
        in_b = await sync_to_async(_report_in)(grid_b, "not mine any more")
        assert await socket.receive_nothing(timeout=1), in_b.pk
        in_a = await sync_to_async(_report_in)(grid_a, "still mine")
        await _gets_incident(socket, in_a)
        await socket.disconnect()

    _scenario(scenario)


def test_a_change_no_signal_announced_stops_pushes_at_the_next_check(demo_data, redis_layer, settings):
    """A queryset update sends no signal: the socket checks its session before the next push it
    would forward (here at once: LIVE_RIGHTS_RECHECK_S = 0) and closes instead of forwarding it."""
    settings.LIVE_RIGHTS_RECHECK_S = 0
    grid, _ = _two_grids()
    op = _user("op", "operator")

    async def scenario():
        socket, _ = await _open(op)
        first = await sync_to_async(_report_in)(grid, "before")
        await _gets_incident(socket, first)
        await sync_to_async(User.objects.filter(pk=op.pk).update)(is_active=False)
        await sync_to_async(_report_in)(grid, "after a silent deactivation")
        assert await _closed_with(socket) == 4401
        assert await socket.receive_nothing(timeout=1)

    _scenario(scenario)


def test_within_the_recheck_period_pushes_flow_without_a_check(demo_data, redis_layer, settings, monkeypatch):
    """The check is cheap: a socket checked less than LIVE_RIGHTS_RECHECK_S ago forwards at once."""
    from dispatch.consumers import IncidentConsumer

    settings.LIVE_RIGHTS_RECHECK_S = 3600
    calls = []
    real = IncidentConsumer._current_keys
    monkeypatch.setattr(IncidentConsumer, "_current_keys", lambda self: calls.append(1) or real(self))
    grid, _ = _two_grids()
    op = _user("op", "operator")

    async def scenario():
        socket, _ = await _open(op)
        for n in range(3):
            await _gets_incident(socket, await sync_to_async(_report_in)(grid, f"push {n}"))
        await socket.disconnect()

    _scenario(scenario)
    assert calls == []
