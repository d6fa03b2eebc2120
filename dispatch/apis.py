"""Dispatch actions on one incident over the API: reassign, escalate, hand back, return to the command
centre (退单), and the return visit (回访) that may reopen a closed incident.

They sit on the incidents' routes (``POST /api/incidents/{id}/{action}/``) and share the incidents'
scoping (``incidents.apis.IncidentScope``): an incident the user may not see is a 404, an action the
rules refuse a 403 (role) or 409 (state).
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor, Role
from core.api import validated_body, validated_query
from dispatch import inbox
from dispatch.aftercare import incident_return_visit
from dispatch.models import OutboxMessage
from dispatch.services import incident_escalate, incident_hand_back, incident_reassign, incident_return_to_centre
from incidents.apis import ACTION_HEADERS, IncidentScope
from incidents.geojson import IncidentSerializer
from incidents.models import ReturnVisit


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ReassignSerializer(ReasonSerializer):
    person = serializers.CharField(max_length=32, help_text="the person's id, e.g. P0042")


class DeliverySerializer(serializers.ModelSerializer):
    client = serializers.CharField(source="webhook.client.username")

    class Meta:
        model = OutboxMessage
        fields = ["id", "event", "action", "client", "state", "attempts", "last_status", "last_error",
                  "next_attempt_at", "delivered_at", "created_at"]


# Who sees what was sent to the source systems (the receivers' errors can name their hosts).
DELIVERY_READERS = {Role.OPERATOR}
class ReturnVisitSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ReturnVisit.Outcome.choices,
                                      help_text="满意 satisfied, 基本满意 basically satisfied, 不满意 dissatisfied "
                                                "(reopens the incident as rework)")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                    help_text="what the reporter said; required when dissatisfied (the reason "
                                              "the incident is reopened)")

    def validate(self, attrs: dict) -> dict:
        if attrs["outcome"] == ReturnVisit.Outcome.DISSATISFIED and not attrs["comment"].strip():
            raise serializers.ValidationError(
                {"comment": ["say what is not fixed: it is the reason the incident is reopened"]})
        return attrs


class IncidentDispatchViewSet(IncidentScope, viewsets.GenericViewSet):
    """Move an incident between people and levels."""

    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        """Send the incident one level up (grid -> village -> town -> bureau), restarting its clock."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_escalate, incident_id=self.visible_id(pk), actor=self.actor(), reason=body["reason"])

    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="hand_back")
    def hand_back(self, request, pk=None):
        """Send the incident one level down to be handled there."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_hand_back, incident_id=self.visible_id(pk), actor=self.actor(),
                        reason=body["reason"])

    @extend_schema(request=ReassignSerializer, responses=IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        """Give the incident to another person at the same level."""
        body = validated_body(ReassignSerializer, request)
        return self.run(incident_reassign, incident_id=self.visible_id(pk), actor=self.actor(),
                        person_external_id=body["person"], reason=body["reason"])

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, pagination_class=None, filter_backends=[])
    def deliveries(self, request, pk=None):
        """What the outbox sent the source system about this incident, per event (command centre only)."""
        incident_id = self.visible_id(pk)
        if not self.actor().global_roles() & DELIVERY_READERS:
            raise PermissionDenied("only the command centre sees the deliveries to the source systems")
        rows = OutboxMessage.objects.filter(incident_id=incident_id).select_related("webhook__client").order_by("id")
        return Response(DeliverySerializer(rows[:500], many=True).data)


    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="return_to_centre")
    def return_to_centre(self, request, pk=None):
        """退单: give a dispatched incident, sent to the wrong grid, back to the command centre (level
        town, no person) to be reassigned; by the person it was sent to or that grid's leader."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_return_to_centre, incident_id=self.visible_id(pk), actor=self.actor(),
                        reason=body["reason"])

    @extend_schema(request=ReturnVisitSerializer, responses=IncidentSerializer, parameters=ACTION_HEADERS)
    @action(detail=True, methods=["post"], url_path="return_visit")
    def return_visit(self, request, pk=None):
        """回访: record what the reporter says of a closed incident (operators); "dissatisfied"
        reopens it as rework, back with the person it was last assigned to."""
        body = validated_body(ReturnVisitSerializer, request)
        return self.run(incident_return_visit, incident_id=self.visible_id(pk), actor=self.actor(),
                        outcome=body["outcome"], comment=body["comment"])


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()
    incident = serializers.IntegerField(source="incident_id")
    reference = serializers.CharField(source="incident.reference")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class InboxQuery(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**62,
                                      help_text="the `next` of the previous page")
    unread = serializers.BooleanField(required=False, default=False)


class InboxCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField(help_text="how many are unread in all")


class InboxPageSerializer(InboxCountSerializer):
    results = NotificationSerializer(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="pass as `before` for the next page")


class InboxReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**62), required=False,
                                max_length=inbox.MAX_READ_IDS)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError({"ids": "name the notifications read, or send all: true"})
        return attrs


class InboxApi(APIView):
    """The user's own notifications (待办消息), newest first, with the unread count."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[InboxQuery], responses=InboxPageSerializer)
    def get(self, request):
        query = validated_query(InboxQuery, request)
        actor = Actor.of(request.user)
        rows, following = inbox.page(actor, before=query.get("before"), unread=query["unread"])
        return Response({"unread": inbox.unread_count(actor), "results": NotificationSerializer(rows, many=True).data,
                         "next": following})


class InboxReadApi(APIView):
    """Mark the user's own notifications read (others' ids are ignored); answer the unread count."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=InboxReadSerializer, responses=InboxCountSerializer)
    def post(self, request):
        body = validated_body(InboxReadSerializer, request)
        actor = Actor.of(request.user)
        inbox.mark_read(actor, ids=None if body.get("all") else body["ids"])
        return Response({"unread": inbox.unread_count(actor)})
