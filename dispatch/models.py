"""Who an incident is assigned to, and who was told about it."""
from __future__ import annotations

import secrets

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db.models import Q

from grids.models import Grid, Person
from incidents import rules
from incidents.models import Incident, Level


class Assignment(models.Model):
    """An incident handed to a person (or to the town command centre / a bureau, with no person)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="assignments")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments")
    role = models.CharField(max_length=16, blank=True)
    slot = models.CharField(max_length=1, blank=True, help_text="A holder or B backup")
    unit = models.CharField(max_length=60, blank=True, help_text="command centre or bureau when no person")
    reason = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    assigned_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident"], condition=Q(active=True), name="one_active_assignment"),
        ]

    def __str__(self) -> str:
        who = self.person.name if self.person_id else self.unit
        return f"{self.incident_id} -> {who} (level {self.level})"


class Notification(models.Model):
    """A message for a person about an incident (the grid leader is always informed)."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "assigned to you"
        INFORMED = "informed", "for your information"
        ESCALATED = "escalated", "escalated"
        OVERDUE = "overdue", "overdue"
        REOPENED = "reopened", "reopened after a dissatisfied return visit"
        EXTENSION_ASKED = "ext_asked", "延期申请 an extension to decide"
        EXTENSION_DECIDED = "ext_decided", "延期审批 your extension decided"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notifications")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["person", "read_at"], name="notification_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.person} {self.kind} {self.incident_id}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """Where an integration client (the 12345 system, the mayor's mailbox) hears what became of the
    incidents it posted: every public change (``incidents.rules.PUBLIC_ACTIONS``, or the ones listed in
    ``events``) is POSTed to ``url``, signed with HMAC-SHA256 under ``secret`` (``dispatch.outbox``)."""

    client = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="webhooks",
                               help_text="the integration client whose incidents are reported back")
    url = models.URLField(max_length=500, help_text="the client's receiver (http or https)")
    secret = models.CharField(max_length=128, default=new_webhook_secret,
                              help_text="the HMAC-SHA256 key the client checks the signature with")
    events = ArrayField(models.CharField(max_length=24), blank=True, default=list,
                        help_text="the actions to send (empty: every public change)")
    active = models.BooleanField(default=True, help_text="inactive: changes are kept, and sent when it is active again")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.client} -> {self.url}"

    def clean(self) -> None:
        unknown = sorted(set(self.events) - rules.PUBLIC_ACTIONS)
        if unknown:
            raise ValidationError({"events": f"not public changes: {', '.join(unknown)} "
                                             f"(choose from {', '.join(sorted(rules.PUBLIC_ACTIONS))})"})
        if len(set(self.events)) != len(self.events):
            raise ValidationError({"events": "each action once"})


class OutboxMessage(models.Model):
    """One public change of an incident to tell one webhook, written in the transaction that made the
    change (by the database: a trigger on the events, ``dispatch.outbox.trigger_sql``) and delivered
    by Celery, in order per incident, retried with backoff, dead after the last try."""

    class State(models.TextChoices):
        PENDING = "pending", "待推送 pending"
        DELIVERED = "delivered", "已推送 delivered"
        DEAD = "dead", "推送失败 dead letter"

    webhook = models.ForeignKey(Webhook, on_delete=models.PROTECT, related_name="messages")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey("incidents.IncidentEvent", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=24)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True, help_text="claimed by a worker until then")
    last_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="the receiver's last HTTP status")
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="outbox_once_per_event")]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="outbox_due_idx"),
            models.Index(fields=["webhook", "incident", "id"], condition=Q(state="pending"),
                         name="outbox_order_idx"),
            models.Index(fields=["incident", "id"], name="outbox_incident_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} of {self.incident_id} -> webhook {self.webhook_id} ({self.state})"


class SmsMessage(models.Model):
    """A text message to the person a notification is for (assigned, escalated, overdue), written by
    the database with the notification (``dispatch.sms.trigger_sql``), at most one per person for one
    change of an incident, and sent by Celery through ``settings.SMS_BACKEND``; every try is recorded
    here. The phone is copied at the time (personal data: the admin only)."""

    class State(models.TextChoices):
        PENDING = "pending", "待发送 pending"
        SENT = "sent", "已发送 sent"
        DEAD = "dead", "发送失败 failed"

    notification = models.OneToOneField(Notification, on_delete=models.PROTECT, related_name="sms")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12)
    phone = models.CharField(max_length=20)
    urgent = models.BooleanField(default=False, help_text="sent in quiet hours too (the category is urgent)")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    provider_ref = models.CharField(max_length=80, blank=True, help_text="the gateway's id of the message")
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["person", "incident", "created_at"],
                                               name="sms_once_per_change")]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="sms_due_idx")]

    def __str__(self) -> str:
        return f"SMS {self.kind} of {self.incident_id} to person {self.person_id} ({self.state})"
