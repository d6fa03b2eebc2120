"""HD cameras with a view sector derived from position, bearing, field of view and range."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.gis.geos import GEOSGeometry
from django.db.models import Q

from gis_core.sector import view_sector


class Camera(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online", "online"
        OFFLINE = "offline", "offline"

    code = models.CharField(max_length=6, unique=True)
    name = models.CharField(max_length=64)
    location = models.PointField(srid=4326)
    bearing_deg = models.FloatField(help_text="Direction of view, degrees clockwise from north.")
    fov_deg = models.FloatField(help_text="Horizontal field of view, degrees.")
    range_m = models.FloatField(help_text="Useful viewing distance, metres.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ONLINE)
    sector = models.PolygonField(srid=4326, editable=False)
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="cameras"
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9]{6}$"), name="camera_code_6_chars"),
            models.CheckConstraint(
                condition=Q(bearing_deg__gte=0) & Q(bearing_deg__lt=360), name="camera_bearing_range"
            ),
            models.CheckConstraint(condition=Q(fov_deg__gt=0) & Q(fov_deg__lte=360), name="camera_fov_range"),
            models.CheckConstraint(condition=Q(range_m__gt=0), name="camera_range_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def compute_sector(self) -> None:
        """Derive the view-sector polygon (computed in EPSG:4549, stored in EPSG:4326)."""
        poly = view_sector(self.location.x, self.location.y, self.bearing_deg, self.fov_deg, self.range_m)
        self.sector = GEOSGeometry(memoryview(poly.wkb), srid=4326)

    def save(self, *args, **kwargs):
        self.compute_sector()
        super().save(*args, **kwargs)
