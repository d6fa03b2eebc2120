"""Intake validation at batch speed gives what the per-row IntakeSerializer gives, row for row.

``validate_intake`` (one bound serializer, codes looked up once, a fast path for ordinary rows, points
checked per CRS at once) against ``IntakeSerializer(data=row).is_valid()`` on a corpus of good and bad
rows: the same errors (keys, texts, codes, order) and the same ``to_item()``.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from django.http import QueryDict
from rest_framework import serializers

from cameras.models import Camera
from gis_core.coords import ACCEPTED_CRS, to_wgs84, validate_lonlat
from gis_core.fields import check_point, points_valid
from incidents import serializers as s
from incidents.models import Category

pytestmark = pytest.mark.django_db

SEAT = {"lon": 119.343908, "lat": 32.588310}
BASE = {"source": "hotline_12345", "category": "straw_burning", "title": "田间焚烧秸秆", **SEAT}
MISSING = object()

# Values tried in every field: wrong types, blanks, whitespace, what PostgreSQL refuses, numbers as text.
ODD = [None, "", "   ", True, False, 0, 1, -1, 2.5, float("inf"), float("nan"), 10**400, [], ["a"], {}, {"a": 1},
       "a\x00b", "\ud800", " straw_burning ", "NaN", "1e400", "1" * 1001, "x" * 65]
PER_FIELD = {
    "source": ["hotline_12345", "patrol", "camera", "citizen", "telepathy", "PATROL", " patrol"],
    "external_id": ["12345-0001", "a.b:c/d_e", "  x-1  ", "x" * 64, "x" * 65, "has spaces", "中文编号", "a\nb",
                    "abc\n", 12345, 1.5],
    "category": ["straw_burning", "other", "unicorns", "Straw_Burning", "retired_test", 5, "straw_burning\x00"],
    "severity": [1, 2, 3, 4, 9, "2", " 2", 2.0, "critical", -1],
    "title": ["t", "  t  ", "x" * 200, "x" * 201, " " + "x" * 200 + " ", 42, 4.5, "tab\tin", "\u3000全角空格\u3000"],
    "description": ["", "d", "x" * 5000, "x" * 5001, 7],
    "address": ["太平村", "x" * 300, "x" * 301, "  太平村附近  ", 3],
    "lon": [119.34, 181, -181, 180, -180, "119.34", " 119.34 ", "east", 119, 1e308],
    "lat": [32.58, 91, -91, 90, -90, "32.58", "north", 32],
    "crs": ["EPSG:4326", "epsg:4490", " GCJ02 ", "bd-09", "4549", 4326, 4490.0, "EPSG:32650", "wgs 84", "gcj02\x00"],
    "camera": ["CAMERA", "NOPE01", "nope01", 123456],
    "reporter_name": ["张三", "x" * 64, "x" * 65, 12],
    "reporter_phone": ["13800000000", "+86 138-0000-0000", "0" * 32, "0" * 33, "phone", "123\n", 13800000000],
}
# Points per CRS: inside China, outside, on and past the edges of the globe, non-finite.
POINTS = [(119.34, 32.58), (2.35, 48.86), (180, 90), (-180, -90), (180.0000001, 0), (0, -90.0000001),
          (137.8347, 55.8271), (72.004, 0.8293), (179.999, 89.999), (-179.99, -89.99), (1e308, 1e308),
          (float("inf"), 0), (0, float("nan")), (500000, 3600000), (450000.5, 3610000.25), (1e7, 1e7),
          (-3e6, 9e6), (500000, 1e20), (0, 0)]


def _camera_code() -> str:
    return Camera.objects.order_by("code").values_list("code", flat=True)[0]


def _fill(value, camera: str):
    return camera if value == "CAMERA" else value


def corpus() -> list:
    """Good and bad rows: each field given every value above or left out, points in every CRS, the
    lon/lat and camera rules, several faults at once, and rows that are not objects."""
    camera = _camera_code()
    rows = [dict(BASE), {}, {"title": "only a title"}]
    for field, values in PER_FIELD.items():
        rows.append({k: v for k, v in BASE.items() if k != field})
        for value in [*values, *ODD]:
            rows.append({**BASE, field: _fill(value, camera)})
    for crs, (x, y) in itertools.product([*ACCEPTED_CRS, "wgs84", None], POINTS):
        row = {**BASE, "lon": x, "lat": y}
        if crs is not None:
            row["crs"] = crs
        rows.append(row)
    no_point = {k: v for k, v in BASE.items() if k not in SEAT}
    rows += [
        {**no_point, "address": "太平村"}, no_point, {**no_point, "lon": 119.34}, {**no_point, "lat": 32.58},
        {**no_point, "lon": None, "lat": None}, {**no_point, "lon": 119.34, "lat": None},
        {**no_point, "source": "camera", "camera": camera}, {**no_point, "source": "camera"},
        {**BASE, "source": "camera", "camera": camera}, {**BASE, "source": "camera", "lon": 999},
        {**BASE, "source": "camera", "camera": "NOPE01", "lat": 95}, {**BASE, "camera": camera, "crs": "GCJ02"},
        {**BASE, "title": "", "lon": 999, "category": "unicorns"}, {**BASE, "lat": "x", "camera": "", "source": 1},
        {**BASE, "crs": "BD09", "lon": 181, "title": "x" * 300}, {**BASE, "unknown_key": 1, "id": 5},
        {**BASE, "severity": None, "description": None, "external_id": None},
        None, [], [BASE], "a row", 42, True, 1.5,
    ]
    form = QueryDict(mutable=True)  # a form-encoded single POST
    form.update({"source": "patrol", "category": "other", "title": "form", "lon": "119.34", "lat": "32.58"})
    empty_form = QueryDict(mutable=True)
    empty_form.update({"source": "patrol", "category": "other", "title": "form", "lon": "", "camera": ""})
    return [*rows, form, empty_form]


def _before(row) -> serializers.Serializer:
    """The per-row serializer as the API ran it: one IntakeSerializer per row, a query per code."""
    serializer = s.IntakeSerializer(data=row)
    serializer.is_valid()
    return serializer


class WithSlugRelatedFields(s.IntakeSerializer):
    """IntakeSerializer with DRF's own SlugRelatedFields, as it was declared before CodeField."""

    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.filter(active=True))
    camera = serializers.SlugRelatedField(slug_field="code", queryset=Camera.objects.all(), required=False)


