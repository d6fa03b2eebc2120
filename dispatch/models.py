"""Who an incident is assigned to, and who was told about it."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.db.models import Q

from grids.models import Grid, Person
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
