from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from components.models import Component
from gis_core.fields import GeometryField


class ComponentSerializer(GeoFeatureModelSerializer):
    location = GeometryField(precision=7)
    type_code = serializers.CharField(source="type_id", read_only=True, help_text="4-digit 小类 code")
    type_name = serializers.CharField(source="type.name", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    grid_code = serializers.CharField(source="grid.code", read_only=True, default=None)

    class Meta:
        model = Component
        geo_field = "location"
        id_field = "id"
        fields = ["id", "code", "type_code", "type_name", "name", "owner_dept", "state", "state_label", "grid_code",
                  "location"]
