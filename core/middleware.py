"""Request body limits, checked before anything reads or parses the body.

Every request whose body is larger than ``REQUEST_BODY_MAX`` bytes (1 MB) answers 413, except on the
paths ``REQUEST_BODY_LIMITS`` gives a larger limit (the intake batch: 64 MB). The declared
Content-Length is checked first, so a large body is refused before a byte of it is read; a body without
one (chunked) is counted as it is read and refused as soon as it passes the limit.

On the paths ``REQUEST_CREDENTIALS_REQUIRED`` lists, a request that sends a body (POST, PUT, PATCH,
DELETE) without any credentials (no Authorization header, no session cookie, none of the entry's
query parameters) answers 401 before its body is read: DRF views already authenticate before they parse,
this keeps it so for any view that reads the body first (Open311's api_key may come in the body).

Own code rather than a library: Django's DATA_UPLOAD_MAX_MEMORY_SIZE is one global number, checked
only when ``request.body`` is read, and answers 400; DRF has no size check at all.
"""
from __future__ import annotations

import gzip
import re
import secrets
from functools import lru_cache

from django.conf import settings
from django.http import JsonResponse
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.utils.cache import patch_vary_headers
from rest_framework import exceptions, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


@lru_cache(maxsize=8)
def _compiled(limits: tuple) -> list[tuple[re.Pattern, int, str]]:
    return [(re.compile(entry[0]), int(entry[1]), entry[2] if len(entry) > 2 else "") for entry in limits]


def body_limit(path: str, content_type: str = "") -> int:
    """Return the largest body in bytes a request to ``path`` may send; an entry of
    ``REQUEST_BODY_LIMITS`` with a third item applies only to bodies of that content type (e.g. photos
    as multipart/form-data, while a JSON body to the same path keeps the default)."""
    for pattern, limit, kind in _compiled(tuple(tuple(x) for x in getattr(settings, "REQUEST_BODY_LIMITS", ()))):
        if pattern.search(path) and content_type.startswith(kind):
            return limit
    return int(getattr(settings, "REQUEST_BODY_MAX", 1024 * 1024))


def too_large_detail(limit: int) -> str:
    return f"Request body too large: at most {limit} bytes here."


def too_large_response(limit: int) -> JsonResponse:
    """The 413 answer, in the API's error shape (core.api)."""
    return JsonResponse({"detail": too_large_detail(limit)}, status=413)


class _CappedStream:
    """A request stream that raises RequestTooLarge once more than ``limit`` bytes were read."""

    def __init__(self, stream, limit: int, request):
        self._stream, self._limit, self._request, self._read = stream, limit, request, 0

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self._limit:
            self._request._body_too_large = True
            raise RequestTooLarge(too_large_detail(self._limit))
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._count(self._stream.read(self._limit + 1 - self._read))
        return self._count(self._stream.read(min(size, self._limit + 1 - self._read)))

    def readline(self, size: int = -1) -> bytes:
        cap = self._limit + 1 - self._read
        return self._count(self._stream.readline(cap if size is None or size < 0 else min(size, cap)))

    def __iter__(self):
        while line := self.readline():
            yield line

    def close(self):
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def _needs_credentials(request) -> bool:
    """Return whether this request must show credentials before its body is read, and shows none."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    for pattern, params in getattr(settings, "REQUEST_CREDENTIALS_REQUIRED", ()):
        if re.search(pattern, request.path_info):
            has = (request.META.get("HTTP_AUTHORIZATION") or settings.SESSION_COOKIE_NAME in request.COOKIES
                   or any(request.GET.get(p) for p in params)
                   or getattr(request, "_force_auth_user", None) is not None)  # DRF's test client
            return not has
    return False


def unauthenticated_response() -> JsonResponse:
    """The 401 of an API request without credentials, as DRF answers it (core.api's shape)."""
    response = JsonResponse({"detail": str(exceptions.NotAuthenticated.default_detail)}, status=401)
    response["WWW-Authenticate"] = "Token"
    return response


class BodyLimitMiddleware:
    """413 for a body over the path's limit: from Content-Length before reading, else while reading;
    401 for a body sent without credentials where REQUEST_CREDENTIALS_REQUIRED asks for them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request.path_info, request.META.get("CONTENT_TYPE", ""))
        declared = request.META.get("CONTENT_LENGTH") or request.META.get("HTTP_CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
            if length > limit:
                return too_large_response(limit)
        if _needs_credentials(request):
            return unauthenticated_response()
        if not declared and getattr(request, "_stream", None) is not None:
            request._stream = _CappedStream(request._stream, limit, request)
        try:
            response = self.get_response(request)
        except RequestTooLarge:
            return too_large_response(limit)
        if getattr(request, "_body_too_large", False) and response.status_code != 413:
            return too_large_response(limit)  # whatever caught the error (Django's 400/500, a view)
        return response


class TextGZipMiddleware(GZipMiddleware):
    """Django's GZipMiddleware for the answers that gain from it: text (JSON, GeoJSON, HTML, CSV, scripts).
    Photos and spreadsheets (already compressed) go as they are: gzipping a JPEG costs the server's CPU and
    saves nothing.

    A large answer (over ``GZIP_FAST_ABOVE`` bytes: a whole city's heatmap is 8 MB of JSON) is compressed
    at ``GZIP_FAST_LEVEL`` instead of Django's 6: on the 10M city's heatmap at 250 m a year, level 6 took
    101 ms for 775 KB, level 3 37 ms for 949 KB, level 1 31 ms for 1,150 KB. Level 3 saves about 65 ms of
    the answer for a fifth more bytes (the same time on a link of about 20 Mbit/s; a town's intranet is
    faster). The same random file name in its header against BREACH; the rest is Django's."""

    def process_response(self, request, response):
        kind = response.get("Content-Type", "").split(";")[0].strip().lower()
        if not (kind.startswith("text/") or kind in COMPRESSIBLE_TYPES or kind.endswith(("+json", "+xml"))):
            return response
        if response.streaming or len(response.content) <= GZIP_FAST_ABOVE or response.has_header("Content-Encoding"):
            return super().process_response(request, response)
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        response.content = gzip_fast(response.content, self.max_random_bytes)
        response.headers["Content-Length"] = str(len(response.content))
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag  # as Django's: a strong ETag is weak once encoded
        response.headers["Content-Encoding"] = "gzip"
        return response


GZIP_FAST_ABOVE = 256 * 1024
GZIP_FAST_LEVEL = 3


def gzip_fast(data: bytes, max_random_bytes: int) -> bytes:
    """Return ``data`` gzipped at GZIP_FAST_LEVEL, its header naming a random file of 1 to
    ``max_random_bytes`` bytes (none zero): the compressed length then varies by a random amount, as
    Django's own gzip does against BREACH."""
    packed = gzip.compress(data, compresslevel=GZIP_FAST_LEVEL, mtime=0)
    name = bytes(1 + secrets.randbelow(255) for _ in range(1 + secrets.randbelow(max_random_bytes)))
    header = bytearray(packed[:10])
    header[3] |= gzip.FNAME  # flags: a zero-terminated file name follows the 10-byte header
    return bytes(header) + name + b"\x00" + packed[10:]


COMPRESSIBLE_TYPES = frozenset({"application/json", "application/geo+json", "application/javascript",
                                "application/xml", "image/svg+xml"})
