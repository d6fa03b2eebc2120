"""Assessment API (督查考核): figures per grid, village or person over a period, scoped to the user."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from gridops.api import validated_query
from incidents.analytics import GROUPS, assessment, month_bounds
from incidents.permissions import Actor

MAX_PERIOD_DAYS = 3 * 366


class AssessmentQuerySerializer(serializers.Serializer):
    """The query: a grouping and a period [start, end); dates are midnight local time (Asia/Shanghai)."""

    group = serializers.ChoiceField(choices=sorted(GROUPS), required=False, default="grid")
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


class AssessmentRowSerializer(serializers.Serializer):
    code = serializers.CharField(allow_null=True, help_text="grid code, village code or person id; null: none")
    name = serializers.CharField()
    received = serializers.IntegerField()
    closed = serializers.IntegerField()
    due_to_close = serializers.IntegerField()
    closed_on_time = serializers.IntegerField()
    closure_rate = serializers.FloatField(allow_null=True, help_text="结案率: closed / due_to_close")
    on_time_rate = serializers.FloatField(allow_null=True, help_text="按期结案率: closed on time / due_to_close")
    avg_handling_min = serializers.FloatField(allow_null=True, help_text="closed_at - registered_at, minutes")
    reworks = serializers.IntegerField(help_text="rework events in the period")
    overdue_now = serializers.IntegerField(help_text="still being handled, handling deadline passed")


class AssessmentSerializer(serializers.Serializer):
    group = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    now = serializers.DateTimeField()
    rows = AssessmentRowSerializer(many=True)
    totals = AssessmentRowSerializer()


class AssessmentApi(APIView):
    """Assessment figures of the incidents the user may see, grouped by grid, village or person."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[AssessmentQuerySerializer], responses=AssessmentSerializer)
    def get(self, request):
        q = validated_query(AssessmentQuerySerializer, request)
        result = assessment(actor=Actor.of(request.user), group=q["group"], start=q["start"], end=q["end"])
        body = {"group": result.group, "start": result.start, "end": result.end, "now": result.now,
                "rows": [row.as_dict() for row in result.rows], "totals": result.totals.as_dict()}
        return Response(AssessmentSerializer(body).data)
