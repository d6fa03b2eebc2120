"""core.cache.RedisCache: Django's Redis cache with one client per pool, on a real Redis."""
from __future__ import annotations

import threading

from core.cache import RedisCache
from tests.servers import TEST_REDIS_URL


def _cache(prefix: str) -> RedisCache:
    return RedisCache(TEST_REDIS_URL, {"KEY_PREFIX": prefix, "TIMEOUT": 60})


def test_reads_and_writes_as_djangos_and_keeps_its_client():
    cache = _cache("core-cache-test")
    cache.delete_many(["history", "other", "shared"])  # never clear(): it empties the whole Redis database
    assert cache.get("history") is None
    cache.set("history", [1.5, 2.5], 30)
    assert cache.get("history") == [1.5, 2.5]
    assert cache.add("history", [9.0]) is False and cache.add("other", 1) is True
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client  # one server: one pool, one client
    cache.delete("history")
    assert cache.get("history", "gone") == "gone"
    # what Django's own backend wrote, this one reads (same keys and serialization)
    from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

    DjangoRedisCache(TEST_REDIS_URL, {"KEY_PREFIX": "core-cache-test"}).set("shared", {"n": 1}, 30)
    assert cache.get("shared") == {"n": 1}
    cache.delete_many(["other", "shared"])


def test_threads_share_the_client_safely():
    cache = _cache("core-cache-threads")
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                cache.set(f"k{n}", i, 30)
                assert cache.get(f"k{n}") == i
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache.delete_many([f"k{n}" for n in range(8)])
