"""API rate limits (DRF throttles), with rates read from settings at each request (so a test or a
settings change takes effect) and the intake endpoints' higher per-client rate chosen by path.

- ``AnonRateThrottle``: per anonymous address (scope "anon"; only public endpoints answer anonymous
  callers at all);
- ``ClientRateThrottle``: per authenticated client (scope "user"), or scope "intake" on the paths and
  methods listed in ``API_THROTTLE_SCOPES``.
Counters live in the default cache (Redis when REDIS_URL is set, so every server process shares them).
A throttled request answers 429 with Retry-After.

Fixed windows, not DRF's sliding log: DRF keeps, per client, the list of its request times in the
window, read and written back whole on every request (an integration client at the intake's 6,000/min
moves a 6,000-float list each way, about a millisecond a request). Here each client has a counter per
window of the rate's duration, one INCR a request (``core.cache.count``); a client may send up to twice
its rate across a window's edge, the usual price of fixed windows, and Retry-After is the time to the
next window. When the cache cannot be reached (Redis down) the
limit is not applied and a warning logged: a report is never refused because its counter is away. For
CACHE_RETRY_S after such a failure the throttles do not even try the cache (redis-py retries each call
with backoff: every request of an outage would wait for it).
"""
from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.cache import count

logger = logging.getLogger(__name__)
CACHE_RETRY_S = 5.0
_cache_down_until = 0.0  # time.monotonic() until which the cache is taken as unavailable


class _SettingsRates:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def _counted(self, request, view) -> bool:
        """The fixed-window check (DRF's ``SimpleRateThrottle.allow_request``, counted instead of logged)."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.wait_s = (window + 1) * self.duration - now
        return count(self.cache, f"{self.key}:{window}", self.duration + 1) <= self.num_requests

    def wait(self):
        return self.wait_s

    def allow_request(self, request, view):
        global _cache_down_until
        if time.monotonic() < _cache_down_until:
            return True
        try:
            return self._counted(request, view)
        except (RedisError, OSError) as error:  # the cache is away: count nothing, refuse nothing
            _cache_down_until = time.monotonic() + CACHE_RETRY_S
            logger.warning("rate limits not applied for %.0f s, the cache is unavailable: %s", CACHE_RETRY_S, error)
            return True


class AnonRateThrottle(_SettingsRates, throttling.AnonRateThrottle):
    pass


def scope_for(request) -> str:
    """Return the throttle scope of an authenticated request: "intake" on the intake paths, else "user"."""
    for methods, pattern, scope in getattr(settings, "API_THROTTLE_SCOPES", ()):
        if request.method in methods and re.search(pattern, request.path_info):
            return scope
    return "user"


class ClientRateThrottle(_SettingsRates, throttling.UserRateThrottle):
    def allow_request(self, request, view):
        self.scope = scope_for(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
