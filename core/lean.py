"""A lean path for a few hot endpoints: the same DRF view, served without the framework around it.

A request to a path named in ``settings.LEAN_API_URLS`` (URL names: ``/api/locate``, and
``/api/incidents/`` where every single report arrives) is answered in the ASGI application itself:
one hop to the HTTP threads, where Django's own ``ASGIRequest`` is built from the scope (and the
body, read first) and handed, through the middleware that has work to do for such a request, to the
very view the URL resolves to (its authentication, permissions, throttles, validation, answer and
error handling are the view's: DRF's and the project's, not a copy). Skipped on that path:

- a2wsgi's WSGI bridge (an environ, a thread hand-off and a queue per response, each send a future
  handed back to the event loop: about a quarter of a millisecond of CPU per request, more than the
  point lookup itself, a tenth of the server's CPU for a report), Django's URL resolver;
- the middleware in ``LEAN_SKIPPED_MIDDLEWARE``, each with the reason it has nothing to do for a
  request to a JSON API view. Every other middleware of ``settings.MIDDLEWARE`` runs, in its
  order and with its view hooks: security headers and the HTTPS redirect, CSP, body limits,
  sessions, CSRF, authentication, the login requirement (which DRF views waive), X-Frame-Options.

Taken: a GET without a body; a POST of JSON whose declared length is within the path's body limit
(``core.middleware.body_limit``: the body is read into memory before the view, as Django reads a JSON
body anyway). Anything else (another method, a body of another type or without a declared length, a
script prefix, a query string that is not ASCII) goes the ordinary way, so the lean path only ever
answers what the ordinary path would answer the same: tests/grids/test_locate_lean.py and
tests/incidents/test_intake_lean.py compare both, byte for byte and header for header.
"""
from __future__ import annotations

import asyncio
import io

from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import convert_exception_to_response
from django.urls import resolve, reverse, set_urlconf
from django.utils.module_loading import import_string

from core.middleware import body_limit

# Middleware with nothing to do for a request answered by a DRF API view, and why.
LEAN_SKIPPED_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "serves files under STATIC_URL only",
    "django.contrib.messages.middleware.MessageMiddleware": "an API view neither adds nor shows messages",
    "axes.middleware.AxesMiddleware": "acts on lockouts, which only a login attempt (the login page) sets",
}
JSON = b"application/json"
_UNSUPPORTED_HOOKS = ("process_exception", "process_template_response")


def lean_middleware() -> list[str]:
    """Return the middleware the lean path runs: settings.MIDDLEWARE less LEAN_SKIPPED_MIDDLEWARE."""
    return [path for path in settings.MIDDLEWARE if path not in LEAN_SKIPPED_MIDDLEWARE]


def build_chain(match, middleware_paths: list[str]):
    """Return the resolved view ``match`` wrapped in the given middleware as Django's handler wraps it
    (``BaseHandler.load_middleware`` and ``_get_response``): each layer in
    ``convert_exception_to_response``, the ``process_view`` hooks in order before the view, a response
    that renders later (DRF's) rendered before the middleware sees it.

    Middleware with a ``process_exception`` or ``process_template_response`` hook is refused
    (``ImproperlyConfigured``): DRF views answer their errors themselves and render no template, so
    none of the project's has one; a new one must be looked at, then supported or skipped here."""
    view_hooks = []

    def view(request):
        request.resolver_match = match
        for hook in view_hooks:
            response = hook(request, match.func, match.args, match.kwargs)
            if response is not None:
                break
        else:
            response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
        return response

    handler = convert_exception_to_response(view)
    for path in reversed(middleware_paths):
        try:
            middleware = import_string(path)(handler)
        except MiddlewareNotUsed:  # as Django's handler: a middleware may take itself out at start-up
            continue
        unsupported = [name for name in _UNSUPPORTED_HOOKS if hasattr(middleware, name)]
        if unsupported:
            raise ImproperlyConfigured(f"{path} has {', '.join(unsupported)}: the lean path does not run it; "
                                       "support it in core.lean, name it in LEAN_SKIPPED_MIDDLEWARE with the "
                                       "reason, or take the URL out of settings.LEAN_API_URLS")
        if hasattr(middleware, "process_view"):
            view_hooks.insert(0, middleware.process_view)
        handler = convert_exception_to_response(middleware)
    return handler


class LeanRoutes:
    """The lean handlers by path: each path's resolved view, wrapped in ``lean_middleware()``."""

    def __init__(self, url_names) -> None:
        self.chains = {}
        for name in url_names:
            path = reverse(name)
            self.chains[path] = build_chain(resolve(path), lean_middleware())
        self.served = 0  # requests answered by the lean path in this process (tests, diagnostics)

    def wants(self, scope) -> bool:
        """Return whether the lean path answers this HTTP scope (else the ordinary path does): a GET
        without a body, or a POST of JSON with a declared length within the path's body limit."""
        method = scope["method"]
        if method not in ("GET", "POST") or scope["path"] not in self.chains or scope.get("root_path"):
            return False
        if not scope.get("query_string", b"").isascii():
            return False
        length, kind = None, b""
        for name, value in scope.get("headers", ()):
            if name == b"transfer-encoding" and value != b"0":
                return False
            if name == b"content-length":
                if length is not None:
                    return False  # twice: the ordinary path decides
                length = value
            elif name == b"content-type":
                kind = value
        if method == "GET":
            return length in (None, b"0")
        if length is None or not length.isdigit() or kind.split(b";")[0].strip().lower() != JSON:
            return False
        return int(length) <= body_limit(scope["path"], kind.decode("latin1"))

    def handle(self, scope, body: bytes = b"") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Answer one request (in an HTTP thread): return the status, the headers and the body.

        As Django's handlers do: the request_started signal (old connections closed), the request
        through the middleware chain, then the response closed (request_finished), also when
        something before the chain fails (the error then goes to the server, as from Django's own
        handler)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        response = None
        try:
            set_urlconf(settings.ROOT_URLCONF)
            request = ASGIRequest(scope, io.BytesIO(body))
            response = self.chains[scope["path"]](request)
            response._handler_class = self.__class__
            body = b"".join(response)  # the content, or a streaming response's chunks
            headers = [(name.encode("latin1"), str(value).encode("latin1")) for name, value in response.items()]
            headers += [(b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()]
            request.close()
        finally:
            if response is not None:
                response.close()  # sends request_finished
            else:
                signals.request_finished.send(sender=self.__class__)
        self.served += 1
        return response.status_code, headers, body


class LeanDispatch:
    """ASGI: answer the lean paths in ``executor`` (the HTTP threads), pass every other scope to ``app``."""

    def __init__(self, app, executor, url_names) -> None:
        self.app = app
        self.executor = executor
        self.url_names = tuple(url_names)
        self._routes: LeanRoutes | None = None

    @property
    def routes(self) -> LeanRoutes:
        if self._routes is None:  # the URL conf and the middleware are imported on first use
            self._routes = LeanRoutes(self.url_names)
        return self._routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.url_names or not self.routes.wants(scope):
            return await self.app(scope, receive, send)
        body = b""
        if scope["method"] == "POST":  # its declared length, within the path's limit (``wants``)
            chunks = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before its body arrived: nothing to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
        status, headers, body = await asyncio.get_running_loop().run_in_executor(
            self.executor, self.routes.handle, scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
