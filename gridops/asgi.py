"""ASGI entry point: HTTP through Django's WSGI handler, WebSockets through Channels (session-authenticated).

HTTP goes through a2wsgi's WSGIMiddleware rather than Django's ASGI handler because every view is
synchronous: Django's ASGI handler runs each request's sync code in a thread of its own, so a
persistent database connection is never reused (each request connected to PostgreSQL afresh, a
backend fork, and the old connections piled up until "too many clients"). a2wsgi runs the views in
a fixed pool of HTTP_THREADS threads, whose connections live for CONN_MAX_AGE; several server
processes (uvicorn --workers) use several cores. The requests of settings.LEAN_API_URLS (GET /api/locate,
a JSON POST to /api/incidents/) take a shorter way to the same view (core.lean: no WSGI bridge, no URL
resolver, only the middleware that has work to do for them).
"""
import asyncio
import gc

from django.core.wsgi import get_wsgi_application

from gridops.settings import use_environment

use_environment()  # DJANGO_ENV, default production (gridops/settings/__init__.py)
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from core.lean import LeanDispatch  # noqa: E402
from core.serving import warm_threads, warm_up  # noqa: E402
from dispatch.ws_urls import websocket_urlpatterns  # noqa: E402


class WarmOnStartup:
    """Answer the ASGI lifespan protocol (uvicorn sends it; daphne does not): before a server process
    takes its first request it builds what the intake path keeps in memory (the locator index of the
    active grids, the gazetteer) and readies each request thread (its connection, its PROJ
    transformers), so no early request waits seconds for them."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.to_thread(warm_up)
                await asyncio.to_thread(lambda: lean.routes)  # the lean paths' views and middleware
                await asyncio.to_thread(warm_threads, http.executor, settings.HTTP_THREADS)
                gc.freeze()  # what start-up built lives as long as the process: keep it out of every collection
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


http = WSGIMiddleware(django_wsgi_app, workers=settings.HTTP_THREADS)
lean = LeanDispatch(http, http.executor, settings.LEAN_API_URLS)  # same threads, so same connections
application = WarmOnStartup(ProtocolTypeRouter({
    "http": lean,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
}))
