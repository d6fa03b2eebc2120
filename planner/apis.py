"""The planner's API (网格办): drafts of a boundary generation, redrawing a draft's grid, the preview of
what publishing would change, and publishing (which refuses an invalid partition).

Only planners (and superusers) may use it: the check is ``may_plan``, here, on every view (``MayPlan``)
and on the planner's page.
"""
from __future__ import annotations

import json

import shapely
from django.conf import settings
from django.contrib.gis.gdal import GDALException, SpatialReference
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor, Role
from core.api import validated_query
from gis_core.geometry import InvalidGeometry, geojson_polygon_vertices
from grids.exporter import FORMATS, BoundaryExportError, check_srid, export_bytes
from grids.models import BoundaryGeneration, Grid, Town
from grids.services import GenerationError, generation_activate
from planner.preview import generation_preview
from planner.services import StaleGrid, generation_draft, grid_redraw, grid_version


def may_plan(user) -> bool:
    """Return whether the user may edit boundary generations (a planner, or a superuser)."""
    return bool(user and user.is_authenticated and (user.is_superuser or Role.PLANNER in Actor.of(user).global_roles()))


class MayPlan(BasePermission):
    message = "only planners may edit boundary generations"

    def has_permission(self, request, view) -> bool:
        return may_plan(request.user)


def _generation(generation: BoundaryGeneration) -> dict:
    return {"id": generation.pk, "town": generation.town.code, "status": generation.status,
            "description": generation.description, "created_at": generation.created_at,
            "activated_at": generation.activated_at, "retired_at": generation.retired_at,
            "grids": getattr(generation, "n_grids", None)}


class GenerationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    town = serializers.CharField()
    status = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)
    grids = serializers.IntegerField(allow_null=True)


class NewDraftSerializer(serializers.Serializer):
    town = serializers.RegexField(r"^\d{9}$", help_text="9-digit town code")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_town(self, code: str) -> Town:
        town = Town.objects.filter(code=code).first()
        if town is None:
            raise serializers.ValidationError(f"no town {code}")
        return town


class GenerationsApi(APIView):
    """The boundary generations (drafts, the active one, retired ones); POST starts a draft from the
    town's active generation (its grids and teams copied)."""

    permission_classes = [MayPlan]

    @extend_schema(responses=GenerationSerializer(many=True))
    def get(self, request):
        rows = BoundaryGeneration.objects.select_related("town").annotate(n_grids=Count("grids")).order_by("-pk")
        return Response(GenerationSerializer([_generation(g) for g in rows], many=True).data)

    @extend_schema(request=NewDraftSerializer, responses={201: GenerationSerializer})
    def post(self, request):
        body = NewDraftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            draft = generation_draft(town=body.validated_data["town"], description=body.validated_data["description"])
        except GenerationError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        draft.n_grids = draft.grids.count()
        return Response(GenerationSerializer(_generation(draft)).data, status=status.HTTP_201_CREATED)


class BoundarySerializer(serializers.Serializer):
    geometry = serializers.JSONField(help_text="a GeoJSON Polygon or MultiPolygon")
    crs = serializers.RegexField(r"^EPSG:\d{4,6}$", required=False, default="EPSG:4326",
                                 help_text="the CRS of the coordinates, e.g. EPSG:4549 (default EPSG:4326)")

    def validate_crs(self, value: str) -> int:
        srid = int(value.split(":")[1])
        try:
            SpatialReference(srid)
        except (GDALException, ValueError) as exc:
            raise serializers.ValidationError(f"unknown CRS {value}") from exc
        return srid

    def validate(self, attrs: dict) -> dict:
        geometry = attrs["geometry"]
        try:  # the size first, before any geometry work
            geojson_polygon_vertices(geometry, settings.GRID_BOUNDARY_MAX_VERTICES)
        except InvalidGeometry as exc:
            raise serializers.ValidationError({"geometry": [str(exc)]}) from exc
        try:
            geom = GEOSGeometry(json.dumps(geometry))
        except (GEOSException, GDALException, ValueError, TypeError) as exc:
            raise serializers.ValidationError({"geometry": [f"not a readable GeoJSON geometry ({exc})"]}) from exc
        geom.srid = attrs["crs"]
        attrs["geometry"] = geom
        return attrs


class GridBoundaryApi(APIView):
    """Redraw one grid of a draft: PUT its new boundary (any EPSG CRS); the grid comes back in EPSG:4326."""

    permission_classes = [MayPlan]

    @extend_schema(request=BoundarySerializer, responses={200: dict, 412: dict}, parameters=[OpenApiParameter(
        "If-Match", str, OpenApiParameter.HEADER, required=False,
        description="the grid's version (its `version`, or the ETag) the edit was made on: a 412 with the grid "
                    "as it is now and who changed it answers when it was redrawn since")])
    def put(self, request, generation: int, code: str):
        grid = get_object_or_404(Grid.objects.select_related("generation"), generation_id=generation, code=code)
        body = BoundarySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        expected = request.headers.get("If-Match")
        try:
            grid = grid_redraw(grid=grid, boundary=body.validated_data["geometry"],
                               editor=request.user.get_username(),
                               expected=expected.strip().removeprefix("W/").strip('"') if expected else None)
        except InvalidGeometry as exc:
            raise serializers.ValidationError({"geometry": [str(exc)]}) from exc
        except GenerationError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except StaleGrid as exc:
            edited = exc.grid.edited_at
            return self.versioned(Response({
                "detail": f"此网格已被他人更改 {exc}{_at(edited)}: load it again before you save",
                "changed_by": exc.grid.edited_by,
                "changed_at": edited, "current": grid_feature(exc.grid)}, status=status.HTTP_412_PRECONDITION_FAILED),
                exc.grid)
        return self.versioned(Response(grid_feature(grid)), grid)

    @staticmethod
    def versioned(response: Response, grid: Grid) -> Response:
        response["ETag"] = f'"{grid_version(grid.pk)}"'
        return response


