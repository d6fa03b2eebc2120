"""Live push: after a transaction commits, changed incidents go to every entitled socket.

Each change is sent to the channel groups named by ``incidents.selectors.incident_keys``; a socket
joins the groups of ``actor_keys`` of its user, so the scoping rule stays the selectors' one.
A failure to publish (Redis down) is logged and never fails the request that changed the incident:
the incident is already stored, and a client catches up on reconnect (``changed_since``).

The push runs on one background thread per process. Commits only queue their incident ids; the
thread takes everything queued since its last run and publishes it in one go: one query for the
incidents (``incidents.geojson``, the serializer's output without its cost), one for their latest
events, and all the sends in one run of the thread's own event loop (its Redis connections stay
open from one run to the next). An incident changed several times before a run is sent once, in its
latest state, at the place of its latest commit. ``wait_idle`` waits until nothing is queued or
being published (the tests call it before the database is flushed).
"""
from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import os
import threading
import time
import uuid
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection
from django.dispatch import receiver

from core import db
from dispatch import inbox
from incidents import geojson, rules
from incidents.models import Incident, IncidentEvent
from incidents.selectors import incident_keys
from incidents.signals import incident_changed

log = logging.getLogger(__name__)

ALL = "all"  # the visibility key of those who see every incident (``actor_keys``), and only theirs
# The incident fields ``incident_keys`` reads, fetched with the feature's own fields.
KEY_FIELDS = ("submitted_by_id", "grid_id", "handling_grid_id", "assignee_id", "village_id")
# EventSerializer's fields, in its order.
EVENT_FIELDS = ("id", "action", "from_state", "to_state", "level", "actor_label", "note", "data", "created_at")
SEND_TIMEOUT = 10.0  # seconds for all the sends of one run: a hung Redis must not stall the thread for ever
IDLE_CLOSE = 30.0  # seconds without work after which the thread closes its database connection


def group_name(key: str) -> str:
    """Return the channel-layer group of a visibility key."""
    return f"inc.{key}"


def _event(row: dict | None) -> dict | None:
    """Return EventSerializer's output for a ``values()`` row of an event (a test compares them)."""
    if row is None:
        return None
    event = {name: row[name] for name in EVENT_FIELDS}
    event["created_at"] = geojson._time(row["created_at"])
    event["public"] = rules.is_public(row["action"], row["data"])  # EventSerializer.get_public
    return event


class _Query:
    """A ``values()`` query over a list of ids, compiled once per thread and number of ids.

    Building and compiling the ORM query costs several times its run, and PostgreSQL's planning of
    the incident query (five joins) several times its execution; the SQL differs only in the ids. Lists are padded to a
    power of two with ids no row has (negative), so a thread keeps a handful of compiled statements
    per query, each prepared on the server once per connection (``core.db``). The rows are
    converted by the compiler's own converters, as ``values()`` would.
    """

    def __init__(self, name: str, build):
        self.name = name  # the prepared statements' prefix
        self.build = build  # ids -> values() queryset whose only parameters are the ids
        self.local = threading.local()

    def rows(self, ids: list[int]) -> list[dict]:
        size = 1 << (len(ids) - 1).bit_length()
        ids = ids + list(range(-1, len(ids) - size - 1, -1))
        compiled = getattr(self.local, "compiled", None)
        if compiled is None:
            compiled = self.local.compiled = {}
        if size not in compiled:
            qs = self.build(ids)
            compiler = qs.query.get_compiler(using=qs.db)
            sql, params = compiler.as_sql()
            if list(params) != ids:  # not a plain query over the ids: no shortcut
                return list(qs)
            query = qs.query
            names = [*query.extra_select, *query.values_select, *query.annotation_select]
            fields = [column[0] for column in compiler.select[:compiler.col_count]]
            compiled[size] = (compiler, _named(sql), names, compiler.get_converters(fields))
        compiler, sql, names, converters = compiled[size]
        with compiler.connection.cursor() as cursor:
            if sql is None:  # a literal % in the SQL: not rewritten, not prepared
                cursor.execute(compiler.as_sql()[0], ids)
            else:
                db.execute(cursor, f"{self.name}_{size}", sql, {f"p{n}": pk for n, pk in enumerate(ids)})
            rows = cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [dict(zip(names, row, strict=True)) for row in rows]


