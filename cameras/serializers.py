from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from cameras.models import Camera
from gis_core.fields import GeometryField
from grids.models import Grid


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


class GridCoverageSerializer(GeoFeatureModelSerializer):
    """A grid as a GeoJSON feature with how much of it the cameras see (cameras.selectors.GridCoverage)."""

    id = serializers.IntegerField(source="grid.id")
    code = serializers.CharField(source="grid.code")
    name = serializers.CharField(source="grid.name")
    kind = serializers.CharField(source="grid.kind")
    village_code = serializers.CharField(source="grid.village.code")
    village_name = serializers.CharField(source="grid.village.name")
    area_m2 = serializers.FloatField(help_text="the grid's area, m² (EPSG:4549)")
    covered_m2 = serializers.FloatField(help_text="the part of it inside a counted camera's view sector, m²")
    share = serializers.FloatField(help_text="covered_m2 / area_m2, 0..1")
    cameras = serializers.ListField(child=serializers.CharField(), help_text="codes of the cameras seeing into it")
    boundary = GeometryField(precision=7)

    class Meta:
        model = Grid
        geo_field = "boundary"
        id_field = "id"
        fields = ["id", "code", "name", "kind", "village_code", "village_name", "area_m2", "covered_m2", "share",
                  "cameras", "boundary"]

    def to_representation(self, instance):
        feature = super().to_representation(instance)
        props = feature["properties"]
        props["area_m2"], props["covered_m2"] = round(props["area_m2"]), round(props["covered_m2"])
        props["share"] = round(props["share"], 4)
        return feature
