"""Open311 GeoReport v2: the input a 311 client sends and the shapes it reads back (JSON only).

Mapping (also documented in ``incidents.open311``):
- a service is an active ``Category``: service_code = category code;
- a service request is an ``Incident``: service_request_id = the incident id (as a string);
- status is "closed" for closed, cancelled, duplicate and out-of-jurisdiction incidents, else "open";
  status_notes is the state's label;
- ``email`` is the incident's reporter_email (personal data: never in these answers), ``media_url`` its
  media_url (a link, never fetched; read back as the request's media_url);
- extension fields on POST: ``external_id`` (the client's own id: re-sending it returns the stored
  request) and ``source`` (an ``Incident.Source`` other than camera, default "citizen").
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gis_core.fields import CoordinateField
from incidents import rules
from incidents.attributes import AnswerErrors, check_answers
from incidents.intake import IntakeItem
from incidents.models import Category, Incident, Level

SOURCES = [(value, label) for value, label in Incident.Source.choices if value != Incident.Source.CAMERA]
TITLE_CHARS = 60
MAX_RANGE = timedelta(days=90)
MAX_IDS = 1000
_CJK = re.compile(r"[\u3400-\u9fff]")
_OFFSET_LOST_PLUS = re.compile(r" (\d{2}:?\d{2})$")  # "+08:00" arrives as " 08:00" when not URL-encoded


class Open311RequestInput(serializers.Serializer):
    """POST requests.json: the GeoReport v2 fields plus the extensions external_id and source."""

    service_code = serializers.CharField(max_length=40)
    lat = CoordinateField(required=False, allow_null=True, min_value=-90, max_value=90)
    long = CoordinateField(required=False, allow_null=True, min_value=-180, max_value=180)
    address_string = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    address_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=4000)
    media_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    first_name = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    phone = serializers.RegexField(r"^[0-9+\-() ]{0,32}$", required=False, allow_blank=True, default="")
    device_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    account_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    external_id = serializers.RegexField(r"^[\w\-.:/]{1,64}$", required=False, allow_blank=True, default="",
                                         help_text="extension: the client's own id; re-sending it is idempotent")
    source = serializers.ChoiceField(choices=SOURCES, required=False, default=Incident.Source.CITIZEN,
                                     help_text="extension: who reported it (default citizen)")

    def validate_service_code(self, value: str) -> str:
        if not Category.objects.filter(code=value, active=True).exists():
            raise serializers.ValidationError(f"service_code {value!r} not found")
        return value

    def validate(self, attrs: dict) -> dict:
        category = Category.objects.filter(code=attrs["service_code"], active=True).first()
        try:  # GeoReport v2's attribute[code] fields (a JSON body: an "attribute" object)
            attrs["attribute"] = check_answers(category.attributes if category else [], answers_of(self.initial_data))
        except AnswerErrors as exc:
            raise serializers.ValidationError(
                {"attribute": [f"attribute[{code}]: {message}" for code, message in exc.messages.items()]}) from None
        has_lat, has_long = attrs.get("lat") is not None, attrs.get("long") is not None
        if has_lat != has_long:
            raise serializers.ValidationError({"long" if has_lat else "lat": "give both lat and long"})
        if not has_lat and not attrs["address_string"]:
            hint = " (address_id is not supported)" if attrs["address_id"] else ""
            raise serializers.ValidationError({"location": f"give lat and long or address_string{hint}"})
        return attrs

    def to_item(self) -> IntakeItem:
        """Return the intake item (WGS84 coordinates, or the address for the gazetteer)."""
        d = self.validated_data
        category = Category.objects.get(code=d["service_code"])
        return IntakeItem(
            source=d["source"], external_id=d["external_id"], category=category,
            title=title_of(d["description"], service_name(category)), description=d["description"],
            address=d["address_string"], x=d.get("long"), y=d.get("lat"), crs="EPSG:4326",
            reporter_name=reporter_name(d["first_name"], d["last_name"]), reporter_phone=d["phone"],
            reporter_email=d["email"], media_url=d["media_url"], attributes=d.get("attribute"),
        )


def answers_of(data) -> dict:
    """Return the attribute answers of a request: ``attribute[code]`` fields (several values of one
    code: a list), or a JSON body's ``attribute`` object."""
    if isinstance(data, dict) and isinstance(data.get("attribute"), dict):
        return data["attribute"]
    answers = {}
    keys = data.keys() if hasattr(data, "keys") else []
    for key in keys:
        if isinstance(key, str) and key.startswith("attribute[") and key.endswith("]"):
            values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
            answers[key[len("attribute["):-1]] = values if len(values) > 1 else values[0]
    return answers


def title_of(description: str, fallback: str) -> str:
    """Return the first 60 characters of the description on one line, or the fallback."""
    return " ".join(description.split())[:TITLE_CHARS] or fallback


