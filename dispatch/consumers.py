"""The live socket: /ws/incidents/ streams changes of the incidents the user may see."""
from __future__ import annotations

from collections import OrderedDict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from core.actors import Actor
from dispatch.live import group_name
from incidents.selectors import actor_keys


class IncidentConsumer(AsyncJsonWebsocketConsumer):
    """Join the groups of the user's visibility keys; relay incident messages; nothing else.

    A socket in several of an incident's groups (a grid worker: the grid's and their own) gets the
    incident once per group; it relays each incident (or notice) of a push once, one frame each
    (``{"type": "incident", "feature", "event"}`` or ``{"type": "refresh", "count"}``).
    """

    RECENT_PUSHES = 16  # pushes remembered for that (they arrive in order from each publisher)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.actor, self.keys = await database_sync_to_async(self._load)(user)
        self._recent: OrderedDict[str, set] = OrderedDict()  # push -> items relayed
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
        """One incident (or notice) of a push."""
        await self._relay(event.get("push"), event.get("item"), event["payload"])

    async def incidents_message(self, event):
        """Several incidents of a push, in the order of commit."""
        for item, payload in event["items"]:
            await self._relay(event["push"], item, payload)

    async def _relay(self, push, item, payload) -> None:
        if push is not None:
            relayed = self._recent.get(push)
            if relayed is None:
                relayed = self._recent[push] = set()
                while len(self._recent) > self.RECENT_PUSHES:
                    self._recent.popitem(last=False)
            if item in relayed:
                return
            relayed.add(item)
        await self.send_json(payload)
