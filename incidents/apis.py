"""Incidents API: intake (one and batch), list/detail as GeoJSON, the timeline, and actions."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter

from core.actors import Actor, Role
from core.api import BBoxField, validated_body, validated_query
from core.pagination import GeoJsonKeysetPagination
from gis_core.tiles import check_zoom
from incidents import evidence, evidence_apis, geojson, intake_keys, mapview, on_the_spot, viewers
from incidents import serializers as s
from incidents.actions import incident_merge, incident_relocate, incident_status_note
from incidents.extensions import incident_decide_extension, incident_request_extension
from incidents.grants import refusal, sources_allowed
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import incident_transition
from incidents.models import Category, Incident
from incidents.rules import LIFECYCLE_ACTIONS, OPEN, STATES, TransitionRefused
from incidents.selectors import (
    ExportTooLarge,
    changes_cursor,
    csv_lines,
    incident_context,
    incident_list,
    incident_stats,
    incident_version,
    incidents_visible_to,
    last_change,
)

INTAKE_ROLES = {Role.INTEGRATION, Role.OPERATOR, Role.GRID_LEADER, Role.GRID_MEMBER}
BATCH_ROLES = {Role.INTEGRATION, Role.OPERATOR}
CURSOR_HEADER = "X-Changes-Cursor"


def self_handled_flag(data) -> tuple[dict, bool]:
    """Return the report's fields without ``self_handled``, and the flag (自行处置); a 400 when it is no
    boolean."""
    if not isinstance(data, Mapping) or on_the_spot.FIELD not in data:
        return data, False
    value = data[on_the_spot.FIELD]
    rest = {k: v for k, v in data.items() if k != on_the_spot.FIELD}
    try:
        return rest, serializers.BooleanField().to_internal_value(value)
    except serializers.ValidationError:
        raise serializers.ValidationError({on_the_spot.FIELD: ["must be true or false"]}) from None


class MayReport(BasePermission):
    """Integration clients, operators and grid team members may send incidents."""

    def has_permission(self, request, view) -> bool:
        return bool(Actor.of(request.user).global_roles() & INTAKE_ROLES)


class IncidentPagination(GeoJsonKeysetPagination):
    page_size = 500
    page_size_query_param = "page_size"


# No lost edits: every incident answer carries its version as an ETag, and an action sent with
# If-Match is taken only if the incident is still at that version (else 412 with the current state
# and who changed it). Without If-Match an action is taken as before (integration clients).
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False,
    description="the incident's ETag (version) the change was made on: a 412 answers when it has changed "
                "since, with the current incident and who changed it")
IDEMPOTENCY = OpenApiParameter(
    intake_keys.HEADER, {"type": "string", "pattern": intake_keys.KEY_PATTERN}, OpenApiParameter.HEADER,
    required=False, description="send the same key when re-sending the same change (a phone's queue after the "
                                "network returned): the first answer comes back and nothing is done twice (24 h)")
# The headers every action on one incident takes.
ACTION_HEADERS = [IF_MATCH, IDEMPOTENCY]  # core.schema documents the 422 of a key re-used with another body


def if_match(request) -> set[str] | None:
    """Return the versions an If-Match header accepts ({"*"}: any), None when there is none."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return tags - {""} or {"<none>"}


def with_version(response: Response, incident_id: int) -> Response:
    """Set the ETag of an answer about one incident to its version now."""
    version = incident_version(incident_id)
    if version is not None:
        response["ETag"] = f'"{version}"'
    return response


class StaleVersion(Exception):
    """The incident changed since the version the change was made on."""


def refused(exc: TransitionRefused) -> Response:
    code = status.HTTP_403_FORBIDDEN if exc.reason == "role" else status.HTTP_409_CONFLICT
    return Response({"detail": str(exc)}, status=code)


