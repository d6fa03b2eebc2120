"""The API's contract, for what every operation shares: the error answers and the GeoJSON pages.

Each view describes its own successful answers; the error answers are the same everywhere (one body
shape, ``core.api``), so they are added here, once, to every operation of the OpenAPI schema by a
drf-spectacular postprocessing hook, rather than repeated on every view.
"""
from __future__ import annotations

from drf_spectacular.contrib.rest_framework_gis import GeoFeatureModelSerializerExtension
from rest_framework import exceptions
from rest_framework_gis.pagination import GeoJsonPagination as _GisGeoJsonPagination

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
WRITE_METHODS = ("put", "post", "patch", "delete")

# Why each error status is answered; the same words on every operation.
ERROR_STATUSES = {
    "400": "bad input: the body or query names each field in error",
    "401": "no valid credentials (see WWW-Authenticate)",
    "403": "your role may not do this",
    "404": "no such object, or not one you may see",
    "405": "method not allowed here",
    "409": "the object's state does not allow this action now",
    "412": "the object has changed since the version named in If-Match: the answer holds it as it is now",
    "413": "the request body is larger than this endpoint accepts",
    "415": "unsupported media type",
    "422": "this Idempotency-Key was used before with another body",
    "429": "too many requests: wait as long as Retry-After says",
    "503": "the database is unavailable for a moment: nothing was stored, send again after Retry-After",
}

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: ``detail`` says what went wrong; for bad input each field in error has "
                   "its list of messages instead (``non_field_errors`` for the body as a whole).",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "string"},
        {"type": "object"},
    ]},
}
# Open311 GeoReport v2 answers errors as a list of {code, description}
OPEN311_ERROR_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "required": ["code", "description"],
              "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}},
}


def _is_public(operation: dict) -> bool:
    """An operation anyone may call: its security requirements include the empty one."""
    return {} in operation.get("security", [{}])


# Query parameters that name one object, answered 404 when there is none (``?generation=``).
OBJECT_QUERY_PARAMETERS = {"generation", "page"}


def _error_codes(path: str, method: str, operation: dict) -> set[str]:
    params = operation.get("parameters", [])
    codes = {"405", "429", "503"}
    if not _is_public(operation):
        codes |= {"401", "403"}
    if (any(p.get("in") == "query" or "enum" in p.get("schema", {}) for p in params)
            or method in WRITE_METHODS):
        codes.add("400")  # a bad query, body or format suffix
    if any(p.get("in") == "header" and p.get("name") == "If-Match" for p in params):
        codes.add("412")  # changed since the version the change was made on
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in params):
        codes.add("422")  # the key was sent before with another body
    if any(p.get("in") == "path" or p.get("name") in OBJECT_QUERY_PARAMETERS for p in params):
        codes.add("404")  # no such object
    if method in WRITE_METHODS:
        codes |= {"409", "413", "415"}
    return codes


def _not_only_spaces(schemas: dict) -> None:
    """Say of every text a request must not leave blank that spaces alone are blank too: DRF trims
    text before it checks that it is not blank, so "   " is refused as "" is."""
    for name, component in schemas.items():
        if not name.endswith("Request"):
            continue
        for prop in component.get("properties", {}).values():
            if (prop.get("type") == "string" and prop.get("minLength", 0) >= 1
                    and not {"pattern", "format", "enum"} & prop.keys()):
                prop["pattern"] = r"\S"


def _public_operations(generator) -> set[tuple[str, str]]:
    """The (path, method) of the operations whose view is public (``core.api.Public``)."""
    from core.api import Public

    public = set()
    for path, _regex, method, view in getattr(generator, "endpoints", None) or []:
        classes = getattr(view, "cls", None) and view.cls.permission_classes
        if classes and any(issubclass(c, Public) for c in classes):
            public.add((path, method.lower()))
    return public


def add_error_responses(result: dict, generator, request, public, **kwargs) -> dict:
    """Describe every error status an operation can answer, with the one error body of its API; a
    public operation says that it needs no credentials (``security: [{}]``)."""
    anyone = _public_operations(generator)
    for path, method in anyone:
        operation = result.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            operation["security"] = [{}]
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    _not_only_spaces(schemas)
    schemas["Error"] = ERROR_SCHEMA
    schemas["Open311Error"] = OPEN311_ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        ref = "#/components/schemas/" + ("Open311Error" if path.startswith("/open311/") else "Error")
        for method in HTTP_METHODS:
            for param in item.get(method, {}).get("parameters", []):
                if param["in"] == "path" and param["name"] == "fmt":  # Open311's format suffix
                    param["schema"] = {"type": "string", "enum": ["json"]}
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_error_codes(path, method, operation)):
                responses.setdefault(code, {
                    "description": ERROR_STATUSES[code],
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                })
    return result


class GeoJsonPagination(_GisGeoJsonPagination):
    """A page of GeoJSON features: ``{"type": "FeatureCollection", "count", "next", "previous",
    "features"}``. djangorestframework-gis's own page schema names a ``results`` key the page does not
    have and puts the whole collection where the features go; this one describes the page as sent."""

    page_size_query_param = "page_size"
    max_page_size = 10000

    def get_page_size(self, request) -> int:
        """The page size asked for (at most ``max_page_size``); one that is not a positive whole number
        is bad input (DRF would quietly use the default)."""
        asked = request.query_params.get(self.page_size_query_param)
        if asked is not None and not (asked.isdigit() and 0 < int(asked) <= self.max_page_size):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"a whole number from 1 to {self.max_page_size}"]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif param["name"] == self.page_query_param:
                param["schema"] = {"type": "integer", "minimum": 1}
        return params

    def get_paginated_response_schema(self, schema: dict) -> dict:
        page_link = {"type": "string", "format": "uri", "nullable": True}
        return {"allOf": [schema, {
            "type": "object",
            "required": ["type", "count", "features"],
            "properties": {"count": {"type": "integer", "minimum": 0}, "next": page_link, "previous": page_link},
        }]}


class FeatureWithOptionalGeometry(GeoFeatureModelSerializerExtension):
    """A GeoJSON feature whose geometry may be null (RFC 7946, 3.2: an unlocated feature) says so: an
    incident in the triage queue has no location. drf-spectacular's own extension, which this one
    replaces (higher priority), describes every geometry as an object."""

    priority = 1

    def map_geo_feature_model_serializer(self, serializer, base_schema):
        schema = super().map_geo_feature_model_serializer(serializer, base_schema)
        field = serializer.fields.get(serializer.Meta.geo_field)
        if field is not None and field.allow_null:
            schema["properties"]["geometry"] = {**schema["properties"]["geometry"], "nullable": True}
        return schema
