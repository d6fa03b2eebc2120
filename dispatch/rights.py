"""A live socket holds its user's rights only as long as they last: when a user logs out, is
deactivated or deleted, changes password, or changes groups, linked person or team posts, the user's
open sockets are told (a per-user channel group) and check again (``IncidentConsumer.rights_changed``):
the socket of an ended session closes, one whose rights changed closes so the page reconnects with
its new scope. Besides, every socket checks again at most ``LIVE_RIGHTS_RECHECK_S`` seconds before it
forwards a push, so a missed signal (a queryset update, a session expiring) cannot leak for long.

Sending is best effort after the commit: a failure is logged, and the periodic check still applies.
"""
from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from grids.models import GridTeam, Person, TeamMembership, VillageLeader

log = logging.getLogger(__name__)
User = get_user_model()


def user_group(user_id: int) -> str:
    """Return the channel-layer group of one user's open sockets."""
    return f"rights.user.{user_id}"


def _send(user_ids, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()  # called from async code (a test's event loop): no blocking there
    except RuntimeError:
        loop = None
    for user_id in sorted({u for u in user_ids if u is not None}):
        try:
            if loop is not None:
                loop.create_task(layer.group_send(user_group(user_id), message))
            else:
                async_to_sync(layer.group_send)(user_group(user_id), message)
        except Exception:  # the periodic check still closes the socket
            log.exception("could not tell user %s's sockets that their rights changed", user_id)


def rights_changed(*user_ids: int | None) -> None:
    """Tell these users' sockets, after the commit, to check their rights again."""
    ids = [u for u in user_ids if u is not None]
    if ids:
        transaction.on_commit(lambda: _send(ids, {"type": "rights.changed"}))


@receiver(user_logged_out, dispatch_uid="live_rights_logout")
def _on_logout(sender, request, user, **kwargs) -> None:
    """Close the sockets of the session that ends (the user's other sessions keep theirs)."""
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        _send([user.pk], {"type": "rights.changed", "ended_session": session.session_key})


@receiver(post_save, sender=User, dispatch_uid="live_rights_user_saved")
def _on_user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    # active flag, password, superuser flag; not the last_login that every login writes
    if not created and not (update_fields is not None and set(update_fields) <= {"last_login"}):
        rights_changed(instance.pk)


@receiver(post_delete, sender=User, dispatch_uid="live_rights_user_deleted")
def _on_user_deleted(sender, instance, **kwargs) -> None:
    rights_changed(instance.pk)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="live_rights_groups")
def _on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear", "pre_clear"):
        return
    if not reverse:  # user.groups.add(...)
        if action != "pre_clear":
            rights_changed(instance.pk)
    elif action == "pre_clear":  # group.user_set.clear(): who is in it, before they are removed
        rights_changed(*instance.user_set.values_list("pk", flat=True))
    elif pk_set:
        rights_changed(*pk_set)


@receiver(pre_save, sender=Person, dispatch_uid="live_rights_person_link_before")
def _remember_person_link(sender, instance, **kwargs) -> None:
    instance._user_before = (Person.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
                             if instance.pk else None)


@receiver(post_save, sender=Person, dispatch_uid="live_rights_person_link")
def _on_person_saved(sender, instance, **kwargs) -> None:
    before = getattr(instance, "_user_before", None)
    if before != instance.user_id:
        rights_changed(before, instance.user_id)


def _users_of(*person_ids: int | None) -> list[int]:
    return list(Person.objects.filter(pk__in=[p for p in person_ids if p], user__isnull=False)
                .values_list("user_id", flat=True))


@receiver(pre_save, sender=GridTeam, dispatch_uid="live_rights_team_leader_before")
def _remember_leader(sender, instance, **kwargs) -> None:
    instance._leader_before = (GridTeam.objects.filter(pk=instance.pk).values_list("leader_id", flat=True).first()
                               if instance.pk else None)


@receiver(post_save, sender=GridTeam, dispatch_uid="live_rights_team_leader")
@receiver(post_delete, sender=GridTeam, dispatch_uid="live_rights_team_deleted")
def _on_team_changed(sender, instance, **kwargs) -> None:
    rights_changed(*_users_of(getattr(instance, "_leader_before", None), instance.leader_id))


@receiver(post_save, sender=TeamMembership, dispatch_uid="live_rights_post_saved")
@receiver(post_delete, sender=TeamMembership, dispatch_uid="live_rights_post_deleted")
@receiver(post_save, sender=VillageLeader, dispatch_uid="live_rights_village_link_saved")
@receiver(post_delete, sender=VillageLeader, dispatch_uid="live_rights_village_link_deleted")
def _on_post_changed(sender, instance, **kwargs) -> None:
    rights_changed(*_users_of(instance.person_id))