class MapViewQuery(s.IncidentFilter):
    """A map view: the box and zoom, and the incident list's filters (open states only)."""

    bbox = BBoxField()
    zoom = serializers.FloatField(help_text="the map's zoom level (0-24): it decides the area of the counts")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=mapview.VIEW_LIMIT_MAX, default=mapview.VIEW_LIMIT,
        help_text="at most this many incidents; with more in the view the answer is counts per area")
    state = serializers.MultipleChoiceField(choices=[x for x in STATES if x in OPEN], required=False)
    changed_since = changed_after = before = created_before = visit = None

    def validate_zoom(self, value: float) -> float:
        try:
            return check_zoom(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class MapViewSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["FeatureCollection"])
    kind = serializers.ChoiceField(
        choices=["incidents", "aggregates"],
        help_text="incidents: the open incidents in the view (IncidentSerializer's features); aggregates: "
                  "more than `limit` are there, so point features of areas (town, village or grid by the zoom) "
                  "with properties area, code, name, open (the open incidents you may see there)")
    by = serializers.ChoiceField(choices=["town", "village", "grid"], allow_null=True)
    capped = serializers.BooleanField(help_text="more open incidents are in the view than `limit`: zoom in")
    limit = serializers.IntegerField()
    features = serializers.ListField(child=serializers.DictField())


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
        """Take the action ``fn(**kwargs)`` (``_run``), once per ``Idempotency-Key`` when the request has
        one: a re-sent change (a phone's queue replayed after the network returned, a lost answer) gets
        the first answer again, ``Idempotent-Replay: true``, and nothing is done twice; the same key with
        another change is a 422."""
        key = self.request.headers.get(intake_keys.HEADER)
        if key is None:
            return self._run(fn, **kwargs)
        try:
            key = intake_keys.check_key(key)
        except intake_keys.KeyInvalid as exc:
            raise serializers.ValidationError({intake_keys.HEADER: [str(exc)]}) from exc
        first: list[Response] = []

        def once() -> tuple[int, dict]:
            first.append(self._run(fn, **kwargs))
            return first[0].status_code, json.loads(JSONRenderer().render(first[0].data))

        try:
            answer = intake_keys.run_once(client=self.request.user, key=key, run=once,
                                          data={"path": self.request.path, "body": self.request.data})
        except intake_keys.KeyReused as exc:
            return Response({intake_keys.HEADER: [str(exc)]}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if not answer.replayed:
            first[0]["Idempotent-Replay"] = "false"
            return first[0]
        return Response(answer.body, status=answer.status_code, headers={"Idempotent-Replay": "true"})

    def _run(self, fn, **kwargs) -> Response:
        """Take the action ``fn(**kwargs)`` on the incident named ``incident_id`` (or ``duplicate_id``),
        if the request's If-Match (when given) is its version now, in one transaction."""
        target = kwargs.get("incident_id", kwargs.get("duplicate_id"))
        expected = if_match(self.request)
        try:
            with transaction.atomic():
                if (expected is not None and "*" not in expected
                        and incident_version(target, lock=True) not in expected):
                    raise StaleVersion()
                incident = fn(**kwargs)
        except StaleVersion:
            return self.stale(target)
        except TransitionRefused as exc:
            return refused(exc)
        except ValueError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        incident = self.get_queryset().get(pk=incident.pk)
        return with_version(Response(geojson.IncidentSerializer(incident).data), incident.pk)

    def stale(self, incident_id: int) -> Response:
        """The 412 of a change made on an old version: the incident as it is now, and its last change."""
        change = last_change(incident_id)
        words = (f"{change['action']} by {change['by']} at {timezone.localtime(change['at']):%Y-%m-%d %H:%M:%S}"
                 if change else "a change")
        current = geojson.IncidentSerializer(self.get_queryset().get(pk=incident_id)).data
        body = {"detail": f"此事件已被他人更改 the incident has changed since you loaded it: {words}; "
                          "look at it again before you act", "current": current}
        if change:
            body.update(changed_by=change["by"], changed_action=change["action"],
                        changed_at=timezone.localtime(change["at"]).isoformat())
        return with_version(Response(body, status=status.HTTP_412_PRECONDITION_FAILED), incident_id)


class ViewingSerializer(serializers.Serializer):
    others = serializers.ListField(child=serializers.DictField(), help_text="the others who have it open")
    heartbeat_s = serializers.IntegerField(help_text="say it again this often while it stays open")


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
        incidents = self.filter_queryset(self.get_queryset())
        page = self.paginator.paginate_queryset(geojson.rows(incidents), request, view=self, count_from=incidents)
        response = self.get_paginated_response({"features": geojson.features(page)})
        response[CURSOR_HEADER] = cursor
        return response

    def get_parsers(self):
        # POST /api/incidents/ also takes multipart (the report's fields and its ``photos``); the
        # view's action is not known yet when the request's parsers are chosen, so read the route
        method = getattr(getattr(self, "request", None), "method", None)  # None: the schema generator's call
        if method == "POST" and getattr(self, "action_map", {}).get("post") == "create":
            return [*super().get_parsers(), MultiPartParser()]
        return super().get_parsers()

    @extend_schema(request={"application/json": s.IntakeSerializer,
                            "multipart/form-data": evidence_apis.IntakeWithPhotosSerializer},
                   responses={201: geojson.IncidentSerializer, 200: geojson.IncidentSerializer})
    def create(self, request):
        """Report one incident (JSON, or multipart with ``photos``: JPEG, PNG or HEIC files, checked by
        content, stored without EXIF; a re-sent report stores no photos again).

        Re-sending the same ``external_id`` for the same source returns the stored incident (200,
        ``Idempotent-Replay: true``); the key is per client, so other clients' ids are neither taken nor
        revealed. A source the client is not granted is a 403 naming ``source``."""
        self.check_intake()
        data, uploads, after = evidence_apis.intake_form(request)
        data, self_handled = self_handled_flag(data)
        item = s.validate_intake([data])[0]
        if not isinstance(item, IntakeItem):
            raise serializers.ValidationError(item)
        message = refusal(item.source, sources_allowed(self.actor()))
        if message:
            raise PermissionDenied({"source": [message]})
        try:
            photos = evidence.check_photos(uploads)
            after = evidence.check_photos(after) if self_handled else []
        except evidence.PhotoRejected as exc:
            return evidence_apis.rejected(exc)
        item.on_the_spot = self_handled
        # the incident and its photos (and its closing on the spot), or nothing; a bare report is intake's
        # own transaction (a savepoint inside this one cost two round trips a report)
        whole = transaction.atomic() if photos or self_handled else contextlib.nullcontext()
        try:
            with whole:
                outcome = intake([item], actor=self.actor())[0]
                if outcome.created and photos:
                    evidence.attach_photos(incident_id=outcome.incident.pk, actor=self.actor(), photos=photos,
                                           stage="intake")
                if outcome.created and self_handled:
                    outcome.incident = on_the_spot.incident_self_handle(
                        incident_id=outcome.incident.pk, actor=self.actor(), photos=after, note=item.description)
        except TransitionRefused as exc:
            return refused(exc)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        replay = {"Idempotent-Replay": "false" if outcome.created else "true"}
        if not outcome.created and not self.may_see(outcome.incident.pk):
            # the caller's own earlier report that has since left its scope (a grid member's, routed to
            # another grid): acknowledged by id, nothing more
            return Response({"id": outcome.incident.pk}, status=status.HTTP_200_OK, headers=replay)
        # IncidentSerializer's output (tests/incidents/test_geojson.py): a new incident as intake holds it,
        # a re-sent one from one values() query
        body = geojson.feature_of(outcome.incident) if outcome.created else geojson.features(
            geojson.rows(Incident.objects.filter(pk=outcome.incident.pk).order_by()))[0]
        return Response(body, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
                        headers=replay)

    @extend_schema(
        request=s.IntakeSerializer(many=True), responses={200: s.BatchResultSerializer},
        parameters=[OpenApiParameter(intake_keys.HEADER, {"type": "string", "pattern": intake_keys.KEY_PATTERN},
                                     OpenApiParameter.HEADER, required=False,
                                     description="send the same key when re-sending the same batch: the first "
                                                 "answer comes back and nothing new is stored (24 h); the same "
                                                 "key with another body is a 422")])
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Report many incidents (integration clients and operators): every valid row is stored; invalid rows
        (and rows of a source the client is not granted) get their field messages.

        Idempotency: a row with an ``external_id`` is stored once per client and source, however often it is
        sent (a re-sent row answers "existing"). **A row without an ``external_id`` is a new incident every
        time it is sent**: to re-send a whole batch safely, send an ``Idempotency-Key`` header with it.
        """
        self.check_batch()
        key = request.headers.get(intake_keys.HEADER)
        if key is None:
            return Response(self._batch(request.data))
        try:
            answer = intake_keys.run_once(client=request.user, key=intake_keys.check_key(key), data=request.data,
                                          run=lambda: (status.HTTP_200_OK, self._batch(request.data)))
        except intake_keys.KeyInvalid as exc:
            raise serializers.ValidationError({intake_keys.HEADER: [str(exc)]}) from exc
        except intake_keys.KeyReused as exc:
            return Response({intake_keys.HEADER: [str(exc)]}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(answer.body, status=answer.status_code,
                        headers={"Idempotent-Replay": "true" if answer.replayed else "false"})

    def _batch(self, data) -> dict:
        if not isinstance(data, list):
            raise serializers.ValidationError({"non_field_errors": ["send a JSON list of incidents"]})
        if len(data) > settings.INTAKE_BATCH_MAX:
            raise serializers.ValidationError({"non_field_errors": [f"at most {settings.INTAKE_BATCH_MAX} rows"]})
        results: list = [None] * len(data)
        counts = dict.fromkeys(("created", "existing", "invalid"), 0)
        allowed = sources_allowed(self.actor())
        items, indexes = [], []
        for n, item in enumerate(s.validate_intake(data)):
            errors = item if type(item) is not IntakeItem else (
                {"source": [message]} if (message := refusal(item.source, allowed)) else None)
            if errors is None:
                items.append(item)
                indexes.append(n)
            else:
                results[n] = {"index": n, "status": "invalid", "errors": errors}
                counts["invalid"] += 1
        # the key is per client, so a re-sent row is always the caller's own (and batch callers see their own)
        for n, o in zip(indexes, intake(items, actor=self.actor()), strict=True):
            status_ = "created" if o.created else "existing"
            results[n] = {"index": n, "status": status_, "id": o.incident.pk, "state": o.incident.state,
                          "triage": o.incident.triage or None}
            counts[status_] += 1
        return {"counts": counts, "results": results}

    def check_intake(self) -> None:
        if not self.actor().global_roles() & INTAKE_ROLES:
            raise PermissionDenied("you may not report incidents")

    def check_batch(self) -> None:
        if not self.actor().global_roles() & BATCH_ROLES:
            raise PermissionDenied("only integration clients and operators may send batches")

    @extend_schema(responses=s.StatsSerializer)
    @action(detail=False, pagination_class=None, filter_backends=[])
    def stats(self, request):
        """Counts for the command centre: today, open, overdue, closure rate this month (scoped)."""
        return Response(incident_stats(actor=self.actor()))

    @extend_schema(parameters=[MapViewQuery], responses=MapViewSerializer)
    @action(detail=False, url_path="view", pagination_class=None, filter_backends=[])
    def map_view(self, request):
        """What the map shows of a view, bounded whatever the number of open incidents: the open
        incidents in the box (at most ``limit``), or, when more are there, their counts per area
        (``kind`` "aggregates": per town, village or grid by the zoom; zoom in to see the incidents).
        From zoom 17 a full view gives ``limit`` of its incidents with ``capped`` true.
        The X-Changes-Cursor header is the list's: catch up from it with ``changed_after``."""
        query = validated_query(MapViewQuery, request)
        cursor = changes_cursor()
        body = mapview.map_view(self.actor(), query["bbox"], query["zoom"], query, query["limit"])
        return Response(body, headers={CURSOR_HEADER: cursor})

    @extend_schema(parameters=[s.IncidentFilter], responses={(200, "text/csv"): str})
    @action(detail=False, url_path="export.csv")
    def export_csv(self, request):
        """The visible, filtered incidents as CSV (UTF-8 with BOM, for spreadsheets), streamed.

        Text cells that a spreadsheet would run as a formula (starting with = + - @, a tab or CR) get a
        leading apostrophe. More than ``CSV_EXPORT_MAX_ROWS`` matching incidents is a 400 asking for a
        narrower filter (decided before anything is sent)."""
        qs = incident_list(actor=self.actor(), filters=validated_query(s.IncidentFilter, request))
        try:
            lines = csv_lines(qs, max_rows=settings.CSV_EXPORT_MAX_ROWS)
        except ExportTooLarge as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from exc
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="incidents.csv"'
        return response

    @extend_schema(responses=s.ContextSerializer)
    @action(detail=True, pagination_class=None, filter_backends=[])
    def context(self, request, pk=None):
        """What the side panel shows: the grid team, cameras covering the point, allowed actions, the
        extension request waiting for a decision."""
        incident = self.get_object()
        version = incident_version(incident.pk)  # before the read: a change after it makes the page's copy stale
        body = {**incident_context(incident, self.actor()), "version": version}
        pending = body["pending_extension"]
        body["pending_extension"] = s.ExtensionSerializer(pending).data if pending is not None else None
        response = Response(body)
        response["ETag"] = f'"{version}"'
        return response

    def retrieve(self, request, *args, **kwargs):
        """One incident as a GeoJSON feature; its ETag is its version (send it back as If-Match)."""
        response = super().retrieve(request, *args, **kwargs)
        return with_version(response, response.data["id"])

    @extend_schema(responses=s.EventSerializer(many=True))
    @action(detail=True, pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        """The incident's timeline: every action with who, when, from, to, level and note."""
        incident = self.get_object()
        return Response(s.EventSerializer(incident.events.all(), many=True).data)

    @extend_schema(request=s.ActionSerializer, responses=geojson.IncidentSerializer, operation_id="incidents_lifecycle",
                   parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path=rf"(?P<lifecycle>{'|'.join(LIFECYCLE_ACTIONS)})")
    def lifecycle(self, request, pk=None, lifecycle=None):
        """Move the incident along its lifecycle (accept, report_handled, verify, rework, close, ...)."""
        body = validated_body(s.ActionSerializer, request)
        return self.run(incident_transition, incident_id=self.visible_id(pk), action=lifecycle,
                        actor=self.actor(), note=body["note"])

    @extend_schema(request=s.RelocateSerializer, responses=geojson.IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"])
    def relocate(self, request, pk=None):
        body = validated_body(s.RelocateSerializer, request)
        return self.run(incident_relocate, incident_id=self.visible_id(pk), actor=self.actor(), x=body["lon"],
                        y=body["lat"], crs=body["crs"], note=body["note"])

    @extend_schema(request=s.MergeSerializer, responses=geojson.IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        body = validated_body(s.MergeSerializer, request)
        return self.run(incident_merge, duplicate_id=self.visible_id(pk), into_id=self.visible_id(body["into"]),
                        actor=self.actor(), note=body["note"])

    @extend_schema(request=s.StatusNoteSerializer, responses=geojson.IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="status_note")
    def status_note(self, request, pk=None):
        """Add a status note (办理进度): what is being done, for the reporter and the source system."""
        body = validated_body(s.StatusNoteSerializer, request)
        return self.run(incident_status_note, incident_id=self.visible_id(pk), actor=self.actor(), note=body["note"])

    @extend_schema(request=None, responses=ViewingSerializer)
    @action(detail=True, methods=["post", "delete"], url_path="viewing")
    def viewing(self, request, pk=None):
        """Who else has this incident open: POST while it is open in a panel (every ``heartbeat_s``), DELETE
        when it is closed; the answer lists the others."""
        incident_id = self.visible_id(pk)
        if request.method == "DELETE":
            viewers.left(incident_id=incident_id, user=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"others": viewers.seen(incident_id=incident_id, user=request.user),
                         "heartbeat_s": viewers.HEARTBEAT_S})

    @extend_schema(request=s.ExtensionRequestSerializer, responses=geojson.IncidentSerializer,
                   parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="request_extension")
    def request_extension(self, request, pk=None):
        """延期: the handler asks for a later handling deadline (one request at a time)."""
        body = validated_body(s.ExtensionRequestSerializer, request)
        return self.run(incident_request_extension, incident_id=self.visible_id(pk), actor=self.actor(),
                        reason=body["reason"], requested_due=body["requested_due"])

    @extend_schema(request=s.ExtensionDecisionSerializer, responses=geojson.IncidentSerializer,
                   parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="decide_extension")
    def decide_extension(self, request, pk=None):
        """延期: the level above (operator, village leader) approves or refuses the pending request."""
        body = validated_body(s.ExtensionDecisionSerializer, request)
        return self.run(incident_decide_extension, incident_id=self.visible_id(pk), actor=self.actor(),
                        approve=body["approve"], note=body["note"])


class CategoryApi(APIView):
    """Active categories (symbols, filters and forms use them)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.CategorySerializer(many=True))
    def get(self, request):
        return Response(s.CategorySerializer(Category.objects.filter(active=True), many=True).data)
