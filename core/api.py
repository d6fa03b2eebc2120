"""Project-wide API plumbing: errors are JSON with field messages, never an HTML 500 for bad input."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the database is unavailable for a moment; nothing of this request was stored, send it again"
    default_code = "database_unavailable"


DATABASE_RETRY_AFTER_S = 5


def exception_handler(exc, context):
    """Turn Django validation errors into HTTP 400 with field messages, a lost database connection
    (a restart, a failover) into 503 with Retry-After (the request's transaction was rolled back),
    then defer to DRF."""
    if isinstance(exc, OperationalError | InterfaceError):
        response = drf_exception_handler(DatabaseUnavailable(), context)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)


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