def reporter_name(first: str, last: str) -> str:
    """Join the names: family name first and no space for Chinese names, "first last" otherwise."""
    if _CJK.search(first + last):
        return (last + first)[:64]
    return " ".join(part for part in (first, last) if part)[:64]


@extend_schema_field({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}],
                     "description": "an ISO 8601 date-time or date (a date alone: its start, or its end as end_date)"})
class WhenField(serializers.CharField):
    """An Open311 date filter: described as the date-time or date ``parse_when`` reads."""


class Open311RequestQuery(serializers.Serializer):
    """GET requests.json filters; service_request_id overrides all the others (as the spec says)."""

    service_request_id = serializers.CharField(required=False, max_length=20000)
    service_code = serializers.CharField(required=False, max_length=2000)
    start_date = WhenField(required=False, max_length=40)
    end_date = WhenField(required=False, max_length=40)
    status = serializers.CharField(required=False, max_length=20)

    def validate_service_request_id(self, value: str) -> list[int]:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
            raise serializers.ValidationError("a comma-separated list of service request ids")
        if len(parts) > MAX_IDS:
            raise serializers.ValidationError(f"at most {MAX_IDS} ids")
        return [int(p) for p in parts]

    def validate_service_code(self, value: str) -> list[str]:
        return [p.strip() for p in value.split(",") if p.strip()]

    def validate_status(self, value: str) -> set[str]:
        wanted = {p.strip().lower() for p in value.split(",") if p.strip()}
        if not wanted or wanted - {"open", "closed"}:
            raise serializers.ValidationError("open, closed or open,closed")
        return wanted

    def validate_start_date(self, value: str) -> datetime:
        return parse_when(value)

    def validate_end_date(self, value: str) -> datetime:
        return parse_when(value, end_of_day=True)

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if start and end and start > end:
            raise serializers.ValidationError({"end_date": "end_date is before start_date"})
        if start and end and end - start > MAX_RANGE:
            raise serializers.ValidationError({"end_date": "the range may not span more than 90 days"})
        return attrs


class Open311UpdatesQuery(serializers.Serializer):
    """GET servicerequestupdates.json (FixMyStreet's extension): the public updates made in a period."""

    start_date = WhenField(required=False, max_length=40, help_text="default: end_date less one day")
    end_date = WhenField(required=False, max_length=40, help_text="default: now")
    service_request_id = serializers.CharField(required=False, max_length=20000)

    validate_service_request_id = Open311RequestQuery.validate_service_request_id
    validate_start_date = Open311RequestQuery.validate_start_date
    validate_end_date = Open311RequestQuery.validate_end_date
    validate = Open311RequestQuery.validate


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """Parse an ISO 8601 date-time (or a date); naive values are in the project's time zone."""
    text = _OFFSET_LOST_PLUS.sub(r"+\1", value.strip())
    try:
        when = parse_datetime(text)
        if when is None:
            day = parse_date(text)
            when = datetime.combine(day, time.max if end_of_day else time.min) if day else None
    except ValueError:
        when = None
    if when is None:
        raise serializers.ValidationError("an ISO 8601 date-time, e.g. 2024-05-01T08:00:00+08:00")
    when = timezone.make_aware(when) if timezone.is_naive(when) else when
    # in UTC for the database: PostgreSQL takes UTC offsets up to 15:59, ISO 8601 (and Python) up to 23:59
    try:
        return when.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00, before the first representable instant
        raise serializers.ValidationError("a date-time between the years 1 and 9999") from None


def iso(when: datetime | None) -> str | None:
    """Return the time in ISO 8601 with the project's UTC offset (seconds precision), or None."""
    return timezone.localtime(when).isoformat(timespec="seconds") if when else None


def service_name(category: Category) -> str:
    return f"{category.name_zh} {category.name_en}"


def service_body(category: Category) -> dict:
    """Return one entry of services.json."""
    return {
        "service_code": category.code,
        "service_name": service_name(category),
        "description": category.description,
        "metadata": bool(category.attributes),  # GeoReport v2: true when it has a definition to ask
        "type": "realtime",
        "keywords": ",".join(dict.fromkeys([category.name_zh, category.name_en, *category.code.split("_")])),
        "group": category.get_responsible_role_display(),
    }


def status_of_state(state: str) -> str:
    """Return GeoReport v2's status of a state: "closed" once ended, else "open"."""
    return "closed" if state in rules.ENDED else "open"


def open311_status(incident: Incident) -> str:
    return status_of_state(incident.state)


# The extended statuses FixMyStreet's Open311 update extension reads (servicerequestupdates), per state:
# handled and verified are "in_progress" until the command centre closes the case (结案) as fixed.
FIXMYSTREET_STATUS: dict[str, str] = {
    rules.S.REPORTED: "open", rules.S.REGISTERED: "investigating", rules.S.DISPATCHED: "action_scheduled",
    rules.S.IN_PROGRESS: "in_progress", rules.S.HANDLED: "in_progress", rules.S.VERIFIED: "in_progress",
    rules.S.CLOSED: "fixed", rules.S.CANCELLED: "no_further_action", rules.S.DUPLICATE: "duplicate",
    rules.S.OUT_OF_JURISDICTION: "not_councils_responsibility",
}