def _named(sql: str) -> str | None:
    """Return the SQL with its positional ``%s`` as ``%(p0)s``, ``%(p1)s``... (None if it has a ``%%``)."""
    if "%%" in sql:
        return None
    parts = sql.split("%s")
    return "".join(part + (f"%(p{n})s" if n < len(parts) - 1 else "") for n, part in enumerate(parts))


def _incidents_query(ids: list[int]):
    qs = Incident.objects.filter(pk__in=ids)
    return qs.values(*geojson.rows(qs)._fields, *KEY_FIELDS)  # the feature's fields, as incidents.geojson fetches them


def _events_query(ids: list[int]):
    return (IncidentEvent.objects.filter(incident_id__in=ids).order_by("incident_id", "-created_at", "-id")
            .distinct("incident_id").values("incident_id", *EVENT_FIELDS))


_incidents = _Query("gridops_live_incidents", _incidents_query)
_latest_events = _Query("gridops_live_events", _events_query)


def incident_messages(incident_ids: list[int]) -> list[tuple[set[str], dict]]:
    """Return (visibility keys, message) of each incident, in the order of ``incident_ids``.

    A message is ``{"type": "incident", "feature": <IncidentSerializer's feature>, "event": <the
    latest event, as EventSerializer gives it>}``, in plain JSON types. Two queries in all.
    """
    values = _incidents.rows(incident_ids)
    events = {row["incident_id"]: row for row in _latest_events.rows(incident_ids)}
    found = {row["id"]: (row, feature) for row, feature in zip(values, geojson.features(values), strict=True)}
    out = []
    for pk in incident_ids:
        if pk in found:
            row, feature = found[pk]
            keys = incident_keys(SimpleNamespace(**{name: row[name] for name in KEY_FIELDS}))
            out.append((keys, {"type": "incident", "feature": feature, "event": _event(events.get(pk))}))
    return out


def _refresh_messages(incident_ids: list[int]) -> list[tuple[set[str], dict]]:
    """Return one 'refresh' notice for every group entitled to one of the incidents."""
    keys: set[str] = set()
    for row in Incident.objects.filter(pk__in=incident_ids).values(*KEY_FIELDS):
        keys |= incident_keys(SimpleNamespace(**row))
    payload = {"type": "refresh", "count": len(incident_ids)}
    return [(keys, payload)] if keys else []


_PUSH_PREFIX = uuid.uuid4().hex[:12]
_push_numbers = itertools.count(1)


def _layer_messages(messages: list[tuple[set[str], dict]]) -> list[tuple[list[str], dict]]:
    """Return the sends of one push: (groups, channel-layer message) pairs, in the order to send them.

    Group "all" gets one message listing every incident of the push in the order of commit (its
    sockets, those that see everything, are in no other group). Every other group gets one message
    per incident, sent one incident after the other: a socket there can be in several of an
    incident's groups (a grid worker: the grid's and their own), and still gets the incidents in the
    order of commit. Every message names its push and its incidents, so such a socket relays each
    incident of a push once (``IncidentConsumer``).
    """
    push = f"{_PUSH_PREFIX}.{next(_push_numbers)}"
    everyone, sends = [], []
    for keys, payload in messages:
        item = payload["feature"]["id"] if payload["type"] == "incident" else payload["type"]
        if ALL in keys:
            everyone.append([item, payload])
        groups = [group_name(k) for k in sorted(keys - {ALL})]
        if groups:
            sends.append((groups, {"type": "incident.message", "payload": payload, "push": push, "item": item,
                                   "keys": sorted(keys)}))  # a socket relays it only while it holds one
    if everyone:
        sends.insert(0, ([group_name(ALL)], {"type": "incidents.message", "items": everyone, "push": push}))
    return sends


