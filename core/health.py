"""``GET /healthz``: is this process up and its database reachable? For load balancers and probes:
public, never throttled, and it says nothing but "ok" or which dependency is down."""
from __future__ import annotations

from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Public


class HealthApi(APIView):
    """200 {"status": "ok", "database": "ok"}, or 503 with "database": "unavailable"."""

    authentication_classes: list = []
    permission_classes = [Public]
    throttle_classes: list = []

    @extend_schema(operation_id="healthz", responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
                   summary="Health: the process answers and its database is reachable")
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception:
            return Response({"status": "unavailable", "database": "unavailable"}, status=503)
        return Response({"status": "ok", "database": "ok"})