def _at(moment) -> str:
    return f" at {timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else ""


def grid_feature(grid: Grid) -> dict:
    """A draft's grid as the editor reads it back: its boundary at full precision, its version and last editor."""
    return {"type": "Feature", "id": grid.code, "geometry": json.loads(grid.boundary.geojson),
            "properties": {"code": grid.code, "name": grid.name, "generation": grid.generation_id,
                           "version": grid_version(grid.pk), "edited_by": grid.edited_by,
                           "edited_at": grid.edited_at and timezone.localtime(grid.edited_at).isoformat()}}


class GenerationGridsApi(APIView):
    """The generation's grids at full precision (the public grid layer rounds to 7 decimals): an editor
    that sends a boundary back must send what it was given, or its untouched edges would no longer
    match the neighbours' by a few millimetres (slivers of square metres along a kilometre)."""

    permission_classes = [MayPlan]

    @extend_schema(responses={200: dict})
    def get(self, request, generation: int):
        generation = get_object_or_404(BoundaryGeneration, pk=generation)
        grids = (generation.grids.select_related("village", "team__leader").order_by("code")
                 .extra(select={"version": "grids_grid.xmin::text"}))
        return Response({"type": "FeatureCollection", "generation": generation.pk, "status": generation.status,
                         "features": [{
                             "type": "Feature", "id": g.code, "geometry": json.loads(shapely.to_geojson(
                                 shapely.from_wkb(bytes(g.boundary.wkb)))),
                             "properties": {"code": g.code, "name": g.name, "kind": g.kind, "purpose": g.purpose,
                                            "village_code": g.village.code, "village_name": g.village.name,
                                            "leader": g.team.leader.name if hasattr(g, "team") else None,
                                            "version": g.version, "edited_by": g.edited_by},
                         } for g in grids]})


class ExportQuery(serializers.Serializer):
    filetype = serializers.ChoiceField(choices=sorted(FORMATS), default="gpkg",
                                       help_text="gpkg (GeoPackage) or geojson; not 'format', which DRF keeps")
    srid = serializers.IntegerField(default=4326, min_value=1, help_text="CRS of the file, e.g. 4549")

    def validate_srid(self, srid: int) -> int:
        try:
            return check_srid(srid)
        except BoundaryExportError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class ExportApi(APIView):
    """Download the generation's grids as a GeoPackage or GeoJSON file (fields code, code20, name, kind,
    purpose, village_code, village_name), in any EPSG CRS; ``import_boundaries`` reads it back."""

    permission_classes = [MayPlan]

    @extend_schema(parameters=[ExportQuery],
                   responses={(200, FORMATS["gpkg"].media_type): OpenApiTypes.BINARY,
                              (200, FORMATS["geojson"].media_type): OpenApiTypes.OBJECT})
    def get(self, request, generation: int):
        generation = get_object_or_404(BoundaryGeneration.objects.select_related("town"), pk=generation)
        query = validated_query(ExportQuery, request)
        fmt, srid = query["filetype"], query["srid"]
        try:
            content = export_bytes(generation, fmt=fmt, srid=srid)
        except BoundaryExportError as exc:  # a generation without grids
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        name = f"{generation.town.code}-generation-{generation.pk}-{generation.status}{FORMATS[fmt].suffix}"
        response = HttpResponse(content, content_type=FORMATS[fmt].media_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class PreviewApi(APIView):
    """What publishing the generation would change: problems, redrawn grids, moved incidents and cameras."""

    permission_classes = [MayPlan]

    @extend_schema(responses={200: dict})
    def get(self, request, generation: int):
        return Response(generation_preview(get_object_or_404(BoundaryGeneration, pk=generation),
                                           Actor.of(request.user)))


class PublishApi(APIView):
    """Publish a draft: it becomes the town's active generation (the old one retires), unless its
    comprehensive grids do not partition the villages (409 with the problems)."""

    permission_classes = [MayPlan]

    @extend_schema(request=None, responses={200: GenerationSerializer})
    def post(self, request, generation: int):
        draft = get_object_or_404(BoundaryGeneration.objects.select_related("town"), pk=generation)
        try:
            published = generation_activate(generation=draft)
        except GenerationError as exc:
            return Response({"detail": str(exc), "problems": exc.problems}, status=status.HTTP_409_CONFLICT)
        published.n_grids = published.grids.count()
        return Response(GenerationSerializer(_generation(published)).data)
