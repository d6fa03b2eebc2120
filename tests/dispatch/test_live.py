"""Live push over Channels with the real Redis layer: entitled sockets get changes, others nothing."""
from __future__ import annotations

import json
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.utils.encoders import JSONEncoder

from core.actors import Actor
from dispatch import live
from gridops.asgi import application
from grids.models import Grid, GridTeam, Person
from incidents.geojson import IncidentSerializer
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import incident_transition
from incidents.models import Category, Incident
from incidents.selectors import actor_keys, incident_keys, incidents_visible_to
from incidents.serializers import EventSerializer

pytestmark = pytest.mark.django_db(transaction=True)


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
        start = time.monotonic()
        assert live.wait_idle(10)  # the failed push is logged, and the thread is free again
        assert time.monotonic() - start < 10
        again = _report_in(grid, "and again")
        assert Incident.objects.get(pk=again.pk).state == "dispatched"
        assert live.wait_idle(10)
    finally:
        channel_layers.backends.clear()


class PushRecorder:
    """Stand in for ``live.publish_incidents`` on the push thread: record the ids of every run, and
    hold the runs while ``gate`` is clear (so commits pile up in the queue)."""

    def __init__(self, monkeypatch):
        self.runs: list[list[int]] = []
        self.published: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.real = live.publish_incidents
        monkeypatch.setattr(live, "publish_incidents", self)

    def __call__(self, incident_ids, **kwargs):
        self.runs.append(list(incident_ids))
        assert self.gate.wait(20)
        self.real(incident_ids, **kwargs)
        self.published.append(list(incident_ids))

    def wait_for_runs(self, n: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.runs) < n:
            assert time.monotonic() < deadline, f"{len(self.runs)} runs, not {n}"
            time.sleep(0.01)


def _worker_user(person: Person, name: str) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name="grid_member")[0])
    person.user = user
    person.save()
    return user


async def _open(users: dict[str, User]) -> dict[str, WebsocketCommunicator]:
    sockets = {}
    for key, user in users.items():
        sockets[key] = socket = await _connect(user)
        connected, _ = await socket.connect()
        assert connected
        assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    return sockets


async def _receive_all(socket: WebsocketCommunicator, n: int) -> list[dict]:
    got = [await socket.receive_json_from(timeout=10) for _ in range(n)]
    assert await socket.receive_nothing(timeout=0.5), "more messages than expected"
    return got


def test_quick_changes_arrive_coalesced_once_each_in_order_of_commit(demo_data, redis_layer, monkeypatch):
    """Commits made while a push runs are published together by the next run; every entitled socket
    gets each incident once (a grid worker listens on two of its groups), in the order of the commits
    (an incident changed twice at the place of its last change, in its last state); others nothing."""
    from asgiref.sync import sync_to_async

    grid_a, grid_b = _two_grids()
    first = _report_in(grid_a, "learn who is dispatched to")
    assert live.wait_idle(10)
    worker = _worker_user(first.assignee, "worker_a")
    users = {"op": _operator(), "a": _leader_user(grid_a, "leader_a"), "worker": worker,
             "b": _leader_user(grid_b, "leader_b")}
    assert {f"grid.{grid_a.pk}", f"person.{first.assignee_id}"} <= actor_keys(Actor.of(worker))
    recorder = PushRecorder(monkeypatch)

    def commit_many() -> list[int]:
        recorder.gate.clear()
        ids = [_report_in(grid_a, "held").pk]
        recorder.wait_for_runs(1)  # that run is held: what follows piles up
        ids += [_report_in(grid_a, f"quick {k}").pk for k in range(8)]
        incident_transition(incident_id=ids[3], action="accept", actor=Actor.of(User.objects.get(pk=worker.pk)))
        recorder.gate.set()
        assert live.wait_idle(10)
        return ids

    async def scenario():
        sockets = await _open(users)
        ids = await sync_to_async(commit_many)()
        assert recorder.runs == [ids[:1], ids[1:] + ids[3:4]]  # two runs: the held one, then all the rest
        order = ids[:3] + ids[4:] + ids[3:4]
        for key in ("op", "a", "worker"):
            got = await _receive_all(sockets[key], len(order))
            assert [m["feature"]["id"] for m in got] == order, key
            assert {m["type"] for m in got} == {"incident"}
            assert got[-1]["feature"]["properties"]["state"] == "in_progress"
            assert got[-1]["event"]["action"] == "accept"
        assert await sockets["b"].receive_nothing(timeout=1)
        for socket in sockets.values():
            await socket.disconnect()

    async_to_sync(scenario)()


