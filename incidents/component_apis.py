"""Recurring problems per city component (部件): the components with the most incidents in a period,
of the incidents the user may see (``incidents.hotspots.component_hotspots``)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.api import validated_query
from incidents.analytics_apis import AssessmentQuerySerializer
from incidents.hotspots import component_hotspots


class ComponentHotspotQuery(AssessmentQuerySerializer):
    """The period [start, end) as the assessment reads it (default: this month), and how many components."""

    group = None
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20)
    category = serializers.ListField(child=serializers.CharField(max_length=32), required=False,
                                     help_text="only these categories (repeat the parameter)")


class ComponentHotspotSerializer(serializers.Serializer):
    code = serializers.CharField()
    type_code = serializers.CharField()
    type_name = serializers.CharField()
    name = serializers.CharField()
    owner_dept = serializers.CharField()
    state = serializers.CharField()
    incidents = serializers.IntegerField(help_text="incidents reported on it in the period (counted ones)")
    open = serializers.IntegerField(help_text="of those, still open")
    last_reported_at = serializers.DateTimeField()
    categories = serializers.DictField(child=serializers.IntegerField(), help_text="incidents per category code")


class ComponentHotspotsSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    components = ComponentHotspotSerializer(many=True)


class ComponentHotspotsApi(APIView):
    """The components with the most incidents reported in [start, end), of those the user may see."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[ComponentHotspotQuery], responses=ComponentHotspotsSerializer)
    def get(self, request):
        q = validated_query(ComponentHotspotQuery, request)
        rows = component_hotspots(Actor.of(request.user), start=q["start"], end=q["end"], limit=q["limit"],
                                  categories=q.get("category"))
        return Response(ComponentHotspotsSerializer({"start": q["start"], "end": q["end"], "components": rows}).data)
