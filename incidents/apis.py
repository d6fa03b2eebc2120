"""Incidents API: intake (one and batch), list/detail as GeoJSON, the timeline, and actions."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter

from core.actors import Actor, Role
from core.api import validated_body, validated_query
from core.schema import GeoJsonPagination
from incidents import geojson
from incidents import serializers as s
from incidents.actions import incident_merge, incident_relocate
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import incident_transition
from incidents.models import Category, Incident
from incidents.rules import LIFECYCLE_ACTIONS, TransitionRefused
from incidents.selectors import (
    changes_cursor,
    incident_context,
    incident_list,
    incident_stats,
    incidents_visible_to,
    write_csv,
)

INTAKE_ROLES = {Role.INTEGRATION, Role.OPERATOR, Role.GRID_LEADER, Role.GRID_MEMBER}
KEY_TAKEN = "this (source, external_id) was already used by another sender"
CURSOR_HEADER = "X-Changes-Cursor"


class MayReport(BasePermission):
    """Integration clients, operators and grid team members may send incidents."""

    def has_permission(self, request, view) -> bool:
        return bool(Actor.of(request.user).global_roles() & INTAKE_ROLES)


class IncidentPagination(GeoJsonPagination):
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 10000


def refused(exc: TransitionRefused) -> Response:
    code = status.HTTP_403_FORBIDDEN if exc.reason == "role" else status.HTTP_409_CONFLICT
    return Response({"detail": str(exc)}, status=code)


class IncidentScope:
    """What every view acting on one incident shares: the actor, the visible incidents (404 for the
    others: no existence leak), and running an action service with its refusals as 403/409."""

    serializer_class = geojson.IncidentSerializer
    permission_classes = [IsAuthenticated]

    def actor(self) -> Actor:
        if not hasattr(self, "_actor"):
            self._actor = Actor.of(self.request.user)
        return self._actor

    def get_queryset(self):
        return incidents_visible_to(self.actor()).select_related(
            "category", "grid", "village", "assignee", "handling_grid")

    def may_see(self, incident_id: int) -> bool:
        return incidents_visible_to(self.actor()).filter(pk=incident_id).exists()

    def visible_id(self, pk) -> int:
        """Return the id when the user may see the incident; 404 otherwise (no existence leak)."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound() from None
        if not incidents_visible_to(self.actor()).filter(pk=pk).exists():
            raise NotFound()
        return pk

    def run(self, fn, **kwargs) -> Response:
        try:
            with transaction.atomic():
                incident = fn(**kwargs)
        except TransitionRefused as exc:
            return refused(exc)
        except ValueError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(geojson.IncidentSerializer(incident).data)


