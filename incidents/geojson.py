"""Incidents as GeoJSON features: the ordinary path (``IncidentSerializer``, DRF-GIS) and beside it the
fast path straight from ``values()`` rows, for lists of thousands.

The fast path gives exactly what the serializer gives (tests/incidents/test_geojson.py compares them)
at a fraction of the cost: the map loads thousands of incidents at once, and DRF's per-field
serializers cost far more per feature. Both read ``rules.is_overdue``.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from gis_core.fields import GeometryField
from incidents import rules
from incidents.models import Incident

PLAIN = ["id", "source", "external_id", "severity", "title", "description", "address", "state", "level", "triage",
         "near_edge", "distance_m", "possible_duplicate_of", "merged_into", "original_x", "original_y",
         "original_crs", "location_source", "location_note", "escalations", "reworks"]
TIMES = ["created_at", "registered_at", "dispatched_at", "accepted_at", "handled_at", "verified_at", "closed_at",
         "accept_due_at", "handle_due_at", "updated_at"]
RELATED = {"category": "category__code", "category_name": "category__name_zh", "grid_code": "grid__code",
           "handling_grid_code": "handling_grid__code", "village_code": "village__code",
           "village_name": "village__name", "component_code": "component__code"}
ASSIGNEE = ["assignee__external_id", "assignee__name", "assignee__role"]
ORDER = ["id", "reference", "source", "external_id", "category", "category_name", "severity", "title",
         "description", "address", "state", "level", "triage", "grid_code", "handling_grid_code", "village_code",
         "village_name", "component_code", "near_edge", "distance_m", "assignee", "overdue", "possible_duplicate_of",
         "merged_into", "original_x", "original_y", "original_crs", "location_source", "location_note", *TIMES[:-1],
         "escalations", "reworks", "updated_at"]
PRECISION = 7


class IncidentSerializer(GeoFeatureModelSerializer):
    location = GeometryField(precision=PRECISION, allow_null=True)
    reference = serializers.CharField(read_only=True)
    category = serializers.CharField(source="category.code")
    category_name = serializers.CharField(source="category.name_zh")
    grid_code = serializers.CharField(source="grid.code", default=None, allow_null=True)
    handling_grid_code = serializers.CharField(source="handling_grid.code", default=None, allow_null=True)
    village_code = serializers.CharField(source="village.code", default=None, allow_null=True)
    village_name = serializers.CharField(source="village.name", default=None, allow_null=True)
    component_code = serializers.CharField(source="component.code", default=None, allow_null=True,
                                           help_text="the city component (部件) it is about")
    assignee = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        geo_field = "location"
        id_field = "id"
        fields = [
            "id", "reference", "source", "external_id", "category", "category_name", "severity", "title",
            "description", "address", "state", "level", "triage", "grid_code", "handling_grid_code",
            "village_code", "village_name", "component_code", "near_edge", "distance_m", "assignee", "overdue",
            "possible_duplicate_of", "merged_into", "original_x", "original_y", "original_crs",
            "location_source", "location_note", "created_at", "registered_at", "dispatched_at", "accepted_at",
            "handled_at", "verified_at", "closed_at", "accept_due_at", "handle_due_at", "escalations", "reworks",
            "updated_at", "location",
        ]

    def get_assignee(self, incident: Incident) -> dict | None:
        person = incident.assignee
        return {"person_id": person.external_id, "name": person.name, "role": person.role} if person else None

    def get_overdue(self, incident: Incident) -> bool:
        return rules.is_overdue(incident, timezone.now())


def _time(value: datetime | None, tz=None) -> str | None:
    """Return the time as DRF's DateTimeField gives it, in ``tz`` (default: the current time zone; a
    caller with many times passes it once, as looking it up costs more than converting)."""
    if value is None:
        return None
    text = timezone.localtime(value, tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _feature(row: dict, now: datetime) -> dict:
    props = {name: row[name] for name in PLAIN}
    tz = timezone.get_current_timezone()
    props.update({name: _time(row[name], tz) for name in TIMES})
    props.update({name: row[path] for name, path in RELATED.items()})
    props["reference"] = f"INC-{row['id']:07d}"
    props["assignee"] = ({"person_id": row[ASSIGNEE[0]], "name": row[ASSIGNEE[1]], "role": row[ASSIGNEE[2]]}
                         if row[ASSIGNEE[0]] is not None else None)
    props["overdue"] = rules.is_overdue(row, now)
    location = row["location"]
    geometry = None if location is None else {
        "type": "Point", "coordinates": [round(location.x, PRECISION), round(location.y, PRECISION)]}
    return {"id": row["id"], "type": "Feature", "geometry": geometry,
            "properties": {name: props[name] for name in ORDER if name != "id"}}


def rows(qs: QuerySet) -> QuerySet:
    """Return the values() queryset the features are built from."""
    return qs.values(*PLAIN, *TIMES, *RELATED.values(), *ASSIGNEE, "location")


def _related(incident, path: str):
    """Follow ``category__code`` etc. through the incident's cached related objects (None when unset)."""
    value = incident
    for name in path.split("__"):
        value = getattr(value, name)
        if value is None:
            return None
    return value


def feature_of(incident) -> dict:
    """Return the feature of an incident held in memory with its related objects (category, grid,
    handling grid, village, assignee) loaded: what intake just stored, without reading it back."""
    row = {name: getattr(incident, name + "_id" if name in ("possible_duplicate_of", "merged_into") else name)
           for name in (*PLAIN, *TIMES, "location")}
    row.update({path: _related(incident, path) for path in (*RELATED.values(), *ASSIGNEE)})
    return _feature(row, timezone.now())


def features(values_rows) -> list[dict]:
    """Return GeoJSON features for rows of ``rows(qs)``."""
    now = timezone.now()
    return [_feature(row, now) for row in values_rows]
