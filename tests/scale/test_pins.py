"""Read-your-writes marks in the cache (core.routing_db.pin / pinned), on a real Redis: shared by every
web node, expiring, and failing safe (to the primary) when the cache is away."""
from __future__ import annotations

import time

import pytest
from django.test import RequestFactory

from core.routing_db import pin, pinned, request_credentials
from tests.servers import TEST_REDIS_URL, free_port


def redis_cache(url: str) -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                        "KEY_PREFIX": f"pins{time.monotonic_ns()}",
                        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}


@pytest.fixture
def shared_cache(settings):
    settings.CACHES = redis_cache(TEST_REDIS_URL)
    settings.REPLICA_PIN_SECONDS = 1


def test_a_write_pins_its_credentials_until_the_pin_expires(shared_cache):
    request = RequestFactory().post("/api/incidents/", HTTP_AUTHORIZATION="Token abc", HTTP_COOKIE="sessionid=s1")
    credentials = request_credentials(request)
    assert credentials == ["Token abc", "session:s1"]
    assert not pinned(credentials)
    pin(credentials)
    assert pinned(["Token abc"]) and pinned(["session:s1"])
    assert not pinned(["Token other"])  # another credential of the same user is not pinned
    time.sleep(1.2)
    assert not pinned(credentials)


def test_no_credentials_no_pin(shared_cache):
    pin([])
    assert not pinned([])


def test_a_cache_that_is_away_reads_as_pinned(settings):
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    pin(["Token abc"])  # the write is done; losing the mark is logged, not raised
    assert pinned(["Token abc"]) is True  # unsure: the primary answers
