"""Django's Redis cache, keeping one redis-py client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call, and a
client's constructor fills a table of some 160 response callbacks: about 0.15 ms of CPU per call,
twice per API request for the throttle (``get`` then ``set``), more than the Redis round trip itself.
A client is thread-safe and holds no connection of its own (it borrows one from the pool for each
command), so one per pool does what a new one per call did. Everything else (keys, serialization,
pools, timeouts, errors) is Django's.

``count(key, ttl)``: a counter that expires, in one round trip (the API throttles' windows).
"""
from __future__ import annotations

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


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with one client per connection pool."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = KeptClientRedisCacheClient

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
