"""Ready a server process before it takes requests: the per-process caches the apps name in
``settings.WARM_UP`` (dotted paths of callables), the URL resolver, each request thread's connection
and PROJ transformers."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, connection
from django.urls import get_resolver
from django.utils.module_loading import import_string

from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Build what a process keeps for every request: each cache of ``settings.WARM_UP`` and the URL
    resolver. Never raise: a server whose database does not answer yet still starts, and builds them
    on its first request."""
    started = time.perf_counter()
    try:
        get_resolver().resolve("/")
        for path in settings.WARM_UP:
            import_string(path)()
        log.info("warmed up in %.1f s: %s", time.perf_counter() - started, ", ".join(settings.WARM_UP))
    except DatabaseError:
        log.warning("warm-up skipped: the database did not answer", exc_info=True)
    finally:
        connection.close()  # this thread's own connection


def warm_thread() -> None:
    """Prepare one request thread: its database connection and its own PROJ transformers (pyproj
    builds them per thread, some tens of milliseconds each)."""
    for src, dst in ((STORAGE_SRID, METRIC_SRID), (METRIC_SRID, STORAGE_SRID), (4490, STORAGE_SRID)):
        get_transformer(src, dst).transform(119.35, 32.58)
    try:
        connection.ensure_connection()
    except DatabaseError:
        log.warning("a request thread could not connect yet", exc_info=True)


def warm_threads(executor: ThreadPoolExecutor, n: int, timeout: float = 60) -> None:
    """Run warm_thread once in each of the executor's ``n`` threads (a barrier makes them distinct)."""
    gate = threading.Barrier(n, timeout=timeout)

    def job() -> None:
        gate.wait()
        warm_thread()

    for future in [executor.submit(job) for _ in range(n)]:
        future.result(timeout=timeout)
