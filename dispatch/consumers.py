"""The live socket: /ws/incidents/ streams changes of the incidents the user may see, for as long
as the user may see them (``dispatch.rights``)."""
from __future__ import annotations

import time
from collections import OrderedDict
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user
from django.utils import timezone

from core.actors import Actor
from dispatch.inbox import inbox_group
from dispatch.live import ALL, group_name
from dispatch.rights import user_group
from incidents.selectors import actor_keys

# Close codes: the session ended (log in again), and the rights changed (reconnect for the new scope).
SESSION_ENDED, RIGHTS_CHANGED = 4401, 4403


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
            await self.close(code=SESSION_ENDED)
            return
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.user_id = user.pk
        self.actor, self.keys = await database_sync_to_async(self._load)(user)
        self.checked_at = time.monotonic()
        self.closing = False
        self._recent: OrderedDict[str, set] = OrderedDict()  # push -> items relayed
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        # the inbox's "read your count again" only to the sockets that ask for it (?inbox=1: the pages)
        self.inbox = "inbox=1" in self.scope.get("query_string", b"").decode("ascii", "replace").split("&")
        if self.inbox:
            await self.channel_layer.group_add(inbox_group(self.user_id), self.channel_name)
        for key in self.keys:
            await self.channel_layer.group_add(group_name(key), self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": self.actor.label,
                              "roles": sorted(self.actor.global_roles()), "server_time": timezone.now().isoformat()})

    @staticmethod
    def _load(user):
        actor = Actor.of(user)
        return actor, actor_keys(actor)

    def _current_keys(self) -> set[str] | None:
        """Return the visibility keys of the socket's session as they are now (None: the session
        ended, or its user is inactive, deleted, or changed password), as Django checks a request."""
        if self.session_key is None:
            return None
        store = import_module(settings.SESSION_ENGINE).SessionStore(self.session_key)
        user = get_user(SimpleNamespace(session=store))
        if not user.is_authenticated or user.pk != self.user_id:
            return None
        return actor_keys(Actor.of(user))

    async def _still_entitled(self) -> bool:
        """Check the socket's rights again; close it (and return False) when they ended or changed."""
        if self.closing:
            return False
        keys = await database_sync_to_async(self._current_keys)()
        self.checked_at = time.monotonic()
        if keys == self.keys:
            return True
        await self._shut(SESSION_ENDED if keys is None else RIGHTS_CHANGED)
        return False

    async def _shut(self, code: int) -> None:
        self.closing = True
        await self.disconnect(code)
        self.keys = set()
        await self.close(code=code)

    async def rights_changed(self, event):
        """The user's rights may have changed (``dispatch.rights``): check now."""
        ended = event.get("ended_session")
        if ended is not None:
            if ended == self.session_key and not self.closing:
                await self._shut(SESSION_ENDED)
            return
        await self._still_entitled()

    async def _entitled(self) -> bool:
        """Whether a push may be forwarded: rights checked at most LIVE_RIGHTS_RECHECK_S seconds ago."""
        if self.closing:
            return False
        if time.monotonic() - self.checked_at < settings.LIVE_RIGHTS_RECHECK_S:
            return True
        return await self._still_entitled()

    async def disconnect(self, code):
        if hasattr(self, "user_id"):
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            if getattr(self, "inbox", False):
                await self.channel_layer.group_discard(inbox_group(self.user_id), self.channel_name)
        for key in getattr(self, "keys", ()):
            await self.channel_layer.group_discard(group_name(key), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})

    async def inbox_changed(self, event):
        """The user's inbox got a notification (``dispatch.inbox``): the page reads its count again."""
        if await self._entitled():
            await self.send_json({"type": "inbox"})

    async def incident_message(self, event):
        """One incident (or notice) of a push, sent to the groups of ``keys``."""
        if not self.keys & set(event.get("keys", ())) or not await self._entitled():
            return
        await self._relay(event.get("push"), event.get("item"), event["payload"])

    async def incidents_message(self, event):
        """Several incidents of a push, in the order of commit (to those who see everything)."""
        if ALL not in self.keys or not await self._entitled():
            return
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
