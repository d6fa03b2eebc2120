"""Input and output serializers of the incidents API.

Intake is validated by ``validate_intake`` (one row for a single POST, up to 10,000 a batch request):
``IntakeSerializer`` is the schema and the source of every error message; an accept-only fast path
(``_LeanIntake``) passes the ordinary valid rows without DRF's per-field machinery, and anything it does
not accept outright goes through one bound ``IntakeSerializer``, so a row's errors are exactly DRF's.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils.encoding import smart_str
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from cameras.models import Camera
from components.models import Component
from gis_core.coords import EPSG_4326, UnknownCRS, parse_crs
from gis_core.fields import CoordinateField, CRSField, check_point, points_valid
from grids.serializers import TeamSerializer
from incidents import rules
from incidents.attributes import AnswerErrors, check_answers
from incidents.intake import IntakeItem
from incidents.models import Category, Incident, IncidentEvent, Severity
from incidents.selectors import active_categories

# serializer context keys of the lookups
CATEGORIES, CAMERAS, COMPONENTS = "intake_categories", "intake_cameras", "intake_components"
# What PostgreSQL (psycopg2) refuses in a text parameter: a NUL, or a lone surrogate (not UTF-8).
_NOT_SQL_TEXT = re.compile("[\x00\ud800-\udfff]")
_UNKNOWN = object()


def lookup_key(value) -> str | None:
    """The text ``Model.objects.get(code=value)`` compares a CharField with; None when the database
    driver would refuse it (SlugRelatedField's "invalid")."""
    if isinstance(value, str):
        return None if _NOT_SQL_TEXT.search(value) else value
    return str(value)  # Django's CharField.get_prep_value (lists and dicts as their repr)


class Codes:
    """Objects by code, loaded in one query: the categories and cameras a request names."""

    def __init__(self, queryset, codes=None):
        """``queryset``: a queryset (filtered by ``codes`` when given) or a list of the objects (those of
        ``codes`` when given)."""
        if codes is not None:
            codes = {c for c in codes if c is not None}
            if isinstance(queryset, QuerySet):
                queryset = queryset.filter(code__in=codes) if codes else None
        objects = queryset.order_by() if isinstance(queryset, QuerySet) else queryset or ()
        self.objects = {obj.code: obj for obj in objects}
        self.codes = codes  # the codes looked up (None: all of the queryset)

    def get(self, key: str):
        """The object, None when it does not exist, _UNKNOWN when the key was not looked up."""
        obj = self.objects.get(key)
        if obj is None and self.codes is not None and key not in self.codes:
            return _UNKNOWN
        return obj


class CodeField(serializers.SlugRelatedField):
    """A SlugRelatedField on ``code`` that resolves from the ``Codes`` in the serializer context under
    ``lookup`` (no query per row), with SlugRelatedField's messages; without them, one query as usual."""

    def __init__(self, lookup: str, **kwargs):
        self.lookup = lookup
        super().__init__(slug_field="code", **kwargs)

    def to_internal_value(self, data):
        codes = self.context.get(self.lookup)
        if codes is None:
            return super().to_internal_value(data)
        key = lookup_key(data)
        if key is None:
            self.fail("invalid")
        obj = codes.get(key)
        if obj is _UNKNOWN:
            return super().to_internal_value(data)
        if obj is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=smart_str(data))
        return obj


def intake_item(d: Mapping) -> IntakeItem:
    """The intake item of an IntakeSerializer's validated data."""
    return IntakeItem(
        source=d["source"], external_id=d["external_id"], category=d["category"], severity=d.get("severity"),
        title=d["title"], description=d["description"], address=d["address"], x=d.get("lon"), y=d.get("lat"),
        crs=d["crs"], camera=d.get("camera"), component=d.get("component"), reporter_name=d["reporter_name"],
        reporter_phone=d["reporter_phone"], attributes=d.get("attributes"),
    )


