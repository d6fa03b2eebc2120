"""Project-wide API plumbing: errors are JSON with field messages, never an HTML 500 for bad input."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Turn Django validation errors into HTTP 400 with field messages, then defer to DRF."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)


def validated_query(serializer_class, request) -> dict:
    """Validate a request's query string with a serializer; bad values raise HTTP 400."""
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def validated_body(serializer_class, request) -> dict:
    """Validate a request's body with a serializer; bad values raise HTTP 400 with field messages."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data
