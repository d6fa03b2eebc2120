"""Input and output serializers of the incidents API."""
from __future__ import annotations

from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from cameras.models import Camera
from gis_core.fields import CRSField, check_point
from incidents.intake import IntakeItem
from incidents.models import Category, Incident, IncidentEvent, Severity
from incidents.selectors import is_overdue


class IntakeSerializer(serializers.Serializer):
    """One incident report from an integration client, an operator or a grid member."""

    source = serializers.ChoiceField(choices=Incident.Source.choices)
    external_id = serializers.RegexField(r"^[\w\-.:/]{1,64}$", required=False, allow_blank=True, default="",
                                         help_text="the sender's own id; re-sending it returns the stored incident")
    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.filter(active=True))
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    lon = serializers.FloatField(required=False, help_text="x: longitude, or easting in metres for EPSG:4549")
    lat = serializers.FloatField(required=False, help_text="y: latitude, or northing in metres for EPSG:4549")
    crs = CRSField()
    camera = serializers.SlugRelatedField(slug_field="code", queryset=Camera.objects.all(), required=False)
    reporter_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    reporter_phone = serializers.RegexField(r"^[0-9+\- ]{0,32}$", required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        has_lon, has_lat = attrs.get("lon") is not None, attrs.get("lat") is not None
        if has_lon != has_lat:
            raise serializers.ValidationError({"lon" if not has_lon else "lat": "give both lon and lat"})
        if has_lon:
            check_point(attrs)
        if attrs["source"] == Incident.Source.CAMERA and not attrs.get("camera"):
            raise serializers.ValidationError({"camera": "a camera report names its camera"})
        return attrs

    def to_item(self) -> IntakeItem:
        d = self.validated_data
        return IntakeItem(
            source=d["source"], external_id=d["external_id"], category=d["category"], severity=d.get("severity"),
            title=d["title"], description=d["description"], address=d["address"], x=d.get("lon"), y=d.get("lat"),
            crs=d["crs"], camera=d.get("camera"), reporter_name=d["reporter_name"],
            reporter_phone=d["reporter_phone"],
        )


class IncidentSerializer(GeoFeatureModelSerializer):
    location = GeometryField(precision=7, allow_null=True)
    reference = serializers.CharField(read_only=True)
    category = serializers.CharField(source="category.code")
    category_name = serializers.CharField(source="category.name_zh")
    grid_code = serializers.CharField(source="grid.code", default=None)
    handling_grid_code = serializers.CharField(source="handling_grid.code", default=None)
    village_code = serializers.CharField(source="village.code", default=None)
    village_name = serializers.CharField(source="village.name", default=None)
    assignee = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        geo_field = "location"
        id_field = "id"
        fields = [
            "id", "reference", "source", "external_id", "category", "category_name", "severity", "title",
            "description", "address", "state", "level", "triage", "grid_code", "handling_grid_code",
            "village_code", "village_name", "near_edge", "distance_m", "assignee", "overdue",
            "possible_duplicate_of", "merged_into", "original_x", "original_y", "original_crs",
            "location_source", "location_note", "created_at", "registered_at", "dispatched_at", "accepted_at",
            "handled_at", "verified_at", "closed_at", "accept_due_at", "handle_due_at", "escalations", "reworks",
            "updated_at", "location",
        ]

    def get_assignee(self, incident: Incident) -> dict | None:
        person = incident.assignee
        return {"person_id": person.external_id, "name": person.name, "role": person.role} if person else None

    def get_overdue(self, incident: Incident) -> bool:
        return is_overdue(incident)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentEvent
        fields = ["id", "action", "from_state", "to_state", "level", "actor_label", "note", "data", "created_at"]


class ActionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ReassignSerializer(ReasonSerializer):
    person = serializers.CharField(max_length=32, help_text="the person's id, e.g. P0042")


class RelocateSerializer(serializers.Serializer):
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    crs = CRSField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        check_point(attrs)
        return attrs


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, help_text="id of the incident this one duplicates")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class IncidentFilter(serializers.Serializer):
    state = serializers.MultipleChoiceField(choices=Incident.State.choices, required=False)
    category = serializers.ListField(child=serializers.SlugField(), required=False)
    source = serializers.MultipleChoiceField(choices=Incident.Source.choices, required=False)
    grid = serializers.RegexField(r"^\d{15}$", required=False)
    village = serializers.RegexField(r"^\d{12}$", required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    triage = serializers.BooleanField(required=False, allow_null=True, default=None)
    changed_since = serializers.DateTimeField(required=False, help_text="only incidents changed after this time")


class StatsSerializer(serializers.Serializer):
    today = serializers.IntegerField()
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    triage = serializers.IntegerField()
    closed_month = serializers.IntegerField()
    due_month = serializers.IntegerField()
    closure_rate_month = serializers.FloatField(allow_null=True, help_text="结案率 this month")


class ContextSerializer(serializers.Serializer):
    team = serializers.JSONField(allow_null=True)
    cameras = serializers.JSONField()
    allowed_actions = serializers.ListField(child=serializers.CharField())