class IntakeSerializer(serializers.Serializer):
    """One incident report from an integration client, an operator or a grid member."""

    source = serializers.ChoiceField(choices=Incident.Source.choices)
    external_id = serializers.RegexField(r"^[\w\-.:/]{1,64}$", required=False, allow_blank=True, default="",
                                         help_text="the sender's own id; re-sending it returns the stored incident")
    category = CodeField(CATEGORIES, queryset=Category.objects.filter(active=True))
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    lon = CoordinateField(required=False, help_text="x: longitude, or easting in metres for EPSG:4549/3857")
    lat = CoordinateField(required=False, help_text="y: latitude, or northing in metres for EPSG:4549/3857")
    crs = CRSField()
    camera = CodeField(CAMERAS, queryset=Camera.objects.all(), required=False)
    reporter_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    reporter_phone = serializers.RegexField(r"^[0-9+\- ]{0,32}$", required=False, allow_blank=True, default="")
    attributes = serializers.JSONField(
        required=False, help_text="an object: answers to the category's questions by code (its Open311 service "
                                  "definition's attributes)")
    component = CodeField(COMPONENTS, queryset=Component.objects.all(), required=False,
                          help_text="the 16-digit code of the city component (部件) it is about")

    def validate(self, attrs: dict) -> dict:
        # _LeanIntake.__call__ makes the same checks (tests/incidents/test_intake_validation.py), and
        # leaves a category with questions, or a row with answers, to this serializer
        answers = attrs.get("attributes")
        if answers is not None and not isinstance(answers, dict):
            raise serializers.ValidationError({"attributes": "an object of answers by question code"})
        try:
            attrs["attributes"] = check_answers(attrs["category"].attributes, answers)
        except AnswerErrors as exc:  # one message per answer, each naming its question's code
            raise serializers.ValidationError(
                {"attributes": [f"{code}: {message}" for code, message in exc.messages.items()]}) from None
        has_lon, has_lat = attrs.get("lon") is not None, attrs.get("lat") is not None
        if has_lon != has_lat:
            raise serializers.ValidationError({"lon" if not has_lon else "lat": "give both lon and lat"})
        if has_lon:
            check_point(attrs)
        if attrs["source"] == Incident.Source.CAMERA and not attrs.get("camera"):
            raise serializers.ValidationError({"camera": "a camera report names its camera"})
        return attrs

    def to_item(self) -> IntakeItem:
        return intake_item(self.validated_data)