async def _send_all(layer, sends: list[tuple[list[str], dict]]) -> None:
    """Send each message to its groups, in order; groups without a socket are skipped (``_occupied``)."""
    occupied = await _occupied(layer, {group for groups, _ in sends for group in groups})
    for groups, message in sends:
        groups = [group for group in groups if group in occupied]
        if len(groups) == 1:
            await layer.group_send(groups[0], message)
        elif groups:
            await asyncio.gather(*(layer.group_send(group, message) for group in groups))


async def _occupied(layer, groups: set[str]) -> set[str]:
    """Return the groups that have a member: with the Redis layer, one pipelined EXISTS per Redis host.

    Most of a push's groups have no socket (a city's thousands of grids, villages and people, few of
    them on a phone at any moment), and channels_redis's ``group_send`` costs two Redis round trips
    even for an empty group: about 0.14 ms of this thread's CPU each, most of a push's sends. A group's
    key exists exactly while it has members (Redis drops an emptied sorted set; one whose members
    all expired still exists, and ``group_send`` discards them as before). A socket joining between
    the check and the send misses this push as it would one sent just before it joined; it reads the
    changes on connect. Another layer (the in-memory one) is asked nothing: every group is sent to.
    tests/dispatch/test_live.py checks the key against the layer's own ``group_add``/``group_discard``.
    """
    if not groups or not all(hasattr(layer, name) for name in ("_group_key", "consistent_hash", "connection")):
        return groups
    by_host: dict[int, list[str]] = {}
    for group in sorted(groups):
        by_host.setdefault(layer.consistent_hash(group), []).append(group)
    occupied = set()
    for index, names in by_host.items():
        pipe = layer.connection(index).pipeline(transaction=False)
        for name in names:
            pipe.exists(layer._group_key(name))
        occupied |= {name for name, exists in zip(names, await pipe.execute(), strict=True) if exists}
    return occupied


def _unique(incident_ids) -> list[int]:
    """Return each id once, at the place of its last occurrence."""
    return list(dict.fromkeys(reversed(list(incident_ids))))[::-1]


def publish_incidents(incident_ids: list[int], *, run=None) -> None:
    """Send the changed incidents to their groups (or a 'refresh' notice for more than
    ``settings.LIVE_MAX_ITEMS``). ``run(layer, sends)`` makes the sends (default: one ``async_to_sync``
    call). Never raises: a failure is logged."""
    layer = get_channel_layer()
    if layer is None or not incident_ids:
        return
    try:
        ids = _unique(incident_ids)
        messages = _refresh_messages(ids) if len(ids) > settings.LIVE_MAX_ITEMS else incident_messages(ids)
        sends = _layer_messages(messages)
        (run or async_to_sync(_send_all))(layer, sends)
    except Exception:  # the change is stored; a client catches up on reconnect
        log.exception("live push failed for %d incidents", len(incident_ids))
    try:  # the inboxes that got something: their sockets read their count again (dispatch.inbox)
        users = inbox.changed_users(_unique(incident_ids))
        if users:
            (run or async_to_sync(_send_all))(layer, [([inbox.inbox_group(u)], {"type": "inbox.changed"})
                                                      for u in users])
    except Exception:
        log.exception("inbox push failed for %d incidents", len(incident_ids))


