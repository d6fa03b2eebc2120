"""Serve the platform (HTTP and WebSocket) with uvicorn: several worker processes, one port."""
import os

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def default_workers() -> int:
    """Return the number of server processes: WEB_WORKERS, else one per core."""
    return int(os.environ.get("WEB_WORKERS") or os.cpu_count() or 1)


class Command(BaseCommand):
    help = "Serve settings.ASGI_APPLICATION with uvicorn (uvloop, httptools, websockets-sansio)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=None,
                            help="server processes (default: WEB_WORKERS, else one per core)")

    def handle(self, *args, **opts):
        workers = opts["workers"] or default_workers()
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        layer = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
        if workers > 1 and layer.endswith("InMemoryChannelLayer"):
            # Each process would have a layer of its own: a change pushed from one process never reaches
            # the browsers connected to the others, and nothing says so.
            raise CommandError(f"{workers} server processes need a shared channel layer: set REDIS_URL "
                               "(redis://host:6379/0), or run one process (--workers 1)")
        # The workers import the application themselves (a string, so --workers can fork them).
        module, _, name = settings.ASGI_APPLICATION.rpartition(".")
        uvicorn.run(f"{module}:{name}", host=opts["host"], port=opts["port"], workers=workers,
                    loop="uvloop", http="httptools", ws="websockets-sansio", lifespan="on", access_log=False,
                    log_level=os.environ.get("LOG_LEVEL", "info").lower())