def _errors(detail) -> dict:
    """A failed row's errors as ``IntakeSerializer(data=row).errors`` gives them."""
    if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        return {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
    return detail


def _named(rows: list, field: str) -> set[str]:
    """Return the codes the rows name in ``field``, as ``CodeField`` looks them up (``lookup_key``)."""
    keys = {lookup_key(row.get(field)) for row in rows if isinstance(row, Mapping) and row.get(field) not in (None, "")}
    return keys - {None}


def validate_intake(rows: list) -> list[IntakeItem | dict]:
    """Validate intake rows (request bodies) at once: per row its IntakeItem, or its errors (a dict of
    field messages, exactly what ``IntakeSerializer(data=row).errors`` gives).

    At most three queries for the whole list (the active categories, the cameras and the components the
    rows name), the fields bound once; points in other CRSs than WGS84 are checked together per CRS.
    """
    if not rows:
        return []
    named = _named(rows, "category")
    categories = Codes(active_categories(named), named)
    cameras = Codes(Camera.objects.all(), _named(rows, "camera"))
    components = Codes(Component.objects.all(), _named(rows, "component"))
    lean, bound = _lean_intake(), []

    def full(row) -> IntakeItem | dict:
        if not bound:  # bound once, when a row needs it
            bound.append(IntakeSerializer(context={CATEGORIES: categories, CAMERAS: cameras,
                                                   COMPONENTS: components}))
        try:
            return intake_item(bound[0].run_validation(row))
        except serializers.ValidationError as exc:
            return _errors(exc.detail)

    out: list = []
    later: dict[str, list[int]] = {}  # CRS -> indexes of the rows whose point is checked at the end
    for n, row in enumerate(rows):
        item = lean(row, categories, cameras) if type(row) is dict else None
        if item is None:
            out.append(full(row))
            continue
        if item.x is not None and item.crs != EPSG_4326:
            later.setdefault(item.crs, []).append(n)
        out.append(item)
    for crs, indexes in later.items():
        ok = points_valid([out[n].x for n in indexes], [out[n].y for n in indexes], crs)
        for n, good in zip(indexes, ok.tolist(), strict=True):
            if not good:
                out[n] = full(rows[n])  # IntakeSerializer gives the point's message
    return out


class _LeanIntake:
    """Accept-only fast path for one intake row (a dict): the IntakeItem that IntakeSerializer would
    give, or None, in which case IntakeSerializer itself decides (and gives the messages).

    It takes the plain JSON shapes (strings, numbers) and leaves everything else to the serializer. Its
    limits, choices and patterns are read from the bound serializer's fields; when those fields are not
    the ones it was written for, it accepts nothing (tests/incidents/test_intake_validation.py checks).
    """

    TEXT = {"external_id": True, "title": False, "description": True, "address": True, "reporter_name": True,
            "reporter_phone": True}  # CharFields: name -> allow_blank

    def __init__(self, child: IntakeSerializer):
        f = child.fields
        self.enabled = self.fits(child)
        if not self.enabled:
            return
        self.sources = f["source"].choice_strings_to_values
        self.severities = f["severity"].choice_strings_to_values
        self.text = {name: (f[name].max_length or float("inf"), f[name].default, self._pattern(f[name]))
                     for name in self.TEXT}
        self.crs_default = f["crs"].default

    @classmethod
    def fits(cls, child: IntakeSerializer) -> bool:
        """Whether the serializer is the one this fast path mirrors: its fields, options and checks."""
        f = child.fields
        if type(child) is not IntakeSerializer or child.validators or any(
                hasattr(child, f"validate_{name}") for name in f):
            return False
        text_ok = all(
            type(f[name]) in (serializers.CharField, serializers.RegexField) and f[name].trim_whitespace
            and f[name].min_length is None and not f[name].allow_null
            and f[name].allow_blank == blank and f[name].required == (not blank)
            and (f[name].default == "" if blank else f[name].default is empty)
            and all(v.inverse_match is False for v in f[name].validators if isinstance(v, RegexValidator))
            for name, blank in cls.TEXT.items())
        return (
            list(f) == ["source", "external_id", "category", "severity", "title", "description", "address", "lon",
                        "lat", "crs", "camera", "reporter_name", "reporter_phone", "attributes", "component"]
            and type(f["attributes"]) is serializers.JSONField and not f["attributes"].required
            and text_ok
            and all(type(f[n]) is serializers.ChoiceField and not f[n].allow_blank and not f[n].allow_null
                    for n in ("source", "severity"))
            and f["source"].required and not f["severity"].required and f["severity"].default is empty
            and all(type(f[n]) is CoordinateField and not f[n].required and f[n].default is empty
                    and not f[n].allow_null and f[n].max_value is None and f[n].min_value is None
                    for n in ("lon", "lat"))
            and type(f["crs"]) is CRSField and not f["crs"].required and not f["crs"].allow_blank
            and not f["crs"].allow_null and f["crs"].max_length is None
            and all(type(f[n]) is CodeField and not f[n].allow_null for n in ("category", "camera", "component"))
            and f["category"].required and not f["camera"].required and f["camera"].default is empty
            and all(not field.validators for field in (f["source"], f["severity"], f["lon"], f["lat"], f["category"],
                                                       f["camera"]))
        )

    @staticmethod
    def _pattern(field) -> re.Pattern | None:
        """The field's RegexValidator pattern, compiled here (Django's is a lazy object: slower per call)."""
        regex = next((v.regex for v in field.validators if isinstance(v, RegexValidator)), None)
        return None if regex is None else re.compile(regex.pattern, regex.flags)

    def _text(self, row: dict, name: str):
        """The stripped text, its default when absent, or None (for the serializer to decide)."""
        max_length, default, regex = self.text[name]
        value = row.get(name, empty)
        if value is empty:
            return None if default is empty else default
        if type(value) is not str:
            return None
        value = value.strip()
        if not value:
            return "" if default == "" else None
        if len(value) > max_length or _NOT_SQL_TEXT.search(value) or (regex is not None and not regex.search(value)):
            return None
        return value

    @staticmethod
    def _choice(choices: dict, value):
        if type(value) is str or type(value) is int:
            return choices.get(str(value))
        return None

    @staticmethod
    def _code(codes: Codes, value):
        if type(value) is not str or not value or _NOT_SQL_TEXT.search(value):
            return None
        obj = codes.get(value)
        return None if obj is _UNKNOWN else obj

    def __call__(self, row: dict, categories: Codes, cameras: Codes) -> IntakeItem | None:
        if not self.enabled:
            return None
        source = self._choice(self.sources, row.get("source"))
        category = self._code(categories, row.get("category"))
        title = self._text(row, "title")
        if source is None or category is None or title is None or "attributes" in row or category.attributes:
            return None  # (answers to questions: the serializer checks them, incidents.attributes)
        if "component" in row:
            return None  # (a component: the serializer looks it up)
        severity = row.get("severity", empty)
        if severity is not empty and (severity := self._choice(self.severities, severity)) is None:
            return None
        lon, lat = row.get("lon", empty), row.get("lat", empty)
        if lon is empty and lat is empty:
            lon = lat = None
        elif type(lon) not in (float, int) or type(lat) not in (float, int):
            return None  # one of them missing, null, text or not a number: the serializer's messages
        else:
            try:
                lon, lat = float(lon), float(lat)
            except OverflowError:  # an int too large for a float
                return None
        crs = row.get("crs", empty)
        if crs is empty:
            crs = self.crs_default
        elif type(crs) is not str:
            return None
        else:
            try:
                crs = parse_crs(crs.strip())
            except UnknownCRS:
                return None
        if lon is not None and crs == EPSG_4326 and not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            return None  # NaN and inf fail these comparisons too
        camera = row.get("camera", empty)
        if camera is empty:
            camera = None
        elif (camera := self._code(cameras, camera)) is None:
            return None
        if source == Incident.Source.CAMERA and camera is None:
            return None
        external_id, description, address = self._text(row, "external_id"), self._text(row, "description"), \
            self._text(row, "address")
        reporter_name, reporter_phone = self._text(row, "reporter_name"), self._text(row, "reporter_phone")
        if None in (external_id, description, address, reporter_name, reporter_phone):
            return None
        return IntakeItem(source=source, external_id=external_id, category=category,
                          severity=None if severity is empty else severity, title=title, description=description,
                          address=address, x=lon, y=lat, crs=crs, camera=camera, reporter_name=reporter_name,
                          reporter_phone=reporter_phone)



@lru_cache(maxsize=1)
def _lean_intake() -> _LeanIntake:
    """The fast path, set up once per process from IntakeSerializer's fields (read only)."""
    return _LeanIntake(IntakeSerializer())


class EventSerializer(serializers.ModelSerializer):
    public = serializers.SerializerMethodField(help_text="told to the source and the reporter (rules.PUBLIC_ACTIONS)")

    class Meta:
        model = IncidentEvent
        fields = ["id", "action", "from_state", "to_state", "level", "actor_label", "note", "data", "created_at",
                  "public"]

    def get_public(self, event) -> bool:
        return rules.is_public(event.action, event.data)


class StatusNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="办理进度: shown to the reporter and sent to the source")


class ActionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RelocateSerializer(serializers.Serializer):
    lon = CoordinateField()
    lat = CoordinateField()
    crs = CRSField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        check_point(attrs)
        return attrs


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, help_text="id of the incident this one duplicates")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ExtensionRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    requested_due = serializers.DateTimeField(
        help_text="the handling deadline asked for: later than the current one (and than now), at most 30 days later")


class ExtensionDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField(help_text="true: the deadline moves to the requested time; false: it stays")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ExtensionSerializer(serializers.Serializer):
    """An extension request waiting for a decision."""

    id = serializers.IntegerField()
    requested_by = serializers.CharField(source="requested_by_label")
    requested_at = serializers.DateTimeField()
    reason = serializers.CharField()
    previous_due = serializers.DateTimeField()
    requested_due = serializers.DateTimeField()
    state = serializers.CharField()


CURSOR_MESSAGE = "not a changes cursor: send the X-Changes-Cursor header of an earlier answer as it was"


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
    visit = serializers.ChoiceField(choices=["due"], required=False,
                                    help_text="due: closed incidents with no return visit (回访) since they closed")
    changed_since = serializers.DateTimeField(required=False, help_text="only incidents changed after this time")
    changed_after = serializers.RegexField(
        r"^[0-9]{1,20}:[0-9]{1,20}:([0-9]{1,20}(,[0-9]{1,20})*)?$", required=False, max_length=20000,
        error_messages={"invalid": CURSOR_MESSAGE},
        help_text="a changes cursor (the X-Changes-Cursor header of an earlier list answer): only the incidents "
                  "changed since that answer was read, exactly (nothing committed late is missed)")

    before = serializers.IntegerField(
        required=False, min_value=1,
        help_text="keyset paging: only incidents with a smaller id, newest id first (pass the last id of the "
                  "previous page; unlike page numbers, nothing is skipped when incidents leave the filter meanwhile)")
    order = serializers.ChoiceField(
        choices=["newest", "due"], required=False, default="newest",
        help_text="newest: the newest first (the default); due: the most urgent first, as a team's inbox shows them "
                  "(the overdue, the longest overdue first, then the deadlines to come, soonest first; by page number)")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("order") == "due" and attrs.get("before") is not None:
            raise serializers.ValidationError({"order": ["order=due pages by number (page=), not by key (before=)"]})
        return attrs

    def validate_changed_after(self, value: str) -> str:
        return validate_changes_cursor(value)