def _plain_errors(errors) -> str:
    """Errors as the response body carries them, keys and messages in order, with the error codes."""
    codes = serializers.ValidationError(errors).get_codes()
    return json.dumps([errors, codes], ensure_ascii=False)


def _item(item) -> list:
    """An IntakeItem field by field, with the value's type (1 == 1.0, but not for the API)."""
    return [(name, type(value).__name__, value.pk if hasattr(value, "pk") else value)
            for name, value in vars(item).items()]


def _describe(row) -> str:
    return repr(row)[:200]


@pytest.fixture
def retired_category():
    return Category.objects.create(code="retired_test", name_zh="停用", name_en="retired",
                                   responsible_role="grid_worker", sla_accept_min=30, sla_handle_min=600, active=False)


def test_batch_validation_gives_the_per_row_serializer_errors_and_items(retired_category):
    rows = corpus()
    assert len(rows) > 500
    batch = s.validate_intake(rows)
    assert len(batch) == len(rows)
    valid = 0
    for row, new in zip(rows, batch, strict=True):
        old = _before(row)
        alone = s.validate_intake([row])[0]  # a single POST: the same path for one row
        slug = WithSlugRelatedFields(data=row)
        slug.is_valid()
        assert old.errors == slug.errors, _describe(row)
        if old.errors:
            assert not isinstance(new, s.IntakeItem), _describe(row)
            assert new == old.errors, _describe(row)
            assert _plain_errors(new) == _plain_errors(old.errors) == _plain_errors(alone), _describe(row)
        else:
            valid += 1
            assert isinstance(new, s.IntakeItem) and isinstance(alone, s.IntakeItem), _describe(row)
            assert _item(new) == _item(old.to_item()) == _item(alone) == _item(slug.to_item()), _describe(row)
    assert 100 < valid < len(rows) - 300  # both kinds well represented


@pytest.mark.parametrize("change,field,code,text", [
    ({"lon": "NaN"}, "lon", "invalid", None),
    ({"lon": float("inf")}, "lon", "invalid", None),
    ({"lon": 181}, "lon", "invalid", "longitude 181.0 is outside the range -180..180 degrees"),
    ({"lat": -91}, "lat", "invalid", "latitude -91.0 is outside the range -90..90 degrees"),
    ({"lat": None}, "lat", "null", None),
    ({"lat": MISSING}, "lat", "invalid", "give both lon and lat"),
    ({"crs": "EPSG:32650"}, "crs", "invalid", "unknown CRS 'EPSG:32650'"),
    ({"category": "unicorns"}, "category", "does_not_exist", "unicorns"),
    ({"category": "retired_test"}, "category", "does_not_exist", "retired_test"),
    ({"camera": "NOPE01", "source": "camera"}, "camera", "does_not_exist", "NOPE01"),
    ({"source": "camera"}, "camera", "invalid", "a camera report names its camera"),
    ({"title": "x" * 201}, "title", "max_length", "200"),
    ({"description": "x" * 5001}, "description", "max_length", "5000"),
    ({"address": "x" * 301}, "address", "max_length", "300"),
    ({"external_id": "has spaces"}, "external_id", "invalid", None),
    ({"reporter_phone": "phone"}, "reporter_phone", "invalid", None),
    ({"title": ["x"]}, "title", "invalid", None),
    ({"severity": 9}, "severity", "invalid_choice", None),
])
def test_messages_per_field(retired_category, change, field, code, text):
    row = {k: v for k, v in {**BASE, **change}.items() if v is not MISSING}
    errors = s.validate_intake([row])[0]
    assert isinstance(errors, dict) and field in errors
    assert errors == _before(row).errors
    assert errors[field][0].code == code
    if text:
        assert text in str(errors[field][0])


