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


def test_count_adds_one_in_one_round_trip_and_expires():
    from django.core.cache.backends.locmem import LocMemCache

    from core.cache import count

    cache = _cache("core-cache-count")
    cache.delete("window")
    assert [count(cache, "window", 30) for _ in range(3)] == [1, 2, 3]
    client = cache._cache.get_client()
    key = cache.make_key("window")
    assert 0 < client.ttl(key) <= 30
    count(cache, "window", 300)  # an existing counter keeps its first expiry (EXPIRE NX)
    assert client.ttl(key) <= 30
    client.pexpire(key, 1)
    threading.Event().wait(0.05)
    assert count(cache, "window", 30) == 1  # expired: a new window starts at one
    cache.delete("window")
    # any other cache (local memory in tests) counts the same way
    local = LocMemCache("count-test", {})
    assert [count(local, "window", 30) for _ in range(3)] == [1, 2, 3]


def test_backends_of_one_process_share_one_client_and_connection():
    """Django keeps a backend per context and the ASGI server runs each request in a copy of one: a
    backend made for each request still borrows the process's pool (no new connection per request)."""
    import contextvars

    first, second = _cache("core-cache-shared"), _cache("core-cache-shared")
    assert first is not second and first._cache is second._cache
    other = RedisCache(TEST_REDIS_URL, {"KEY_PREFIX": "core-cache-shared", "OPTIONS": {"socket_timeout": 0.7}})
    assert other._cache is not first._cache  # other options: a pool of their own

    pool = first._cache.get_client().connection_pool
    first.set("n", 0, 30)
    made = pool._created_connections

    def request(i: int) -> None:  # as a2wsgi runs a request: a copied context, a fresh backend
        cache = _cache("core-cache-shared")
        cache.set("n", i, 30)
        assert cache.get("n") == i

    for i in range(20):
        contextvars.copy_context().run(request, i)
    assert pool._created_connections == made  # every request reused the pool's connection
    first.delete("n")
