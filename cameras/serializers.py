from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from cameras.models import Camera


class CameraSerializer(GeoFeatureModelSerializer):
    location = GeometryField(precision=7)
    sector = GeometryField(precision=7, read_only=True, help_text="view sector polygon (EPSG:4326)")
    grid_code = serializers.CharField(source="grid.code", read_only=True, default=None)

    class Meta:
        model = Camera
        geo_field = "location"
        id_field = "id"
        fields = ["id", "code", "name", "bearing_deg", "fov_deg", "range_m", "status", "grid_code",
                  "sector", "location"]
