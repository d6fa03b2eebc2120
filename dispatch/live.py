"""Live push: after a transaction commits, changed incidents go to every entitled socket.

Each change is sent to the channel groups named by ``incidents.selectors.incident_keys``; a socket
joins the groups of ``actor_keys`` of its user, so the scoping rule stays the selectors' one.
A failure to publish (Redis down) is logged and never fails the request that changed the incident:
the incident is already stored, and a client catches up on reconnect (``changed_since``).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.dispatch import receiver

from incidents.models import Incident
from incidents.selectors import incident_keys
from incidents.signals import incident_changed

log = logging.getLogger(__name__)


def group_name(key: str) -> str:
    """Return the channel-layer group of a visibility key."""
    return f"inc.{key}"


def incident_message(incident: Incident) -> dict:
    """Return the message sent for one incident: its GeoJSON feature and its latest event."""
    from incidents.serializers import EventSerializer, IncidentSerializer

    event = incident.events.order_by("-created_at", "-id").first()
    return {"type": "incident", "feature": IncidentSerializer(incident).data,
            "event": EventSerializer(event).data if event else None}


_pusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-push")


@receiver(incident_changed)
def on_incidents_changed(sender, incident_ids: list[int], **kwargs) -> None:
    """Queue the push so the request that changed the incidents does not wait for it."""
    if settings.LIVE_PUSH_IN_BACKGROUND:
        _pusher.submit(_publish_and_close, list(incident_ids))
    else:
        publish_incidents(list(incident_ids))


def _publish_and_close(incident_ids: list[int]) -> None:
    try:
        publish_incidents(incident_ids)
    finally:
        connection.close()  # this thread's own connection; never left open between pushes


def publish_incidents(incident_ids: list[int]) -> None:
    """Send the changed incidents to their groups (or a 'refresh' notice for a large batch)."""
    layer = get_channel_layer()
    if layer is None or not incident_ids:
        return
    try:
        if len(incident_ids) > settings.LIVE_MAX_ITEMS:
            _send_refresh(layer, incident_ids)
            return
        incidents = Incident.objects.filter(pk__in=incident_ids).select_related(
            "category", "grid", "village", "assignee", "handling_grid")
        send = async_to_sync(_send_all)
        send(layer, [(incident_keys(i), _json_safe(incident_message(i))) for i in incidents])
    except Exception:  # the change is stored; a client catches up on reconnect
        log.exception("live push failed for %d incidents", len(incident_ids))


async def _send_all(layer, messages: list[tuple[set[str], dict]]) -> None:
    for keys, payload in messages:
        for key in keys:
            await layer.group_send(group_name(key), {"type": "incident.message", "payload": payload})


def _send_refresh(layer, incident_ids: list[int]) -> None:
    keys: set[str] = set()
    for incident in Incident.objects.filter(pk__in=incident_ids).only(
            "submitted_by_id", "grid_id", "handling_grid_id", "assignee_id", "village_id"):
        keys |= incident_keys(incident)
    payload = {"type": "refresh", "count": len(incident_ids)}
    send = async_to_sync(_send_all)
    send(layer, [({k}, payload) for k in keys])


def _json_safe(data):
    """Return the data with lazy/ordered types turned into plain JSON types."""
    import json

    from rest_framework.utils.encoders import JSONEncoder

    return json.loads(json.dumps(data, cls=JSONEncoder))