def test_rows_that_are_not_objects():
    errors = s.validate_intake([None, [], "x"])
    assert [e["non_field_errors"][0].code for e in errors] == ["null", "invalid", "invalid"]
    assert str(errors[0]["non_field_errors"][0]) == "No data provided"
    assert errors == [_before(row).errors for row in (None, [], "x")]


def test_no_query_per_row_and_no_serializer_for_ordinary_valid_rows(monkeypatch, django_assert_max_num_queries):
    camera = _camera_code()
    rows = []
    for i in range(2000):
        row = {**BASE, "external_id": f"v-{i}", "category": ["straw_burning", "other", "work_safety"][i % 3]}
        if i % 10 == 1:
            row.update(lon=119.35, lat=32.59, crs="GCJ02")
        elif i % 10 == 2:
            row.update({"crs": "EPSG:4549", "lon": 532000.0, "lat": 3606000.0})
        elif i % 10 == 3:
            row = {k: v for k, v in row.items() if k not in SEAT} | {"address": "太平村附近", "severity": 3}
        elif i % 10 == 4:
            row.update(source="camera", camera=camera, description="  seen  ", reporter_phone="138 0000 0000")
        rows.append(row)
    calls = []
    monkeypatch.setattr(s.IntakeSerializer, "run_validation", lambda self, data=None: calls.append(data))
    with django_assert_max_num_queries(2):  # the active categories, the cameras named
        items = s.validate_intake(rows)
    assert calls == [] and all(isinstance(item, s.IntakeItem) for item in items)


def test_fast_path_is_in_step_with_the_serializer():
    """A changed IntakeSerializer field switches the fast path off (every row then goes through DRF,
    correct but slow): update _LeanIntake with it, and this test passes again."""
    assert s._LeanIntake(s.IntakeSerializer()).enabled and s._lean_intake().enabled


def test_code_lookup_keys_are_the_database_comparison():
    codes = s.Codes(Category.objects.filter(active=True))
    field = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.filter(active=True))
    for value in ["other", "Other", "other ", 5, 2.5, True, ["other"], {"a": "other"}, "o\x00", "\udfff"]:
        key = s.lookup_key(value)
        try:
            expected = field.to_internal_value(value).code
        except serializers.ValidationError as exc:
            expected = exc.detail[0].code
        got = "invalid" if key is None else (codes.get(key).code if codes.get(key) else "does_not_exist")
        assert got == expected, value


def _accepts(x: float, y: float, crs: str) -> bool:
    try:
        check_point({"lon": x, "lat": y, "crs": crs})
    except serializers.ValidationError:
        return False
    return True


@pytest.mark.parametrize("crs", ACCEPTED_CRS)
def test_points_valid_decides_as_check_point(crs):
    rng = np.random.default_rng(7)
    degrees = np.column_stack([rng.uniform(-200, 200, 400), rng.uniform(-100, 100, 400)])
    metres = np.column_stack([rng.uniform(-5e7, 5e7, 400), rng.uniform(-5e7, 5e7, 400)])
    edges = np.array(POINTS + [(x, y) for x in (-180, 180, 179.9999999) for y in (-90, 90, 89.9999999)])
    points = np.vstack([degrees, metres, edges])
    got = points_valid(points[:, 0], points[:, 1], crs)
    expected = [_accepts(float(x), float(y), crs) for x, y in points]
    assert got.tolist() == expected
    assert 0 < sum(expected) < len(expected)
    assert points_valid([], [], crs).tolist() == []


def test_check_point_messages_in_wgs84_are_unchanged():
    """check_point skips the (identity) conversion for WGS84; its messages are to_wgs84's, as before."""
    for x, y in [(181.0, 0.0), (0.0, -90.5), (-180.5, 95.0), (180.0, 90.0)]:
        try:
            validate_lonlat(*to_wgs84(x, y, "EPSG:4326"))
            before = None
        except ValueError as exc:
            before = {"lon": str(exc), "lat": str(exc)}
        try:
            check_point({"lon": x, "lat": y, "crs": "EPSG:4326"})
            after = None
        except serializers.ValidationError as exc:
            after = {k: str(v) for k, v in exc.detail.items()}
        assert after == before
    with pytest.raises(serializers.ValidationError) as exc:
        check_point({"lon": math.inf, "lat": 0.0})
    assert exc.value.detail == {"lon": "must be a finite number"}
