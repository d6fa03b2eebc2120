"""Output and input serializers of the grids API (GeoJSON through djangorestframework-gis)."""
from __future__ import annotations

from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from core.actors import Actor
from gis_core.fields import CoordinateField, CRSField, GeometryField, check_point
from grids import privacy
from grids.models import Grid, Person, TeamMembership, Town, Village

PRECISION = 7  # about 1 cm: enough for a map, small payloads


class TownSerializer(GeoFeatureModelSerializer):
    boundary = GeometryField(precision=PRECISION)

    class Meta:
        model = Town
        geo_field = "boundary"
        id_field = "id"
        fields = ["id", "code", "name", "boundary"]


class VillageSerializer(GeoFeatureModelSerializer):
    boundary = GeometryField(precision=PRECISION)
    town_code = serializers.CharField(source="town.code", read_only=True)

    class Meta:
        model = Village
        geo_field = "boundary"
        id_field = "id"
        fields = ["id", "code", "name", "official_name", "kind", "town_code", "boundary"]


class GridSerializer(GeoFeatureModelSerializer):
    boundary = GeometryField(precision=PRECISION)
    village_code = serializers.CharField(source="village.code", read_only=True)
    village_name = serializers.CharField(source="village.name", read_only=True)
    leader = serializers.SerializerMethodField(help_text="the grid leader's name (null for integration clients)")

    class Meta:
        model = Grid
        geo_field = "boundary"
        id_field = "id"
        fields = ["id", "code", "code20", "name", "kind", "purpose", "generation", "village_code", "village_name",
                  "leader", "boundary"]

    def get_leader(self, grid: Grid) -> str | None:
        team = getattr(grid, "team", None)  # a grid without a team: RelatedObjectDoesNotExist is an AttributeError
        if team is None:
            return None
        request = self.context.get("request")
        if request is not None and not privacy.names_visible(Actor.of(request.user)):
            return None
        return team.leader.name


class TeamPersonSerializer(serializers.Serializer):
    person_id = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True, help_text=(
        "in full for the operators, town leaders, the grid's own team and its village's leader; "
        "masked (138****5678) for other staff; null for integration clients (grids.privacy)"))


class MembershipSerializer(TeamPersonSerializer):
    role = serializers.ChoiceField(choices=Person.Role.choices)
    slot = serializers.ChoiceField(choices=TeamMembership.Slot.choices)
    on_duty = serializers.BooleanField()


class TeamSerializer(serializers.Serializer):
    """A grid's team as ``grids.privacy.team_dict`` renders it (phones at the reader's level)."""

    grid_code = serializers.CharField()
    grid_name = serializers.CharField()
    village = serializers.CharField()
    leader = TeamPersonSerializer()
    members = MembershipSerializer(many=True)


class LocateQuerySerializer(serializers.Serializer):
    """The query of GET /api/locate: coordinates in one of the accepted CRSs."""

    lon = CoordinateField(help_text="x: longitude, or easting in metres for EPSG:4549/3857")
    lat = CoordinateField(help_text="y: latitude, or northing in metres for EPSG:4549/3857")
    crs = CRSField()
    generation = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict) -> dict:
        check_point(attrs)
        return attrs


class GridBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    purpose = serializers.CharField(allow_null=True)


class VillageBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class LocateResultSerializer(serializers.Serializer):
    """Where a point lies (documentation of GET /api/locate's answer)."""

    lon = serializers.FloatField(help_text="WGS84 longitude after conversion")
    lat = serializers.FloatField(help_text="WGS84 latitude after conversion")
    generation = serializers.IntegerField(allow_null=True)
    outside = serializers.BooleanField(help_text="no comprehensive grid covers the point")
    grid = GridBriefSerializer(allow_null=True)
    village = VillageBriefSerializer(allow_null=True)
    dedicated = GridBriefSerializer(many=True)
    nearest_grid = GridBriefSerializer(allow_null=True)
    distance_m = serializers.FloatField(allow_null=True, help_text="metres to the nearest grid when outside")
    near_edge = serializers.BooleanField(help_text="within 10 m of the grid outline, or on a shared edge")
