"""Who am I, for the pages: roles, linked person, own grids and the page that fits the user's job."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from grids.models import Grid
from incidents.selectors import actor_keys
from web.pages import home_for


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    person = serializers.JSONField(allow_null=True)
    grids = serializers.ListField(child=serializers.CharField(), help_text="grid codes of the user's teams")
    home = serializers.CharField(help_text="the page that fits the user's job")


class MeApi(APIView):
    """The logged-in user: roles, linked person, own grids, home page."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        actor = Actor.of(request.user)
        person = getattr(request.user, "person", None) if hasattr(request.user, "person") else None
        grid_ids = [int(k.split(".")[1]) for k in actor_keys(actor) if k.startswith("grid.")]
        return Response({
            "username": actor.label,
            "roles": sorted(actor.global_roles()),
            "person": {"person_id": person.external_id, "name": person.name, "role": person.role} if person else None,
            "grids": sorted(Grid.objects.filter(pk__in=grid_ids).values_list("code", flat=True)),
            "home": home_for(request.user),
        })
