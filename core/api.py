"""Project-wide API plumbing: errors are JSON with field messages, never an HTML 500 for bad input.

One error shape for every error status of the API (400, 401, 403, 404, 405, 409, 412, 413, 415, 429, 500, 503):
``{"detail": "<message>"}``, or for invalid input a dict of field -> list of messages (DRF's
shapes). A bare list of messages (``ValidationError(["..."])``) is wrapped as ``{"detail": [...]}``.
Django's own 400/403/404/500 answer the same JSON under /api/ (``handler404`` etc. in gridops.urls).
Open311 (/open311/) keeps the shape its specification gives (incidents/open311.py).
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.views import exception_handler as drf_exception_handler

from gis_core.tiles import parse_bbox

API_PREFIXES = ("/api/", "/open311/")
OPEN311_PREFIX = "/open311/"  # GeoReport v2 answers errors as [{"code", "description"}]


class Public(AllowAny):
    """The mark of a public API endpoint (no login, no token). Every view that uses it is named in
    gridops.urls.PUBLIC_URL_NAMES, and tests/security/test_auth.py checks that nothing else answers an
    anonymous caller."""


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the database is unavailable for a moment; nothing of this request was stored, send it again"
    default_code = "database_unavailable"


DATABASE_RETRY_AFTER_S = 5


def exception_handler(exc, context):
    """Turn Django validation errors into HTTP 400 with field messages, a lost database connection
    (a restart, a failover) into 503 with Retry-After (the request's transaction was rolled back),
    then defer to DRF; every error body is a dict (``detail`` or field messages)."""
    if isinstance(exc, OperationalError | InterfaceError):
        response = drf_exception_handler(DatabaseUnavailable(), context)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": response.data}
    return response


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIXES)


def _json_error(request, code: int, text: str) -> JsonResponse:
    """The API's error body, or Open311's under /open311/."""
    if request.path_info.startswith(OPEN311_PREFIX):
        return JsonResponse([{"code": code, "description": text}], status=code, safe=False)
    return JsonResponse({"detail": text}, status=code)


def bad_request(request, exception=None):
    """Django's 400 (e.g. a malformed request refused before the view) as JSON under /api/ and /open311/."""
    if _is_api(request):
        return _json_error(request, 400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """Django's 403 as JSON under /api/ and /open311/."""
    if _is_api(request):
        return _json_error(request, 403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    """Django's 404 (no URL pattern matched) as JSON under /api/ and /open311/."""
    if _is_api(request):
        return _json_error(request, 404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Django's 500 as JSON under /api/ and /open311/ (the error itself is logged, never shown)."""
    if _is_api(request):
        return _json_error(request, 500, "Server error.")
    return defaults.server_error(request)


BLANK = "may not be blank: leave the parameter out instead"


def validated_query(serializer_class, request) -> dict:
    """Validate a request's query string with a serializer; bad values raise HTTP 400.

    A parameter sent empty (``?status=``) is refused rather than read as left out, as DRF reads an
    empty form field: the schema says what a parameter takes, and an empty value is not that."""
    params = serializer_class(data=request.query_params)
    blank = {name: [BLANK] for name, values in request.query_params.lists()
             if name in params.fields and "" in values and not getattr(params.fields[name], "allow_blank", False)}
    if blank:
        raise exceptions.ValidationError(blank)
    params.is_valid(raise_exception=True)
    return params.validated_data


def validated_body(serializer_class, request) -> dict:
    """Validate a request's body with a serializer; bad values raise HTTP 400 with field messages."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class BBoxField(serializers.CharField):
    """A map's view, ``west,south,east,north`` in degrees (WGS84), read as a ``gis_core.tiles.BBox``
    (a 400 saying what is wrong otherwise)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "the view: west,south,east,north in degrees (WGS84)")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_bbox(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
