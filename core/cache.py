"""Django's Redis cache, keeping one redis-py client and connection pool per process.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call, and a
client's constructor fills a table of some 160 response callbacks: about 0.15 ms of CPU per call,
twice per API request for the throttle (``get`` then ``set``), more than the Redis round trip itself.
A client is thread-safe and holds no connection of its own (it borrows one from the pool for each
command), so one per pool does what a new one per call did.

And Django keeps a cache backend per *context* (``django.core.cache.caches`` is a context-local
``asgiref.local.Local``), while the ASGI server runs each request in a copy of the loop's context
(``a2wsgi``: ``contextvars.copy_context().run``): every request built a new backend, a new pool and
so a new TCP connection to Redis for the throttle's counter (connect, then the socket left to the
garbage collector), about a millisecond of a request's time. The backends of one process share one
client per servers and options here (``_shared_client``); redis-py's pool is thread-safe and resets
itself in a forked child. Everything else (keys, serialization, timeouts, errors) is Django's.

``count(key, ttl)``: a counter that expires, in one round trip (the API throttles' windows).
"""
from __future__ import annotations

import threading

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class KeptClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


_SHARED: dict[tuple, KeptClientRedisCacheClient] = {}
_SHARED_LOCK = threading.Lock()


def _shared_client(key: tuple, servers: list[str], options: dict) -> KeptClientRedisCacheClient:
    """Return this process's client for ``servers`` and ``options`` (``key``; made on first use)."""
    client = _SHARED.get(key)
    if client is None:
        with _SHARED_LOCK:
            client = _SHARED.get(key) or _SHARED.setdefault(key, KeptClientRedisCacheClient(servers, **options))
    return client


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with one client and pool per process."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._shared_key = (tuple(self._servers), repr(sorted(self._options.items())))

    @property
    def _cache(self) -> KeptClientRedisCacheClient:
        return _shared_client(self._shared_key, self._servers, self._options)

    def count(self, key: str, ttl: int) -> int:
        """Add one to the counter ``key`` and return its value; a new counter expires after ``ttl``
        seconds. One round trip (INCR and EXPIRE NX pipelined): Django's ``add`` then ``incr`` take two."""
        key = self.make_and_validate_key(key)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])


def count(cache: BaseCache, key: str, ttl: int) -> int:
    """Add one to the counter ``key`` of ``cache`` and return its value (created expiring after ``ttl``
    seconds): one round trip on Redis, ``add`` + ``incr`` on any other cache (local memory in tests)."""
    if hasattr(cache, "count"):  # this module's RedisCache (also behind django.core.cache.cache, a proxy)
        return cache.count(key, ttl)
    cache.add(key, 0, ttl)
    return cache.incr(key)
