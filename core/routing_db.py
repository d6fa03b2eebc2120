"""Read replicas: which reads may be answered by a streaming replica, and read-your-writes for the actor.

Everything goes to the primary ("default") unless a reader has said it accepts an answer up to a
second or two old (Saleor's rule: the reader opts in, the router does not guess from the query):

- a request to one of the views named in ``REPLICA_READ_VIEWS`` (GET/HEAD only: heatmap, trend,
  assessment, stats, map layers...), marked by ``ReplicaReadsMiddleware``;
- code inside ``with replica_reads():`` (a report, a Celery job that reads only).

Even then the primary answers when:

- the actor wrote within the last ``REPLICA_PIN_SECONDS`` (read-your-writes, below);
- the connection to the primary is inside a transaction (``transaction.atomic``: what it reads may
  decide what it writes, and ``select_for_update`` needs the primary anyway);
- the replica cannot be reached (``replica_usable``: then not tried again for ``REPLICA_RETRY_SECONDS``);
- the model is one of ``PRIMARY_ONLY_APPS``: sessions, users, groups, tokens and the login lockout,
  so that a new login works at once and a revoked token or a lockout is not honoured a second late.

Raw SQL on ``django.db.connection`` is the primary's connection and stays there: the intake's
prepared statements, the change feed's snapshot cursor, locks. A raw read that may be stale takes
its connection from ``read_connection()``.

Read-your-writes: after a POST, PUT, PATCH or DELETE, the credential it came with (the session
cookie, or the Authorization header of an API client) is marked in the cache (Redis, shared by every
web node) for ``REPLICA_PIN_SECONDS``; the requests it makes meanwhile read the primary. The mark
is per credential, not per user: the same user in a second browser may see the replica's second-old
view. A cache that is down reads as "marked": the primary answers, never a stale page.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REPLICA = "replica"
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "knox", "axes", "contenttypes", "admin"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})

_stale_ok: ContextVar[bool] = ContextVar("gridops_replica_reads", default=False)
_replica_down_until = 0.0  # this process's: time.monotonic() before which the replica is not tried again


def replica_configured() -> bool:
    """Return whether a replica is configured (REPLICA_DATABASE_URL puts it in DATABASES)."""
    return REPLICA in connections.settings


def read_alias() -> str:
    """Return the alias a read made here may use: the replica when the reader accepts a stale
    answer, a replica is configured and the primary's connection is not in a transaction."""
    if _stale_ok.get() and replica_configured() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return REPLICA
    return DEFAULT_DB_ALIAS


def read_connection():
    """Return the connection for a raw read that accepts a stale answer (``read_alias``)."""
    return connections[read_alias()]


@contextmanager
def replica_reads(enabled: bool = True) -> Iterator[None]:
    """Let the ORM reads (and ``read_connection``) inside the block go to the replica."""
    token = _stale_ok.set(enabled)
    try:
        yield
    finally:
        _stale_ok.reset(token)


def replica_usable() -> bool:
    """Return whether this thread's replica connection is up (reconnecting if it was dropped). After a
    failure the replica is left alone for REPLICA_RETRY_SECONDS: its reads go to the primary meanwhile,
    so a replica that is down costs the site its spare capacity, not its answers."""
    global _replica_down_until
    if time.monotonic() < _replica_down_until:
        return False
    try:
        with connections[REPLICA].cursor():  # the health check of a kept connection, or a new one
            return True
    except DatabaseError:
        log.warning("replica unreachable: its reads go to the primary for %s s", settings.REPLICA_RETRY_SECONDS,
                    exc_info=True)
        _replica_down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
        return False


class ReplicaRouter:
    """Django database router: reads to the replica where ``read_alias`` allows, the rest to the primary."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in PRIMARY_ONLY_APPS:
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's WAL, schema included


def credential_key(value: str) -> str:
    """Return the cache key of the read-your-writes mark of one credential (hashed: no secret in the cache)."""
    return "gridops:primary-pin:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def request_credentials(request) -> list[str]:
    """Return the credentials a request came with: its Authorization header, its session cookie."""
    found = []
    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        found.append(header)
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session:
        found.append("session:" + session)
    return found


def pin(credentials: list[str]) -> None:
    """Mark these credentials: their reads go to the primary for REPLICA_PIN_SECONDS."""
    if not credentials:
        return
    try:
        cache.set_many({credential_key(c): 1 for c in credentials}, timeout=settings.REPLICA_PIN_SECONDS)
    except (RedisError, OSError):  # the cache is away: the write is done, only the pin is lost
        log.warning("read-your-writes mark not stored: the actor may read the replica's older view", exc_info=True)


def pinned(credentials: list[str]) -> bool:
    """Return whether any of these credentials wrote within REPLICA_PIN_SECONDS (True when unsure)."""
    if not credentials:
        return False
    try:
        return bool(cache.get_many([credential_key(c) for c in credentials]))
    except (RedisError, OSError):  # the cache is away: read the primary rather than risk a stale answer
        return True


class ReplicaReadsMiddleware:
    """Marks the requests whose reads may go to the replica, and pins the actor after a write.

    Always listed in MIDDLEWARE; without REPLICA_DATABASE_URL it removes itself at start-up.
    """

    def __init__(self, get_response):
        if not replica_configured():
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.views = frozenset(settings.REPLICA_READ_VIEWS)

    def __call__(self, request):
        token = _stale_ok.set(False)
        try:
            response = self.get_response(request)
        finally:
            _stale_ok.reset(token)
        if request.method in WRITE_METHODS:
            credentials = request_credentials(request)
            renewed = response.cookies.get(settings.SESSION_COOKIE_NAME)
            if renewed is not None and renewed.value:  # a login: the new session reads its own writes too
                credentials.append("session:" + renewed.value)
            pin(credentials)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (request.method in READ_METHODS and match is not None and match.view_name in self.views
                and not pinned(request_credentials(request)) and replica_usable()):
            _stale_ok.set(True)
        return None