class _Pusher:
    """The push thread of this process, its queue, and the state ``wait_idle`` waits on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: list[int] = []
        self.busy = False  # a run is publishing
        self.connected = False  # the thread may hold a database connection
        self.waiters = 0  # callers of wait_idle
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.layer = None  # the channel layer the loop's Redis connections belong to
        self.cpu_seconds = 0.0  # thread CPU spent in runs (for benchmarks)
        self.runs = 0

    def submit(self, incident_ids: list[int]) -> None:
        with self.cond:
            self.queue.extend(incident_ids)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="live-push", daemon=True)
                self.thread.start()
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            self.waiters += 1
            self.cond.notify_all()  # an idle thread closes its connection now
            try:
                while self.queue or self.busy or (self.connected and self._alive()):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.cond.wait(remaining)
                return True
            finally:
                self.waiters -= 1

    def _alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _take(self) -> list[int] | None:
        """Wait for work; return the queued ids, or None when the thread should close its connection."""
        with self.cond:
            while not self.queue:
                if self.connected and self.waiters:
                    return None
                if not self.cond.wait(IDLE_CLOSE if self.connected else None) and not self.queue and self.connected:
                    return None
            self._gather(settings.LIVE_COALESCE_MS / 1000)
            ids, self.queue = self.queue, []
            self.busy = self.connected = True
            return ids

    def _gather(self, window_s: float) -> None:
        """Let more commits join this run for up to ``window_s`` after its first one (hold self.cond):
        at 100 intakes a second a run then carries several incidents, and a run's fixed cost (two
        queries, a Redis round trip per group) is shared. A caller of wait_idle cuts it short."""
        deadline = time.monotonic() + window_s
        while not self.waiters and (remaining := deadline - time.monotonic()) > 0:
            self.cond.wait(remaining)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        while True:
            ids = self._take()
            if ids is None:
                self._close_connection()
                continue
            start = time.thread_time()
            try:
                close_old_connections()  # as a request would: CONN_MAX_AGE, and a broken connection
                publish_incidents(ids, run=self._run_sends)
            except Exception:  # publish_incidents logs its own failures; this is the last resort
                log.exception("live push thread: run failed")
            finally:
                with self.cond:
                    self.cpu_seconds += time.thread_time() - start
                    self.runs += 1
                    self.busy = False
                    self.cond.notify_all()

    def _run_sends(self, layer, sends) -> None:
        """Make the sends on this thread's own event loop, where the layer's connections stay open."""
        if layer is not self.layer:  # the settings changed (tests): let the old layer's connections go
            old, self.layer = self.layer, layer
            if old is not None and hasattr(old, "close_pools"):
                try:
                    self.loop.run_until_complete(asyncio.wait_for(old.close_pools(), SEND_TIMEOUT))
                except Exception:
                    log.debug("closing the previous channel layer's connections failed", exc_info=True)
        self.loop.run_until_complete(asyncio.wait_for(_send_all(layer, sends), SEND_TIMEOUT))

    def _close_connection(self) -> None:
        try:
            connection.close()
        except Exception:
            log.debug("closing the live push thread's connection failed", exc_info=True)
        with self.cond:
            self.connected = False
            self.cond.notify_all()


_pusher = _Pusher()


def _after_fork() -> None:
    global _pusher
    _pusher = _Pusher()  # the parent's thread does not exist in the child


os.register_at_fork(after_in_child=_after_fork)


@receiver(incident_changed)
def on_incidents_changed(sender, incident_ids: list[int], **kwargs) -> None:
    """Queue the push so the request that changed the incidents does not wait for it."""
    if settings.LIVE_PUSH_IN_BACKGROUND:
        _pusher.submit(list(incident_ids))
    else:
        publish_incidents(list(incident_ids))


def wait_idle(timeout: float = 10) -> bool:
    """Wait until nothing is queued or being published and the push thread holds no database
    connection; return False if that did not happen within ``timeout`` seconds."""
    return _pusher.wait_idle(timeout)


@atexit.register
def _drain_at_exit() -> None:
    """Publish what is still queued when the process ends (a management command, a server)."""
    if _pusher.queue or _pusher.busy:
        _pusher.wait_idle(5)