_CURSOR = re.compile(r"^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20})*)?$")


def validate_changes_cursor(value: str) -> str:
    """Return the cursor if it is a PostgreSQL snapshot (``xmin:xmax:xip,...``), else raise a ValidationError."""
    message = CURSOR_MESSAGE
    match = _CURSOR.match(value)
    if not match:
        raise serializers.ValidationError(message)
    xmin, xmax = int(match[1]), int(match[2])
    xips = [int(x) for x in match[3].split(",")] if match[3] else []
    if not (0 < xmin <= xmax < 2**63) or any(not xmin <= x < xmax for x in xips) or xips != sorted(xips):
        raise serializers.ValidationError(message)
    return value


class StatsSerializer(serializers.Serializer):
    today = serializers.IntegerField()
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    triage = serializers.IntegerField()
    closed_month = serializers.IntegerField()
    due_month = serializers.IntegerField()
    closure_rate_month = serializers.FloatField(allow_null=True, help_text="结案率 this month")


class ReporterSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="in full, or masked (王**) for staff outside the handling team")
    phone = serializers.CharField(help_text="in full, or masked (138****5678)")


class CandidateSerializer(serializers.Serializer):
    person_id = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    slot = serializers.CharField(allow_blank=True)
    on_duty = serializers.BooleanField(allow_null=True)
    team = serializers.BooleanField(help_text="one of the handling grid's team")


class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField(allow_blank=True, help_text="the action it is for (blank: any)")
    text = serializers.CharField()


class AnswerSerializer(serializers.Serializer):
    code = serializers.CharField()
    question = serializers.CharField()
    value = serializers.JSONField()


class HandbookSerializer(serializers.Serializer):
    filing_conditions = serializers.CharField(allow_blank=True, help_text="立案条件")
    closing_conditions = serializers.ListField(child=serializers.CharField(), help_text="结案条件, in words")


class ContextSerializer(serializers.Serializer):
    team = TeamSerializer(allow_null=True, help_text="null for integration clients")
    reporter = ReporterSerializer(allow_null=True, help_text="null when nobody was named, and for integration clients")
    cameras = serializers.JSONField()
    component = serializers.JSONField(allow_null=True, help_text="the city component (部件) it is about: code, "
                                                                 "type_code, type_name, name, owner_dept, state")
    allowed_actions = serializers.ListField(child=serializers.CharField())
    reassign_to = CandidateSerializer(many=True, help_text="whom the user may reassign the incident to")
    pending_extension = ExtensionSerializer(allow_null=True, help_text="the extension request (延期) waiting "
                                                                       "for a decision, if any")
    version = serializers.CharField(help_text="the incident's version (its ETag): send it as If-Match with an action")
    replies = ReplySerializer(many=True, help_text="常用语: words to pick for the notes of the allowed actions")
    handbook = HandbookSerializer(help_text="the category's handbook: 立案条件 and 结案条件")
    answers = AnswerSerializer(many=True, help_text="the report's answers to its category's questions")


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["code", "name_zh", "name_en", "responsible_role", "level", "urgent", "sla_accept_min",
                  "sla_handle_min", "purposes", "filing_conditions", "closing_conditions", "attributes"]


class BatchCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField(min_value=0)
    existing = serializers.IntegerField(min_value=0, help_text="rows already stored for this client (re-sent)")
    invalid = serializers.IntegerField(min_value=0)


class BatchRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="the row's place in the batch sent")
    status = serializers.ChoiceField(choices=["created", "existing", "invalid"])
    id = serializers.IntegerField(required=False, help_text="the incident's id (not for an invalid row)")
    state = serializers.CharField(required=False)
    triage = serializers.CharField(required=False, allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="an invalid row's messages, by field")


class BatchResultSerializer(serializers.Serializer):
    """The answer to a batch: the counts, and one result per row in the order sent."""

    counts = BatchCountsSerializer()
    results = BatchRowSerializer(many=True)
