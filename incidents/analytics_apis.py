"""Assessment API (督查考核, GB/T 30428.4): figures per grid, village, town, category or person over a
period, scoped to the user; the heatmap and trend APIs of the leaders' review."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.api import BBoxField, validated_query
from incidents import assessment_files, rules
from incidents.analytics import GROUPS, ORDER_KEYS, assessment
from incidents.hotspots import BUCKETS, METRIC_SRID, CellRange, cells_covering, heat_features, trend
from incidents.models import Category, Incident
from incidents.rollups import CELL_M
from incidents.rules import month_bounds

MAX_PERIOD_DAYS = 3 * 366


# the rows of one page of the assessment at most: a city's 5,000 grids or 8,000 persons are ranked and paged
# (the totals count them all; the files have them all)
MAX_ASSESSMENT_ROWS = 1000


class AssessmentQuerySerializer(serializers.Serializer):
    """The query: a grouping and a period [start, end); dates are midnight local time (Asia/Shanghai);
    the rows' order and the page of them."""

    group = serializers.ChoiceField(choices=sorted(GROUPS), required=False, default="grid")
    order = serializers.ChoiceField(choices=[*ORDER_KEYS, *(f"-{key}" for key in ORDER_KEYS)], required=False,
                                    default="code", help_text="the field the rows are ranked by; -field: the most "
                                    "first; rows without a value come last either way; ties by code")
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10_000_000,
                                      help_text="rows of the ranking to skip")
    limit = serializers.IntegerField(required=False, default=200, min_value=1, max_value=MAX_ASSESSMENT_ROWS,
                                     help_text=f"rows of the page (at most {MAX_ASSESSMENT_ROWS})")
    start = serializers.DateTimeField(required=False, help_text="first instant counted (default: this month)")
    end = serializers.DateTimeField(required=False,
                                    help_text="first instant not counted (default: the end of start's month)")

    def validate(self, attrs: dict) -> dict:
        if "start" not in attrs:
            attrs["start"] = month_bounds()[0]
        if "end" not in attrs:
            attrs["end"] = month_bounds(attrs["start"])[1]
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        if (attrs["end"] - attrs["start"]).days > MAX_PERIOD_DAYS:
            raise serializers.ValidationError({"end": f"the period may span at most {MAX_PERIOD_DAYS} days"})
        return attrs


def _row_fields() -> dict:
    """The fields of an assessment row: its key, every count and rate of the standard (``rules``)."""
    fields = {"code": serializers.CharField(allow_null=True, help_text="the grid, village, town or category code, "
                                                                        "or the person's id; null: none"),
              "name": serializers.CharField()}
    for name, label in rules.STANDARD_COUNTS.items():
        fields[name] = serializers.IntegerField(help_text=label)
    for r in rules.STANDARD_RATES:
        fields[r.name] = serializers.FloatField(allow_null=True,
                                                help_text=f"{r.label}: {r.numerator} / {r.denominator}")
    fields["avg_handling_min"] = serializers.FloatField(allow_null=True, help_text="closed_at - registered_at, minutes")
    fields["presence"] = serializers.FloatField(allow_null=True, help_text="在岗率 over the duty days of the period "
                                                "(group person; the totals: the persons' mean); null otherwise")
    return fields


AssessmentRowSerializer = type("AssessmentRowSerializer", (serializers.Serializer,), _row_fields())
ROW_FIELDS = list(AssessmentRowSerializer().fields)


def row_data(row: dict) -> dict:
    """Return an assessment row (``AssessmentRow.as_dict``) as ``AssessmentRowSerializer`` renders it, without
    its per-field machinery: a city's assessment per person is 10,000 rows of 30 fields, and DRF's
    serializer took 0.4 s of the answer (a test keeps both equal)."""
    return {name: row[name] for name in ROW_FIELDS}


class AssessmentSerializer(serializers.Serializer):
    group = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    now = serializers.DateTimeField()
    order = serializers.CharField()
    count = serializers.IntegerField(help_text="rows in the whole ranking")
    offset = serializers.IntegerField(help_text="rows of the ranking before this page")
    rows = AssessmentRowSerializer(many=True, help_text="the page: rows offset .. offset + limit of the ranking")
    totals = AssessmentRowSerializer(help_text="of every row, not only the page's")


