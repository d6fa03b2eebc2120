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

from core.api import validated_body
from dispatch.aftercare import incident_return_visit
from dispatch.services import incident_escalate, incident_hand_back, incident_reassign, incident_return_to_centre
from incidents.apis import IF_MATCH, IncidentScope
from incidents.geojson import IncidentSerializer
from incidents.models import ReturnVisit


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ReassignSerializer(ReasonSerializer):
    person = serializers.CharField(max_length=32, help_text="the person's id, e.g. P0042")


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

    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=[IF_MATCH])
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        """Send the incident one level up (grid -> village -> town -> bureau), restarting its clock."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_escalate, incident_id=self.visible_id(pk), actor=self.actor(), reason=body["reason"])

    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=[IF_MATCH])
    @action(detail=True, methods=["post"], url_path="hand_back")
    def hand_back(self, request, pk=None):
        """Send the incident one level down to be handled there."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_hand_back, incident_id=self.visible_id(pk), actor=self.actor(),
                        reason=body["reason"])

    @extend_schema(request=ReassignSerializer, responses=IncidentSerializer, parameters=[IF_MATCH])
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        """Give the incident to another person at the same level."""
        body = validated_body(ReassignSerializer, request)
        return self.run(incident_reassign, incident_id=self.visible_id(pk), actor=self.actor(),
                        person_external_id=body["person"], reason=body["reason"])

    @extend_schema(request=ReasonSerializer, responses=IncidentSerializer, parameters=[IF_MATCH])
    @action(detail=True, methods=["post"], url_path="return_to_centre")
    def return_to_centre(self, request, pk=None):
        """退单: give a dispatched incident, sent to the wrong grid, back to the command centre (level
        town, no person) to be reassigned; by the person it was sent to or that grid's leader."""
        body = validated_body(ReasonSerializer, request)
        return self.run(incident_return_to_centre, incident_id=self.visible_id(pk), actor=self.actor(),
                        reason=body["reason"])

    @extend_schema(request=ReturnVisitSerializer, responses=IncidentSerializer, parameters=[IF_MATCH])
    @action(detail=True, methods=["post"], url_path="return_visit")
    def return_visit(self, request, pk=None):
        """回访: record what the reporter says of a closed incident (operators); "dissatisfied"
        reopens it as rework, back with the person it was last assigned to."""
        body = validated_body(ReturnVisitSerializer, request)
        return self.run(incident_return_visit, incident_id=self.visible_id(pk), actor=self.actor(),
                        outcome=body["outcome"], comment=body["comment"])