def test_more_than_live_max_items_in_one_run_send_one_refresh(demo_data, redis_layer, monkeypatch, settings):
    from asgiref.sync import sync_to_async

    settings.LIVE_MAX_ITEMS = 5
    grid_a, grid_b = _two_grids()
    first = _report_in(grid_a, "learn who is dispatched to")
    assert live.wait_idle(10)
    users = {"op": _operator(), "worker": _worker_user(first.assignee, "worker_a"),
             "b": _leader_user(grid_b, "leader_b")}
    recorder = PushRecorder(monkeypatch)

    def commit_many() -> None:
        recorder.gate.clear()
        _report_in(grid_a, "held")
        recorder.wait_for_runs(1)
        for k in range(7):
            _report_in(grid_a, f"quick {k}")
        recorder.gate.set()
        assert live.wait_idle(10)

    async def scenario():
        sockets = await _open(users)
        await sync_to_async(commit_many)()
        for key in ("op", "worker"):
            held, notice = await _receive_all(sockets[key], 2)
            assert held["type"] == "incident"
            assert notice == {"type": "refresh", "count": 7}, key
        assert await sockets["b"].receive_nothing(timeout=1)
        for socket in sockets.values():
            await socket.disconnect()

    async_to_sync(scenario)()


def test_wait_idle_waits_for_the_push(demo_data, redis_layer, monkeypatch):
    recorder = PushRecorder(monkeypatch)
    recorder.gate.clear()
    grid, _ = _two_grids()
    incident = _report_in(grid, "held")
    recorder.wait_for_runs(1)
    assert not live.wait_idle(0.2)  # queued and held: not idle
    threading.Timer(0.5, recorder.gate.set).start()
    start = time.monotonic()
    assert live.wait_idle(10)
    assert time.monotonic() - start >= 0.4
    assert recorder.published == [[incident.pk]]


def test_wait_idle_returns_at_once_when_nothing_is_queued(db):
    start = time.monotonic()
    assert live.wait_idle(5)
    assert time.monotonic() - start < 1


def _plain(data):
    return json.loads(json.dumps(data, cls=JSONEncoder))


def test_messages_are_the_serializers_output(demo_data):
    """The push builds its messages from ``values()`` rows: they equal IncidentSerializer's feature
    and EventSerializer's latest event, for one incident and for several (every compiled size)."""
    grid_a, grid_b = _two_grids()
    incidents = [_report_in(g, f"same {k}") for k, g in enumerate([grid_a, grid_b, grid_a])]
    triage = intake([IntakeItem(source="patrol", category=Category.objects.get(code="other"), title="nowhere",
                                address="火星基地")], actor=Actor.system())[0].incident
    incidents.append(triage)
    worker = _worker_user(incidents[0].assignee, "worker_a")
    incident_transition(incident_id=incidents[0].pk, action="accept", actor=Actor.of(worker))
    ids = [i.pk for i in incidents]
    for chosen in (ids[:1], ids[1:3], ids[::-1], ids[2:3], ids[:3]):
        messages = live.incident_messages(chosen)
        assert [m["feature"]["id"] for _, m in messages] == chosen
        for keys, message in messages:
            incident = Incident.objects.select_related(
                "category", "grid", "village", "assignee", "handling_grid").get(pk=message["feature"]["id"])
            event = incident.events.order_by("-created_at", "-id").first()
            assert message == _plain({"type": "incident", "feature": IncidentSerializer(incident).data,
                                      "event": EventSerializer(event).data})
            assert keys == incident_keys(incident)
    assert messages[0][1]["event"]["action"] == "accept"
    assert live.incident_messages([ids[0], 10**9]) == live.incident_messages([ids[0]])  # gone: left out
    from django.db import connection

    with connection.cursor() as cursor:  # each size of both queries was prepared once on this connection
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'gridops_live_%%'")
        assert {"gridops_live_incidents_1", "gridops_live_incidents_2", "gridops_live_incidents_4",
                "gridops_live_events_1", "gridops_live_events_4"} <= {row[0] for row in cursor.fetchall()}