class AssessmentApi(APIView):
    """Assessment figures of the incidents the user may see, grouped by grid, village, town, category or
    person."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[AssessmentQuerySerializer], responses=AssessmentSerializer)
    def get(self, request):
        q = validated_query(AssessmentQuerySerializer, request)
        result = assessment(actor=Actor.of(request.user), group=q["group"], start=q["start"],
                            end=q["end"]).ranked(q["order"])
        page = result.page(q["offset"], q["limit"])  # only the page's rows are made (rates and all)
        head = {"group": result.group, "start": result.start, "end": result.end, "now": result.now,
                "order": q["order"], "count": result.count, "offset": q["offset"],
                "rows": [], "totals": result.totals.as_dict()}
        data = AssessmentSerializer(head).data
        data["rows"] = [row_data(row.as_dict()) for row in page]
        return Response(data)


class AssessmentExportApi(APIView):
    """The assessment of ``AssessmentApi`` (same query, same scope) as a file: Excel (``xlsx``) or CSV
    (``csv``, UTF-8 with a byte-order mark so Excel reads the Chinese), a row per key in the query's order (every
    row: offset and limit page the API's rows only) and the total."""

    permission_classes = [IsAuthenticated]
    file_type = "xlsx"
    CONTENT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "csv": "text/csv; charset=utf-8"}

    @extend_schema(parameters=[AssessmentQuerySerializer],
                   responses={(200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): bytes,
                              (200, "text/csv"): str})
    def get(self, request):
        q = validated_query(AssessmentQuerySerializer, request)
        # every row, in the page's order
        result = assessment(actor=Actor.of(request.user), group=q["group"], start=q["start"],
                            end=q["end"]).ranked(q["order"])
        if self.file_type == "csv":
            response = StreamingHttpResponse(assessment_files.csv_lines(result),
                                             content_type=self.CONTENT_TYPES["csv"])
        else:
            response = HttpResponse(assessment_files.xlsx_bytes(result), content_type=self.CONTENT_TYPES["xlsx"])
        response["Content-Disposition"] = f'attachment; filename="{assessment_files.filename(result, self.file_type)}"'
        return response


class ReviewQuerySerializer(serializers.Serializer):
    """The query of the heatmap and the trend: a period [start, end) (default: the 30 days up to now),
    optionally some categories and sources."""

    start = serializers.DateTimeField(required=False, help_text="first instant counted (default: 30 days before end)")
    end = serializers.DateTimeField(required=False, help_text="first instant not counted (default: now)")
    category = serializers.ListField(child=serializers.SlugField(), required=False, help_text="category codes")
    source = serializers.MultipleChoiceField(choices=Incident.Source.choices, required=False)

    def validate_category(self, codes: list[str]) -> list[str]:
        unknown = sorted(set(codes) - set(Category.objects.filter(code__in=codes).values_list("code", flat=True)))
        if unknown:
            raise serializers.ValidationError(f"unknown categories: {', '.join(unknown)}")
        return codes

    def validate(self, attrs: dict) -> dict:
        attrs.setdefault("end", timezone.now())
        attrs.setdefault("start", attrs["end"] - timedelta(days=30))
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        if (attrs["end"] - attrs["start"]).days > MAX_PERIOD_DAYS:
            raise serializers.ValidationError({"end": f"the period may span at most {MAX_PERIOD_DAYS} days"})
        attrs["source"] = sorted(attrs.get("source", []))
        return attrs


HEAT_LAYOUTS = ("features", "cells")
MAX_HEAT_HOTSPOTS = 1000


class HeatmapQuerySerializer(ReviewQuerySerializer):
    cell = serializers.IntegerField(required=False, default=250, min_value=CELL_M, max_value=5000,
                                    help_text=f"cell width in metres (EPSG:4549), a multiple of {CELL_M}; "
                                              "cells start at the origin (x, y multiples of the width)")

    def validate_cell(self, cell: int) -> int:
        if cell % CELL_M:
            raise serializers.ValidationError(f"must be a multiple of {CELL_M} (e.g. 100, 250, 500, 1000)")
        return cell
    min_count = serializers.IntegerField(required=False, default=1, min_value=1,
                                         help_text="only cells with at least this many incidents")
    bbox = BBoxField(required=False, help_text="only the cells covering this view: west,south,east,north in "
                                               "degrees (WGS84); a map asks for what it shows")
    layout = serializers.ChoiceField(
        choices=HEAT_LAYOUTS, required=False, default="features",
        help_text="features: a GeoJSON FeatureCollection, every cell with its counts per category and main "
                  "grid; cells: every cell as [lon, lat, count] (a twelfth of the bytes; what a heat layer "
                  "draws) and only the fullest `hotspots` as those features, under `hotspots`")
    hotspots = serializers.IntegerField(required=False, default=10, min_value=0, max_value=MAX_HEAT_HOTSPOTS,
                                        help_text="with layout=cells: how many of the fullest cells come as "
                                                  "features with their categories and main grid")


