"""Live push over Channels with the real Redis layer: entitled sockets get changes, others nothing."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client

from gridops.asgi import application
from grids.models import Grid, GridTeam
from incidents.intake import IntakeItem, intake
from incidents.models import Category, Incident
from incidents.permissions import Actor
from incidents.selectors import actor_keys, incident_keys, incidents_visible_to
from tests.servers import TEST_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [TEST_REDIS_URL]}}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _leader_user(grid: Grid, name: str) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name="grid_leader")[0])
    team = GridTeam.objects.get(grid=grid)
    team.leader.user = user
    team.leader.save()
    return user


def _operator(name: str = "op") -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return user


async def _connect(user: User | None) -> WebsocketCommunicator:
    """Connect through the real ASGI stack, authenticated by a session cookie."""
    headers = [(b"origin", b"http://127.0.0.1")]
    if user is not None:
        client = Client()
        await _login(client, user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/incidents/", headers=headers)
    return communicator


async def _login(client: Client, user: User) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(user)


def _report_in(grid: Grid, title: str) -> Incident:
    import shapely

    point = shapely.point_on_surface(shapely.from_wkb(bytes(grid.boundary.wkb)))
    item = IntakeItem(source="patrol", category=Category.objects.get(code="other"), title=title,
                      x=point.x, y=point.y)
    return intake([item], actor=Actor.system())[0].incident


def _two_grids() -> tuple[Grid, Grid]:
    grids = list(Grid.objects.active().filter(kind="comprehensive").order_by("code")[:12])
    return grids[0], grids[-1]


def test_entitled_sockets_receive_changes_and_others_nothing(demo_data, redis_layer):
    grid_a, grid_b = _two_grids()
    users = {"op": _operator(), "a": _leader_user(grid_a, "leader_a"), "b": _leader_user(grid_b, "leader_b")}

    async def scenario():
        sockets = {k: await _connect(u) for k, u in users.items()}
        for socket in sockets.values():
            connected, _ = await socket.connect()
            assert connected
            assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
        from asgiref.sync import sync_to_async

        incident = await sync_to_async(_report_in)(grid_a, "live test")
        got_op = await sockets["op"].receive_json_from(timeout=5)
        got_a = await sockets["a"].receive_json_from(timeout=5)
        assert got_op["type"] == got_a["type"] == "incident"
        assert got_op["feature"]["id"] == got_a["feature"]["id"] == incident.pk
        assert got_a["event"]["action"] == "dispatch"
        assert await sockets["b"].receive_nothing(timeout=1)
        for socket in sockets.values():
            await socket.disconnect()

    async_to_sync(scenario)()


def test_anonymous_socket_is_refused(demo_data, redis_layer):
    async def scenario():
        socket = await _connect(None)
        connected, code = await socket.connect()
        assert not connected and code == 4401

    async_to_sync(scenario)()


def test_intake_succeeds_when_redis_is_down(demo_data, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    channel_layers.backends.clear()
    try:
        grid, _ = _two_grids()
        incident = _report_in(grid, "stored even without Redis")
        assert Incident.objects.get(pk=incident.pk).state == "dispatched"
    finally:
        channel_layers.backends.clear()


def test_live_keys_match_the_scoping_rule(demo_data):
    """``actor_keys``/``incident_keys`` (live push) decide exactly as ``scope_q`` (every read)."""
    grids = list(Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    incidents = [_report_in(g, f"keys {g.code}") for g in grids[::4]]
    actors = [Actor.of(_operator("op2"))]
    for n, grid in enumerate(grids[::6]):
        actors.append(Actor.of(_leader_user(grid, f"leader{n}")))
    hotline = User.objects.create_user("client")
    hotline.groups.add(Group.objects.get_or_create(name="integration")[0])
    actors.append(Actor.of(hotline))
    for actor in actors:
        visible = set(incidents_visible_to(actor).values_list("pk", flat=True))
        keyed = {i.pk for i in incidents if actor_keys(actor) & incident_keys(i)}
        assert visible == keyed, actor.label
    assert any(len(incidents_visible_to(a).filter(pk__in=[i.pk for i in incidents])) == 0 for a in actors[-1:])