class IncidentViewSet(IncidentScope, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents the user may see, as GeoJSON; POST reports one, POST batch/ many. The dispatch
    actions on one incident (reassign, escalate, hand back) are ``dispatch.apis``."""

    pagination_class = IncidentPagination
    filter_backends = [InBBoxFilter]
    bbox_filter_field = "location"

    def get_queryset(self):
        if self.action == "list":
            return incident_list(actor=self.actor(), filters=validated_query(s.IncidentFilter, self.request))
        return super().get_queryset()

    @extend_schema(parameters=[s.IncidentFilter])
    def list(self, request, *args, **kwargs):
        """The visible incidents, filtered, as a GeoJSON FeatureCollection (paged).

        The X-Changes-Cursor header of the answer is a cursor taken before the read: send it back as
        ``changed_after`` to get exactly the incidents changed since (the live pages catch up so).
        """
        cursor = changes_cursor()
        page = self.paginate_queryset(geojson.rows(self.filter_queryset(self.get_queryset())))
        response = self.get_paginated_response({"features": geojson.features(page)})
        response[CURSOR_HEADER] = cursor
        return response

    @extend_schema(request=s.IntakeSerializer,
                   responses={201: geojson.IncidentSerializer, 200: geojson.IncidentSerializer})
    def create(self, request):
        self.check_intake()
        item = s.validate_intake([request.data])[0]
        if not isinstance(item, IntakeItem):
            raise serializers.ValidationError(item)
        outcome = intake([item], actor=self.actor())[0]
        if not outcome.created and not self.may_see(outcome.incident.pk):
            return Response({"external_id": [KEY_TAKEN]}, status=status.HTTP_409_CONFLICT)
        # IncidentSerializer's output (tests/incidents/test_geojson.py): a new incident as intake holds it,
        # a re-sent one from one values() query
        body = geojson.feature_of(outcome.incident) if outcome.created else geojson.features(
            geojson.rows(Incident.objects.filter(pk=outcome.incident.pk).order_by()))[0]
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
                        headers={"Idempotent-Replay": "false" if outcome.created else "true"})

    @extend_schema(request=s.IntakeSerializer(many=True), responses={200: None})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Report many incidents: every valid row is stored; invalid rows get their field messages."""
        self.check_intake()
        if not isinstance(request.data, list):
            raise serializers.ValidationError({"non_field_errors": ["send a JSON list of incidents"]})
        if len(request.data) > settings.INTAKE_BATCH_MAX:
            raise serializers.ValidationError({"non_field_errors": [f"at most {settings.INTAKE_BATCH_MAX} rows"]})
        results: list = [None] * len(request.data)
        counts = dict.fromkeys(("created", "existing", "invalid", "conflict"), 0)
        items, indexes = [], []
        for n, item in enumerate(s.validate_intake(request.data)):
            if type(item) is IntakeItem:
                items.append(item)
                indexes.append(n)
            else:
                results[n] = {"index": n, "status": "invalid", "errors": item}
                counts["invalid"] += 1
        outcomes = intake(items, actor=self.actor())
        replayed = [o.incident.pk for o in outcomes if not o.created]
        visible = set(incidents_visible_to(self.actor()).filter(pk__in=replayed).values_list("pk", flat=True)
                      ) if replayed else set()
        for n, o in zip(indexes, outcomes, strict=True):
            incident = o.incident
            if o.created or incident.pk in visible:
                status_ = "created" if o.created else "existing"
                results[n] = {"index": n, "status": status_, "id": incident.pk, "state": incident.state,
                              "triage": incident.triage or None}
            else:
                status_ = "conflict"
                results[n] = {"index": n, "status": status_, "errors": {"external_id": [KEY_TAKEN]}}
            counts[status_] += 1
        return Response({"counts": counts, "results": results})

    def check_intake(self) -> None:
        if not self.actor().global_roles() & INTAKE_ROLES:
            raise PermissionDenied("you may not report incidents")

    @extend_schema(responses=s.StatsSerializer)
    @action(detail=False, pagination_class=None, filter_backends=[])
    def stats(self, request):
        """Counts for the command centre: today, open, overdue, closure rate this month (scoped)."""
        return Response(incident_stats(actor=self.actor()))

    @extend_schema(parameters=[s.IncidentFilter], responses={(200, "text/csv"): str})
    @action(detail=False, url_path="export.csv")
    def export_csv(self, request):
        """The visible, filtered incidents as CSV (UTF-8 with BOM, for spreadsheets)."""
        qs = incident_list(actor=self.actor(), filters=validated_query(s.IncidentFilter, request))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="incidents.csv"'
        write_csv(response, qs)
        return response

    @extend_schema(responses=s.ContextSerializer)
    @action(detail=True, pagination_class=None, filter_backends=[])
    def context(self, request, pk=None):
        """What the side panel shows: the grid team, cameras covering the point, allowed actions."""
        incident = self.get_object()
        return Response(incident_context(incident, self.actor()))

    @extend_schema(responses=s.EventSerializer(many=True))
    @action(detail=True, pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        """The incident's timeline: every action with who, when, from, to, level and note."""
        incident = self.get_object()
        return Response(s.EventSerializer(incident.events.all(), many=True).data)

    @extend_schema(request=s.ActionSerializer, responses=geojson.IncidentSerializer, operation_id="incidents_lifecycle")
    @action(detail=True, methods=["post"], url_path=rf"(?P<lifecycle>{'|'.join(LIFECYCLE_ACTIONS)})")
    def lifecycle(self, request, pk=None, lifecycle=None):
        """Move the incident along its lifecycle (accept, report_handled, verify, rework, close, ...)."""
        body = validated_body(s.ActionSerializer, request)
        return self.run(incident_transition, incident_id=self.visible_id(pk), action=lifecycle,
                        actor=self.actor(), note=body["note"])

    @extend_schema(request=s.RelocateSerializer, responses=geojson.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def relocate(self, request, pk=None):
        body = validated_body(s.RelocateSerializer, request)
        return self.run(incident_relocate, incident_id=self.visible_id(pk), actor=self.actor(), x=body["lon"],
                        y=body["lat"], crs=body["crs"], note=body["note"])

    @extend_schema(request=s.MergeSerializer, responses=geojson.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        body = validated_body(s.MergeSerializer, request)
        return self.run(incident_merge, duplicate_id=self.visible_id(pk), into_id=self.visible_id(body["into"]),
                        actor=self.actor(), note=body["note"])


class CategoryApi(APIView):
    """Active categories (symbols, filters and forms use them)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.CategorySerializer(many=True))
    def get(self, request):
        return Response(s.CategorySerializer(Category.objects.filter(active=True), many=True).data)