def test_positional_parameters_become_named_ones():
    assert live._named("a = %s AND b IN (%s, %s)") == "a = %(p0)s AND b IN (%(p1)s, %(p2)s)"
    assert live._named("no parameters") == "no parameters"
    assert live._named("x LIKE '5%%' AND y = %s") is None  # a literal %: left to plain execution


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


def test_one_message_per_push_to_everyone_one_per_incident_elsewhere():
    """Group "all" (sockets that see everything, in no other group) gets the push's incidents in one
    message, in order; the other groups one message per incident, each naming its push and incident."""
    def message(pk):
        return {"type": "incident", "feature": {"id": pk}, "event": None}

    sends = live._layer_messages([({"all", "grid.1", "person.7"}, message(3)), ({"all", "grid.2"}, message(1)),
                                  ({"client.5"}, message(2))])
    (everyone, batch), *rest = sends
    assert everyone == ["inc.all"] and batch["type"] == "incidents.message"
    assert [item for item, _ in batch["items"]] == [3, 1]
    assert [(groups, m["type"], m["item"]) for groups, m in rest] == [
        (["inc.grid.1", "inc.person.7"], "incident.message", 3), (["inc.grid.2"], "incident.message", 1),
        (["inc.client.5"], "incident.message", 2)]
    assert len({batch["push"], *(m["push"] for _, m in rest)}) == 1
    assert live._layer_messages([({"all"}, message(4))])[0][1]["push"] != batch["push"]


def test_commits_within_the_coalescing_window_share_one_run(demo_data, redis_layer, monkeypatch, settings):
    """Changes committed within LIVE_COALESCE_MS of a run's first one go out in that run; a later
    one in the next run."""
    settings.LIVE_COALESCE_MS = 1500
    grid, _ = _two_grids()
    recorder = PushRecorder(monkeypatch)
    ids = [_report_in(grid, f"window {k}").pk for k in range(3)]  # well within 1.5 s of the first
    recorder.wait_for_runs(1)  # the window has closed
    late = _report_in(grid, "after the window").pk
    assert live.wait_idle(10)
    assert recorder.runs == [ids, [late]]


def test_only_groups_with_a_socket_are_sent_to(redis_layer):
    """The push asks Redis which of its groups have a member (``_occupied``) and sends to those only: the
    check follows the layer's own group_add and group_discard; the in-memory layer is sent everything."""
    layer = channel_layers["default"]

    async def scenario():
        channel = await layer.new_channel()
        groups = {"inc.grid.test-occupied", "inc.grid.test-empty", "inc.all"}
        await layer.group_discard("inc.grid.test-occupied", channel)
        assert await live._occupied(layer, groups) & {"inc.grid.test-occupied", "inc.grid.test-empty"} == set()
        await layer.group_add("inc.grid.test-occupied", channel)
        assert await live._occupied(layer, groups) & {"inc.grid.test-occupied", "inc.grid.test-empty"} == {
            "inc.grid.test-occupied"}
        message = {"type": "incident.message", "payload": {"n": 1}}
        await live._send_all(layer, [(["inc.grid.test-empty", "inc.grid.test-occupied"], message)])
        assert (await layer.receive(channel))["payload"] == {"n": 1}
        await layer.group_discard("inc.grid.test-occupied", channel)
        assert "inc.grid.test-occupied" not in await live._occupied(layer, groups)
        await layer.flush()

    async_to_sync(scenario)()

    from channels.layers import InMemoryChannelLayer

    assert async_to_sync(live._occupied)(InMemoryChannelLayer(), {"inc.a", "inc.b"}) == {"inc.a", "inc.b"}