def fixmystreet_status(state: str) -> str:
    return FIXMYSTREET_STATUS.get(state, "open")


def agency_responsible(incident: Incident) -> str:
    """Return who handles it: the handling grid at grid level, else the village, town or bureau."""
    centre = f"{incident.town.name}指挥中心 command centre" if incident.town else Level.TOWN.label
    if incident.level == Level.BUREAU:
        return incident.category.bureau or Level.BUREAU.label
    if incident.level == Level.VILLAGE and incident.village:
        return f"{incident.village.name} {Level.VILLAGE.label}"
    if incident.level == Level.GRID and (incident.handling_grid or incident.grid):
        return (incident.handling_grid or incident.grid).name
    return centre


def service_notice(incident: Incident) -> str:
    """Return what happens next, in a sentence."""
    if open311_status(incident) == "closed":
        return incident.get_state_display()
    if incident.triage:
        return f"待指挥中心定位 the command centre will place it ({incident.get_triage_display()})"
    due = iso(incident.handle_due_at)
    return f"{incident.get_state_display()}: {agency_responsible(incident)}" + (f"; expected by {due}" if due else "")


def request_body(incident: Incident, media_url: str | None = None) -> dict:
    """Return one service request as GeoReport v2 describes it (lat/long in WGS84, null when unlocated).
    ``media_url``: the app's link to the report's own photo, when the sender gave no media_url."""
    point = incident.location
    return {
        "service_request_id": str(incident.pk),
        "status": open311_status(incident),
        "status_notes": status_notes(incident),
        "service_name": service_name(incident.category),
        "service_code": incident.category.code,
        "description": incident.description,
        "agency_responsible": agency_responsible(incident),
        "service_notice": service_notice(incident),
        "requested_datetime": iso(incident.created_at),
        "updated_datetime": iso(incident.updated_at),
        "expected_datetime": iso(incident.handle_due_at),
        "address": incident.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": point.y if point else None,
        "long": point.x if point else None,
        "media_url": incident.media_url or media_url,
    }


def status_notes(incident: Incident) -> str:
    """Return the latest public note (``public_note``, annotated by the view) or the state's label."""
    return getattr(incident, "public_note", None) or incident.get_state_display()


def update_words(event) -> str:
    """Return what the reporter reads of an event: its public note, else the state it led to."""
    return rules.public_note(event.action, event.note) or dict(rules.State.choices).get(event.to_state, event.to_state)


def update_body(event, media_url: str | None = None) -> dict:
    """Return one service request update as FixMyStreet's Open311 extension reads it."""
    return {
        "update_id": str(event.pk),
        "service_request_id": str(event.incident_id),
        "status": fixmystreet_status(event.to_state),
        "updated_datetime": iso(event.created_at),
        "description": update_words(event),
        "media_url": media_url or "",
        "external_status_code": event.action,
    }


# The answers, as the OpenAPI schema describes them (the views build them with the functions above).

class Open311ServiceSerializer(serializers.Serializer):
    service_code = serializers.CharField()
    service_name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    metadata = serializers.BooleanField()
    type = serializers.ChoiceField(choices=["realtime", "batch", "blackbox"])
    keywords = serializers.CharField(allow_blank=True)
    group = serializers.CharField(allow_blank=True)


class Open311ServiceDefinitionSerializer(serializers.Serializer):
    service_code = serializers.CharField()
    attributes = serializers.ListField(child=serializers.DictField(),
                                       help_text="the category's questions (incidents.attributes)")


class Open311RequestSerializer(serializers.Serializer):
    service_request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "closed"])
    status_notes = serializers.CharField(allow_blank=True)
    service_name = serializers.CharField()
    service_code = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    agency_responsible = serializers.CharField()
    service_notice = serializers.CharField()
    requested_datetime = serializers.DateTimeField()
    updated_datetime = serializers.DateTimeField()
    expected_datetime = serializers.DateTimeField(allow_null=True)
    address = serializers.CharField(allow_null=True)
    address_id = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    lat = serializers.FloatField(allow_null=True, help_text="WGS84; null when the request has no location")
    long = serializers.FloatField(allow_null=True)
    media_url = serializers.URLField(allow_null=True)


class Open311UpdateSerializer(serializers.Serializer):
    update_id = serializers.CharField()
    service_request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=sorted(set(FIXMYSTREET_STATUS.values())))
    updated_datetime = serializers.DateTimeField()
    description = serializers.CharField(allow_blank=True)
    media_url = serializers.CharField(allow_blank=True)
    external_status_code = serializers.CharField(help_text="the action that made the update")


class Open311CreatedSerializer(serializers.Serializer):
    service_request_id = serializers.CharField()
    service_notice = serializers.CharField()
    account_id = serializers.CharField(allow_null=True)
