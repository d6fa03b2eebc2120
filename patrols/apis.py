"""Patrol API: the phone starts and ends a patrol and sends its points in batches; leaders read tracks
and a worker's day in their scope (``patrols.selectors``), a worker their own."""
from __future__ import annotations

from datetime import date

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.api import validated_body, validated_query
from patrols import services
from patrols.figures import day_figures
from patrols.models import Patrol, TrackPoint
from patrols.selectors import patrols_visible_to, persons_visible_to

MAX_LIST = 200
MAX_TRACK_POINTS = 20_000  # a day at a point a second; the phone sends one every 10 s


class StartSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[\w\-]{8,64}$", help_text="the phone's own id of this patrol (a UUID)")


class PointSerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    t = serializers.DateTimeField(help_text="when the phone took the point")
    accuracy = serializers.FloatField(min_value=0, max_value=100_000, help_text="metres (the browser's accuracy)")


class PointsSerializer(serializers.Serializer):
    points = PointSerializer(many=True, allow_empty=False, max_length=1000)


class PatrolSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.external_id")
    person_name = serializers.CharField(source="person.name")

    class Meta:
        model = Patrol
        fields = ["id", "person", "person_name", "started_at", "ended_at"]


class PatrolListQuery(serializers.Serializer):
    person = serializers.CharField(required=False, max_length=32, help_text="a person's id (external_id)")
    day = serializers.DateField(required=False, help_text="local day (default: today)")


class DayQuery(serializers.Serializer):
    person = serializers.CharField(required=False, max_length=32, help_text="default: yourself")
    day = serializers.DateField(required=False, help_text="local day (default: today)")


def _refused(exc: services.PatrolRefused) -> Response:
    return Response({"detail": str(exc)}, status=exc.status)


class PatrolsApi(APIView):
    """GET: the patrols of a local day in your scope (newest first, at most 200); POST: start yours."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[PatrolListQuery], responses=PatrolSerializer(many=True))
    def get(self, request):
        q = validated_query(PatrolListQuery, request)
        day: date = q.get("day") or timezone.localdate()
        rows = patrols_visible_to(Actor.of(request.user)).filter(started_at__date=day).select_related("person")
        if "person" in q:
            rows = rows.filter(person__external_id=q["person"])
        return Response(PatrolSerializer(rows.order_by("-started_at", "-id")[:MAX_LIST], many=True).data)

    @extend_schema(request=StartSerializer, responses={201: PatrolSerializer, 200: PatrolSerializer})
    def post(self, request):
        body = validated_body(StartSerializer, request)
        try:
            patrol, created = services.start_patrol(actor=Actor.of(request.user), key=body["key"])
        except services.PatrolRefused as exc:
            return _refused(exc)
        return Response(PatrolSerializer(patrol).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PatrolEndApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=PatrolSerializer)
    def post(self, request, id: int):
        try:
            return Response(PatrolSerializer(services.end_patrol(actor=Actor.of(request.user), patrol_id=id)).data)
        except services.PatrolRefused as exc:
            return _refused(exc)


class PatrolPointsApi(APIView):
    """POST a batch of the patrol's points (up to 1,000; re-sent points are ignored)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=PointsSerializer, responses={200: dict})
    def post(self, request, id: int):
        body = validated_body(PointsSerializer, request)
        points = [services.SentPoint(p["lon"], p["lat"], p["t"], p["accuracy"]) for p in body["points"]]
        try:
            return Response(services.add_points(actor=Actor.of(request.user), patrol_id=id, points=points))
        except services.PatrolRefused as exc:
            return _refused(exc)


class PatrolTrackApi(APIView):
    """A patrol's track as GeoJSON: the kept points as a line, every point with its time, accuracy and flag."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: dict})
    def get(self, request, id: int):
        patrol = patrols_visible_to(Actor.of(request.user)).select_related("person").filter(pk=id).first()
        if patrol is None:
            raise NotFound()
        rows = list(TrackPoint.objects.filter(patrol=patrol).order_by("recorded_at")
                    .values_list("recorded_at", "location", "accuracy_m", "flag")[:MAX_TRACK_POINTS + 1])
        capped = len(rows) > MAX_TRACK_POINTS
        rows = rows[:MAX_TRACK_POINTS]
        line = [[round(p.x, 6), round(p.y, 6)] for _, p, _, flag in rows if not flag]
        features = [{"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
                     "properties": {"kind": "track"}}] if len(line) > 1 else []
        features += [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(p.x, 6), round(p.y, 6)]},
                      "properties": {"kind": "point", "t": timezone.localtime(t).isoformat(), "accuracy_m": a,
                                     "flag": flag}} for t, p, a, flag in rows]
        return Response({"type": "FeatureCollection", "patrol": PatrolSerializer(patrol).data, "capped": capped,
                         "features": features})


class PatrolDayApi(APIView):
    """A worker's day on patrol (``patrols.figures``): time on patrol, distance, time in their own grid,
    the share of it covered, and presence on duty (在岗率)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[DayQuery], responses={200: dict, 404: dict})
    def get(self, request):
        q = validated_query(DayQuery, request)
        actor = Actor.of(request.user)
        people = persons_visible_to(actor)
        person = (people.filter(external_id=q["person"]).first() if "person" in q
                  else people.filter(pk=actor.person_id).first() if actor.person_id else None)
        if person is None:
            raise NotFound("no such person in your scope")
        figures = day_figures(person.pk, q.get("day") or timezone.localdate())
        return Response({"person": person.external_id, "name": person.name, "day": figures.day,
                         "on_patrol_s": round(figures.on_patrol_s), "distance_m": round(figures.distance_m, 1),
                         "in_own_grid_s": round(figures.in_own_grid_s), "coverage": figures.coverage,
                         "presence": round(figures.presence, 4), "duty_hours": settings.PATROL_DUTY_HOURS,
                         "points": figures.points, "flagged": figures.flagged})
