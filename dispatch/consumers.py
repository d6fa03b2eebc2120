"""The live socket: /ws/incidents/ streams changes of the incidents the user may see."""
from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from dispatch.live import group_name
from incidents.permissions import Actor
from incidents.selectors import actor_keys


class IncidentConsumer(AsyncJsonWebsocketConsumer):
    """Join the groups of the user's visibility keys; relay incident messages; nothing else."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.actor, self.keys = await database_sync_to_async(self._load)(user)
        for key in self.keys:
            await self.channel_layer.group_add(group_name(key), self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": self.actor.label,
                              "roles": sorted(self.actor.global_roles()), "server_time": timezone.now().isoformat()})

    @staticmethod
    def _load(user):
        actor = Actor.of(user)
        return actor, actor_keys(actor)

    async def disconnect(self, code):
        for key in getattr(self, "keys", ()):
            await self.channel_layer.group_discard(group_name(key), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})

    async def incident_message(self, event):
        await self.send_json(event["payload"])
