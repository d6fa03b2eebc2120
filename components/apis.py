"""The components map layer: GeoJSON points in the view, at most a page of them."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework_gis.filters import InBBoxFilter

from components.codes import TYPE_PATTERN
from components.models import Component
from components.selectors import component_list
from components.serializers import ComponentSerializer
from core.api import validated_query
from core.schema import GeoJsonPagination
from gis_core.tiles import parse_bbox


class ComponentFilter(serializers.Serializer):
    type = serializers.RegexField(TYPE_PATTERN, required=False,
                                  help_text="a 4-digit 小类, or a 2-digit 大类 for all of it")
    state = serializers.ChoiceField(choices=Component.State.choices, required=False)
    grid = serializers.RegexField(r"^\d{15}$", required=False, help_text="15-digit grid code")


class ViewBoxFilter(InBBoxFilter):
    """The map's view: ``bbox`` (or ``in_bbox``, as the boundary layers send it) = west,south,east,north in
    degrees, checked as every view box is (``gis_core.tiles.parse_bbox``): a bad one is a 400 naming it."""

    PARAMS = ("bbox", "in_bbox")

    def get_filter_bbox(self, request):
        for name in self.PARAMS:
            text = request.query_params.get(name)
            if text is not None:
                try:
                    return parse_bbox(text).polygon()
                except ValueError as exc:
                    raise serializers.ValidationError({name: [str(exc)]}) from None
        return None

    def get_schema_operation_parameters(self, view):
        return [{"name": name, "required": False, "in": "query", "schema": {"type": "string"},
                 "description": "the view: west,south,east,north (degrees, WGS84)"} for name in self.PARAMS]


class CappedPagination(GeoJsonPagination):
    """A page of the layer, with ``capped`` true when the view holds more than the page: the map then
    asks to zoom in (``next`` says the same, as for the boundary layers)."""

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["capped"] = self.page.has_next()
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        out = super().get_paginated_response_schema(schema)
        out["allOf"][1]["properties"]["capped"] = {"type": "boolean"}
        return out


class ComponentViewSet(viewsets.ReadOnlyModelViewSet):
    """City components (GB/T 30428.2) as GeoJSON points: those in ``bbox``, at most a page (``capped``: zoom in)."""

    serializer_class = ComponentSerializer
    filter_backends = [ViewBoxFilter]
    bbox_filter_field = "location"
    pagination_class = CappedPagination
    lookup_field = "code"

    @extend_schema(parameters=[ComponentFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(ComponentFilter, self.request)
        return component_list(type_code=params.get("type"), state=params.get("state"), grid_code=params.get("grid"))