class TrendQuerySerializer(ReviewQuerySerializer):
    bucket = serializers.ChoiceField(choices=sorted(BUCKETS), required=False, default="day")

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if attrs["bucket"] == "day" and (attrs["end"] - attrs["start"]).days > MAX_DAY_BUCKETS:
            raise serializers.ValidationError({"bucket": f"at most {MAX_DAY_BUCKETS} days by day: use week"})
        return attrs


MAX_DAY_BUCKETS = 400
# The cells one heatmap answer holds at most (the fullest; ``capped`` says when there were more): a
# city's year at 250 m is some 200,000 cells, 20 MB; a map's view at its cell size holds far fewer.
MAX_HEAT_CELLS = 20_000


def heatmap_body(actor: Actor, *, start: datetime, end: datetime, cell_m: int,
                 categories: list[str] | None = None, sources: list[str] | None = None,
                 within: CellRange | None = None, min_count: int = 1, layout: str = "features",
                 hotspots: int = 10) -> bytes:
    """The heatmap API's JSON body: the envelope as the API writes JSON, the cells (up to
    ``MAX_HEAT_CELLS``; as features 4-8 MB at a city's year, as points a twelfth of it) put in as
    ``heat_features`` wrote them, so a city's answer needs no Python object per cell nor its encoding
    (the bench times this same function)."""
    cells = layout == "cells"
    heat = heat_features(actor, start=start, end=end, cell_m=cell_m, categories=categories, sources=sources,
                         within=within, min_count=min_count, limit=MAX_HEAT_CELLS,
                         detail=hotspots if cells else None)
    envelope = {"cell_m": cell_m, "srid_cells": METRIC_SRID, "start": start, "end": end, "total": heat.total,
                "capped": heat.shown > MAX_HEAT_CELLS}
    if not cells:
        head = JSONRenderer().render({"type": "FeatureCollection", **envelope})
        return b"".join((head[:-1], b',"features":[', heat.features.encode(), b"]}"))  # head[-1:] is its "}"
    head = JSONRenderer().render({"layout": "cells", **envelope, "fields": ["lon", "lat", "count"]})
    return b"".join((head[:-1], b',"cells":[', heat.points.encode(), b'],"hotspots":[', heat.features.encode(),
                     b"]}"))


class HeatmapApi(APIView):
    """Heatmap cells of the incidents the user may see: a FeatureCollection of cell centres (points),
    the fullest first, each with its count, count per category, top category and main grid; or
    (``layout=cells``) every cell as [lon, lat, count] and the fullest few as those features."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[HeatmapQuerySerializer], responses={200: dict})
    def get(self, request):
        q = validated_query(HeatmapQuerySerializer, request)
        within = cells_covering(q["bbox"], q["cell"]) if "bbox" in q else None
        body = heatmap_body(Actor.of(request.user), start=q["start"], end=q["end"], cell_m=q["cell"],
                            categories=q.get("category"), sources=q["source"], within=within,
                            min_count=q["min_count"], layout=q["layout"], hotspots=q["hotspots"])
        return HttpResponse(body, content_type="application/json")


class TrendApi(APIView):
    """Incidents reported and closed per local day or week of the period (every bucket present)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[TrendQuerySerializer], responses={200: dict})
    def get(self, request):
        q = validated_query(TrendQuerySerializer, request)
        series = trend(Actor.of(request.user), start=q["start"], end=q["end"], bucket=q["bucket"],
                       categories=q.get("category"), sources=q["source"])
        return Response({"bucket": q["bucket"], "start": q["start"], "end": q["end"],
                         "series": [{**b, "start": timezone.localtime(b["start"]).isoformat()} for b in series]})
