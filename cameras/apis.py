from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework_gis.filters import InBBoxFilter

from cameras.models import Camera
from cameras.selectors import coverage_by_grid
from cameras.serializers import CameraSerializer, GridCoverageSerializer
from core.actors import Actor
from core.api import validated_query
from grids.apis import GridFilter
from grids.models import Grid
from grids.selectors import grid_list


class CameraFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Camera.Status.choices, required=False)
    grid = serializers.RegexField(r"^\d{15}$", required=False, help_text="15-digit grid code")


class CoverageFilter(GridFilter):
    status = serializers.ChoiceField(choices=["online", "all"], default="online",
                                     help_text="which cameras count: the online ones (default) or all")


class CameraViewSet(viewsets.ReadOnlyModelViewSet):
    """Cameras as GeoJSON point features, each with its view sector polygon in the properties."""

    serializer_class = CameraSerializer
    filter_backends = [InBBoxFilter]
    bbox_filter_field = "location"
    lookup_field = "code"

    @extend_schema(parameters=[CameraFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(CameraFilter, self.request)
        qs = Camera.objects.select_related("grid")
        if status := params.get("status"):
            qs = qs.filter(status=status)
        if grid := params.get("grid"):
            qs = qs.filter(grid__code=grid)
        return qs

    @extend_schema(parameters=[CoverageFilter], responses=GridCoverageSerializer(many=True))
    @action(detail=False, url_path="coverage", pagination_class=None, filter_backends=[])
    def coverage(self, request):
        """Camera coverage per grid: the grids (active generation by default) as GeoJSON features with
        their area, the area inside the counted cameras' view sectors (overlaps once, m² in EPSG:4549),
        the share and the cameras seeing into each; ``totals`` sums the comprehensive grids."""
        params = validated_query(CoverageFilter, request)
        grids = grid_list(actor=Actor.of(request.user), generation_id=params.get("generation"), kind=params.get("kind"),
                          village_code=params.get("village")).order_by("code")
        statuses = tuple(Camera.Status.values) if params["status"] == "all" else (Camera.Status.ONLINE,)
        rows = coverage_by_grid(grids, statuses=statuses)
        partition = [r for r in rows if r.grid.kind == Grid.Kind.COMPREHENSIVE]
        area, covered = sum(r.area_m2 for r in partition), sum(r.covered_m2 for r in partition)
        collection = GridCoverageSerializer(rows, many=True).data  # a FeatureCollection
        collection["totals"] = {"grids": len(partition), "area_m2": round(area), "covered_m2": round(covered),
                                "share": round(covered / area, 4) if area else 0.0}
        return Response(collection)
