"""The inbox (待办消息): the notifications of the person a user is, read on the phone and in the command
centre, with a live count.

A user sees their own person's notifications only (a user linked to no person has an empty inbox).
After a change commits, the live push tells the sockets of the users who got a notification in it
(``changed_users``; their per-user channel group, ``dispatch.rights.user_group``) to read their count
again: the count itself is never pushed, so a socket never carries what its user's scope does not.

延期 extensions are told here too (``incidents.signals.extension_changed``, in the step's transaction):
a request goes to the deciders who are people (``rules.EXTENSION_DECIDERS``: the incident's village's
leader); the command centre's operators are users with no person, so no inbox: they see the pending
request on the incident (its detail's ``pending_extension`` and allowed ``decide_extension``). A
decision goes to the person who asked. Inbox only: neither is in ``dispatch.sms.SMS_KINDS`` (the work
is not moved to anyone, and an SMS in the night for a deadline days away helps nobody).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone

from core import db
from core.actors import Actor, Role
from dispatch.models import Notification
from grids.models import Person, VillageLeader
from incidents import rules
from incidents.models import ExtensionRequest
from incidents.signals import extension_changed

PAGE = 30
MAX_READ_IDS = 500
FRESH = timedelta(minutes=2)  # a push tells about notifications written this recently


def inbox_of(actor: Actor) -> QuerySet[Notification]:
    """Return the notifications of the actor's person, newest first (none for a user with no person)."""
    person_id = actor.person_id
    if person_id is None:
        return Notification.objects.none()
    return Notification.objects.filter(person_id=person_id).order_by("-id")


def unread_count(actor: Actor) -> int:
    return inbox_of(actor).filter(read_at__isnull=True).count()


def page(actor: Actor, *, before: int | None = None, unread: bool = False) -> tuple[list[Notification], int | None]:
    """Return one page of the inbox (older than the id ``before``) and the ``before`` of the next one."""
    rows = inbox_of(actor).select_related("incident")
    if unread:
        rows = rows.filter(read_at__isnull=True)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    found = list(rows[:PAGE + 1])
    return found[:PAGE], (found[PAGE - 1].pk if len(found) > PAGE else None)


def mark_read(actor: Actor, *, ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Mark the actor's own notifications read (these ids, or all); return how many changed."""
    rows = inbox_of(actor).filter(read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(read_at=now or timezone.now())


def inbox_group(user_id: int) -> str:
    """Return the channel-layer group of one user's sockets that listen for their inbox."""
    return f"inbox.user.{user_id}"


def changed_users(incident_ids: list[int]) -> list[int]:
    """Return the users who got an unread notification about these incidents just now.

    A prepared statement: the live push asks at every run, and building the ORM query cost several
    times running it (tests/dispatch/test_inbox.py compares it with the ORM's answer)."""
    if not incident_ids:
        return []
    quote, notification, person = connection.ops.quote_name, Notification._meta, Person._meta
    column = lambda meta, name: quote(meta.get_field(name).column)  # noqa: E731
    sql = (f"SELECT DISTINCT p.{column(person, 'user')} FROM {quote(notification.db_table)} n "
           f"JOIN {quote(person.db_table)} p ON p.{quote(person.pk.column)} = n.{column(notification, 'person')} "
           f"WHERE n.{column(notification, 'incident')} = ANY(%(ids)s) "
           f"AND n.{column(notification, 'created_at')} >= %(since)s AND n.{column(notification, 'read_at')} IS NULL "
           f"AND p.{column(person, 'user')} IS NOT NULL")
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_inbox_changed_users", sql,
                   {"ids": list(incident_ids), "since": timezone.now() - FRESH})
        return sorted(row[0] for row in cursor.fetchall())


def _local(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%m-%d %H:%M}" if moment else "-"


@receiver(extension_changed, dispatch_uid="inbox_extension_changed")
def on_extension_changed(sender, request: ExtensionRequest, now: datetime, **kwargs) -> None:
    """Tell the deciders of a new 延期 request (never its asker), or its asker of the decision."""
    incident = request.incident
    asker = set(Person.objects.filter(user_id=request.requested_by_id).values_list("pk", flat=True))
    if request.state == ExtensionRequest.State.PENDING:
        leaders = (VillageLeader.objects.filter(village_id=incident.village_id).values_list("person_id", flat=True)
                   if Role.VILLAGE_LEADER in rules.EXTENSION_DECIDERS and incident.village_id else [])
        people, kind = set(leaders) - asker, Notification.Kind.EXTENSION_ASKED
        message = f"延期申请 extension to {_local(request.requested_due)} asked by {request.requested_by_label}"
    else:
        people, kind = asker, Notification.Kind.EXTENSION_DECIDED
        message = (f"延期批准 extension approved, new deadline {_local(request.requested_due)}"
                   if request.state == ExtensionRequest.State.APPROVED
                   else f"延期未批准 extension refused, deadline stays {_local(incident.handle_due_at)}")
    Notification.objects.bulk_create([
        Notification(person_id=person_id, incident=incident, kind=kind,
                     message=f"{message}: {incident.title}"[:300], created_at=now)
        for person_id in sorted(people)])
