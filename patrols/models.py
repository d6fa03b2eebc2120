"""Patrols (巡查): a grid worker's walk, started and ended on the phone, and its track points with their
time and accuracy. Tracks are personal data: read through ``patrols.selectors`` only, kept
``settings.PATROL_RETENTION_DAYS`` days (``patrols.tasks.purge_tracks``)."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.db.models import Q


class Patrol(models.Model):
    person = models.ForeignKey("grids.Person", on_delete=models.PROTECT, related_name="patrols")
    key = models.CharField(max_length=64, help_text="the phone's id of this patrol: a re-sent start is the same patrol")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["person", "started_at"], name="patrol_person_start_idx")]
        constraints = [
            models.UniqueConstraint(fields=["person", "key"], name="patrol_key_once"),
            models.UniqueConstraint(fields=["person"], condition=Q(ended_at__isnull=True),
                                    name="one_running_patrol_per_person"),
            models.CheckConstraint(condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                                   name="patrol_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"patrol {self.pk} of {self.person_id} from {self.started_at:%Y-%m-%d %H:%M}"


class TrackPoint(models.Model):
    class Flag(models.TextChoices):
        GOOD = "", "kept"
        INACCURATE = "inaccurate", "accuracy worse than PATROL_MAX_ACCURACY_M"
        TOO_FAST = "too_fast", "speed from the previous kept point above PATROL_MAX_SPEED_MPS"

    id = models.BigAutoField(primary_key=True)
    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="points")
    recorded_at = models.DateTimeField(help_text="when the phone took it (its own clock)")
    location = models.PointField(srid=4326)
    accuracy_m = models.FloatField(help_text="the phone's stated accuracy, metres")
    flag = models.CharField(max_length=16, choices=Flag.choices, blank=True, default="")

    class Meta:
        ordering = ["patrol", "recorded_at"]
        constraints = [models.UniqueConstraint(fields=["patrol", "recorded_at"], name="track_point_once")]

    def __str__(self) -> str:
        return f"{self.patrol_id} @ {self.recorded_at:%H:%M:%S}"


class PatrolDay(models.Model):
    """A worker's figures for one local day (``patrols.figures.day_figures``), recorded once the day's
    patrols have ended (``patrols.tasks.record_patrol_days``). The assessment's 在岗率 reads these rows,
    and they outlive the tracks they were computed from (purged after PATROL_RETENTION_DAYS): a year's
    presence stays countable without keeping a year of where people walked."""

    person = models.ForeignKey("grids.Person", on_delete=models.CASCADE, related_name="patrol_days")
    day = models.DateField(help_text="the local day")
    on_patrol_s = models.FloatField()
    distance_m = models.FloatField()
    in_own_grid_s = models.FloatField()
    coverage = models.FloatField(null=True, blank=True, help_text="None: on no grid's team that day")
    presence = models.FloatField(help_text="在岗率 of the day: in_own_grid_s over the duty hours, at most 1")
    points = models.IntegerField()
    flagged = models.IntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "person"]
        constraints = [models.UniqueConstraint(fields=["person", "day"], name="patrol_day_once")]
        indexes = [models.Index(fields=["day", "person"], name="patrol_day_day_idx")]

    def __str__(self) -> str:
        return f"{self.person_id} on {self.day}: presence {self.presence:.2f}"
