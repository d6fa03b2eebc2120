from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework_gis.filters import InBBoxFilter

from cameras.models import Camera
from cameras.serializers import CameraSerializer
from gridops.api import validated_query


class CameraFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Camera.Status.choices, required=False)
    grid = serializers.RegexField(r"^\d{15}$", required=False, help_text="15-digit grid code")


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
