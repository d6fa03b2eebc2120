"""Thin API views: validate the query, call a selector or the locator, serialize."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter

from core.actors import Actor
from core.api import validated_query
from grids import privacy, selectors
from grids.locator import locate
from grids.models import Grid, Town
from grids.serializers import (
    GridSerializer,
    LocateQuerySerializer,
    LocateResultSerializer,
    TeamSerializer,
    TownSerializer,
    VillageSerializer,
)


class VillageFilter(serializers.Serializer):
    town = serializers.RegexField(r"^\d{9}$", required=False, help_text="9-digit town code")


class GridFilter(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Grid.Kind.choices, required=False)
    village = serializers.RegexField(r"^\d{12}$", required=False, help_text="12-digit village code")
    generation = serializers.IntegerField(
        required=False, min_value=1,
        help_text="default: the active one; an active generation for whoever reads grids, a retired one for "
                  "planners, operators and leaders, a draft for planners and operators (else no grids)")


class TownViewSet(viewsets.ReadOnlyModelViewSet):
    """Towns (and street offices) as GeoJSON features."""

    serializer_class = TownSerializer
    queryset = Town.objects.all()
    lookup_field = "code"


class VillageViewSet(viewsets.ReadOnlyModelViewSet):
    """Villages and communities as GeoJSON features."""

    serializer_class = VillageSerializer
    filter_backends = [InBBoxFilter]
    bbox_filter_field = "boundary"
    bbox_filter_include_overlapping = True
    lookup_field = "code"

    @extend_schema(parameters=[VillageFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.village_list(town_code=validated_query(VillageFilter, self.request).get("town"))


class GridViewSet(viewsets.ReadOnlyModelViewSet):
    """Grids of the active generation (or ?generation=) as GeoJSON features."""

    serializer_class = GridSerializer
    filter_backends = [InBBoxFilter]
    bbox_filter_field = "boundary"
    bbox_filter_include_overlapping = True
    lookup_field = "code"

    @extend_schema(parameters=[GridFilter])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        p = validated_query(GridFilter, self.request)
        return selectors.grid_list(actor=Actor.of(self.request.user), generation_id=p.get("generation"),
                                   kind=p.get("kind"), village_code=p.get("village"))

    @extend_schema(responses=TeamSerializer)
    @action(detail=True, permission_classes=[IsAuthenticated])
    def team(self, request, code=None):
        """Return the grid's team: the leader and the A/B holders of every role, each phone shown at
        the reader's level (``grids.privacy.phone_visibility``); integration clients may not read teams."""
        actor = Actor.of(request.user)
        if not privacy.names_visible(actor):
            raise PermissionDenied("integration clients may not read the grids' teams (personal information)")
        grid = self.get_object()
        team = selectors.team_of_grid(grid=grid)
        if team is None:
            return Response({"detail": "this grid has no team"}, status=404)
        return Response(TeamSerializer(privacy.team_dict(team, privacy.phone_visibility(actor, grid))).data)


class LocateApi(APIView):
    """Locate a point into the village and grid(s) of the active (or given) generation."""

    @extend_schema(parameters=[LocateQuerySerializer], responses=LocateResultSerializer)
    def get(self, request):
        q = validated_query(LocateQuerySerializer, request)
        generation = None
        if q.get("generation"):
            # the generation read as the grids are: a draft only for those who may see drafts (not found else)
            generation = get_object_or_404(selectors.generations_visible_to(Actor.of(request.user)), pk=q["generation"])
        try:
            result = locate(q["lon"], q["lat"], q["crs"], generation=generation)
        except ValueError as exc:
            raise serializers.ValidationError({"lon": str(exc), "lat": str(exc)}) from exc
        return Response(result.as_dict())
